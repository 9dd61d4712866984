"""run_stage: tracked metrics are only what data and params determine; timings and run ids go to metrics/runs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.stage import RUN_KEY, run_stage

ROOT = Path(__file__).resolve().parents[2]


def _params(tmp_path: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"]["metrics_dir"] = str(tmp_path / "metrics")
    out = tmp_path / "params.yaml"
    out.write_text(yaml.safe_dump(params))
    return out


def test_tracked_metrics_carry_no_timings_or_run_ids(tmp_path):
    def run(label_cfg, paths):
        return {"fcr": 0.8, "counts": {"rows": 3}, RUN_KEY: {"registry": {"run_id": "abc", "version": 4}}}

    out = run_stage("demo", run, "label", params_path=_params(tmp_path))
    assert out[RUN_KEY]["registry"]["version"] == 4  # the caller still sees everything
    tracked = json.loads((tmp_path / "metrics/demo.json").read_text())
    assert tracked == {"fcr": 0.8, "counts": {"rows": 3}}
    run_info = json.loads((tmp_path / "metrics/runs/demo.json").read_text())
    assert run_info["registry"] == {"run_id": "abc", "version": 4} and run_info["stage_seconds"] >= 0


def test_two_runs_write_byte_identical_tracked_metrics(tmp_path):
    params = _params(tmp_path)
    texts = []
    for _ in range(2):
        run_stage("demo", lambda cfg, paths: {"auc": 0.65}, "label", params_path=params)
        texts.append((tmp_path / "metrics/demo.json").read_bytes())
    assert texts[0] == texts[1]


def test_metrics_runs_folder_is_git_ignored_and_metrics_are_not():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "/metrics/runs/" in ignore and "/metrics/" not in ignore


def test_a_stage_that_stops_on_its_data_says_why_without_a_traceback(tmp_path, caplog):
    from base.errors import NotEnoughData

    def run(cfg, paths):
        raise NotEnoughData("the test window holds 2 labelled contacts and 0 repeats: change train.split.test_share")

    with pytest.raises(SystemExit) as stop:
        run_stage("train", run, "train", params_path=_params(tmp_path))
    assert stop.value.code == 2
    assert "train.split.test_share" in caplog.text and "stopped" in caplog.text
