"""Benchmark: generate 1M and 10M synthetic contacts; time and peak memory.

Reference, measured in the same run: writing the generated export to Parquet with pyarrow (the floor
any pipeline pays to put that many rows on disk). Run: `uv run python bench/bench_generate.py`.
"""

from __future__ import annotations

import argparse
import logging
import time

from bench._common import OUT, centre_size, emit, median_of, run_child

log = logging.getLogger("bench")


def child(n: int) -> None:
    from synthetic.config import SyntheticConfig
    from synthetic.centre import generate

    t0 = time.perf_counter()
    data = generate(SyntheticConfig.default(**centre_size(n)))
    t1 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"raw_{n}.parquet"
    data.contacts.to_parquet(path, index=False)
    t2 = time.perf_counter()
    emit({"n": n, "rows": len(data.contacts), "generate_s": t1 - t0, "parquet_write_s": t2 - t1})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("%12s %12s %12s %14s %8s %12s", "contacts", "rows", "generate s", "parquet write s", "ratio", "peak MB")
    for n in a.sizes:
        runs = [run_child("bench.bench_generate", "--child", str(n)) for _ in range(a.repeat)]
        g, w = median_of(runs, "generate_s"), median_of(runs, "parquet_write_s")
        log.info("%12d %12d %12.1f %14.1f %8.1f %12.0f", n, runs[0]["rows"], g, w, g / w,
                 max(r["peak_rss_mb"] for r in runs))


if __name__ == "__main__":
    main()
