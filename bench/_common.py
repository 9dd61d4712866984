"""Helpers for the benchmarks: run a measured step in a child process, report time and peak memory."""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def centre_size(n: int) -> dict:
    """The synthetic centre of `n` contacts every benchmark uses: a customer per 5 contacts, an agent per 3,000
    (at least 300), as issue 27 sized them (1M: 200,000 customers, 333 agents; 10M: 2,000,000 and 3,333)."""
    return {"n_contacts": n, "n_customers": n // 5, "n_agents": max(300, n // 3000)}


def centre_params(n: int) -> Path:
    """OUT/centre_<n>/params.yaml: the shipped params.yaml with the synthetic centre sized to `n`, every
    path moved under OUT/centre_<n>/ and MLflow tracked into a SQLite file there. The stage benchmarks
    run each stage's own entry on it (`stage_entry`), as `dvc repro` runs it on params.yaml."""
    home = OUT / f"centre_{n}"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthetic"].update(centre_size(n))
    params["paths"] = {key: str(home / value) for key, value in params["paths"].items()}
    params["train"]["registry"]["tracking_uri"] = f"sqlite:///{home / 'mlflow.db'}"
    path, text = home / "params.yaml", yaml.safe_dump(params, sort_keys=False)
    if not path.exists() or path.read_text() != text:  # (rewritten only when it changes: `stale` reads its time)
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def centre_paths(n: int):
    """The `Paths` of `centre_params(n)`."""
    from pipeline.config import load_params

    return load_params(centre_params(n)).paths


def stage_entry(stage: str, params: str | Path) -> float:
    """Seconds of `pipeline.<stage>.main` on the params file `params` (e.g. `centre_params(n)`): the entry
    `python -m pipeline.<stage>` runs under DVC (allocator settings, params parsed, the synthetic checks
    where the truth is there, metrics written), timed from after its imports."""
    import importlib

    main = importlib.import_module(f"pipeline.{stage}").main
    t0 = time.perf_counter()
    main(str(params))
    return time.perf_counter() - t0


def prepare_centre(n: int) -> None:
    """The stages `generate` and `ingest` (their entries, as DVC runs them) into OUT/centre_<n>, unless
    their output is newer than the params and the generator's and ingest's code."""
    contacts = Path(centre_paths(n).contacts)
    if stale(contacts, centre_params(n), *ROOT.glob("synthetic/*.py"), *ROOT.glob("contract/*.py")):
        stage_entry("generate", centre_params(n))
        stage_entry("ingest", centre_params(n))


def run_child(module: str, *args: str) -> dict:
    """Run `python -m module args` and return the JSON it prints on its last line, plus its peak RSS
    (`peak_rss_mb`) and CPU seconds (`cpu_s`, user + system)."""
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
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
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
