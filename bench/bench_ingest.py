"""Benchmark: the ingest of a 1M-row delimited export against DuckDB's `read_csv` of the same file.

The export is the telephony shape of examples/telephony (tab-separated, the start time composed from
a date column with two-digit years and a time column in Chicago local time, outcome codes through a
value map with a `drop` value, `0` for unknown callers, a named filter), rendered from the synthetic
centre once (not timed). Then, alternating, each in a fresh process: the ingest stage's entry as DVC
runs it (`pipeline.ingest.main` on a params.yaml with that ingest block and its paths under bench/out:
read, map, parse, validate, order, write the contacts dataset, side tables, quarantine, contract and
metrics) and the reference, DuckDB reading the same file with `read_csv` (typed: dates, numbers) and
writing it to Parquet (no validation: bench/bench_repro.py compares the synthetic export's ingest with
DuckDB doing the same validation in SQL).
Medians of --repeat runs.
Last, `fcr ingest --check` on the same file, timed end to end as a user runs it (bar: 30 s).
Run: `uv run python bench/bench_ingest.py` (default 1M rows).
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time

import yaml

from bench._common import OUT, ROOT, bench_cli, compare, emit, report, run_child, stage_entry

log = logging.getLogger("bench")


def _paths(n: int):
    return OUT / f"calls_{n}.tsv", OUT / f"ingest_params_{n}.yaml"


def prepare(n: int) -> None:
    from tests.shapes import centre, telephony

    export, _ = _paths(n)
    OUT.mkdir(parents=True, exist_ok=True)
    export.write_bytes(telephony(centre(n)))
    emit({"bytes": export.stat().st_size})


def write_params(n: int) -> None:
    """The shipped params.yaml with the telephony example's ingest block reading the export, every path
    under bench/out/ingest_<n>."""
    export, params = _paths(n)
    shipped = yaml.safe_load((ROOT / "params.yaml").read_text())
    shipped["ingest"] = yaml.safe_load((ROOT / "examples/telephony/params.yaml").read_text())["ingest"]
    shipped["ingest"]["files"]["contacts"] = str(export)
    shipped["ingest"]["max_reject_share"] = 1.0
    shipped["paths"] = {key: str(OUT / f"ingest_{n}" / value) for key, value in shipped["paths"].items()}
    params.write_text(yaml.safe_dump(shipped, sort_keys=False))


def stage(n: int) -> None:
    emit({"seconds": stage_entry("ingest", _paths(n)[1])})


def reference(n: int) -> None:
    import duckdb

    export, _ = _paths(n)
    t0 = time.perf_counter()
    # Told what the user tells us (delimiter, date format, ids as text): its sniffer alone takes the
    # two-digit US dates for %y/%m/%d and fails at line 53,712.
    duckdb.sql(f"""COPY (SELECT * FROM read_csv('{export}', delim='\\t', header=true, dateformat='%m/%d/%y',
                                           types={{'CallID': 'VARCHAR', 'CallerNo': 'VARCHAR'}}))
                   TO '{OUT / f'duckdb_{n}.parquet'}' (FORMAT parquet)""")
    emit({"seconds": time.perf_counter() - t0})


def main() -> None:
    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    sizes = a.sizes if a.sizes != [1_000_000, 10_000_000] else [1_000_000]
    for n in sizes:
        if not _paths(n)[0].exists():
            prep = run_child("bench.bench_ingest", "--child", "prepare", str(n))
            log.info("prepared a %d-contact telephony export (%.0f MB)", n, prep["bytes"] / 1e6)
        write_params(n)
    report(compare("bench.bench_ingest", sizes, a.repeat), "ingest s", "duckdb read_csv s", "ratio <= 3.0")
    for n in sizes:
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pipeline.cli", "ingest", "--check", "--params", str(_paths(n)[1])],
                           cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        log.info("fcr ingest --check on %d rows: %.1f s (median of %d; bar: 30 s)", n, statistics.median(times),
                 len(times))


if __name__ == "__main__":
    main()
