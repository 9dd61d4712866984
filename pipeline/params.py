"""Read params.yaml once into the typed `Params` object (see features/config.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from features.config import Params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Parse params.yaml; a wrong key or value fails with the path of the offending field."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"{path} not found: run from the project root or pass --params.")
    raw = yaml.safe_load(path.read_text()) or {}
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SystemExit(f"{path} is invalid:\n" + "\n".join(lines)) from None


def run_stage(run: Callable, section: str, params_path: str | Path = "params.yaml") -> object:
    """Entry point of a DVC stage: configure logging, parse params.yaml once, and hand the stage
    its own section and the paths."""
    from pipeline.io import setup_logging

    setup_logging()
    params = load_params(params_path)
    return run(getattr(params, section), params.paths)
