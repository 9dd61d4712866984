"""What reruns after an edit: the dvc.yaml deps are the folders each stage really uses, so editing the
report's charts reruns only `report`, and editing the feature specification leaves ingest and label alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, env=os.environ | {"PYTHONPATH": str(cwd)}, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _stale(project: Path) -> set[str]:
    return set(json.loads(_run([sys.executable, "-m", "dvc", "status", "--json"], project)))


@pytest.mark.slow
def test_an_edit_reruns_only_the_stages_that_use_it(tmp_path):
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for name in (*packages, "inputs", "dvc.yaml", "params.yaml", ".dvc", ".dvcignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif src.exists():
            shutil.copy(src, tmp_path / name)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["synthetic"].update(n_contacts=4000, n_customers=800, n_agents=40, n_teams=6)
    params["explain"]["sample_size"] = 500
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], tmp_path)
    _run([sys.executable, "-m", "dvc", "repro"], tmp_path)
    assert _stale(tmp_path) == set()

    chart = tmp_path / "report" / "charts.py"
    original = chart.read_text()
    chart.write_text(original + "\n# an edit to a chart\n")
    assert _stale(tmp_path) == {"report"}
    chart.write_text(original)

    spec = tmp_path / "features" / "builder.py"
    spec.write_text(spec.read_text() + "\n# an edit to the feature specification\n")
    stale = _stale(tmp_path)
    assert "featurize" in stale and not {"generate", "ingest", "label"} & stale
