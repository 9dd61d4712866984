"""The tiny hand-made log of conftest.py: labels worked out by hand, and the same from the reference."""

from __future__ import annotations

from labelling.labeller import label_contacts
from labelling.measure import fcr_table
from tests.reference_labeller import reference_labels


def test_tiny_log_labels_by_hand(tiny_contacts, params):
    cfg = params.label.model_copy(update={"window_days": 7, "match": "reason_family", "merge_gap_s": 120})
    out = label_contacts(tiny_contacts, cfg).set_index("contact_id")
    assert out.loc["c1", "status"] == "labelled" and out.loc["c1", "repeated"]
    assert out.loc["c2", "episode_id"] == "c1" and out.loc["c2", "contact_seq"] == 2
    assert out.loc["c3", "status"] == "censored"
    assert not out.loc["c4", "repeated"] and not out.loc["c5", "repeated"]
    assert out.loc["c6", "status"] == "labelled" and out.loc["c6", "is_first_contact"]
    assert out.loc["c7", "excluded_reason"] == "merged" and out.loc["c7", "merged_into"] == "c6"
    want = reference_labels(tiny_contacts, cfg)
    for cid, exp in want.items():
        assert out.loc[cid, "status"] == exp["status"], cid


def test_tiny_log_fcr(tiny_contacts, params):
    labelled = tiny_contacts.join(label_contacts(tiny_contacts, params.label.model_copy(
        update={"window_days": 7, "match": "reason_family"})).drop(columns=["contact_id"]))
    fcr = fcr_table(labelled).iloc[0]
    # first contacts whose window closed: c1 (repeated), c4, c5, c6 (resolved) -> 3 of 4
    assert fcr.first_contacts == 4 and abs(fcr.fcr - 0.75) < 1e-12
