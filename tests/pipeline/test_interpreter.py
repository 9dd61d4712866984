"""Stages run with the project's interpreter whatever `python` the shell's PATH finds (issue 17)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python_without_the_dependencies() -> str | None:
    for name in ("/usr/bin/python3", shutil.which("python3"), "/usr/local/bin/python3"):
        if name and Path(name).exists() and Path(name).resolve() != Path(sys.executable).resolve():
            probe = subprocess.run([name, "-c", "import pandas"], capture_output=True)
            if probe.returncode != 0:
                return name
    return None


def test_a_stage_started_by_a_bare_python_reruns_with_the_project_environment(tmp_path):
    bare = _python_without_the_dependencies()
    if bare is None or not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no interpreter without the project's dependencies here, or no .venv")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(bare)  # what `python` in a dvc.yaml cmd would find first on PATH
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "FCR_REEXEC")}
    env["PATH"] = f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    code = "import pipeline.config, pandas, sys; print(sys.executable)"
    out = subprocess.run(["python", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).parent == ROOT / ".venv" / "bin"
