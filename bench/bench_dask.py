"""Benchmark: the stages generate to report on a Dask cluster (engine.kind: dask) beside the local engine.

For each size n: a scratch clone of this checkout's committed HEAD (bench/bench_repro.py `make_clone`: the
synthetic centre of n contacts), its params.yaml given `engine.kind: dask` with a LocalCluster of
`--workers` workers of `--memory` each (params `engine.dask`), then each stage up to `--last` run as DVC runs
it, `python -m dvc repro -s <stage>`. At the sizes of `--local-at` the same stages run again in a second
clone with the local engine (`engine.kind: local`): `ratio` is the cluster's wall time over the local one's.

Memory, per process, from sampling the process tree of each dvc command every 0.2 s (psutil RSS; a peak
shorter than that can be missed, so the wait4 figure of the largest process is printed too):
- `stage GB`: the stage's own process (`python -m pipeline.<stage>`: the Dask client, and for a LocalCluster
  its scheduler and nannies);
- `worker GB`: the largest peak of any Dask worker process (the LocalCluster's spawned workers), the figure a
  cluster's `memory_per_worker` must cover; `workers` lists each worker's peak.
- `max GB`: the largest process of the tree by wait4 (what /usr/bin/time -v prints).

Run: `uv run python bench/bench_dask.py --sizes 10000000 30000000` (10M: the local engine too; 30M: the
cluster only, the local engine's label and featurize peaks grow past one machine's memory there);
quick trial: `--sizes 200000 --local-at 200000`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
import yaml

from bench._common import OUT, centre_size
from bench.bench_repro import GB, dag_stages, make_clone, measured_repro

log = logging.getLogger("bench")
STAGES = ["generate", "ingest", "label", "featurize", "train", "explain", "routing", "report"]  # (dvc.yaml's order)


@dataclass
class Run:
    engine: str
    stage: str
    wall_s: float
    stage_s: float | None
    cpu_s: float            # user + system of the whole tree (workers included), from wait4
    max_gb: float           # largest process of the tree (wait4)
    stage_gb: float         # the stage's own process (sampled)
    worker_gb: list[float] = field(default_factory=list)  # each Dask worker process's peak (sampled)
    ratio: float | None = None  # wall / the local engine's at the same size
    failed: str | None = None   # the end of the stage's output when dvc failed (the stages after it did not run)


class TreePeaks:
    """Per-process peak RSS of a process tree, sampled in a thread until `stop()`."""

    def __init__(self, root: int, every_s: float = 0.2):
        self.root, self.every_s, self.peaks, self.kinds = root, every_s, {}, {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.is_set():
            try:
                procs = psutil.Process(self.root).children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    if p.pid not in self.kinds:
                        self.kinds[p.pid] = kind_of(p.cmdline())
                except psutil.Error:
                    continue
                self.peaks[p.pid] = max(self.peaks.get(p.pid, 0), rss)
            self._done.wait(self.every_s)

    def stop(self) -> tuple[float, list[float]]:
        """The stage process's peak and each worker's, in GB."""
        self._done.set()
        self._thread.join()
        stage = max((v for pid, v in self.peaks.items() if self.kinds.get(pid) == "stage"), default=0)
        workers = sorted((v / GB for pid, v in self.peaks.items() if self.kinds.get(pid) == "worker"), reverse=True)
        return stage / GB, workers


def kind_of(cmdline: list[str]) -> str:
    """"stage" (python -m pipeline.X), "worker" (a process multiprocessing spawned: a LocalCluster worker;
    not its resource tracker), or "other" (dvc itself)."""
    text = " ".join(cmdline)
    if "pipeline." in text and "-m" in cmdline:
        return "stage"
    if "spawn_main" in text or "forkserver" in text:
        return "worker"
    return "other"


def engine_params(clone: Path, kind: str, a: argparse.Namespace) -> None:
    path = clone / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["engine"]["kind"] = kind
    params["engine"]["dask"].update({"scheduler": None, "n_workers": a.workers, "memory_per_worker": a.memory})
    if a.partitions_per_worker:
        params["engine"]["dask"]["partitions_per_worker"] = a.partitions_per_worker
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(clone: Path, stage: str, engine: str, logs: Path) -> Run:
    m, peaks = measured_repro(clone, stage, logs / f"{engine}-{stage}.log", TreePeaks)
    stage_gb, workers = peaks.stop()
    return Run(engine, stage, m.wall_s, m.stage_s, m.cpu_s, m.max_gb, stage_gb, workers,
               failed=m.text[-3000:] if m.exit_code else None)


def bench_engine(n: int, engine: str, a: argparse.Namespace) -> list[Run]:
    home = a.workdir.resolve() / f"{n}-{engine}"
    clone, commit = make_clone(home / "clone", n)
    engine_params(clone, engine, a)
    stages = dag_stages(clone)
    wanted = stages[:stages.index(a.last) + 1]
    log.info("%s contacts, engine %s, clone of %s at %s", f"{n:,}", engine, commit[:10], clone)
    runs = []
    for stage in wanted:
        runs.append(r := run_stage(clone, stage, engine, home / "logs"))
        log.info("  %-10s %7.1f s wall, stage process %5.2f GB, workers %s", stage, r.wall_s, r.stage_gb,
                 " ".join(f"{w:.2f}" for w in r.worker_gb) or "-")
        if r.failed:
            log.error("%s: dvc repro -s %s FAILED; the end of its output:\n%s", engine, stage, r.failed)
            break
    if not a.keep:
        shutil.rmtree(home, ignore_errors=True)
    return runs


def table_lines(runs: list[Run]) -> list[str]:
    lines = [f"{'engine':<6} {'stage':<10} {'wall s':>8} {'stage s':>8} {'CPU s':>8} {'stage GB':>8} "
             f"{'worker GB':>9} {'max GB':>6} {'ratio':>6}  workers (GB each)"]
    for r in runs:
        lines.append(f"{r.engine:<6} {r.stage:<10} {r.wall_s:8.1f} {r.stage_s or 0:8.1f} {r.cpu_s:8.1f} "
                     f"{r.stage_gb:8.2f} {max(r.worker_gb, default=0):9.2f} {r.max_gb:6.2f} "
                     f"{'-' if r.ratio is None else format(r.ratio, '.2f'):>6}  "
                     f"{' '.join(f'{w:.2f}' for w in r.worker_gb) or '-'}{'  FAILED' if r.failed else ''}")
    total = sum(r.wall_s for r in runs)
    lines.append(f"{runs[0].engine if runs else '':<6} {'total':<10} {total:8.1f}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 30_000_000], help="contacts per centre")
    ap.add_argument("--local-at", type=int, nargs="*", default=[10_000_000],
                    help="sizes at which the local engine runs too, for the ratio (default: 10M)")
    ap.add_argument("--last", default="report", choices=STAGES, help="the last stage run (default: report)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers (engine.dask.n_workers)")
    ap.add_argument("--memory", default="6GB", help="memory limit of each worker (engine.dask.memory_per_worker)")
    ap.add_argument("--partitions-per-worker", type=int, default=None,
                    help="engine.dask.partitions_per_worker (default: params.yaml's); more = smaller pieces per task")
    ap.add_argument("--workdir", type=Path, default=OUT / "dask", help="where the clones go (git-ignored)")
    ap.add_argument("--keep", action="store_true", help="keep the clones after their runs")
    ap.add_argument("--json", type=Path, default=OUT / "bench_dask.json", help="where the results go as JSON")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results: dict[int, list[Run]] = {}
    for n in sorted(set(a.sizes)):
        dask_runs = bench_engine(n, "dask", a)
        if n in a.local_at:
            local = {r.stage: r for r in bench_engine(n, "local", a)}
            for r in dask_runs:
                r.ratio = r.wall_s / local[r.stage].wall_s if r.stage in local else None
            dask_runs = [*local.values(), *dask_runs]
        results[n] = dask_runs
    for n, runs in results.items():
        log.info("\n%s contacts (%s); %d cores; %d workers x %s, %s partitions per worker", f"{n:,}",
                 centre_size(n), os.cpu_count(), a.workers, a.memory, a.partitions_per_worker or "params.yaml's")
        for line in table_lines([r for r in runs if r.engine == "local"]) if any(
                r.engine == "local" for r in runs) else []:
            log.info("%s", line)
        for line in table_lines([r for r in runs if r.engine == "dask"]):
            log.info("%s", line)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"cpus": os.cpu_count(), "workers": a.workers, "memory_per_worker": a.memory,
                                  "partitions_per_worker": a.partitions_per_worker,
                                  "runs": {str(n): [asdict(r) for r in runs] for n, runs in results.items()}},
                                 indent=2) + "\n")
    log.info("\nresults: %s", a.json)


if __name__ == "__main__":
    main()
