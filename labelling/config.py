"""The `label` section of params.yaml: the repeat window, issue matching and the label source."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from base.config import Strict


class LabelConfig(Strict):
    _section: ClassVar[str] = "label"
    window_days: float = Field(gt=0)
    match: Literal["same_reason", "reason_family", "any"]
    merge_gap_s: float = Field(ge=0)
    # warn (label.json, fcr ingest --check) when more than this share of the contacts are merged away
    max_merged_share: float = Field(ge=0, le=1)
    abandoned_counts_as_repeat: bool
    survey_override: bool
    # repeats: repeat tracking labels the contacts; column: the export's outcome signal does
    # (ingest.files.outcome_signal), repeat tracking then being the second measurement.
    source: Literal["repeats", "column"]
    as_of: str | None = None
