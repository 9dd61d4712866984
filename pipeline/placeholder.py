"""Shared by the stages that later issues deliver (featurize, train, explain, report).

Until those land, each such stage writes one marker file saying it is a placeholder, so that the DVC
DAG is complete and `dvc repro` runs end to end. The README lists them as placeholders.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.io import setup_logging, write_json

log = logging.getLogger(__name__)


def write_marker(stage: str, marker: str, inputs: list[str]) -> Path:
    setup_logging()
    missing = [p for p in inputs if not Path(p).exists()]
    if missing:
        raise SystemExit(f"{stage}: inputs {missing} are missing; run `dvc repro {stage}` to build them first.")
    log.warning("stage '%s' is a placeholder until its issue lands; writing a marker only", stage)
    write_json({"stage": stage, "placeholder": True, "inputs": inputs}, marker)
    return Path(marker)
