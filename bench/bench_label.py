"""Benchmark: the label stage on 1M and 10M contacts against a plain DuckDB lead() window query.

For each size: the ingested contact file is prepared once (synthetic export -> ingest, not timed);
then, alternating, the whole label stage (`pipeline.label.run`: read, label, write the labelled table,
FCR metrics and plots) and the reference, DuckDB computing each contact's next contact of the same
customer and reason family with lead() over the same Parquet file and writing it to Parquet.
Each in a fresh process; medians of --repeat runs; peak RSS per process.
Run: `uv run python bench/bench_label.py` (needs bench/bench_generate.py's raw files or makes them).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bench._common import OUT, bench_cli, compare, emit, report, run_child, stale

log = logging.getLogger("bench")


def prepare(n: int) -> None:
    import pandas as pd

    from synthetic.reasons import REASON_FAMILY
    from synthetic.config import SyntheticConfig
    from contract.schema import SourceSpec, normalise_contacts
    from synthetic.centre import generate

    raw_path = OUT / f"raw_{n}.parquet"
    if raw_path.exists():
        raw = pd.read_parquet(raw_path)
    else:
        raw = generate(SyntheticConfig.default(n_contacts=n, n_customers=n // 5, n_agents=max(300, n // 3000))).contacts
    t0 = time.perf_counter()
    res = normalise_contacts(raw, SourceSpec(reason_families=REASON_FAMILY))
    t1 = time.perf_counter()
    res.contacts.to_parquet(OUT / f"contacts_{n}.parquet", index=False)
    emit({"n": n, "rows": len(res.contacts), "ingest_validate_s": t1 - t0})


def stage(n: int) -> None:
    from base.config import Paths
    from labelling.config import LabelConfig
    from pipeline.label import run

    d = OUT / f"label_{n}"
    paths = Paths(raw_dir=str(d), contacts=str(OUT / f"contacts_{n}.parquet"), customers="", agents="", contract="",
                  quarantine="", truth_dir=str(d / "no_truth"), labels=str(d / "labels"), features="",
                  feature_spec="", online_snapshot="", model_dir="", metrics_dir=str(d / "metrics"),
                  plots_dir=str(d / "plots"), reports_dir="")
    t0 = time.perf_counter()
    run(LabelConfig.default(), paths)
    emit({"seconds": time.perf_counter() - t0})


def reference(n: int) -> None:
    import duckdb

    src, dst = OUT / f"contacts_{n}.parquet", OUT / f"lead_{n}.parquet"
    t0 = time.perf_counter()
    duckdb.sql(f"""
        COPY (SELECT contact_id,
                     lead(started_at) OVER (PARTITION BY customer_id, reason_family
                                            ORDER BY started_at, contact_id) AS next_started_at
              FROM read_parquet('{src}'))
        TO '{dst}' (FORMAT parquet)""")
    emit({"seconds": time.perf_counter() - t0})


def main() -> None:
    a = bench_cli(__doc__, {"prepare": prepare, "stage": stage, "reference": reference})
    if a is None:
        return
    for n in a.sizes:
        if stale(OUT / f"contacts_{n}.parquet", OUT / f"raw_{n}.parquet"):
            prep = run_child("bench.bench_label", "--child", "prepare", str(n))
            log.info("prepared %d contacts (ingest validation %.1f s, peak %.0f MB)", prep["rows"],
                     prep["ingest_validate_s"], prep["peak_rss_mb"])
    report(compare("bench.bench_label", a.sizes, a.repeat), "label stage s", "duckdb lead() s", "ratio <= 3.0 and stage peak <= 6000 MB at 10M")


if __name__ == "__main__":
    main()
