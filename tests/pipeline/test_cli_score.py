"""`fcr score` reads a file as the ingest stage reads it (one reader: contract/reading.py), and every
`fcr` command reports an expected error as one message with exit status 2 (`--debug`: the traceback)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[2]

# A telephony export as such systems write it: day-first dates and times in two columns (local time,
# Paris), a name the header repeats (the reason's family, then its code), accents, an outcome code 9
# for test calls (filtered) and a date in another format (quarantined).
HEADER = ["CallID", "Caller", "CallDate", "CallTime", "Category", "Category", "Agent", "Outcome", "Talk"]
ROWS = [
    ["c01", "Müller", "13/03/2025", "09:02", "Billing", "BIL-01", "zoë", "1", "340"],
    ["c02", "Müller", "14/03/2025", "10:15", "Billing", "BIL-01", "zoë", "1", "200"],
    ["c03", "Dubois", "13/03/2025", "11:00", "Tech", "TEC-02", "rené", "1", "500"],
    ["c04", "Dubois", "20/03/2025", "16:45", "Tech", "TEC-03", "rené", "1", "90"],
    ["c05", "Šimek", "15/03/2025", "08:30", "Billing", "BIL-02", "zoë", "2", "0"],
    ["c06", "Nowak", "16/03/2025", "12:00", "Tech", "TEC-02", "rené", "9", "10"],
    ["c07", "Nowak", "16.03.2025", "12:00", "Tech", "TEC-02", "rené", "1", "10"],
    ["c08", "Garçon", "25/03/2025", "17:20", "Billing", "BIL-01", "zoë", "1", "410"],
    ["c09", "Garçon", "26/03/2025", "09:05", "Billing", "BIL-01", "zoë", "1", "300"],
]


def _text(sep: str) -> str:
    return "".join(sep.join(r) + "\r\n" for r in [HEADER, *ROWS])


def tab_txt(folder: Path) -> tuple[Path, dict]:
    path = folder / "calls.txt"
    path.write_bytes(_text("\t").encode("utf-8"))
    return path, {}  # delimiter sniffed, UTF-8


def semicolon_cp1252(folder: Path) -> tuple[Path, dict]:
    path = folder / "calls.csv"
    path.write_bytes(_text(";").encode("cp1252"))
    return path, {"encoding": "cp1252"}


def zipped_csv(folder: Path) -> tuple[Path, dict]:
    path = folder / "calls.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export/calls.csv", _text(","))
        zf.writestr("export/README.txt", "exported by the ACD\n")
    return path, {"member": "*.csv"}


EXPORTS = {"tab_txt": tab_txt, "semicolon_cp1252": semicolon_cp1252, "zipped_csv": zipped_csv}


def write_params(folder: Path, contacts: Path, read: dict, **column_map) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"]["source"] = "files"
    params["ingest"]["max_reject_share"] = 0.2
    files = params["ingest"]["files"]
    files.update(
        contacts=str(contacts), customers=None, agents=None, reason_family_file=None,
        read={"delimiter": None, "encoding": None, "quote": None, "decimal": None, "member": None} | read,
        timestamp_format="%d/%m/%Y %H:%M", timezone="Europe/Paris",
        column_map={"contact_id": "CallID", "customer_id": "Caller",
                    "started_at": {"parts": ["CallDate", "CallTime"], "sep": " "}, "ended_at": None,
                    "channel": {"constant": "phone"}, "reason_family": "Category#1", "reason_code": "Category#2",
                    "agent_id": "Agent", "team": None, "wait_s": None, "handle_s": "Talk", "transfers": None,
                    "disposition": "Outcome", "survey_resolved": None} | column_map,
        value_maps={"disposition": {"1": "handled", "2": "abandoned", "9": "drop"}},
        channel_map={}, reason_families={}, missing_values=[""], anonymous_customer_ids=["0"], filters=[],
        events=None, extra_columns={}, outcome_signal=None)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return path


class _Captured(Exception):
    """Raised by the stand-in feature builder: score has read and mapped its input."""


@pytest.mark.parametrize("shape", list(EXPORTS))
def test_fcr_score_reads_an_export_as_ingest_does(shape, tmp_path, monkeypatch):
    """Ingest and label run for real on the export; `fcr score` on the same file hands the feature
    builder the very rows and values the ingest stage stored. The model and the feature builder are
    stand-ins: the reading is under test, not the scoring."""
    import models.serving.batch as batch
    import models.serving.scorer as scorer

    monkeypatch.chdir(tmp_path)
    contacts, read = EXPORTS[shape](tmp_path)
    params = write_params(tmp_path, contacts, read)
    runner = CliRunner()
    for stage in ("ingest", "label"):
        res = runner.invoke(app, [stage, "--params", str(params)])
        assert res.exit_code == 0, (stage, res.output, res.exception)
    seen: dict[str, pd.DataFrame] = {}

    def capture(new, *args, **kwargs):
        seen["contacts"] = new
        raise _Captured

    monkeypatch.setattr(scorer, "load_model", lambda source, uri, source_id=None: SimpleNamespace(
        card={"capacity_threshold": 0.5}, source=source, spec={"label_window_days": 7, "features": []}))
    monkeypatch.setattr(scorer, "check_lineage", lambda model, current, any_source=False: None)  # (reading is tested)
    monkeypatch.setattr(batch, "batch_features", capture)
    res = runner.invoke(app, ["score", str(contacts), str(tmp_path / "scored.csv"), "--params", str(params)])
    assert isinstance(res.exception, _Captured), (res.output, res.exception)

    ingested = pd.read_parquet("data/ingested/contacts").sort_values("contact_id", ignore_index=True)
    scored = seen["contacts"].sort_values("contact_id", ignore_index=True)
    pd.testing.assert_frame_equal(scored[ingested.columns], ingested, check_dtype=False)
    # and what ingest stored is the export: day-first, Paris time, accents, the repeated name by position
    assert ingested["contact_id"].tolist() == ["c01", "c02", "c03", "c04", "c05", "c08", "c09"]
    k = ingested.set_index("contact_id")
    assert k.loc["c04", "started_at"] == pd.Timestamp("2025-03-20 15:45", tz="UTC")
    assert k.loc["c05", "customer_id"] == "Šimek" and k.loc["c01", "agent_id"] == "zoë"
    assert (k.loc["c04", "reason_code"], k.loc["c04", "reason_family"]) == ("TEC-03", "Tech")
    # the rejected row goes to the quarantine file beside OUTPUT, as in ingest
    quarantine = pd.read_parquet(tmp_path / "scored.quarantine.parquet")
    assert quarantine["reason"].tolist() == ["started_at: unparseable timestamp"] and "c07" in quarantine["row"][0]


def test_a_bare_repeated_name_is_refused_with_the_accepted_spellings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    contacts, read = tab_txt(tmp_path)
    params = write_params(tmp_path, contacts, read, reason_code="Category")
    expected = ("column_map.reason_code names 'Category', which occurs 2 times in the header (positions 5, 6); "
                "name one of them: 'Category#1' (position 5) or 'Category#2' (position 6).")
    for command in (["ingest", "--check"], ["score", str(contacts), str(tmp_path / "scored.csv")],
                    ["label", str(contacts), str(tmp_path / "labelled.csv")]):
        res = CliRunner().invoke(app, [*command, "--params", str(params)])
        assert res.exit_code == 2, (command, res.output, res.exception)
        assert expected in res.output and "Traceback" not in res.output


def _fcr(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "200"})


def test_an_expected_error_is_one_message_and_exit_2_and_debug_shows_the_traceback(tmp_path):
    contacts, read = tab_txt(tmp_path)
    params = write_params(tmp_path, contacts, read | {"encoding": "utf-16"})  # a UTF-8 file: not UTF-16
    bad = tmp_path / "bad.yaml"
    bad.write_text(params.read_text().replace("window_days: ", "window_days: -"))
    cases = {  # a mapping, params.yaml and a missing input, each through a different command
        "mapping": (["ingest", "--check", "--params", str(write_params(tmp_path, contacts, read, agent_id="Agnet"))],
                    "column 'agent_id' is mapped to 'Agnet', which is not in the contacts file"),
        "params": (["label", "--params", str(bad)], "label.window_days: Input should be greater than 0"),
        "params in a stage": (["featurize", "--params", str(bad)], "label.window_days: Input should be greater than 0"),
        "missing": (["score", str(tmp_path / "nope.txt"), "out.csv", "--params", str(params)],
                    "INPUT: no file matches"),
    }
    for name, (args, message) in cases.items():
        quiet = _fcr(args, tmp_path)
        assert quiet.returncode == 2, (name, quiet.stdout, quiet.stderr)
        # one message (the CLI's "Error: ...", or a stage's logged "ERROR ... stopped: ..."), no traceback
        assert ("\n" + quiet.stderr).count("\nError: ") + quiet.stderr.count(" ERROR ") == 1, (name, quiet.stderr)
        assert message in quiet.stderr and "Traceback" not in quiet.stderr + quiet.stdout, (name, quiet.stderr)
        loud = _fcr(["--debug", *args], tmp_path)
        assert loud.returncode == 1 and "Traceback" in loud.stderr and message in loud.stderr, (name, loud.stderr)
        assert "\nError: " not in "\n" + loud.stderr and " ERROR " not in loud.stderr, (name, loud.stderr)


def test_an_unexpected_error_keeps_its_traceback(tmp_path, monkeypatch):
    """A bug is not an expected error: no exit 2, the exception propagates."""
    import contract.check as check

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    contacts, read = tab_txt(tmp_path)
    params = write_params(tmp_path, contacts, read)
    monkeypatch.setattr(check, "read_export", broken)
    res = CliRunner().invoke(app, ["ingest", "--check", "--params", str(params)])
    assert res.exit_code == 1 and isinstance(res.exception, KeyError)


def test_the_cp1252_export_read_as_utf8_names_the_setting(tmp_path):
    contacts, _ = semicolon_cp1252(tmp_path)
    params = write_params(tmp_path, contacts, {})
    res = CliRunner().invoke(app, ["score", str(contacts), str(tmp_path / "s.csv"), "--params", str(params)])
    assert res.exit_code == 2 and "Set ingest.files.read.encoding in params.yaml" in res.output
    assert res.output.count("Error: ") == 1 and "Traceback" not in res.output
