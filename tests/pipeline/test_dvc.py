"""A real `dvc repro` of the whole DAG on a small synthetic centre, in a scratch copy of the project,
and the `fcr` command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pipeline.scratch import run, scratch_project, small_centre
from tests.report.browser import BROWSERS, find_browser

ROOT = Path(__file__).resolve().parents[2]
_run = run


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return scratch_project(tmp_path_factory.mktemp("project"), small_centre)


@pytest.mark.slow
def test_dvc_repro_runs_the_whole_dag(project):
    dvc = [sys.executable, "-m", "dvc"]
    out = _run(dvc + ["repro"], project).stdout
    for stage in ("generate", "ingest", "label", "featurize", "train", "explain", "report"):
        assert f"Running stage '{stage}'" in out
    ingest = json.loads((project / "metrics/ingest.json").read_text())["contacts"]
    assert ingest["rows_read"] == ingest["rows_kept"] + ingest["rows_quarantined"]
    label = json.loads((project / "metrics/label.json").read_text())
    assert label["counts"]["rows_in"] == ingest["rows_kept"]
    assert 0.5 < label["fcr"]["fcr"] < 0.95
    assert label["agreement_with_generator_truth"]["agreement"] > 0.9
    labelled = pd.read_parquet(project / "data/labelled/labels")
    assert {"status", "repeated", "episode_id", "contact_seq", "is_first_contact"} <= set(labelled.columns)
    assert len(pd.read_csv(project / "plots/repeat_delay.csv")) > 10
    # Nothing changed: a second repro runs no stage.
    again = _run(dvc + ["repro"], project).stdout
    assert "Running stage" not in again
    shown = _run(dvc + ["metrics", "show", "--json"], project).stdout
    assert "label.json" in shown
    # A changed label rule makes label stale, not ingest.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["label"]["window_days"] = 5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = json.loads(_run(dvc + ["status", "--json"], project).stdout)
    assert "label" in stale and "ingest" not in stale


def test_cli_help_lists_stages(project):
    out = _run([sys.executable, "-m", "pipeline.cli", "--help"], project).stdout
    for cmd in ("generate", "synthetic-export", "ingest", "label", "featurize", "train", "explain", "report", "repro"):
        assert cmd in out


def test_cli_generate_then_label_any_file(project, tmp_path):
    _run([sys.executable, "-m", "pipeline.cli", "synthetic-export", str(tmp_path / "x"), "--n-contacts", "2000", "--csv"],
         project)
    out = tmp_path / "labelled.parquet"
    _run([sys.executable, "-m", "pipeline.cli", "label", str(tmp_path / "x/contacts.csv"), str(out),
          "--window-days", "3", "--match", "same_reason"], project)
    df = pd.read_parquet(out)
    assert set(df["status"]) <= {"labelled", "censored", "excluded"} and (df["status"] == "labelled").any()
    quarantine = pd.read_parquet(tmp_path / "labelled.quarantine.parquet")
    raw = pd.read_csv(tmp_path / "x/contacts.csv")
    assert len(df) + len(quarantine) == len(raw)  # every row is used or quarantined


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_run_on_the_pipeline_outputs(project, notebook, tmp_path):
    import papermill

    if not (project / "reports/drivers.csv").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    # papermill raises, naming the cell, if any cell fails.
    papermill.execute_notebook(str(notebook), str(tmp_path / notebook.name), parameters={"root": str(project)},
                               kernel_name="python3", progress_bar=False, cwd=str(notebook.parent))


def test_notebooks_are_committed_without_outputs():
    import nbformat

    assert len(NOTEBOOKS) >= 2
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before commit"


def test_find_browser_prefers_fcr_browser_and_else_returns_none(monkeypatch, tmp_path):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("FCR_BROWSER", raising=False)
    assert find_browser() is None
    monkeypatch.setenv("FCR_BROWSER", str(fake))
    assert find_browser() == str(fake)


def test_ensure_browser_never_fails_without_a_browser(tmp_path):
    """No browser on PATH and no apt-get: the script says the test will be skipped and exits 0."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "id"):
        (bindir / tool).symlink_to(shutil.which(tool))
    proc = subprocess.run(["bash", str(ROOT / ".ci/ensure-browser")], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bindir), "FCR_BROWSER": ""})
    assert proc.returncode == 0, proc.stderr
    assert "will be skipped" in proc.stdout


@pytest.mark.slow
def test_report_opens_in_a_real_browser(project, tmp_path):
    """Headless Debian Chromium opens reports/drivers.html from disk (no server, no network) at desktop and
    phone widths: every section there, no console errors, every chart rendered with a non-zero size, nothing
    wider than the phone; screenshots at both widths are saved next to the report."""
    from tests.report.browser import WIDTHS, open_page, screenshot
    from tests.report.test_build import SECTIONS, body_text, JARGON

    if find_browser() is None:  # `make test` installs Debian's chromium where it can (.ci/ensure-browser)
        pytest.skip(f"no headless browser: none of {BROWSERS} on PATH and FCR_BROWSER unset; "
                    "install chromium (root on Debian/Ubuntu: `make test` does it) to run this test")

    if not (project / "reports/drivers.html").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    report = project / "reports/drivers.html"
    html = report.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    for heading in ("First-contact resolution", "reasons of repeat contacts", "What drives repeats",
                    "adjusted for case mix", "For analysts", "The model"):
        assert heading in html
    assert not JARGON.findall(body_text(html))
    for label, width in WIDTHS.items():
        attrs, console = open_page(report, width, tmp_path / "profile")
        assert not console, console
        assert attrs["sections"].split() == SECTIONS
        assert int(attrs["charts"]) >= 10 and attrs["charts"] == attrs["charts-rendered"], attrs
        assert attrs["overflow"] == "0" and attrs["errors"] == "0", (label, attrs)
        shot = screenshot(report, width, project / f"reports/drivers-{label}.png", tmp_path / "profile")
        assert shot.stat().st_size > 50_000
    for csv in ("scorecard_agents.csv", "scorecard_teams.csv", "top_reasons.csv", "fcr_by_channel.csv"):
        assert len(pd.read_csv(project / "reports" / csv)) > 0
    summary = json.loads((project / "metrics/report.json").read_text())
    seconds = json.loads((project / "metrics/runs/report.json").read_text())["stage_seconds"]  # untracked timings
    print(f"report stage: {seconds} s; coaching list vs raw FCR on the truth: {summary['coaching_truth']}")
    assert seconds <= 30


