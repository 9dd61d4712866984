"""A scratch copy of the project (code, dvc.yaml, params.yaml, a git repo) for real `dvc repro` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # DVC stages call `python`: the project's interpreter first on PATH, however pytest was started.
    env = os.environ | {"PYTHONPATH": str(cwd),
                        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("MLFLOW_TRACKING_URI", None)  # the scratch project's own store (params: sqlite:///mlflow.db)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def scratch_project(dst: Path, edit_params: Callable[[dict], None]) -> Path:
    """Copy the packages of pyproject.toml, inputs/, dvc.yaml, params.yaml and .dvc into `dst`, let
    `edit_params` change params.yaml (as a user would), and make it a git repository."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for name in (*packages, "inputs", "dvc.yaml", "params.yaml", ".dvc", ".dvcignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif src.exists():
            shutil.copy(src, dst / name)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    edit_params(params)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dst)
    return dst


def small_centre(params: dict) -> None:
    """The synthetic centre at 4,000 contacts: a whole `dvc repro` in well under a minute."""
    params["synthetic"].update(n_contacts=4000, n_customers=800, n_agents=40, n_teams=6)
