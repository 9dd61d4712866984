"""Event logs collapsed to one row per contact: the vectorised collapse against a plain loop, on
many generated logs, and the row accounting of normalise_contacts around it."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.schema import EVENTS_MERGED, SourceSpec, normalise_contacts
from contract.config import EventsConfig

T0 = pd.Timestamp("2025-03-03 09:00", tz="UTC")

events = st.lists(st.fixed_dictionaries({
    "contact_id": st.sampled_from(["t1", "t2", "t3", ""]),
    "minute": st.integers(0, 5),
    "agent": st.sampled_from(["a1", "a2", "", "?"]),
    "reopens": st.sampled_from(["0", "1", "2", "?", "x"]),
}), min_size=1, max_size=20)


def reference(rows: list[dict], keep: str) -> dict[str, dict]:
    """Per contact: the kept event (first/last by time, file order on ties), the last known agent,
    the max reopen count, over the events that parse."""
    good = [dict(r, row=i) for i, r in enumerate(rows) if r["contact_id"] and r["reopens"] != "x"]
    out = {}
    for cid in {r["contact_id"] for r in good}:
        evs = sorted((r for r in good if r["contact_id"] == cid), key=lambda r: (r["minute"], r["row"]))
        kept = evs[0] if keep == "first" else evs[-1]
        agents = [r["agent"] for r in evs if r["agent"] not in ("", "?")]
        counts = [int(r["reopens"]) for r in evs if r["reopens"] not in ("?",)]
        out[cid] = {"row": kept["row"], "agent": agents[-1] if agents else None,
                    "max": max(counts) if counts else None}
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=events, keep=st.sampled_from(["first", "last"]))
def test_collapse_matches_a_plain_loop(rows, keep):
    from contract.config import OutcomeSignal

    raw = pd.DataFrame({
        "contact_id": [r["contact_id"] for r in rows], "customer_id": "u1",
        "started_at": [(T0 + pd.Timedelta(minutes=r["minute"])).isoformat() for r in rows],
        "channel": "phone", "reason_code": "R", "agent_id": [r["agent"] for r in rows],
        "reopens": [r["reopens"] for r in rows]})
    spec = SourceSpec(
        column_map={c: c for c in ("contact_id", "customer_id", "started_at", "channel", "reason_code", "agent_id")},
        missing_values=("", "?"), outcome_signal=OutcomeSignal(column="reopens", kind="count", resolved_when="zero"),
        events=EventsConfig(order_by="started_at", keep=keep, aggregate={"agent_id": "last", "outcome_signal": "max"}),
        now=pd.Timestamp("2026-01-01", tz="UTC"))
    res = normalise_contacts(raw, spec)
    c = res.counts
    assert c["rows_read"] == c["rows_kept"] + c["rows_filtered"] + c["rows_quarantined"] == len(rows)
    want = reference(rows, keep)
    got = res.contacts.set_index("contact_id")
    # contacts whose every event failed are gone; an agent-less handled contact is quarantined
    kept_ids = {cid for cid, w in want.items() if w["agent"] is not None}
    assert set(got.index) == kept_ids
    assert c["filtered_by_rule"].get(EVENTS_MERGED, 0) == sum(
        1 for i, r in enumerate(rows) if r["contact_id"] and r["reopens"] != "x") - len(want)
    for cid in kept_ids:
        w = want[cid]
        assert got.loc[cid, "source_row"] == w["row"]
        assert got.loc[cid, "agent_id"] == w["agent"]
        sig = got.loc[cid, "resolution_signal"]
        assert (pd.isna(sig) and w["max"] is None) or bool(sig) == (w["max"] == 0)
