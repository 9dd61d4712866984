"""Benchmark: the train stage on 1M contacts against a bare LightGBM fit.

Prepared once per size (not timed): the synthetic centre generated, ingested, labelled and featurized
by the stages' own entries (bench_featurize's prepare, then `pipeline.featurize.main`). Timed,
alternating, each in a fresh process: the train stage's entry as DVC runs it (`pipeline.train.main`
on the sized params: read the verified features, the generator's true probabilities, time split,
LightGBM with early stopping, calibration, three baselines, the case-mix and after-contact models,
test metrics and plots, the gate, MLflow run with the pyfunc model, registry and champion comparison,
into a SQLite tracking database under bench/out/centre_<n>) and the reference, the bare
`lightgbm.train` of the same parameters and the same number of trees on the same training window
(bench/_reference.py `bare_booster`: no validation, calibration, baselines, other models or
tracking): the floor for the booster alone. Prints seconds, training rows/s and the ratio.
Run: `uv run python bench/bench_train.py` (bar: <= 60 s at 1M contacts).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench._common import (bench_cli, centre_params, centre_paths, compare, emit, report, run_child, stage_entry,
                           stale)


def prepare(n: int) -> None:
    from bench.bench_featurize import prepare as featurize_prepare

    featurize_prepare(n)  # (emits its own line first: the parent reads the last)
    paths = centre_paths(n)
    if stale(Path(paths.features), Path(paths.labels), centre_params(n)):
        stage_entry("featurize", centre_params(n))
    emit({"prepared": n})


def stage(n: int) -> None:
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the sized params' own store
    seconds = stage_entry("train", centre_params(n))
    metrics = json.loads((Path(centre_paths(n).metrics_dir) / "train.json").read_text())
    emit({"seconds": seconds, "train_rows": metrics["split"]["train"]["contacts"], "trees": metrics["model"]["trees"]})


def reference(n: int) -> None:
    from bench._reference import bare_booster
    from pipeline.config import load_params

    params = load_params(centre_params(n))
    paths = params.paths
    t0 = time.perf_counter()
    fit = bare_booster(paths.features, paths.feature_spec, paths.model_dir, params.train)
    emit({"seconds": time.perf_counter() - t0, **fit})


def main() -> None:
    import logging

    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    if a.sizes == [1_000_000, 10_000_000]:
        a.sizes = [1_000_000]  # the bar is stated at 1M contacts
    for n in a.sizes:
        run_child("bench.bench_train", "--child", "prepare", str(n))
    rows = compare("bench.bench_train", a.sizes, a.repeat)
    report(rows, "train stage s", "bare lgb.train s", "train stage <= 60 s at 1M contacts")
    for n, s, r, _, _ in rows:
        last = run_child("bench.bench_train", "--child", "stage", str(n))
        logging.getLogger("bench").info("%d contacts: %d training rows, %d trees; stage %.0f training rows/s, "
                                        "bare booster %.0f rows/s", n, last["train_rows"], last["trees"],
                                        last["train_rows"] / s, last["train_rows"] / r)


if __name__ == "__main__":
    main()
