"""The journal: events stored once per (kind, contact id), replayed in the order accepted from a
given start time, pruned before a snapshot's end, counted without reading the table, and readable by a
second process' connection."""

from __future__ import annotations

import pytest

from models.serving.journal import Journal


def test_append_is_idempotent_and_replay_keeps_order(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.append("arrival", [("a", 100, {"contact_id": "a"}), ("b", 50, {"contact_id": "b"})]) == [True, True]
    assert j.append("arrival", [("a", 100, {"contact_id": "a", "again": 1}), ("c", 200, {"contact_id": "c"})]) == \
        [False, True]
    assert j.append("completion", [("a", 100, {"contact_id": "a", "agent_id": "x"})]) == [True]
    assert len(j) == 4
    assert [(k, b["contact_id"]) for k, b in j.replay(since=60)] == [("arrival", "a"), ("arrival", "c"),
                                                                     ("completion", "a")]
    assert next(j.replay(since=0))[1] == {"contact_id": "a"}  # the first body stays
    assert j.seen("arrival", "b") and not j.seen("completion", "b")
    assert j.prune(before=100) == 1 and len(j) == 3
    # A batch that fails half way is rolled back whole, and the kept count stays the table's
    with pytest.raises(TypeError):
        j.append("arrival", [("d", 300, {"contact_id": "d"}), ("e", 300, {"bad": object()})])
    assert not j.seen("arrival", "d") and len(j) == 3
    j.close()
    again = Journal(tmp_path / "j.sqlite")  # what was committed is there for the next process
    assert len(again) == 3 == again._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert again.path.with_name("j.sqlite-wal").exists()
