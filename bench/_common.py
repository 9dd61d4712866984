"""Helpers for the benchmarks: run a measured step in a child process, report time and peak memory."""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def run_child(module: str, *args: str) -> dict:
    """Run `python -m module args` and return the JSON it prints on its last line, plus its peak RSS."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{module} {args} failed with exit code {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def stale(derived: Path, *sources: Path) -> bool:
    """A prepared input must be redone: missing, or older than what it was made from (a new generator
    writes a new raw export; benchmarks must not time yesterday's data)."""
    if not derived.exists():
        return True
    return any(src.exists() and src.stat().st_mtime > derived.stat().st_mtime for src in sources)


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def emit(result: dict) -> None:
    """The child's measurement, as the last line of its output."""
    sys.stdout.write(json.dumps(result) + "\n")


def compare(module: str, sizes: list[int], repeat: int) -> list[tuple[int, float, float, float, float]]:
    """Alternate `--child stage N` and `--child reference N` of `module`, each in a fresh process;
    per size: (n, median stage s, median reference s, stage peak MB, reference peak MB)."""
    rows = []
    for n in sizes:
        ours, ref = [], []
        for _ in range(repeat):
            ours.append(run_child(module, "--child", "stage", str(n)))
            ref.append(run_child(module, "--child", "reference", str(n)))
        rows.append((n, median_of(ours, "seconds"), median_of(ref, "seconds"),
                     max(r["peak_rss_mb"] for r in ours), max(r["peak_rss_mb"] for r in ref)))
    return rows


def bench_cli(doc: str, children: dict) -> argparse.Namespace | None:
    """Parse `--sizes/--repeat`; when called as `--child WHAT N`, run that child and return None."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("WHAT", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        what, n = a.child
        children[what](int(n))
        return None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    return a


def report(rows: list[tuple[int, float, float, float, float]], ours: str, reference: str, bar: str) -> None:
    """Print our figure, the reference measured in the same run, the ratio, and peak memory."""
    log = logging.getLogger("bench")
    log.info("%12s %16s %18s %8s %14s %14s", "contacts", ours, reference, "ratio", "stage peak MB", "ref peak MB")
    for n, s, r, ms, mr in rows:
        log.info("%12d %16.2f %18.2f %8.2f %14.0f %14.0f", n, s, r, s / r, ms, mr)
    log.info("bar: %s", bar)
