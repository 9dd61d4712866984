"""A fresh clone as a newcomer gets it: `make repro` reproduces the committed dvc.lock and metrics
(`git status` stays clean), then an experiment with one LightGBM parameter changed shows beside the
baseline in `dvc exp show` with numbers. Uses the committed HEAD, not the working tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".git").exists(), reason="needs make and a git checkout")
def test_fresh_clone_repro_leaves_git_clean_and_experiments_compare(tmp_path):
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    _run(["make", "repro"], clone)
    assert _run(["git", "status", "--porcelain"], clone) == "", _run(["git", "diff", "--stat"], clone)
    assert (clone / "metrics/runs/train.json").exists()  # per-run ids live beside, untracked

    uv = ["python3", "-m", "uv", "run", "--frozen"] if shutil.which("uv") is None else ["uv", "run", "--frozen"]
    _run([*uv, "dvc", "exp", "run", "-S", "train.lightgbm.num_leaves=15"], clone)
    shown = json.loads(_run([*uv, "dvc", "exp", "show", "--json"], clone))
    aucs = []
    for rev in shown:
        for row in [rev] + [e["revs"][0] for e in rev.get("experiments") or []]:
            metrics = (row.get("data") or {}).get("metrics") or {}
            train = (metrics.get("metrics/train.json") or {}).get("data") or {}
            if train:
                aucs.append((row["data"]["params"]["params.yaml"]["data"]["train"]["lightgbm"]["num_leaves"],
                             train["model"]["roc_auc"]))
    assert {leaves for leaves, _ in aucs} >= {7, 15}, aucs  # both rows carry numbers
    assert all(0.5 < auc < 1 for _, auc in aucs)
