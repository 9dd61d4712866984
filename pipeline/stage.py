"""The one entry helper of the DVC stages: logging, params.yaml parsed once, timing, metrics writing.

In: the stage's name, its `run` function and the params sections it reads. Out: whatever `run`
returns; a dict is written to `metrics/<stage>.json` (tracked in git, compared by `dvc exp show`): it
must be a pure function of data and params, so a second `dvc repro` leaves dvc.lock unchanged. What
differs from run to run (wall time, and a dict's `"run"` entry: MLflow run ids, registry decisions)
goes to `metrics/runs/<stage>.json`, git-ignored and not a DVC output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import reduce
from pathlib import Path

from pipeline.config import Params, Paths, load_params
from pipeline.errors import StageStop
from pipeline.io import setup_logging, write_json

log = logging.getLogger("fcr.stage")


RUN_KEY = "run"  # the entry of a stage's returned dict that is about this run, not about data and params


def run_file(paths: Paths, stage: str) -> Path:
    """`metrics/runs/<stage>.json`: this run's timings, run ids and registry decisions (untracked)."""
    return Path(paths.metrics_dir) / "runs" / f"{stage}.json"


def section(params: Params, dotted: str) -> object:
    """`params.train.split` from "train.split"."""
    return reduce(getattr, dotted.split("."), params)


def run_stage(name: str, run: Callable, *sections: str, params_path: str | Path = "params.yaml",
              write_metrics: bool = True) -> object:
    """Run one stage: `run(*[params.<section> ...], params.paths)`; a returned dict becomes its metrics."""
    setup_logging()
    params = load_params(params_path)
    started = time.perf_counter()
    try:
        out = run(*(section(params, s) for s in sections), params.paths)
    except StageStop as stop:  # the data, not the code: say why and what to change, no traceback
        log.error("stage %s stopped: %s", name, stop)
        raise SystemExit(2) from None
    seconds = round(time.perf_counter() - started, 2)
    if write_metrics and isinstance(out, dict):
        tracked = {k: v for k, v in out.items() if k != RUN_KEY}
        write_json(tracked, Path(params.paths.metrics_dir) / f"{name}.json")
        run_info = out.get(RUN_KEY, {})
        write_json({"stage_seconds": seconds, **run_info}, run_file(params.paths, name))
    log.info("stage %s done in %.1f s", name, seconds)
    return out
