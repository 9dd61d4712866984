"""Tiny shared fixtures: the shipped params, scratch paths, an MLflow store, and a 3-customer contact
log whose labels and features are worked out by hand (see `tiny_contacts`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import Params, load_params
from base.config import Paths

ROOT = Path(__file__).resolve().parents[1]
T0 = pd.Timestamp("2025-03-03 09:00", tz="UTC")


@pytest.fixture(autouse=True)
def _tracking_uri_stays_in_its_test():
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI, which every later subprocess (dvc repro, fcr score)
    would inherit: one test's MLflow store must never reach another's."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@dataclass
class Clone:
    path: Path
    env: dict                # for `sys.executable -m dvc ...` in the clone (project interpreter first on PATH)
    status_after_repro: str  # `git status --porcelain` right after `make repro`, before any test ran in it


def run_in(args: list[str], cwd: Path, env: dict, timeout: int = 1800) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="session")
def default_clone(tmp_path_factory) -> Clone:
    """A fresh clone of the committed HEAD (not the working tree) after `make repro`, the README's first
    command on the default synthetic centre: one whole pipeline run shared by every end-to-end test that
    needs the default size (the fresh-clone promise, the quality bars, experiments, `mlflow models serve`).
    Tests that change it (experiments) come after its git status was recorded."""
    if shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs make and a git checkout")
    clone = tmp_path_factory.mktemp("default") / "clone"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org"}
    run_in(["git", "clone", "-q", str(ROOT), str(clone)], clone.parent, env)
    run_in(["make", "repro"], clone, env)
    status = run_in(["git", "status", "--porcelain"], clone, env)
    if status:
        status += run_in(["git", "diff"], clone, env)[:6000]
    # Stages started by `sys.executable -m dvc` call `python`: the project's interpreter first on PATH.
    env = env | {"PYTHONPATH": str(clone),
                 "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return Clone(clone, env, status)


@pytest.fixture(scope="session")
def params() -> Params:
    """The real params.yaml (the only home of defaults); tests override with `model_copy(update=...)`."""
    return load_params(ROOT / "params.yaml")


@pytest.fixture
def paths(params: Params, tmp_path: Path) -> Paths:
    """Every path of params.yaml, moved under tmp_path."""
    return Paths(**{k: str(tmp_path / v) for k, v in params.paths.model_dump().items()})


@pytest.fixture
def mlflow_uri(tmp_path: Path) -> str:
    """A throw-away MLflow tracking store (SQLite, as the project uses)."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def tiny_contacts() -> pd.DataFrame:
    """Three customers, seven contacts, in contract form (UTC). With a 7-day window and
    match=reason_family:
    - u1: c1 (billing, day 0) -> c2 (billing, day 2): c1 repeated, c2 its repeat (seq 2); c3 (orders, day 20)
      starts a new episode and is resolved;
    - u2: c4 (billing, day 1) -> c5 (orders, day 3): other family, both resolved;
    - u3: c6 (billing, day 10) abandoned in the queue (no agent), c7 (billing, day 10 + 60 s) handled: within
      the 120 s merge gap of c6's end, so one contact that keeps c6's id (handled, as not all of it was
      abandoned); c7 is excluded as merged into c6.
    The data end at c3 (day 20), so every window except c3's has closed: c3 is censored.
    """
    day = pd.Timedelta(days=1)
    rows = [
        ("c1", "u1", 0 * day, "BIL-01", "billing", "phone", "A1", "handled"),
        ("c2", "u1", 2 * day, "BIL-02", "billing", "chat", "A2", "handled"),
        ("c3", "u1", 20 * day, "ORD-01", "orders", "email", "A1", "handled"),
        ("c4", "u2", 1 * day, "BIL-01", "billing", "phone", "A2", "handled"),
        ("c5", "u2", 3 * day, "ORD-01", "orders", "phone", "A1", "handled"),
        ("c6", "u3", 10 * day, "BIL-03", "billing", "phone", None, "abandoned"),
        ("c7", "u3", 10 * day + pd.Timedelta(seconds=60), "BIL-03", "billing", "phone", "A2", "handled"),
    ]
    df = pd.DataFrame(rows, columns=["contact_id", "customer_id", "offset", "reason_code", "reason_family", "channel",
                                     "agent_id", "disposition"])
    df["started_at"] = T0 + df.pop("offset")
    df["ended_at"] = df["started_at"] + pd.Timedelta(seconds=30)
    df["team"] = df["agent_id"].map({"A1": "T1", "A2": "T2"})
    df["survey_resolved"] = pd.array([pd.NA] * len(df), dtype="boolean")
    return df
