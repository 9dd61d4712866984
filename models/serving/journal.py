"""The service's journal: every accepted live event, written before it is acknowledged.

In: events (kind `arrival` for a scored contact, `completion` for a contact the routing system says
has ended), each with the contact id, its start time (epoch seconds) and its fields. Out: an SQLite
database in WAL mode whose rows are replayed at start-up, in the order they were accepted, so that
a SIGKILL loses nothing acknowledged. (kind, contact_id) is unique: the same event sent twice is
stored once, which makes re-scoring and re-posting idempotent. Rows that started before a snapshot's
end are already in that snapshot: `replay(since=...)` skips them and `prune` drops them on reload.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (kind, contact_id)
)
"""


class Journal:
    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives the process being killed (the OS holds
        # it); only a power cut can lose the last ones. FULL would fsync every commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        # Counted once and then kept: COUNT(*) reads the whole table, which every /v1/contacts answer
        # and the metrics would otherwise do (30% of the server's CPU after 10 minutes at 400 events/s).
        # One server writes its journal, so the count kept here is the table's.
        self._count = int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def append(self, kind: str, events: list[tuple[str, int, dict]]) -> list[bool]:
        """Store (contact_id, started_at, fields) events in one transaction; per event, whether it
        was new (False: already journaled, so it must not be applied twice)."""
        new = []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for contact_id, started_at, body in events:
                    cur.execute("INSERT OR IGNORE INTO events (kind, contact_id, started_at, body) VALUES (?, ?, ?, ?)",
                                (kind, contact_id, int(started_at), json.dumps(body, separators=(",", ":"))))
                    new.append(cur.rowcount == 1)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self._count += sum(new)
        return new

    def seen(self, kind: str, contact_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM events WHERE kind = ? AND contact_id = ?",
                                    (kind, contact_id)).fetchone() is not None

    def replay(self, since: int) -> Iterator[tuple[str, dict]]:
        """(kind, fields) of every event that started at or after `since`, in the order accepted."""
        with self._lock:
            rows = self._db.execute("SELECT kind, body FROM events WHERE started_at >= ? ORDER BY seq",
                                    (int(since),)).fetchall()
        for kind, body in rows:
            yield kind, json.loads(body)

    def prune(self, before: int) -> int:
        """Drop events that started before `before` (a new snapshot holds them); how many went."""
        with self._lock:
            dropped = self._db.execute("DELETE FROM events WHERE started_at < ?", (int(before),)).rowcount
            self._count -= dropped
            return dropped

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
