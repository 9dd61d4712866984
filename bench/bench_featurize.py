"""Benchmark: the featurize stage on 1M and 10M contacts against DuckDB computing the same features in SQL.

Prepared once per size (not timed): the synthetic centre generated, ingested and labelled by the
stages' own entries (bench/_common.py `prepare_centre`, then `pipeline.label.main`). Timed,
alternating, each in a fresh process: the featurize stage's entry as DVC runs it
(`pipeline.featurize.main` on the sized params: read, build every feature, write the features, their
checksums, the spec with the data's lineage and the online snapshot) and the reference, DuckDB
computing the same point-in-time features with SQL window frames over the same contacts, labels and
side tables and writing them to Parquet (bench/_reference.py `duckdb_features`: every feature of
features/rules.py, value for value).
Run: `uv run python bench/bench_featurize.py` (bar: ratio <= 2.0, peak <= 8 GB at 10M).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench._common import (OUT, bench_cli, centre_params, centre_paths, compare, emit, prepare_centre, report,
                           run_child, stage_entry, stale)


def prepare(n: int) -> None:
    prepare_centre(n)
    paths = centre_paths(n)
    if stale(Path(paths.labels), Path(paths.contacts), centre_params(n)):
        stage_entry("label", centre_params(n))
    emit({"n": n})


def stage(n: int) -> None:
    emit({"seconds": stage_entry("featurize", centre_params(n))})


def reference(n: int) -> None:
    from bench._reference import duckdb_features
    from pipeline.config import load_params

    params = load_params(centre_params(n))
    paths = params.paths
    t0 = time.perf_counter()
    duckdb_features(paths.contacts, paths.labels, paths.customers, paths.agents, params.label.window_days,
                    params.featurize.prior_strength, OUT / f"features_sql_{n}.parquet")
    emit({"seconds": time.perf_counter() - t0})


def main() -> None:
    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    for n in a.sizes:
        run_child("bench.bench_featurize", "--child", "prepare", str(n))
    report(compare("bench.bench_featurize", a.sizes, a.repeat), "featurize s", "duckdb features s",
           "ratio <= 2.0 and peak <= 8000 MB at 10M")


if __name__ == "__main__":
    main()
