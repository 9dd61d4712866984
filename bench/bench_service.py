"""Benchmark: the scoring service against `mlflow models serve`, loopback only, bounded in time.

Needs the default `dvc repro` outputs (models_out, the online snapshot, mlflow.db). Starts our
service (`fcr serve --model models_out`) and MLflow's server for the same model
(`mlflow models serve -m models:/fcr-classifier@champion --env-manager local`), then, from a separate
load process each time: single-contact requests at a steady rate (default 200/s, open loop: request i
is sent at t0 + i/rate by a pool of client threads) for a fixed time, p50/p99 latency measured from
send to full response; then batches of 1,000 contacts to our /v1/score, contacts/s. MLflow's server
receives the precomputed model features of the same kind of contacts (it cannot build features from
raw fields), so it does less work per request than ours. Prints all figures and the ratios.
Then 200 concurrent clients (closed loop) against each server: requests/s, p99 and 5xx; and the
live run: scoring contacts with ids (journaled, learned) at 200/s while 200 completed contacts/s are
posted to /v1/contacts.
The paced sender and the server start are bench/_service_common.py's, shared with bench_soak.py.
A quick trial: `--seconds 2 --rate 20 --light-rate 5 --clients 10`.
Run: `uv run python bench/bench_service.py` (bars: our p99 <= 10 ms at 200/s; our p50 >= 5x lower;
no 5xx with 200 clients; live p99 <= 10 ms).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time

from bench._service_common import ROOT, bench_env, free_port, paced, split_url, start_fcr_serve, wait_ready

log = logging.getLogger("bench")


def payloads(n: int) -> tuple[list[dict], list[dict]]:
    """Raw contacts for our service (arriving just after the snapshot) and the model features of
    test-window contacts for MLflow's server."""
    import pandas as pd

    snap = pd.read_parquet(ROOT / "data/features/online_snapshot/meta.parquet")
    as_of = snap["as_of"].iloc[0]
    hist = pd.read_parquet(ROOT / "data/features/online_snapshot/history.parquet").tail(n)
    raw = [{"customer_id": None if pd.isna(r.customer_id) else str(r.customer_id), "channel": str(r.channel), "reason_code": str(r.reason_code),
            "agent_id": None if pd.isna(r.agent_id) else str(r.agent_id),
            "started_at": (as_of + pd.Timedelta(minutes=i % 600)).isoformat(), "wait_s": 20.0}
           for i, r in enumerate(hist.itertuples())]
    spec = json.loads((ROOT / "models_out/feature_spec.json").read_text())
    feats = pd.read_parquet(ROOT / "data/features/features.parquet", columns=spec["model_features"]).tail(n)
    for c in feats.columns:
        if isinstance(feats[c].dtype, pd.CategoricalDtype):
            feats[c] = feats[c].astype(object).where(feats[c].notna(), None)
        else:
            feats[c] = feats[c].astype("float64")
    rows = json.loads(feats.to_json(orient="records"))
    return raw, rows


def load(url: str, kind: str, rate: float, seconds: float) -> None:
    """Child process: open-loop load (bench/_service_common.py `paced`); prints its figures as JSON."""
    raw, rows = payloads(2000)
    n = int(rate * seconds)
    if kind == "ours":
        bodies = [{"contacts": [r]} for r in raw]
    elif kind == "ours_ids":  # contacts with ids: each is journaled and learned by the live state
        bodies = [{"contacts": [raw[i % len(raw)] | {"contact_id": f"score-{i}"}]} for i in range(n)]
    elif kind == "events":  # completed contacts posted to /v1/contacts
        bodies = [{"contacts": [raw[i % len(raw)] | {"contact_id": f"event-{i}", "disposition": "handled",
                                                     "transfers": 0}]} for i in range(n)]
    else:
        bodies = [{"dataframe_records": [r]} for r in rows]
    print(json.dumps(paced(url, [json.dumps(b).encode() for b in bodies], n, rate)))


