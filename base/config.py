"""The base of every typed params.yaml section: strict pydantic models whose defaults are the shipped params.yaml.

Each package keeps its own sections beside its code (contract/config.py, labelling/config.py,
features/config.py, models/config.py, report/config.py, synthetic/config.py); pipeline/config.py composes
them into `Params` and parses params.yaml once. Here: the strict base (`Strict`: unknown keys rejected,
frozen), `Strict.default()` reading the shipped params.yaml (the only home of defaults), the `paths`
section every layer shares, and the IANA time-zone check two sections use. Imports nothing of the project.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _section: ClassVar[str] = ""

    @classmethod
    def default(cls, **overrides: object) -> Self:
        """This section as the shipped params.yaml sets it (the only home of defaults), with overrides."""
        return cls.model_validate(_shipped_section(cls._section) | overrides)


PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"


@lru_cache(maxsize=1)
def _shipped() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text())


def _shipped_section(dotted: str) -> dict:
    section: dict = _shipped()
    for key in dotted.split("."):
        section = section[key]
    return dict(section)


def iana_zone(v: str, key: str, alternative: str) -> str:
    """`v` when it names an IANA time zone, else ValueError naming `key`."""
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{key} {v!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, America/New_York)"
                         f"{alternative}") from None
    return v


class Paths(Strict):
    _section: ClassVar[str] = "paths"
    raw_dir: str
    contacts: str
    customers: str
    agents: str
    quarantine: str
    contract: str
    truth_dir: str
    labels: str
    features: str
    features_checksums: str  # written by featurize next to the table, verified by train
    feature_spec: str
    online_snapshot: str
    model_dir: str
    metrics_dir: str
    plots_dir: str
    reports_dir: str
