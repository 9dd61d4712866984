"""The three export shapes of examples/ (hand-written fixtures in tests/contract/fixtures), each
through ingest with its params block: counts add up, values land where they should, and the labels
equal the brute-force reference."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from contract.ingest import ingest
from labelling.labeller import label_table
from labelling.measure import label_metrics, segment_tables
from contract.config import FilesConfig
from labelling.config import LabelConfig
from tests.reference_labeller import reference_labels

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SHAPES = {"telephony": "calls.tsv", "tickets": "ticket_events.csv", "servicedesk": "incidencias.csv"}
FIELDS = ["status", "repeated", "tracking_repeated", "excluded_reason", "episode_id", "contact_seq",
          "is_first_contact", "merged_into"]


def example(shape: str) -> tuple[FilesConfig, float]:
    block = yaml.safe_load((ROOT / "examples" / shape / "params.yaml").read_text())["ingest"]
    files = FilesConfig.model_validate(block["files"] | {"contacts": str(FIXTURES / shape / SHAPES[shape])})
    return files, block["max_reject_share"]


def run_shape(shape: str):
    files, share = example(shape)
    out = ingest(files, share)
    c = out.counts["contacts"]
    assert c["rows_read"] == c["rows_kept"] + c["rows_filtered"] + c["rows_quarantined"]
    assert c["rows_filtered"] == sum(c["filtered_by_rule"].values())
    assert c["rows_quarantined"] == sum(c["quarantined_by_reason"].values()) == len(out.quarantine)
    return out


def _same(a, b) -> bool:
    a = None if (a is None or (not isinstance(a, str) and pd.isna(a))) else a
    return a == b


@pytest.mark.parametrize("shape", SHAPES)
def test_examples_hold_the_fixtures(shape):
    name = SHAPES[shape]
    assert (ROOT / "examples" / shape / name).read_bytes() == (FIXTURES / shape / name).read_bytes()


# the telephony log has no outcome signal, so only repeat tracking can label it
@pytest.mark.parametrize("shape,source", [(s, "repeats") for s in SHAPES] + [("tickets", "column"),
                                                                            ("servicedesk", "column")])
def test_labels_equal_the_reference(shape, source):
    out = run_shape(shape)
    contacts = out.contacts
    assert ("resolution_signal" in contacts) == (shape != "telephony")
    cfg = LabelConfig.default(source=source)
    got = label_table(contacts, cfg).set_index("contact_id")
    want = reference_labels(contacts, cfg)
    assert len(got) == len(contacts) == len(want)
    for cid, exp in want.items():
        for f in FIELDS:
            assert _same(got.loc[cid, f], exp[f]), f"{shape} {cid}.{f}: {got.loc[cid, f]!r} != {exp[f]!r}"
    metrics = label_metrics(label_table(contacts, cfg), cfg.model_dump(), segment_tables(label_table(contacts, cfg)))
    assert metrics["counts"]["rows_in"] == out.counts["contacts"]["rows_kept"]
    assert "sanity" in metrics and isinstance(metrics["warnings"], list)


def test_telephony_log():
    out = run_shape("telephony")
    c = out.counts["contacts"]
    assert (c["rows_read"], c["rows_kept"], c["rows_filtered"], c["rows_quarantined"]) == (23, 20, 2, 1)
    assert c["filtered_by_rule"] == {"filters.test_queue": 1, "value_maps.disposition: drop": 1}
    assert c["quarantined_by_reason"] == {"transfers: not a whole number": 1}
    k = out.contacts.set_index("contact_id")
    # two-digit year, US order, Chicago: CST before 9 March 2025, CDT after
    assert k.loc["100001", "started_at"] == pd.Timestamp("2025-03-03 15:02:11", tz="UTC")
    assert k.loc["100010", "started_at"] == pd.Timestamp("2025-03-10 18:14:15", tz="UTC")
    assert pd.isna(k.loc["100002", "customer_id"]) and c["anonymous_contacts"] == 1
    assert k.loc["100004", "disposition"] == "abandoned" and pd.isna(k.loc["100004", "agent_id"])
    assert set(k["channel"]) == {"phone"} and (k["reason_family"] == k["reason_code"]).all()
    assert out.contract["constant_columns"] == {"channel": "phone"} and out.contract["channels"] == ["phone"]
    assert {"ended_at", "survey_resolved"} <= set(out.contract["absent_columns"])
    assert c["value_maps"]["disposition"]["unmapped_rows"] == 0


def test_ticket_event_log():
    out = run_shape("tickets")
    c = out.counts["contacts"]
    assert (c["rows_read"], c["rows_kept"], c["rows_filtered"], c["rows_quarantined"]) == (30, 12, 17, 1)
    assert c["quarantined_by_reason"] == {"channel: unknown value": 1}  # INC-1012 came by Fax
    assert c["value_maps"]["channel"]["unmapped"] == {"Fax": 1}
    k = out.contacts.set_index("contact_id")
    assert k.loc["INC-1001", "reason_code"] == "Billing / Invoice copy"
    assert k.loc["INC-1001", "reason_family"] == "Billing"
    # one row per ticket: the first event's time, the last event's end, the last known assignee
    assert k.loc["INC-1007", "started_at"] == pd.Timestamp("2025-03-12 08:15", tz="UTC")
    assert k.loc["INC-1007", "ended_at"] == pd.Timestamp("2025-03-17 15:00", tz="UTC")
    assert k.loc["INC-1007", "agent_id"] == "lee" and k.loc["INC-1003", "agent_id"] == "lee"
    assert k.loc["INC-1013", "started_at"] == pd.Timestamp("2025-04-02 09:00", tz="UTC")  # BST
    assert pd.isna(k.loc["INC-1003", "customer_id"]) and pd.isna(k.loc["INC-1003", "extra_priority"])
    assert k.loc["INC-1004", "extra_priority"] == 3.0 and k.loc["INC-1004", "channel"] == "chat"
    signal = k["resolution_signal"]
    assert not signal["INC-1002"] and not signal["INC-1007"] and signal["INC-1005"] and signal["INC-1001"]
    assert out.contract["outcome_signal"]["kind"] == "count" and out.contract["outcome_signal"]["known_contacts"] == 12
    assert out.contract["extra_columns"]["priority"] == {"column": "extra_priority", "source_column": "Priority",
                                                        "kind": "number", "availability": "arrival"}
    assert out.contract["channels"] == ["chat", "email", "phone"]


def test_service_desk_export():
    out = run_shape("servicedesk")
    c = out.counts["contacts"]
    assert (c["rows_read"], c["rows_kept"], c["rows_filtered"], c["rows_quarantined"]) == (15, 14, 0, 1)
    reason = "started_at: nonexistent local time (DST gap); set ingest.files.dst_nonexistent"
    assert c["quarantined_by_reason"] == {reason: 1}
    assert c["dst"]["started_at"]["nonexistent"] == 1 and c["dst"]["started_at"]["nonexistent_rule"] == "quarantine"
    assert out.quarantine["source_row"].tolist() == [8]  # SD-2009, 02:30 on 30 March 2025 in Madrid
    k = out.contacts.set_index("contact_id")
    assert k.loc["SD-2008", "started_at"] == pd.Timestamp("2025-03-30 00:50", tz="UTC")  # CET
    assert k.loc["SD-2008", "ended_at"] == pd.Timestamp("2025-03-30 01:10", tz="UTC")    # CEST
    assert k.loc["SD-2001", "customer_id"] == "Panadería Núñez"                            # latin-1 read
    assert k.loc["SD-2003", "extra_duration_min"] == 45.5                                  # decimal comma
    assert k.loc["SD-2001", "reason_family"] == "hardware"
    assert k.loc["SD-2003", "resolution_signal"] == False  # noqa: E712
    assert pd.isna(k.loc["SD-2007", "resolution_signal"])
    assert k["agent_id"].isna().all() and set(k["channel"]) == {"phone"}
    assert "agent_id" in out.contract["absent_columns"] and out.contract["has_agents"] is False
    assert "agent_id" in out.counts["absent_columns"]


def test_dst_rules_are_configurable_and_counted():
    files, share = example("servicedesk")
    shifted = ingest(files.model_copy(update={"dst_nonexistent": "shift_forward"}), share)
    c = shifted.counts["contacts"]
    assert c["rows_quarantined"] == 0 and c["dst"]["started_at"]["nonexistent"] == 1
    k = shifted.contacts.set_index("contact_id")
    assert k.loc["SD-2009", "started_at"] == pd.Timestamp("2025-03-30 01:00", tz="UTC")  # 03:00 CEST
