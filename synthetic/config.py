"""The `synthetic` section of params.yaml: the size, seed and messiness of the built-in synthetic centre."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from base.config import Strict


class Messiness(Strict):
    _section: ClassVar[str] = "synthetic.messiness"
    anonymous: float = Field(ge=0, le=1)
    abandonment: bool
    duplicates: float = Field(ge=0, le=1)
    out_of_order: bool
    mixed_timezones: float = Field(ge=0, le=1)
    dropped_calls: float = Field(ge=0, le=1)
    bad_rows: float = Field(ge=0, le=1)

    @classmethod
    def clean(cls) -> "Messiness":
        """No messiness at all: an export as tidy as a textbook."""
        return cls(anonymous=0, abandonment=False, duplicates=0, out_of_order=False,
                   mixed_timezones=0, dropped_calls=0, bad_rows=0)


class SyntheticConfig(Strict):
    _section: ClassVar[str] = "synthetic"
    seed: int
    n_contacts: int = Field(gt=0)
    part_contacts: int = Field(gt=0)
    n_customers: int = Field(gt=0)
    n_agents: int = Field(gt=0)
    n_teams: int = Field(gt=0)
    start: date
    days: int = Field(gt=0)
    survey_rate: float = Field(ge=0, le=1)
    survey_noise: float = Field(ge=0, le=0.5)
    messiness: Messiness
