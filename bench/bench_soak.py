"""Soak benchmark: does `fcr serve` keep a flat memory under steady live load?

Needs the default `dvc repro` outputs (models_out, the online snapshot). Starts `fcr serve --model
models_out` on a fresh journal, then for `--seconds` (default 600) two open-loop load processes: contacts
with ids scored at `--rate`/s (journaled, learned by the live state) and the same contacts posted as
completed to /v1/contacts at `--rate`/s. The server's RSS is sampled every `--every` s (psutil).
Contact time runs faster than the clock (`--days-per-s`, default 0.5: ten minutes cover 300 days), so
that the run crosses the state's look-back (92 days, reached after about 3 minutes): a state that only
grows, or one bounded by its look-back, shows which it is within ten minutes. (Contact time must stay
before the wall clock: the service does not let a start time ahead of it prune history.) Prints
first-minute vs last-minute median RSS and their ratio (bar: within 10 %), and p50 / p99 of both kinds of request.
Run: `uv run python bench/bench_soak.py` (about 11 minutes); a short trial run:
`--seconds 30 --every 2` (it does not cross the look-back, so it says nothing about the bound).
The paced sender and the server start are bench/_service_common.py's, shared with bench_service.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench._service_common import ROOT, bench_env, free_port, paced, start_fcr_serve, wait_ready

log = logging.getLogger("bench")


def contacts(n: int, days_per_s: float, rate: float) -> list[dict]:
    """n raw contacts of the snapshot's customers and agents, contact i at as_of + i / rate seconds of
    the clock, times `days_per_s` days of contact time per second."""
    import pandas as pd

    as_of = pd.read_parquet(ROOT / "data/features/online_snapshot/meta.parquet")["as_of"].iloc[0]
    hist = pd.read_parquet(ROOT / "data/features/online_snapshot/history.parquet")
    step_s = days_per_s * 86_400 / rate
    cols = {c: [None if pd.isna(v) else str(v) for v in hist[c]] for c in
            ("customer_id", "channel", "reason_code", "agent_id")}
    m = len(hist)
    start = as_of.timestamp()
    return [{"contact_id": f"soak-{i}", "customer_id": cols["customer_id"][i % m], "channel": cols["channel"][i % m],
             "reason_code": cols["reason_code"][i % m], "agent_id": cols["agent_id"][i % m],
             "started_at": datetime.fromtimestamp(int(start + step_s * (i + 1)), UTC).isoformat(), "wait_s": 20.0}
            for i in range(n)]


def load(url: str, kind: str, rate: float, seconds: float, days_per_s: float) -> None:
    """Child process: open loop at `rate`/s for `seconds` (bench/_service_common.py `paced`), started
    when the parent says go; prints latency percentiles and statuses as JSON."""
    n = int(rate * seconds)
    raw = contacts(n, days_per_s, rate)
    if kind == "score":
        bodies = [json.dumps({"contacts": [c]}).encode() for c in raw]
    else:  # the same contacts, completed
        bodies = [json.dumps({"contacts": [c | {"disposition": "handled", "transfers": 0}]}).encode() for c in raw]
    print("ready", flush=True)  # the parent starts its clock when both loads are built
    sys.stdin.readline()
    print(json.dumps(paced(url, bodies, n, rate)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="scoring requests/s, and as many events/s (200)")
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the soak (600)")
    ap.add_argument("--every", type=float, default=10.0, help="RSS sampling period in seconds (10)")
    ap.add_argument("--days-per-s", type=float, default=0.5, help="days of contact time per second of clock (0.5)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        load(a.child[0], a.child[1], float(a.child[2]), float(a.child[3]), float(a.child[4]))
        return
    import psutil

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    env = bench_env()
    port = free_port()
    server = start_fcr_serve(port, env)
    samples: list[tuple[float, float]] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        proc = psutil.Process(server.pid)
        loads = [subprocess.Popen([sys.executable, "-m", "bench.bench_soak", "--child",
                                   f"http://127.0.0.1:{port}{path}", kind, str(a.rate), str(a.seconds),
                                   str(a.days_per_s)],
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                 for path, kind in (("/v1/score", "score"), ("/v1/contacts", "events"))]
        for p in loads:
            assert p.stdout.readline().strip() == "ready"
        for p in loads:
            p.stdin.write("go\n")
            p.stdin.flush()
        t0 = time.perf_counter()
        while any(p.poll() is None for p in loads):
            samples.append((time.perf_counter() - t0, proc.memory_info().rss / 2**20))
            log.info("t=%5.0f s  RSS %.1f MiB", *samples[-1])
            time.sleep(a.every)
        scored, events = (json.loads(p.stdout.read().strip().splitlines()[-1]) for p in loads)
        import httpx

        journal_rows = httpx.get(f"http://127.0.0.1:{port}/v1/model", timeout=10).json()
    finally:
        server.terminate()
        server.wait(30)
    first = [r for t, r in samples if t < 60]
    last = [r for t, r in samples if t >= samples[-1][0] - 60]
    m1, m2 = statistics.median(first), statistics.median(last)
    log.info("soak: %.0f s, %.0f scoring requests/s + %.0f events/s, %.1f days of contact time per second",
             a.seconds, a.rate, a.rate, a.days_per_s)
    log.info("%-24s %10s %10s %12s %8s %8s %9s", "endpoint", "p50 ms", "p99 ms", "achieved/s", "ok", "errors",
             "not sent")
    for name, r in (("/v1/score", scored), ("/v1/contacts", events)):
        log.info("%-24s %10.2f %10.2f %12.1f %8d %8d %9d", name, r["p50_ms"], r["p99_ms"], r["achieved_rps"], r["ok"],
                 r["errors"], r["not_sent"])
    log.info("live state at the end: %s contact ids, journal %s events", journal_rows.get("live_contacts"),
             journal_rows.get("journal_length"))
    log.info("RSS min %.1f, max %.1f MiB over %d samples", min(r for _, r in samples), max(r for _, r in samples),
             len(samples))
    verdict = "met" if abs(m2 / m1 - 1) <= 0.10 else "NOT met"
    if samples[-1][0] < 120:  # the two minutes overlap: the ratio cannot show growth
        verdict = "not judged: the run is shorter than two minutes, so first and last minute overlap"
    log.info("RSS median, first minute %.1f MiB, last minute %.1f MiB: ratio %.3f (bar: within 10%%: %s)",
             m1, m2, m2 / m1, verdict)


if __name__ == "__main__":
    main()
