"""`fcr status` on a real scratch project: before anything ran (no mlflow.db, which it must not create),
after `dvc repro` (nothing stale, champion v1 from the run the report describes, served by serve.model),
and after a params edit (train stale, the champion's params no longer those of params.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from pipeline.status import dvc_stale, project_status, render
from pipeline.config import load_params
from tests.pipeline.scratch import run, scratch_project


def _status(project: Path) -> tuple[dict, str]:
    proc = run([sys.executable, "-m", "pipeline.cli", "status"], project)
    status = project_status(load_params(project / "params.yaml"), project)
    return status, proc.stdout


def test_dvc_status_outside_a_dvc_project_says_it_cannot_tell(tmp_path):
    out = dvc_stale(tmp_path)
    assert out["stale"] is None and "dvc status" in out["reason"]


@pytest.mark.slow
def test_status_before_and_after_a_repro(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # earlier tests' mlflow.set_tracking_uri sets it
    def small(params: dict) -> None:  # the size tests/models/registry/test_faults.py promotes at
        params["synthetic"].update(n_contacts=6000, n_customers=1000, n_agents=40, n_teams=6)
        params["explain"]["sample_size"] = 500

    project = scratch_project(tmp_path, small)
    status, screen = _status(project)
    assert not (project / "mlflow.db").exists(), "fcr status created the registry database"
    assert status["registry"]["champion"] is None and "no registry database" in status["registry"]["reason"]
    assert status["serve"]["resolved"] is None and "refuse to start" in status["serve"]["reason"]
    assert "train" in status["dvc"]["stale"] and "report" in status["dvc"]["stale"]
    assert "champion: none" in screen and "stale stages" in screen

    run([sys.executable, "-m", "dvc", "repro"], project)
    status, screen = _status(project)
    assert status["dvc"]["stale"] == []
    champ = status["registry"]["champion"]
    assert champ is not None, status
    assert champ["version"] == 1 and champ["data_is_current"] is True and champ["params_are_current"] is True
    assert champ["params_changed"] == {}
    model = status["report"]["model"]
    assert model["version"] == 1 and model["run_id"] == champ["run_id"] and status["report"]["is_champion"] is True
    assert status["serve"]["resolved"] == f"fcr-classifier version 1 (run {champ['run_id']})"
    assert "up to date" in screen and f"champion: version 1 from run {champ['run_id']}" in screen
    assert "NOT the current" not in screen and render(status) == screen.strip().splitlines()

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["specialist_capacity"] = params["train"]["specialist_capacity"] / 2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status, screen = _status(project)
    assert "train" in status["dvc"]["stale"] and status["registry"]["champion"]["params_are_current"] is False
    assert "params.yaml has changed since" in screen
    assert status["registry"]["champion"]["params_changed"] == {
        "train.specialist_capacity": {"run": str(params["train"]["specialist_capacity"] * 2),
                                      "now": str(params["train"]["specialist_capacity"])}}
