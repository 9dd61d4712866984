"""The one entry helper of the DVC stages: logging, params.yaml parsed once, timing, metrics writing.

In: the stage's name, its `run` function and the params sections it reads. Out: whatever `run`
returns; a dict is written to `metrics/<stage>.json` with the stage's wall time added.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import reduce
from pathlib import Path

from pipeline.config import Params, load_params
from pipeline.io import setup_logging, write_json

log = logging.getLogger("fcr.stage")


def section(params: Params, dotted: str) -> object:
    """`params.train.split` from "train.split"."""
    return reduce(getattr, dotted.split("."), params)


def run_stage(name: str, run: Callable, *sections: str, params_path: str | Path = "params.yaml",
              write_metrics: bool = True) -> object:
    """Run one stage: `run(*[params.<section> ...], params.paths)`; a returned dict becomes its metrics."""
    setup_logging()
    params = load_params(params_path)
    started = time.perf_counter()
    out = run(*(section(params, s) for s in sections), params.paths)
    seconds = round(time.perf_counter() - started, 2)
    if write_metrics and isinstance(out, dict):
        write_json({**out, "stage_seconds": seconds}, Path(params.paths.metrics_dir) / f"{name}.json")
    log.info("stage %s done in %.1f s", name, seconds)
    return out
