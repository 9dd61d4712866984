"""Live maturation of labels: the service's contacts get their label once their window has closed.

In: the label rules the snapshot was made with (`LabelConfig`), the snapshot's contacts whose window
was still open at its end (features/online.py keeps them in its history, with the columns labelling
reads), then every contact the service learns (arrivals and completions, in the order accepted) and
the time of each contact it scores. Out: per grouping of features/rules.py (global, customer, reason
family and code, team, agent, agent x family), the (events, trials) of the labels that matured since
the snapshot, which the live state adds to the snapshot's counts as `derived`'s `base`.
Rules, as in batch featurize: a contact counts for a contact at t once started_at + window < t; its
label is labelling/labeller.py's (`label_sorted`: the label stage's rules on plain arrays) on its
customer's known contacts: merges, abandoned contacts, the resolution signal with `label.source:
column`, the survey; one implementation of each rule. Maturing happens lazily, before a contact at t
is scored or learned: a heap ordered by maturity time, so the hot path pays only when a window closes.
A contact sees only the labels matured before its own start, even when scored out of time order.
News about a customer after one of its contacts matured (a late completion, a contact inside a closed
window) labels that customer again and corrects the counts by the difference: the counts depend on
what is known and on the clock, not on the order things came in, so replaying the journal gives the
same counts and a contact counts once.
Limits: start times are whole seconds (the service's); news about a contact older than the look-back
(`prune`) no longer changes its label; the batch labels' own look-ahead (a contact that merges into a
group inside a window that closed before it changes that label in batch, for contacts scored before
it too) cannot be matched by a service that learns in time order.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.rules import DAY, GLOBAL_KEY, GROUPINGS
from labelling.labeller import label_sorted
from labelling.config import LabelConfig

PENDING, LIVE, FROZEN = 0, 1, 2  # window open | matured here, counted here | context only (counted elsewhere)
US = 1_000_000


@dataclass
class _Contact:
    contact_id: str
    start: int                   # epoch seconds (the service's whole seconds)
    end: int | None              # epoch microseconds
    reason_code: str
    reason_family: str
    agent: str | None
    team: str | None
    disposition: str | None
    survey: bool | None
    signal: bool | None
    state: int
    counted: tuple[tuple[tuple[str, str], ...], int, int] | None = None  # (grouping, key)s, events, trials


class _Matured:
    """The counted contributions of the contacts matured here, in maturity-time order, as arrays: what
    a contact at t must not see (matured at or after t) is a tail of them, summed per key with NumPy
    whatever its length (routing systems send contacts slightly out of time order all day)."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, str]] = []  # (maturity time, customer, contact id), sorted
        self.codes: dict[str, dict[str, int]] = {g: {} for g in GROUPINGS}
        self.cap = 1024
        self.due = np.empty(self.cap, np.int64)
        self.key = {g: np.empty(self.cap, np.int64) for g in GROUPINGS}
        self.ev, self.tr = np.empty(self.cap, np.int64), np.empty(self.cap, np.int64)

    def __len__(self) -> int:
        return len(self.entries)

    def _arrays(self) -> list[np.ndarray]:
        return [self.due, self.ev, self.tr, *self.key.values()]

    def _set(self, i: int, keys: tuple[tuple[str, str], ...], events: int, trials: int) -> None:
        for g in GROUPINGS:
            self.key[g][i] = -1
        for g, k in keys:
            table = self.codes[g]
            self.key[g][i] = table.setdefault(k, len(table))
        self.ev[i], self.tr[i] = events, trials

    def put(self, entry: tuple[int, str, str], keys: tuple[tuple[str, str], ...], events: int, trials: int) -> None:
        """Add an entry, or set its contribution when it is there already."""
        i = bisect.bisect_left(self.entries, entry)
        if i < len(self.entries) and self.entries[i] == entry:
            self._set(i, keys, events, trials)
            return
        n = len(self.entries)
        if n == self.cap:
            self.cap *= 2
            self.due, self.ev, self.tr = (np.resize(a, self.cap) for a in (self.due, self.ev, self.tr))
            self.key = {g: np.resize(a, self.cap) for g, a in self.key.items()}
        for a in self._arrays():  # entries come in time order: this moves nothing but for a late one
            a[i + 1:n + 1] = a[i:n]
        self.entries.insert(i, entry)
        self.due[i] = entry[0]
        self._set(i, keys, events, trials)

    def after(self, t: int, keys: dict[str, str | None]) -> dict[str, tuple[int, int]] | None:
        """Per grouping, the (events, trials) of the entries matured at or after `t` under the given
        key; None when there is none."""
        n = len(self.entries)
        i = int(np.searchsorted(self.due[:n], t, side="left"))
        if i == n:
            return None
        out = {}
        ev, tr = self.ev[i:n], self.tr[i:n]
        for g, k in keys.items():
            code = self.codes[g].get(k) if k is not None else None
            if code is not None:
                m = self.key[g][i:n] == code
                out[g] = (int(ev[m].sum()), int(tr[m].sum()))
        return out

    def prune(self, before: int) -> None:
        n = len(self.entries)
        i = int(np.searchsorted(self.due[:n], before, side="left"))
        if i:
            for a in self._arrays():
                a[:n - i] = a[i:n]
            del self.entries[:i]


