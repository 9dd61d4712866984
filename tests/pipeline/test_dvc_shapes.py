"""A real `dvc repro` of the whole DAG on each export shape of examples/, in a scratch copy of the
project where only params.yaml changes (ingest.source: files + the example's ingest block, smaller
train settings), with the export under inputs/. Also a file holding only the six required columns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pipeline.scratch import scratch_project
from tests.report.test_plain_words import SURVEY_WORDS, check_page
from tests.pipeline.test_dvc import ROOT, _run
from tests.shapes import RENDER, centre

NAMES = {"telephony": "calls.tsv", "tickets": "ticket_events.csv", "servicedesk": "incidencias.csv"}


def edit_params(project: Path, ingest: dict) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"] = ingest
    params["train"]["lightgbm"].update(n_estimators=200, min_child_samples=20)
    params["explain"]["sample_size"] = 100
    params["explain"]["min_segment_contacts"] = 5
    params["report"]["scorecard_min_contacts"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


def repro_and_check(project: Path) -> dict:
    out = _run([sys.executable, "-m", "dvc", "repro"], project).stdout
    for stage in ("ingest", "label", "featurize", "train", "routing", "explain", "report"):
        assert f"Running stage '{stage}'" in out
    ingest = json.loads((project / "metrics/ingest.json").read_text())["contacts"]
    assert ingest["rows_read"] == ingest["rows_kept"] + ingest["rows_filtered"] + ingest["rows_quarantined"]
    label = json.loads((project / "metrics/label.json").read_text())
    assert label["counts"]["rows_in"] == ingest["rows_kept"]
    assert (project / "reports/drivers.html").stat().st_size > 1000
    contract = json.loads((project / "data/ingested/contract.json").read_text())
    return {"ingest": ingest, "label": label, "contract": contract, "routing": check_routing(project)}


def check_routing(project: Path) -> str:
    """The routing stage completed: every policy has an estimate with its interval, or a stated reason."""
    m = json.loads((project / "metrics/routing.json").read_text())
    if m["estimate"] is None:
        assert len(m["reason"]) > 20, m
        return f"no estimate: {m['reason']}"
    said = []
    for name, p in m["policies"].items():
        if p.get("estimate", "") is None:
            assert len(p["reason"]) > 20, (name, p)
            said.append(f"{name}: {p['reason']}")
            continue
        assert p["uplift_low"] <= p["uplift_points"] <= p["uplift_high"] and p["fcr_low"] <= p["fcr"] <= p["fcr_high"]
        said.append(f"{name} {p['uplift_points']:+.2f} [{p['uplift_low']:+.2f}, {p['uplift_high']:+.2f}]")
    return "; ".join(said)


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(NAMES))
def test_dvc_repro_on_each_export_shape(shape, tmp_path):
    project = scratch_project(tmp_path, lambda params: None)
    (project / "inputs" / NAMES[shape]).write_bytes(RENDER[shape](centre(3000)))
    ingest = yaml.safe_load((ROOT / "examples" / shape / "params.yaml").read_text())["ingest"]
    assert ingest["files"]["contacts"] == f"inputs/{NAMES[shape]}"
    edit_params(project, ingest)
    got = repro_and_check(project)
    if shape == "servicedesk":
        assert got["contract"]["has_agents"] is False and "agent_id" in got["contract"]["absent_columns"]
        assert got["contract"]["channels"] == ["phone"]
    if shape != "telephony":
        assert got["label"]["signal_vs_tracking"]["contacts_with_signal"] > 0
    if shape == "tickets":  # the model trained with the export's extra column scores the export's rows
        spec = json.loads((project / "models_out/feature_spec.json").read_text())
        assert "extra_priority" in spec["model_features"]
        out = tmp_path / "scored.csv"
        _run([sys.executable, "-m", "pipeline.cli", "score", f"inputs/{NAMES[shape]}", str(out), "--model",
              "models_out"], project)
        assert pd.read_csv(out)["p_repeat"].between(0, 1, inclusive="neither").all()
    labels = pd.read_parquet(project / "data/labelled/labels")
    assert len(labels) == got["ingest"]["rows_kept"]
    # The page a manager reads: plain words, the outcome signal named by its column, never as a survey.
    signal = (ingest["files"].get("outcome_signal") or {}).get("column")
    body = check_page((project / "reports/drivers.html").read_text(), [f"\u201c{signal}\u201d"] if signal else [])
    if signal:
        assert not SURVEY_WORDS.search(body), SURVEY_WORDS.search(body)


@pytest.mark.slow
def test_dvc_repro_on_the_six_required_columns(tmp_path):
    project = scratch_project(tmp_path, lambda params: None)
    df = centre(3000)
    df = df[df["agent_id"].notna()]
    cols = ["contact_id", "customer_id", "started_at", "channel", "reason_code", "agent_id"]
    df[cols].to_csv(project / "inputs" / "contacts.csv", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    ingest = params["ingest"] | {"source": "files"}
    edit_params(project, ingest)
    got = repro_and_check(project)
    assert {"ended_at", "team", "wait_s", "disposition"} <= set(got["contract"]["absent_columns"])
