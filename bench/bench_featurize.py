"""Benchmark: the featurize stage on 1M and 10M contacts against a DuckDB window query.

Prepared once per size (not timed): synthetic export (bench_generate), ingest, label stage.
Timed, alternating, each in a fresh process: the whole featurize stage (`pipeline.featurize.run`:
read, build every feature, write features and spec) and the reference, DuckDB computing the same
windowed counts (each contact's earlier contacts of the same customer in the last 1/7/30/90 days)
with RANGE window frames over the same Parquet file and writing them to Parquet.
Run: `uv run python bench/bench_featurize.py` (bar: <= 60 s and <= 8 GB at 10M).
"""

from __future__ import annotations

import time

from bench._common import OUT, bench_cli, compare, emit, report, run_child, stale


def _paths(n: int):
    from base.config import Paths

    d = OUT / f"featurize_{n}"
    return Paths(raw_dir="", contacts=str(OUT / f"contacts_{n}.parquet"), customers=str(OUT / f"customers_{n}.parquet"),
                 agents=str(OUT / f"agents_{n}.parquet"), quarantine="", contract=str(d / "no_contract.json"), truth_dir=str(d / "no_truth"),
                 labels=str(OUT / f"label_{n}" / "labels"), features=str(d / "features.parquet"),
                 feature_spec=str(d / "feature_spec.json"), online_snapshot=str(d / "online_snapshot"), model_dir="",
                 metrics_dir=str(d / "metrics"), plots_dir=str(d / "plots"), reports_dir="")


def prepare(n: int) -> None:
    import subprocess
    import sys

    from labelling.config import LabelConfig
    from pipeline.label import run as label_run

    if not (OUT / f"customers_{n}.parquet").exists():
        subprocess.run([sys.executable, "-m", "bench.bench_generate", "--child", str(n)], check=True,
                       stdout=subprocess.DEVNULL)
    if stale(OUT / f"contacts_{n}.parquet", OUT / f"raw_{n}.parquet"):
        subprocess.run([sys.executable, "-m", "bench.bench_label", "--child", "prepare", str(n)], check=True,
                       stdout=subprocess.DEVNULL)
    paths = _paths(n)
    paths_label = paths.model_copy(update={"metrics_dir": str(OUT / f"label_{n}" / "metrics"),
                                           "plots_dir": str(OUT / f"label_{n}" / "plots")})
    label_run(LabelConfig.default(), paths_label)
    emit({"n": n})


def stage(n: int) -> None:
    from pathlib import Path

    from features.config import FeaturizeConfig
    from pipeline.featurize import run

    paths = _paths(n)
    Path(paths.features).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run(FeaturizeConfig.default(), 7.0, None, paths)
    emit({"seconds": time.perf_counter() - t0})


def reference(n: int) -> None:
    import duckdb

    src, dst = OUT / f"contacts_{n}.parquet", OUT / f"windows_{n}.parquet"
    frames = ",\n".join(
        f"count(*) OVER (PARTITION BY customer_id ORDER BY epoch(started_at) "
        f"RANGE BETWEEN {d * 86400} PRECEDING AND 1 PRECEDING) AS contacts_{d}d" for d in (1, 7, 30, 90))
    t0 = time.perf_counter()
    duckdb.sql(f"COPY (SELECT contact_id, {frames} FROM read_parquet('{src}') WHERE customer_id IS NOT NULL) "
               f"TO '{dst}' (FORMAT parquet)")
    emit({"seconds": time.perf_counter() - t0})


def main() -> None:
    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    for n in a.sizes:
        run_child("bench.bench_featurize", "--child", "prepare", str(n))
    report(compare("bench.bench_featurize", a.sizes, a.repeat), "featurize s", "duckdb windows s", "featurize <= 60 s and peak <= 8000 MB at 10M")


if __name__ == "__main__":
    main()