@pytest.mark.slow
def test_report_top_reasons_equal_a_groupby_of_the_labels(project):
    """The monthly top reasons in the report are a plain pandas groupby of the label stage's output."""
    if not (project / "reports/top_reasons.csv").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    labels = pd.read_parquet(project / "data/labelled/labels")
    contacts = pd.read_parquet(project / "data/ingested/contacts", columns=["contact_id", "started_at",
                                                                                     "reason_code"])
    df = contacts.merge(labels, on="contact_id")
    summary = json.loads((project / "metrics/report.json").read_text())
    month = pd.Period(pd.Timestamp(summary["period"].replace(" (so far)", "")), "M")
    rep = df[(df["status"] == "labelled") & df["repeated"].fillna(False).astype(bool)]
    counts = rep[rep["started_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M") == month] \
        .groupby(rep["reason_code"].astype(str)).size()
    expected = counts.reset_index(name="n").sort_values(["n", "reason_code"], ascending=[False, True]).head(10)
    top = pd.read_csv(project / "reports/top_reasons.csv")
    assert top["reason_code"].astype(str).tolist() == expected["reason_code"].tolist()
    assert top["repeats"].tolist() == expected["n"].tolist()


@pytest.mark.slow
def test_cli_score_and_monitor_on_the_pipeline_outputs(project, tmp_path):
    """`fcr score` on a new export with the champion (ingest's mappings, every row scored or quarantined),
    then `fcr monitor` on the model's test window (exit 0, or 3 on an alarm, with its files)."""
    if not (project / "models_out/model_card.json").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    cli = [sys.executable, "-m", "pipeline.cli"]
    _run(cli + ["synthetic-export", str(tmp_path / "x"), "--n-contacts", "2000", "--csv"], project)
    out = tmp_path / "scored.csv"
    registry = json.loads((project / "metrics/runs/train.json").read_text())["registry"]
    if not registry["promoted"]:  # the small centre's model may fail the gate: no champion to score with
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the project's own registry
        refused = subprocess.run(cli + ["score", str(tmp_path / "x/contacts.csv"), str(out)], cwd=project,
                                 capture_output=True, text=True, timeout=300, env=env)
        assert refused.returncode != 0 and "--model" in refused.stderr + refused.stdout
        cli_model = ["--model", str(project / "models_out")]
    else:
        cli_model = []
    _run(cli + ["score", str(tmp_path / "x/contacts.csv"), str(out), "--reasons", "2", *cli_model], project)
    scored = pd.read_csv(out)
    raw = pd.read_csv(tmp_path / "x/contacts.csv")
    quarantine = tmp_path / "scored.quarantine.parquet"
    rejected = len(pd.read_parquet(quarantine)) if quarantine.exists() else 0
    assert len(scored) + rejected == len(raw) and scored["contact_id"].is_unique
    assert scored["p_repeat"].between(0, 1, inclusive="neither").all()
    assert set(scored["route"]) <= {"specialist", "standard"} and {"reason_1", "reason_2"} <= set(scored.columns)
    env = os.environ | {"PYTHONPATH": str(project)}
    proc = subprocess.run(cli + ["monitor", "--out", str(tmp_path / "monitor")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    summary = json.loads((tmp_path / "monitor/monitor.json").read_text())
    assert summary["alarm"] == (proc.returncode == 3) and summary["contacts"] > 0
    assert (tmp_path / "monitor/monitor.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_train_stage_ships_the_test_score_distribution_with_the_model(project, tmp_path):
    """models_out and the registered MLflow model both carry score_distribution.json: the distribution of
    the test window's calibrated scores (test_predictions.parquet), so a registry URI routes any capacity."""
    import mlflow

    from models.model_files import SCORES_FILE, score_distribution

    if not (project / "models_out/model_card.json").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    saved = json.loads((project / "models_out" / SCORES_FILE).read_text())
    p = pd.read_parquet(project / "models_out/test_predictions.parquet")["p_repeat"].to_numpy()
    assert saved == score_distribution(p) and saved["n_scores"] == len(p)
    version = json.loads((project / "metrics/runs/train.json").read_text())["registry"]["version"]
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")  # the scratch project's own store
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/fcr-classifier/{version}",
                                                     dst_path=str(tmp_path)))
    found = list(local.rglob(SCORES_FILE))
    assert len(found) == 1 and json.loads(found[0].read_text()) == saved


@pytest.mark.slow
def test_every_reported_driver_is_a_feature_that_varies_in_the_data(project):
    if not (project / "reports/drivers.csv").exists():
        _run([sys.executable, "-m", "dvc", "repro"], project)
    drivers = pd.read_csv(project / "reports/drivers.csv")
    table = pd.read_parquet(project / "data/features/features.parquet")
    assert len(drivers)
    for feature in drivers["feature"]:
        assert feature in table.columns and table[feature].nunique(dropna=True) > 1, feature