def clients(url: str, kind: str, n_clients: int, seconds: float) -> None:
    """Child process: closed loop, `n_clients` threads each sending its next request when the last is
    answered, for `seconds`; prints throughput, latency percentiles and the count of 5xx / failures."""
    import http.client
    import threading

    import numpy as np

    raw, rows = payloads(2000)
    bodies = [json.dumps({"contacts": [r]} if kind == "ours" else {"dataframe_records": [rows[i % len(rows)]]})
              .encode() for i, r in enumerate(raw)]
    host, port, path = split_url(url)
    stop = time.perf_counter() + seconds
    lat: list[list[float]] = [[] for _ in range(n_clients)]
    bad = [0] * n_clients
    start_gate = threading.Barrier(n_clients)

    def run(k: int) -> None:
        c = http.client.HTTPConnection(host, port, timeout=30)
        start_gate.wait()
        i = k
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                c.request("POST", path, body=bodies[i % len(bodies)], headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                ok = r.status < 500
            except (OSError, http.client.HTTPException):
                ok = False
                c.close()
                c = http.client.HTTPConnection(host, port, timeout=30)
            lat[k].append(time.perf_counter() - t)
            bad[k] += not ok
            i += n_clients

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_lat = np.concatenate([np.asarray(x) for x in lat])
    print(json.dumps({"requests": len(all_lat), "rps": len(all_lat) / (time.perf_counter() - t0),
                      "p50_ms": float(np.percentile(all_lat, 50) * 1000),
                      "p99_ms": float(np.percentile(all_lat, 99) * 1000), "errors_5xx": int(sum(bad))}))


def batch(url: str, size: int, repeat: int) -> None:
    import httpx
    import numpy as np

    raw, _ = payloads(size)
    with httpx.Client(timeout=60) as c:
        c.post(url, json={"contacts": raw}).raise_for_status()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            c.post(url, json={"contacts": raw}).raise_for_status()
            times.append(time.perf_counter() - t)
    print(json.dumps({"contacts": size, "median_s": float(np.median(times)), "contacts_per_s": size / float(np.median(times))}))


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.bench_service", "--child", *args], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)}).stdout
    return json.loads(out.strip().splitlines()[-1])


def _paced_row(name: str, r: dict) -> None:
    log.info("%-28s %10.2f %10.2f %12.1f %8d %8d %9d", name, r["p50_ms"], r["p99_ms"], r["achieved_rps"], r["ok"],
             r["errors"], r["not_sent"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each steady-load run")
    ap.add_argument("--light-rate", type=float, default=20.0,
                    help="a second, light load both servers sustain (default 20/s): latency without queueing")
    ap.add_argument("--clients", type=int, default=200, help="concurrent clients of the closed-loop run")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        what, *rest = a.child
        if what == "load":
            load(rest[0], rest[1], float(rest[2]), float(rest[3]))
        elif what == "clients":
            clients(rest[0], rest[1], int(rest[2]), float(rest[3]))
        else:
            batch(rest[0], int(rest[1]), int(rest[2]))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    env = bench_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{ROOT / 'mlflow.db'}"}
    ours_port, mlflow_port = free_port(), free_port()
    procs = [
        start_fcr_serve(ours_port, env),
        subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/fcr-classifier@champion",
                          "--env-manager", "local", "-p", str(mlflow_port), "-h", "127.0.0.1"], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{ours_port}/readyz")
        wait_ready(f"http://127.0.0.1:{mlflow_port}/ping")
        ours = _child("load", f"http://127.0.0.1:{ours_port}/v1/score", "ours", str(a.rate), str(a.seconds))
        theirs = _child("load", f"http://127.0.0.1:{mlflow_port}/invocations", "mlflow", str(a.rate), str(a.seconds))
        ours_light = _child("load", f"http://127.0.0.1:{ours_port}/v1/score", "ours", str(a.light_rate),
                            str(a.seconds))
        theirs_light = _child("load", f"http://127.0.0.1:{mlflow_port}/invocations", "mlflow", str(a.light_rate),
                              str(a.seconds))
        big = _child("batch", f"http://127.0.0.1:{ours_port}/v1/score", "1000", "10")
        crowd = _child("clients", f"http://127.0.0.1:{ours_port}/v1/score", "ours", str(a.clients), str(a.seconds))
        crowd_mlflow = _child("clients", f"http://127.0.0.1:{mlflow_port}/invocations", "mlflow", str(a.clients),
                              str(a.seconds))
        # live: scoring contacts with ids (journaled, learned) while as many completed contacts are posted
        both = [subprocess.Popen([sys.executable, "-m", "bench.bench_service", "--child", "load",
                                  f"http://127.0.0.1:{ours_port}{path}", kind, str(a.rate), str(a.seconds)],
                                 cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
                for path, kind in (("/v1/score", "ours_ids"), ("/v1/contacts", "events"))]
        live, events = (json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in both)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    log.info("single contact at %.0f requests/s for %.0f s (loopback, separate load process):", a.rate, a.seconds)
    log.info("%-28s %10s %10s %12s %8s %8s %9s", "server", "p50 ms", "p99 ms", "achieved/s", "ok", "errors",
             "not sent")
    for name, r in (("fcr serve /v1/score", ours), ("mlflow models serve", theirs)):
        _paced_row(name, r)
    log.info("p50 ratio (mlflow / ours): %.1fx  (bar >= 5x); our p99 %.2f ms (bar <= 10 ms)",
             theirs["p50_ms"] / ours["p50_ms"], ours["p99_ms"])
    log.info("light load, %.0f requests/s:", a.light_rate)
    for name, r in (("fcr serve /v1/score", ours_light), ("mlflow models serve", theirs_light)):
        _paced_row(name, r)
    log.info("p50 ratio at light load (mlflow / ours): %.1fx", theirs_light["p50_ms"] / ours_light["p50_ms"])
    log.info("batch of 1,000 contacts: %.3f s median -> %.0f contacts/s", big["median_s"], big["contacts_per_s"])
    log.info("%d concurrent clients, closed loop, %.0f s:", a.clients, a.seconds)
    log.info("%-28s %10s %10s %12s %8s", "server", "p50 ms", "p99 ms", "requests/s", "5xx")
    for name, r in (("fcr serve /v1/score", crowd), ("mlflow models serve", crowd_mlflow)):
        log.info("%-28s %10.2f %10.2f %12.1f %8d", name, r["p50_ms"], r["p99_ms"], r["rps"], r["errors_5xx"])
    log.info("throughput ratio (ours / mlflow): %.1fx; p99 ratio (mlflow / ours): %.1fx",
             crowd["rps"] / crowd_mlflow["rps"], crowd_mlflow["p99_ms"] / crowd["p99_ms"])
    log.info("live: %.0f scoring requests/s (contacts with ids, journaled) while %.0f events/s are posted:", a.rate,
             a.rate)
    for name, r in (("fcr serve /v1/score", live), ("fcr serve /v1/contacts", events)):
        _paced_row(name, r)
    log.info("live scoring p99 %.2f ms (bar <= 10 ms); p99 ratio live / scoring alone: %.2fx", live["p99_ms"],
             live["p99_ms"] / ours["p99_ms"])


if __name__ == "__main__":
    main()
