"""Benchmark: the label stage on 1M and 10M contacts against a plain DuckDB lead() window query.

For each size: the synthetic centre is generated and ingested once by the stages' own entries
(bench/_common.py `prepare_centre`, not timed). Then, alternating, each in a fresh process: the label
stage's entry as DVC runs it (`pipeline.label.main` on the sized params: read, label, write the
labelled table, FCR metrics and plots, and the agreement with the generator's truth, which DVC's run
checks on the synthetic centre) and the reference, DuckDB computing each contact's next contact of
the same customer and reason family with lead() over the same ingested contacts and writing it to
Parquet (bench/_reference.py `duckdb_lead`). Medians of --repeat runs; peak RSS per process.
Run: `uv run python bench/bench_label.py` (bar: ratio <= 3.0, stage peak <= 6000 MB at 10M).
"""

from __future__ import annotations

import logging
import time

from bench._common import (OUT, bench_cli, centre_params, centre_paths, compare, emit, prepare_centre, report,
                           run_child, stage_entry)

log = logging.getLogger("bench")


def prepare(n: int) -> None:
    prepare_centre(n)
    emit({"n": n})


def stage(n: int) -> None:
    emit({"seconds": stage_entry("label", centre_params(n))})


def reference(n: int) -> None:
    from bench._reference import duckdb_lead

    t0 = time.perf_counter()
    duckdb_lead(centre_paths(n).contacts, OUT / f"lead_{n}.parquet")
    emit({"seconds": time.perf_counter() - t0})


def main() -> None:
    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    for n in a.sizes:
        prep = run_child("bench.bench_label", "--child", "prepare", str(n))
        log.info("centre of %d contacts ready (peak %.0f MB while prepared)", n, prep["peak_rss_mb"])
    report(compare("bench.bench_label", a.sizes, a.repeat), "label stage s", "duckdb lead() s",
           "ratio <= 3.0 and stage peak <= 6000 MB at 10M")


if __name__ == "__main__":
    main()
