"""Ingest: column maps, parsing, and every kind of bad row quarantined with the right reason."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from base.config import Paths
from contract.config import FilesConfig, IngestConfig
from contract.schema import ContractError, SourceSpec, map_columns, normalise_contacts, parse_timestamps
from engine.config import EngineConfig
from pipeline.ingest import IngestRejected, run

GOOD = {"contact_id": "k1", "customer_id": "u1", "started_at": "2025-03-01T10:00:00Z",
        "ended_at": "2025-03-01T10:05:00Z", "channel": "phone", "reason_code": "BIL-01", "agent_id": "a1",
        "team": "T1", "wait_s": "30", "handle_s": "270", "transfers": "0", "disposition": "handled",
        "survey_resolved": ""}

BAD = [  # (changes to a good row, expected reason)
    ({"contact_id": ""}, "contact_id: missing value"),
    ({"started_at": "31/02/2025 25:61"}, "started_at: unparseable timestamp"),
    ({"started_at": ""}, "started_at: missing value"),
    ({"channel": "fax"}, "channel: unknown value"),
    ({"reason_code": " "}, "reason_code: missing value"),
    ({"handle_s": "-5"}, "handle_s: negative value"),
    ({"wait_s": "abc"}, "wait_s: not a number"),
    ({"transfers": "-1"}, "transfers: negative value"),
    ({"ended_at": "2025-03-01T09:00:00Z"}, "ended_at: ended_at before started_at"),
    ({"agent_id": ""}, "agent_id: missing agent_id on a handled contact"),
    ({"survey_resolved": "maybe"}, "survey_resolved: not a yes/no value"),
]


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, dtype="str")


@pytest.mark.parametrize("change,reason", BAD, ids=[r for _, r in BAD])
def test_each_bad_row_is_quarantined_with_its_reason(change, reason):
    rows = [GOOD | {"contact_id": "k0"}, GOOD | {"contact_id": "k9"} | change]
    res = normalise_contacts(frame(rows), SourceSpec())
    assert res.counts["rows_read"] == 2 and res.counts["rows_kept"] == 1 and res.counts["rows_quarantined"] == 1
    assert res.quarantine["reason"].tolist() == [reason]
    assert res.quarantine["source_row"].tolist() == [1]
    assert json.loads(res.quarantine["row"][0])["channel"] == rows[1]["channel"]  # raw values kept


def test_duplicates():
    rows = [GOOD, GOOD, GOOD | {"handle_s": "999"}]
    res = normalise_contacts(frame(rows), SourceSpec())
    assert res.quarantine["reason"].tolist() == ["contact_id: duplicate row",
                                                 "contact_id: duplicate id with different content"]
    assert res.counts["rows_kept"] == 1


def test_abandoned_and_self_service_need_no_agent_and_anonymous_kept():
    rows = [GOOD | {"contact_id": "k1", "agent_id": "", "disposition": "Abandoned"},
            GOOD | {"contact_id": "k2", "agent_id": "", "channel": "self_service"},
            GOOD | {"contact_id": "k3", "customer_id": "0"},
            GOOD | {"contact_id": "k4", "customer_id": ""}]
    res = normalise_contacts(frame(rows), SourceSpec())
    assert res.counts["rows_quarantined"] == 0
    c = res.contacts.set_index("contact_id")
    assert c.loc["k1", "disposition"] == "abandoned"
    assert c.loc[["k3", "k4"], "customer_id"].isna().all() and res.counts["anonymous_contacts"] == 2


def test_mixed_time_zones_become_utc():
    s = pd.Series(["2025-03-01T10:00:00+01:00", "2025-03-01T09:00:00Z", "2025-03-01 04:00:00-05:00",
                   "2025-03-01 10:00:00", "2025-07-01 11:00:00"])
    out = parse_timestamps(s, None, "Europe/Berlin")
    assert (out[:4] == pd.Timestamp("2025-03-01 09:00", tz="UTC")).all()
    assert out[4] == pd.Timestamp("2025-07-01 09:00", tz="UTC")  # summer time in Berlin
    fmt = parse_timestamps(pd.Series(["01/03/2025 10:00"]), "%d/%m/%Y %H:%M", "UTC")
    assert fmt[0] == pd.Timestamp("2025-03-01 10:00", tz="UTC")


def test_survey_answers_and_channel_map():
    rows = [GOOD | {"contact_id": f"k{i}", "survey_resolved": v, "channel": ch}
            for i, (v, ch) in enumerate([("Yes", "Voice"), ("no", "voice"), ("1", "WebChat"), ("", "phone")])]
    res = normalise_contacts(frame(rows), SourceSpec(channel_map={"voice": "phone", "webchat": "chat"}))
    c = res.contacts.set_index("contact_id")
    assert c["survey_resolved"].tolist()[:3] == [True, False, True] and pd.isna(c["survey_resolved"].iloc[3])
    assert c["channel"].tolist() == ["phone", "phone", "chat", "phone"]


def test_reason_families_unmapped_codes_are_their_own_family():
    rows = [GOOD | {"contact_id": "k1", "reason_code": "BIL-01"}, GOOD | {"contact_id": "k2", "reason_code": "X9"}]
    res = normalise_contacts(frame(rows), SourceSpec(reason_families={"BIL-01": "billing"}))
    assert res.contacts.set_index("contact_id")["reason_family"].to_dict() == {"k1": "billing", "k2": "X9"}
    assert res.counts["unmapped_reason_codes"] == 1


def test_column_map_renames_and_names_the_missing_column():
    theirs = frame([GOOD]).rename(columns={"started_at": "StartTime", "contact_id": "Call ID"})
    cmap = {c: c for c in GOOD} | {"started_at": "StartTime", "contact_id": "Call ID"}
    assert map_columns(theirs, SourceSpec(column_map=cmap))["started_at"].iloc[0] == GOOD["started_at"]
    with pytest.raises(ContractError, match=r"'started_at' is mapped to 'start_time', which is not in"):
        map_columns(theirs, SourceSpec(column_map=cmap | {"started_at": "start_time"}))
    with pytest.raises(ContractError, match=r"required column 'agent_id' has no entry"):
        map_columns(theirs, SourceSpec(column_map={k: v for k, v in cmap.items() if k != "agent_id"}))
    optional_missing = {k: v for k, v in cmap.items() if k not in ("wait_s", "survey_resolved")}
    res = normalise_contacts(theirs, SourceSpec(column_map=optional_missing))
    assert res.counts["rows_kept"] == 1 and res.contacts["wait_s"].isna().all()


def _paths(tmp_path) -> Paths:
    names = ["raw_dir", "contacts", "customers", "agents", "quarantine", "contract", "truth_dir", "labels", "features",
             "features_checksums",
             "feature_spec", "online_snapshot", "model_dir", "metrics_dir", "plots_dir", "reports_dir"]
    return Paths(**{n: str(tmp_path / "out" / (n + (".parquet" if n in ("contacts", "customers", "agents",
                                                                          "quarantine") else ""))) for n in names})


LOCAL = EngineConfig.default(kind="local")


def test_stage_with_files_counts_add_up_and_fails_above_reject_limit(tmp_path):
    rows = [GOOD | {"contact_id": f"k{i}", "started_at": f"2025-03-{1 + i % 28:02d}T10:00:00", "ended_at": ""}
            for i in range(40)]
    rows[3]["started_at"] = "03/04/2025 10:00"
    pd.DataFrame(rows).rename(columns={"started_at": "Start"}).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"agent_id": ["a1"], "team": ["Billing team"]}).to_csv(tmp_path / "agents.csv", index=False)
    files = FilesConfig.default(contacts=str(tmp_path / "c.csv"), agents=str(tmp_path / "agents.csv"),
                        column_map={c: c for c in GOOD if c != "team"} | {"started_at": "Start"},
                        timezone="Europe/London")
    paths = _paths(tmp_path)
    counts = run(IngestConfig.default(source="files", files=files, max_reject_share=0.05), LOCAL, paths)
    c = counts["contacts"]
    assert (c["rows_read"], c["rows_kept"], c["rows_quarantined"]) == (40, 39, 1)
    out = pd.read_parquet(paths.contacts)
    assert (out["team"] == "Billing team").all()  # filled from the agents table
    assert pd.read_parquet(paths.quarantine)["source_row"].tolist() == [3]
    with pytest.raises(IngestRejected) as err:
        run(IngestConfig.default(source="files", files=files, max_reject_share=0.01), LOCAL, paths)
    msg = str(err.value)
    assert "started_at: unparseable timestamp" in msg and "column 'Start'" in msg and "[3]" in msg
    assert "03/04/2025 10:00" in msg and "column_map" in msg
