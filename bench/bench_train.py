"""Benchmark: the train stage on 1M contacts against a bare LightGBM fit.

Prepared once per size (not timed): synthetic export, ingest, label and featurize (bench_featurize).
Timed, alternating, each in a fresh process: the whole train stage (`pipeline.train.run`: read the
features, time split, LightGBM with early stopping, calibration, three baselines, test metrics and
plots, MLflow run with the pyfunc model, registry and champion comparison, into a SQLite tracking
database under bench/out) and the reference, the bare `lightgbm.train` of the same parameters and
the same number of trees on the same training window (no validation, no calibration, no baselines,
no tracking): the floor for the booster alone. Prints seconds, training rows/s and the ratio.
Run: `uv run python bench/bench_train.py` (bar: <= 60 s at 1M contacts).
"""

from __future__ import annotations

import json
import time

from bench._common import OUT, ROOT, bench_cli, compare, emit, report, run_child, stale


def _paths(n: int):
    from bench.bench_featurize import _paths as featurize_paths

    d = OUT / f"train_{n}"
    return featurize_paths(n).model_copy(update={"model_dir": str(d / "model"), "metrics_dir": str(d / "metrics"),
                                                 "plots_dir": str(d / "plots")})


def _cfg(n: int):
    """The train section of params.yaml (what `dvc repro` trains with), tracked into a bench database."""
    from models.config import RegistryConfig
    from pipeline.config import load_params

    train = load_params(str(ROOT / "params.yaml")).train
    return train.model_copy(update={"registry": RegistryConfig.default(
        tracking_uri=f"sqlite:///{OUT / f'train_{n}' / 'mlflow.db'}", experiment="bench")})


def prepare(n: int) -> None:
    from pathlib import Path

    from bench.bench_featurize import prepare as featurize_prepare
    from bench.bench_featurize import stage as featurize_stage

    if stale(Path(_paths(n).features), OUT / f"contacts_{n}.parquet", OUT / f"raw_{n}.parquet"):
        featurize_prepare(n)
        featurize_stage(n)
    (OUT / f"train_{n}").mkdir(parents=True, exist_ok=True)
    emit({"prepared": n})  # the parent reads one JSON line from every child


def stage(n: int) -> None:
    import os

    from pipeline.train import run

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    t0 = time.perf_counter()
    metrics = run(_cfg(n), _paths(n))
    seconds = time.perf_counter() - t0
    emit({"seconds": seconds, "train_rows": metrics["split"]["train"]["contacts"],
          "trees": metrics["model"]["trees"]})


def reference(n: int) -> None:
    from pathlib import Path

    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from models.scoring import model_frame
    from models.training.classifier import booster_params
    from models.training.split import time_split

    paths, cfg = _paths(n), _cfg(n)
    trees = json.loads((Path(paths.model_dir) / "model_card.json").read_text())["test_metrics"]["trees"]
    t0 = time.perf_counter()
    table = pd.read_parquet(paths.features)
    spec = json.loads(Path(paths.feature_spec).read_text())
    split = time_split(table["started_at"], table["status"], cfg.split.valid_share, cfg.split.test_share)
    X = model_frame(table.iloc[split.train], spec)
    y = table["repeated"].iloc[split.train].fillna(False).to_numpy(dtype=np.int8)
    lgb.train(booster_params(cfg.lightgbm, cfg.seed), lgb.Dataset(X, label=y), num_boost_round=trees)
    emit({"seconds": time.perf_counter() - t0, "train_rows": len(y), "trees": trees})


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
