"""The `featurize` section of params.yaml."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from base.config import Strict


class FeaturizeConfig(Strict):
    _section: ClassVar[str] = "featurize"
    prior_strength: float = Field(gt=0)  # pseudo-contacts behind each shrunk repeat rate
