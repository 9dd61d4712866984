"""Benchmark: the whole `dvc repro` (generate to report) on a synthetic centre, stage by stage, as DVC runs them.

For each size n: `git clone` of this checkout's committed HEAD into a scratch folder (uncommitted
changes are not measured), its params.yaml given the centre of n contacts (n // 5 customers,
max(300, n // 3000) agents; bench/_common.py `centre_size`), then each stage of the clone's dvc.yaml,
in its order, run as `python -m dvc repro -s <stage>` in the clone with this interpreter's bin first on
PATH (stages run `python -m pipeline.<stage>` there; MLflow tracks into the clone's own SQLite file,
params `sqlite:///mlflow.db`). Per stage: the wall time of the dvc command (DVC's hashing and caching
of the outputs included: what a user waits), the stage's own time (its "stage X done in" log line),
user + system CPU and the peak RSS of the largest process in the tree, from os.wait4 on the dvc
process (as /usr/bin/time -v reports them; the stage runs in a child dvc waits for). `ratio` is the
dvc wall time over the reference's (the goals are judged on it); `own`, the stage's own time over it.

Right after its stage, in a fresh process, each reference on the clone's own files (bench/_reference.py):
- ingest: DuckDB read_parquet of the same export plus the same validation in SQL, writing Parquet (2 threads);
- label: DuckDB's lead() window over the ingested contacts;
- featurize: DuckDB computing the same point-in-time features with SQL window frames;
- train: one bare `lightgbm.train`, the train section's parameters, the trees the stage's early
  stopping chose, on the same training window (the stage also fits calibration, baselines, the
  case-mix and after-contact models, the gate, and logs to MLflow).
generate, routing, explain and report have no natural reference: their goal is the comparison
(explain and report: ratio = wall / 60 s budget; generate and routing: peak memory only).

Goals (issue 27; at 10M contacts on 2 cores, printed at every size): the whole repro <= 10 min, no
stage above 8 GB peak RSS; ingest <= 2x its reference, label <= 3x, featurize <= 2x; train <= 4 min;
explain and report <= 60 s each; generate <= 6 GB peak. With two or more sizes, the growth exponent
per stage, log(t_big / t_small) / log(n_big / n_small) of wall and CPU time and of peak RSS: 1 is
linear, above 1 super-linear (fixed costs, imports and DVC, pull small sizes below 1).
The results are also written as JSON (--json). The clone is removed afterwards unless --keep.

Run: `uv run python bench/bench_repro.py --sizes 1000000 10000000` (1M: ~5 min; 10M: over 40 min);
quick trial: `--sizes 100000 300000`; one stage and what it needs: `--stages ingest`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from bench._common import OUT, ROOT, centre_size, emit, run_child

log = logging.getLogger("bench")
GB = 1024**3
TOTAL_GOAL_S = 600.0


@dataclass(frozen=True)
class Goal:
    """A stage's goal at 10M contacts: its wall time at most `ratio` x the reference's, or at most `seconds`,
    and its peak RSS at most `peak_gb`."""
    ratio: float | None = None
    seconds: float | None = None
    peak_gb: float = 8.0

    def text(self) -> str:
        parts = [f"<= {self.ratio:g}x ref"] if self.ratio else []
        parts += [f"<= {self.seconds:g} s"] if self.seconds else []
        return ", ".join([*parts, f"<= {self.peak_gb:g} GB"])

    def met(self, wall_s: float, ratio: float | None, peak_gb: float) -> bool:
        return ((self.ratio is None or (ratio is not None and ratio <= self.ratio))
                and (self.seconds is None or wall_s <= self.seconds) and peak_gb <= self.peak_gb)


GOALS = {"generate": Goal(peak_gb=6.0), "ingest": Goal(ratio=2.0), "label": Goal(ratio=3.0),
         "featurize": Goal(ratio=2.0), "train": Goal(seconds=240.0), "explain": Goal(seconds=60.0),
         "report": Goal(seconds=60.0)}
REFERENCES = {"ingest": "duckdb SQL", "label": "duckdb lead", "featurize": "duckdb SQL", "train": "bare lgb"}
STAGE_LOG = re.compile(r"stage (\S+) done in ([0-9.]+) s")
W = TypeVar("W")  # what a watcher of a measured run gives back


@dataclass
class StageRun:
    stage: str
    wall_s: float
    stage_s: float | None   # the stage's own "done in" figure (without DVC and the interpreter's start)
    cpu_s: float
    peak_gb: float
    ref: str | None = None  # what the comparison is: a reference's name, "budget", or None
    ref_s: float | None = None
    ref_cpu_s: float | None = None
    ref_peak_gb: float | None = None
    ratio: float | None = None      # wall_s / ref_s: what the goal is judged on
    own_ratio: float | None = None  # stage_s / ref_s: the same without DVC and the interpreter's start
    goal: str = ""
    met: bool = True


def exponent(n_small: int, t_small: float, n_big: int, t_big: float) -> float | None:
    """How a time grows with size: t ~ n^k, k = log(t_big / t_small) / log(n_big / n_small)."""
    if n_small <= 0 or n_big <= n_small or t_small <= 0 or t_big <= 0:
        return None
    return math.log(t_big / t_small) / math.log(n_big / n_small)


def judged(run: StageRun) -> StageRun:
    """The run with its comparison filled in: ratio to the reference, or to the time budget where the
    stage has no reference, and whether its goal is met."""
    goal = GOALS.get(run.stage, Goal())
    if run.ref_s is None and goal.seconds is not None:
        run.ref, run.ref_s = "budget", goal.seconds
    run.ratio = run.wall_s / run.ref_s if run.ref_s else None
    run.own_ratio = run.stage_s / run.ref_s if run.ref_s and run.stage_s is not None else None
    run.goal = goal.text()
    run.met = goal.met(run.wall_s, run.ratio if goal.ratio else None, run.peak_gb)
    return run


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table_lines(runs: list[StageRun]) -> list[str]:
    """The per-stage table and the total line (sum of the stage walls against the 10-minute goal)."""
    head = (f"{'stage':<10} {'wall s':>8} {'stage s':>8} {'CPU s':>8} {'cores':>5} {'peak GB':>7} "
            f"{'ref':<11} {'ref s':>7} {'ref GB':>6} {'ratio':>6} {'own':>6}  {'goal (10M, 2 cores)':<26} met")
    lines = [head]
    for r in runs:
        lines.append(f"{r.stage:<10} {r.wall_s:8.1f} {_num(r.stage_s, '8.1f'):>8} {r.cpu_s:8.1f} "
                     f"{r.cpu_s / r.wall_s:5.2f} {r.peak_gb:7.2f} {r.ref or '-':<11} {_num(r.ref_s, '7.1f'):>7} "
                     f"{_num(r.ref_peak_gb, '6.2f'):>6} {_num(r.ratio, '6.2f'):>6} {_num(r.own_ratio, '6.2f'):>6}  "
                     f"{r.goal:<26} {'yes' if r.met else 'NO'}")
    total, cpu = sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs)
    peak = max((r.peak_gb for r in runs), default=0.0)
    lines.append(f"{'total':<10} {total:8.1f} {'':>8} {cpu:8.1f} {cpu / total if total else 0:5.2f} {peak:7.2f} "
                 f"{'':<11} {'':>7} {'':>6} {'':>6} {'':>6}  {f'<= {TOTAL_GOAL_S:g} s, <= 8 GB':<26} "
                 f"{'yes' if total <= TOTAL_GOAL_S and peak <= 8 else 'NO'}")
    return lines


def growth(results: dict[int, list[StageRun]]) -> list[dict]:
    """Per stage run at every size: the exponents of wall, CPU and peak RSS between consecutive sizes,
    and from the smallest to the largest when there are more than two."""
    sizes = sorted(results)
    pairs = list(zip(sizes, sizes[1:])) + ([(sizes[0], sizes[-1])] if len(sizes) > 2 else [])
    out = []
    for small, big in pairs:
        by_stage = {r.stage: r for r in results[small]}
        for r in results[big]:
            if (s := by_stage.get(r.stage)) is not None:
                out.append({"stage": r.stage, "from": small, "to": big,
                            "wall": exponent(small, s.wall_s, big, r.wall_s),
                            "cpu": exponent(small, s.cpu_s, big, r.cpu_s),
                            "peak": exponent(small, s.peak_gb, big, r.peak_gb)})
    return out


def growth_lines(rows: list[dict]) -> list[str]:
    lines = [f"{'stage':<10} {'from':>11} {'to':>11} {'wall exp':>8} {'CPU exp':>8} {'peak exp':>8}"]
    for g in rows:
        lines.append(f"{g['stage']:<10} {g['from']:>11,} {g['to']:>11,} {_num(g['wall'], '8.2f'):>8} "
                     f"{_num(g['cpu'], '8.2f'):>8} {_num(g['peak'], '8.2f'):>8}")
    return lines


def sized_params(params: dict, n: int) -> dict:
    """params.yaml (parsed) with the synthetic centre of n contacts; everything else as it was."""
    params["synthetic"].update(centre_size(n))
    return params


# --- the scratch clone -------------------------------------------------------------------------------

def clean_env(clone: Path) -> dict:
    """The environment of the dvc commands: this interpreter's bin first on PATH (dvc.yaml's `python`),
    the clone's own code and MLflow store (no inherited PYTHONPATH, virtualenv or tracking URI), and
    bytecode cached as a user's run caches it (the first stage compiles the clone's code, the rest reuse it)."""
    unset = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {"PYTHONPATH": str(clone), "DVC_NO_ANALYTICS": "1",
                  "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}


def make_clone(dst: Path, n: int) -> tuple[Path, str]:
    """A clone of this checkout's HEAD at `dst` with the sized params.yaml; returns it and the commit."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout
    if dirty:
        log.warning("uncommitted changes in %s are not measured (the clone is HEAD %s):\n%s", ROOT, commit[:10], dirty)
    shutil.rmtree(dst, ignore_errors=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dst)], check=True)
    subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=dst, check=True)
    params_file = dst / "params.yaml"
    params = sized_params(yaml.safe_load(params_file.read_text()), n)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    return dst, commit


