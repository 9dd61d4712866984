"""What the service benchmarks (bench_service.py, bench_soak.py) share: a free loopback port, waiting
for a server to answer, starting `fcr serve` on the default pipeline's model with a fresh journal,
and the open-loop (paced) sender that measures latency from send to full response.

In: URLs, request bodies (encoded JSON), a rate. Out: a started server process, or one JSON-able dict
of the sender's figures (requests, ok, errors, not sent, achieved rate, p50/p99 in ms).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENDER_THREADS = 8  # client threads of the paced sender (each with one kept-alive connection)
LATE_S = 10.0       # a request this far behind its send time is not sent: runs stay bounded in time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_url(url: str) -> tuple[str, int, str]:
    u = urlsplit(url)
    return u.hostname, u.port, u.path


def wait_ready(url: str, timeout: float = 180) -> None:
    """Until `url` answers 200 (the standard library's client: no request log lines in the output)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:  # refused while starting, or an HTTP error status (503 until loaded)
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready in {timeout} s")


def start_fcr_serve(port: int, env: dict[str, str]) -> subprocess.Popen:
    """`fcr serve --model models_out` on `port`, with a fresh journal so the benchmark's events stay out
    of data/; needs the default `dvc repro` outputs (exits with a message without them)."""
    if not (ROOT / "models_out/model.txt").exists():
        raise SystemExit("run `make repro` first: the benchmark serves the default pipeline's model")
    journal = Path(tempfile.mkdtemp()) / "journal.sqlite"
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--model", "models_out", "--port",
                             str(port), "--journal", str(journal)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def bench_env() -> dict[str, str]:
    """The environment of the servers and load processes: the project importable, no API token."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    env.pop("FCR_API_TOKEN", None)
    return env


def paced(url: str, bodies: list[bytes], n: int, rate: float) -> dict:
    """Open loop: request i (body i modulo the bodies) is sent at t0 + i / rate by a pool of client
    threads, POSTed as JSON, for n requests; a request LATE_S behind schedule is not sent. Latency
    is from send to full response; a connection error counts as an error (and the connection is
    opened again), as does a 5xx."""
    lat = np.full(n, np.nan)
    codes = np.zeros(n, dtype=int)
    host, port, path = split_url(url)
    local = threading.local()
    t0 = time.perf_counter() + 0.5

    def one(i: int) -> None:
        # http.client with one kept-alive connection per thread: the lightest client in the standard
        # library, so that the load process measures the server rather than itself.
        if not hasattr(local, "c"):
            local.c = http.client.HTTPConnection(host, port, timeout=10)
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif -delay > LATE_S:
            return
        start = time.perf_counter()
        try:
            local.c.request("POST", path, body=bodies[i % len(bodies)], headers={"Content-Type": "application/json"})
            r = local.c.getresponse()
            r.read()
            codes[i] = r.status
        except (OSError, http.client.HTTPException):
            local.c.close()
            local.c = http.client.HTTPConnection(host, port, timeout=10)
            codes[i] = -1
        lat[i] = time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=SENDER_THREADS) as pool:
        list(pool.map(one, range(n)))
    sent = int((~np.isnan(lat)).sum())
    return {"requests": n, "ok": int((codes == 200).sum()), "errors": int(((codes >= 500) | (codes < 0)).sum()),
            "not_sent": n - sent, "achieved_rps": sent / (time.perf_counter() - t0),
            "p50_ms": float(np.nanpercentile(lat, 50) * 1000), "p99_ms": float(np.nanpercentile(lat, 99) * 1000)}
