"""`fcr ingest --check` and `fcr label INPUT OUTPUT` on the user's export, through params.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "contract" / "fixtures"


def params_for(tmp_path: Path, shape: str, name: str, **label) -> Path:
    shutil.copy(FIXTURES / shape / name, tmp_path / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"] = yaml.safe_load((ROOT / "examples" / shape / "params.yaml").read_text())["ingest"]
    params["ingest"]["files"]["contacts"] = str(tmp_path / name)
    params["label"].update(label)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return path


def test_ingest_check_prints_the_accounting_and_writes_nothing(tmp_path, monkeypatch):
    params = params_for(tmp_path, "telephony", "calls.tsv")
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = CliRunner().invoke(app, ["ingest", "--check", "--params", str(params)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "rows: 23 read = 20 kept + 2 filtered + 1 quarantined" in out
    assert "filtered by filters.test_queue: 1" in out and "quarantined, transfers: not a whole number: 1" in out
    assert "transfers        <- Xfer" in out and "1 failed, e.g. ['1.5']" in out
    assert "disposition: 22 mapped, 1 dropped, 0 unmapped" in out
    assert "label sanity:" in out and "nothing written" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_ingest_check_guesses_unmapped_columns(tmp_path, monkeypatch):
    params = params_for(tmp_path, "tickets", "ticket_events.csv")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["ingest", "--check", "--params", str(params)])
    assert res.exit_code == 0, res.output
    assert "Status: maybe disposition" in res.output
    assert "channel: 29 mapped, 0 dropped, 1 unmapped" in res.output and "{'Fax': 1}" in res.output


def test_label_honours_the_configured_time_zone_and_mapping(tmp_path):
    params = params_for(tmp_path, "telephony", "calls.tsv")
    out = tmp_path / "labelled.parquet"
    res = CliRunner().invoke(app, ["label", str(tmp_path / "calls.tsv"), str(out), "--params", str(params)])
    assert res.exit_code == 0, res.output
    k = pd.read_parquet(out).set_index("contact_id")
    assert k.loc["100001", "started_at"] == pd.Timestamp("2025-03-03 15:02:11", tz="UTC")  # Chicago, not UTC
    assert len(k) == 20 and k.loc["100004", "excluded_reason"] == "abandoned"


def test_label_a_file_with_only_the_required_columns(tmp_path):
    out = tmp_path / "labelled.csv"
    res = CliRunner().invoke(app, ["label", str(FIXTURES / "required_only.csv"), str(out),
                                   "--params", str(ROOT / "params.yaml")])
    assert res.exit_code == 0, res.output
    k = pd.read_csv(out).set_index("contact_id")
    assert len(k) == 6 and k.loc["c1", "status"] == "labelled" and bool(k.loc["c1", "repeated"])