@dataclass
class LiveLabels:
    """The labels the service matures itself (see the module docstring)."""

    cfg: LabelConfig
    team_of: Callable[[str], str | None]  # an agent's team (agents table), for contacts that name none
    window: int = 0                      # seconds
    clock: int = -(2**62)                # latest time matured to (epoch seconds)
    customers: dict[str, dict[str, _Contact]] = field(default_factory=dict)
    heap: list[tuple[int, str, str]] = field(default_factory=list)  # (maturity time, customer, contact id)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {g: {} for g in GROUPINGS})
    latest_live: dict[str, int] = field(default_factory=dict)  # customer -> latest maturity time counted here
    matured: _Matured = field(default_factory=_Matured)  # LIVE contacts' counts by maturity time
    dirty: dict[str, None] = field(default_factory=dict)  # customers to label again before the next read

    def __post_init__(self) -> None:
        self.window = int(round(self.cfg.window_days * DAY))

    # ---- input -------------------------------------------------------------------------------------
    def load_snapshot(self, history: pd.DataFrame, as_of: int) -> int:
        """The snapshot's contacts whose window was open at its end (`as_of`, epoch seconds) become
        pending; each such customer's contact just before them is kept as context (merges). How many."""
        if history.empty:
            return 0
        t = pd.DatetimeIndex(history["started_at"]).as_unit("s").asi8
        cust = history["customer_id"]
        pending = (t + self.window >= as_of) & cust.notna().to_numpy()
        if not pending.any():
            return 0
        mine = cust.isin(cust[pending].unique()).to_numpy()
        rows = history.loc[mine].assign(t_s=t[mine]).sort_values(["customer_id", "t_s", "contact_id"], kind="stable")
        rows = rows.assign(pending=rows["t_s"] + self.window >= as_of)
        # context: the latest earlier row of each customer, and every later one (all pending)
        by = rows.groupby("customer_id", observed=True, sort=False)
        first = (~rows["pending"]).groupby(rows["customer_id"], observed=True, sort=False).transform("sum")
        rows = rows[by.cumcount().to_numpy() >= first.to_numpy() - 1]
        end = (pd.DatetimeIndex(rows["ended_at"]).as_unit("us").asi8 if "ended_at" in rows
               else np.full(len(rows), np.iinfo(np.int64).min))
        n = 0
        for i, r in enumerate(rows.itertuples(index=False)):
            c = _Contact(contact_id=str(r.contact_id), start=int(r.t_s),
                         end=None if end[i] == np.iinfo(np.int64).min else int(end[i]),
                         reason_code=str(r.reason_code), reason_family=str(r.reason_family),
                         agent=_text(getattr(r, "agent_id", None)), team=_text(getattr(r, "team", None)),
                         disposition=_text(getattr(r, "disposition", None)),
                         survey=_flag(getattr(r, "survey_resolved", None)),
                         signal=_flag(getattr(r, "resolution_signal", None)),
                         state=PENDING if r.pending else FROZEN)
            self._add(str(r.customer_id), c)
            n += r.pending
        return n

    def observe(self, c: dict) -> bool:
        """A contact the service learned (arrival or completion, fields as the scorer prepares them:
        started_at in epoch seconds; ended_at a datetime or ISO text; `resolved` the resolution
        signal). Whether it changed what labelling knows. Anonymous contacts are never labelled."""
        cust, cid = c.get("customer_id"), c.get("contact_id")
        if cust is None or cid is None:
            return False
        new = _Contact(contact_id=cid, start=int(c["started_at"]), end=_micros(c.get("ended_at")),
                       reason_code=c["reason_code"], reason_family=c["reason_family"], agent=c.get("agent_id"),
                       team=c.get("team"), disposition=_text(c.get("disposition")), survey=None,
                       signal=_flag(c.get("resolved")), state=PENDING)
        known = self.customers.get(cust, {}).get(cid)
        if known is None:
            self._add(cust, new)
        else:  # a completion of a contact scored earlier (or a re-post): what it adds
            changed = False
            for name in ("end", "agent", "team", "disposition", "signal"):
                value = getattr(new, name)
                if value is not None and getattr(known, name) != value:
                    setattr(known, name, value)
                    changed = True
            if not changed:
                return False
        # news about a customer with a matured contact whose label it can change (inside its window or
        # merge gap): label the customer again
        if self.latest_live.get(cust, -(2**62)) + self.cfg.merge_gap_s >= new.start:
            self.dirty[cust] = None  # labelled with the next maturing, before any count is read
        return True

    def _add(self, cust: str, c: _Contact) -> None:
        self.customers.setdefault(cust, {})[c.contact_id] = c
        if c.state == PENDING:
            heapq.heappush(self.heap, (c.start + self.window, cust, c.contact_id))

    # ---- maturing ----------------------------------------------------------------------------------
    def due_before(self, t: int) -> bool:
        """Whether a contact's window closes before `t` (something to mature)."""
        return bool(self.heap) and self.heap[0][0] < t

    def mature(self, now: int) -> int:
        """Label the contacts whose window closed before `now` (started_at + window < now); how many."""
        self.clock = max(self.clock, now)
        touched: dict[str, None] = {}
        n = 0
        while self.heap and self.heap[0][0] < now:
            due, cust, cid = heapq.heappop(self.heap)
            c = self.customers.get(cust, {}).get(cid)
            if c is None or c.state != PENDING:  # forgotten by prune
                continue
            c.state = LIVE
            self.latest_live[cust] = max(self.latest_live.get(cust, due), due)
            touched[cust] = None
            n += 1
        touched.update(self.dirty)
        self.dirty.clear()
        if touched:
            self._relabel(list(touched))
        return n

    def not_yet(self, t: int, keys: dict[str, str | None]) -> dict[str, tuple[int, int]] | None:
        """Per grouping, what the counts hold under these keys that a contact at `t` must not see: the
        labels matured at or after t (the clock only moves forward; a contact scored out of time order
        sees what had matured before it, as in batch). None when nothing."""
        return self.matured.after(t, keys)

    def _relabel(self, customers: list[str]) -> None:
        """Label these customers' known contacts (the labeller's rules) and move the counts of their
        matured ones to what it says now."""
        rows = sorted(((cust, c) for cust in customers for c in self.customers[cust].values()),
                      key=lambda r: (r[0], r[1].start, r[1].contact_id))  # the labeller's order
        if not any(c.state == LIVE for _, c in rows):
            return
        n = len(rows)
        t = np.fromiter((c.start * US for _, c in rows), np.int64, n)
        end = np.maximum(np.fromiter((-(2**63) if c.end is None else c.end for _, c in rows), np.int64, n), t)
        same_prev = np.fromiter((i > 0 and rows[i - 1][0] == cust for i, (cust, _) in enumerate(rows)), bool, n)
        attr = {"same_reason": "reason_code", "reason_family": "reason_family"}.get(self.cfg.match)
        codes: dict[str, int] = {}
        key = np.fromiter((codes.setdefault(getattr(c, attr), len(codes)) if attr else 0 for _, c in rows), np.int64, n)
        abandoned = np.fromiter((c.disposition is not None and c.disposition.lower() == "abandoned" for _, c in rows),
                                bool, n)

        def flag(name: str) -> tuple[np.ndarray, np.ndarray]:
            values = [getattr(c, name) for _, c in rows]
            return (np.fromiter((v is not None for v in values), bool, n),
                    np.fromiter((v is not False for v in values), bool, n))

        # Every LIVE contact's window closed before the clock: as of the clock, none of them is censored.
        labelled, repeated = label_sorted(t, end, same_prev, key, abandoned, flag("survey"), flag("signal"),
                                          self.cfg, self.clock * US)
        for i, (cust, c) in enumerate(rows):
            if c.state == LIVE:
                self._count(cust, c, (self._keys(cust, c), int(repeated[i]), int(labelled[i])))

    def _keys(self, cust: str, c: _Contact) -> tuple[tuple[str, str], ...]:
        team = c.team if c.team is not None else (self.team_of(c.agent) if c.agent is not None else None)
        keys = [("global", GLOBAL_KEY), ("customer", cust), ("reason_family", c.reason_family),
                ("reason_code", c.reason_code)]
        if team is not None:
            keys.append(("team", team))
        if c.agent is not None:
            keys += [("agent", c.agent), ("agent_family", f"{c.agent}|{c.reason_family}")]
        return tuple(keys)

    def _count(self, cust: str, c: _Contact, now: tuple[tuple[tuple[str, str], ...], int, int]) -> None:
        if c.counted == now:
            return
        self.matured.put((c.start + self.window, cust, c.contact_id), *now)
        for (keys, events, trials), sign in ((c.counted, -1), (now, 1)) if c.counted else ((now, 1),):
            for grouping, key in keys:
                slot = self.counts[grouping].setdefault(key, [0, 0])
                slot[0] += sign * events
                slot[1] += sign * trials
        c.counted = now

    # ---- memory ------------------------------------------------------------------------------------
    def prune(self, before: int) -> int:
        """Forget what no later news can change: matured contacts that started before `before` become
        final (their counts stay); of those only each customer's latest is kept (the contact a later
        one may merge into), and a customer whose latest contact ended a merge gap before `before` is
        dropped. How many contacts were forgotten."""
        return sum(self.prune_steps(before))

    def prune_steps(self, before: int) -> Iterator[int]:
        """`prune`, one customer a step (each yields how many contacts went; see OnlineState.prune_steps)."""
        gap = int(math.ceil(self.cfg.merge_gap_s))
        self.matured.prune(before)
        for cust in list(self.customers):
            mine = self.customers.get(cust)
            if mine is None:
                continue
            dropped = 0
            old = sorted((c for c in mine.values() if c.state != PENDING and c.start < before),
                         key=lambda c: (c.start, c.contact_id))
            for c in old:
                c.state = FROZEN
            for c in old[:-1]:
                del mine[c.contact_id]
                dropped += 1
            last = old[-1] if old else None
            if last is not None and len(mine) == 1 and max(last.start, (last.end or 0) // US) + gap < before:
                del self.customers[cust]
                self.latest_live.pop(cust, None)
                dropped += 1
            yield dropped

    def size(self) -> int:
        return sum(len(m) for m in self.customers.values())


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v)


def _flag(v: object) -> bool | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else bool(v)


def _micros(v: object) -> int | None:
    if v is None:
        return None
    ts = pd.Timestamp(v)
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value) // 1000  # Timestamp.value is in nanoseconds whatever the unit