def dag_stages(clone: Path) -> list[str]:
    """The stages of the clone's dvc.yaml, in its order (a DAG order: `dvc status` afterwards checks it)."""
    return list(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"])


@dataclass
class Measured:
    """One `dvc repro -s stage`, measured from outside: wall time, the stage's own "done in" figure, CPU and the
    largest process of the tree (wait4), its exit code and output."""

    wall_s: float
    stage_s: float | None
    cpu_s: float
    max_gb: float
    exit_code: int
    text: str


def measured_repro(clone: Path, stage: str, out: Path, watch: Callable[[int], W] | None = None
                   ) -> tuple[Measured, W | None]:
    """`dvc repro -s stage` in the clone as DVC runs it, its output in `out`; `watch(pid)`, when given, is started
    with the dvc process (a sampler of its tree) and returned beside the measure, to be read once it ended."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as sink:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-s", stage], cwd=clone, env=clean_env(clone),
                                stdout=sink, stderr=subprocess.STDOUT)
        watcher = watch(proc.pid) if watch else None
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    text = out.read_text()
    own = [float(s) for name, s in STAGE_LOG.findall(text) if name == stage]
    return Measured(wall, own[-1] if own else None, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / GB,
                    os.waitstatus_to_exitcode(status), text), watcher


def run_stage(clone: Path, stage: str, logs: Path) -> StageRun:
    """`dvc repro -s stage` in the clone, measured (see the module docstring); its output in logs/<stage>.log."""
    m, _ = measured_repro(clone, stage, logs / f"{stage}.log")
    if m.exit_code:
        raise RuntimeError(f"dvc repro -s {stage} failed (exit {m.exit_code}); its output:\n{m.text[-4000:]}")
    return StageRun(stage, m.wall_s, m.stage_s, m.cpu_s, m.max_gb)


# --- the references, each in a fresh process ---------------------------------------------------------

def _clone_params(clone: Path):
    """The clone's params with its paths made absolute."""
    from pipeline.config import load_params

    params = load_params(clone / "params.yaml")
    paths = params.paths.model_copy(update={k: str(clone / v) for k, v in params.paths.model_dump().items()})
    return params.model_copy(update={"paths": paths})


def reference_child(stage: str, clone: Path, out: Path) -> None:
    from bench import _reference as ref

    params = _clone_params(clone)
    p = params.paths
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if stage == "ingest":
        ref.duckdb_ingest(p.raw_dir, out / "ingest")
    elif stage == "label":
        ref.duckdb_lead(p.contacts, out / "lead.parquet")
    elif stage == "featurize":
        ref.duckdb_features(p.contacts, p.labels, p.customers, p.agents, params.label.window_days,
                            params.featurize.prior_strength, out / "features.parquet")
    elif stage == "train":
        ref.bare_booster(p.features, p.feature_spec, p.model_dir, params.train)
    else:
        raise ValueError(f"no reference for stage {stage}")
    emit({"seconds": time.perf_counter() - t0})


def with_reference(run: StageRun, clone: Path, out: Path) -> StageRun:
    if run.stage == "ingest" and yaml.safe_load((clone / "params.yaml").read_text())["ingest"]["source"] != "synthetic":
        log.warning("ingest.source is not synthetic: the ingest reference reads the synthetic export only")
        return run
    child = run_child("bench.bench_repro", "--child", run.stage, str(clone), str(out))
    run.ref, run.ref_s, run.ref_cpu_s = REFERENCES[run.stage], child["seconds"], child["cpu_s"]
    run.ref_peak_gb = child["peak_rss_mb"] / 1024
    return run


# --- one size, all sizes ------------------------------------------------------------------------------

def bench_size(n: int, workdir: Path, chosen: list[str] | None, keep: bool) -> tuple[list[StageRun], str, list]:
    """Clone, run and measure every stage (up to the last chosen) at size n; returns the runs, the commit
    and the machine's load average (1 minute) before and after: other work on the cores shows there."""
    load = [os.getloadavg()[0]]
    home = workdir / str(n)
    clone, commit = make_clone(home / "clone", n)
    stages = dag_stages(clone)
    unknown = set(chosen or []) - set(stages)
    if unknown:
        raise SystemExit(f"--stages {sorted(unknown)} not in dvc.yaml; its stages: {stages}")
    last = max(stages.index(s) for s in chosen) if chosen else len(stages) - 1
    log.info("%s contacts (%s), clone of %s at %s", f"{n:,}", centre_size(n), commit[:10], clone)
    runs = []
    for stage in stages[:last + 1]:
        run = run_stage(clone, stage, home / "logs")
        if stage in REFERENCES and (chosen is None or stage in chosen):
            run = with_reference(run, clone, home / "reference")
        runs.append(judged(run))
        log.info("  %-10s %7.1f s wall, %7.1f s CPU, %5.2f GB peak%s", stage, run.wall_s, run.cpu_s, run.peak_gb,
                 f"; {run.ref} {run.ref_s:.1f} s (ratio {run.ratio:.2f})" if run.ref_s else "")
    if last == len(stages) - 1:
        status = subprocess.run([sys.executable, "-m", "dvc", "status"], cwd=clone, env=clean_env(clone),
                                capture_output=True, text=True)
        if status.returncode or "up to date" not in status.stdout:
            log.warning("dvc status after the run is not clean (a stage ran before its inputs?):\n%s", status.stdout)
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return runs, commit, [*load, os.getloadavg()[0]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                    help="contacts of each synthetic centre, one clone and whole repro each (default: 1M and 10M)")
    ap.add_argument("--stages", nargs="+", metavar="STAGE",
                    help="stop after the last of these (the stages before it run too, as their outputs are its "
                         "inputs); references only for these. Default: every stage of dvc.yaml")
    ap.add_argument("--workdir", type=Path, default=OUT / "repro",
                    help="where the clones go, one folder per size (default: bench/out/repro, git-ignored)")
    ap.add_argument("--keep", action="store_true", help="keep each clone (data, models, logs) after its run")
    ap.add_argument("--json", type=Path, default=OUT / "bench_repro.json", help="where the results go as JSON")
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "CLONE", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        stage, clone, out = a.child
        reference_child(stage, Path(clone), Path(out))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results, loads, commit = {}, {}, ""
    for n in sorted(set(a.sizes)):
        results[n], commit, loads[n] = bench_size(n, a.workdir.resolve(), a.stages, a.keep)
    for n, runs in results.items():
        log.info("\n%s contacts, %s customers, %s agents; %d cores (load average %.1f before, %.1f after); "
                 "commit %s", f"{n:,}", f"{centre_size(n)['n_customers']:,}", f"{centre_size(n)['n_agents']:,}",
                 os.cpu_count(), *loads[n], commit[:10])
        for line in table_lines(runs):
            log.info("%s", line)
    rates = growth(results) if len(results) > 1 else []
    if rates:
        log.info("\ngrowth with size (t ~ n^k; 1 = linear)")
        for line in growth_lines(rates):
            log.info("%s", line)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({
        "commit": commit, "cpus": os.cpu_count(), "total_goal_s": TOTAL_GOAL_S,
        "goals": {stage: asdict(goal) for stage, goal in GOALS.items()},
        "runs": {str(n): {**centre_size(n), "load_average": loads[n], "stages": [asdict(r) for r in runs],
                          "total_wall_s": sum(r.wall_s for r in runs)} for n, runs in results.items()},
        "growth": rates}, indent=2) + "\n")
    log.info("\nresults: %s", a.json)


if __name__ == "__main__":
    main()
