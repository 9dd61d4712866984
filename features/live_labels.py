"""Live maturation of labels: the service's contacts get their label once their window has closed.

In: the label rules the snapshot was made with (`LabelConfig`), the snapshot's contacts whose window
was still open at its end (features/online.py keeps them in its history, with the columns labelling
reads), then every contact the service learns (arrivals and completions, in the order accepted) and
the time of each contact it scores. Out: per grouping of features/rules.py (global, customer, reason
family and code, team, agent, agent x family), the (events, trials) of the labels that matured since
the snapshot, which the live state adds to the snapshot's counts as `derived`'s `base`.
Rules, as in batch featurize: a contact counts for a contact at t once started_at + window < t; its
label is labelling/labeller.py's (`label_flags` on its customer's known contacts: merges, abandoned
contacts, the resolution signal with `label.source: column`, the survey; one implementation of each
rule). Maturing happens lazily, before a contact at t is scored or learned: a heap ordered by
maturity time, so the hot path pays only when a window closes. News about a customer after one of
its contacts matured (a late completion, a contact inside a closed window) labels that customer again
and corrects the counts by the difference: the counts depend on what is known and on the clock, not
on the order things came in, so replaying the journal gives the same counts and a contact counts once.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.rules import DAY, GLOBAL_KEY, GROUPINGS
from labelling.labeller import label_flags
from pipeline.config import LabelConfig

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


@dataclass
class LiveLabels:
    cfg: LabelConfig
    team_of: Callable[[str], str | None]  # an agent's team (agents table), for contacts that name none
    window: int = 0                      # seconds
    clock: int = -(2**62)                # latest time matured to (epoch seconds)
    customers: dict[str, dict[str, _Contact]] = field(default_factory=dict)
    heap: list[tuple[int, str, str]] = field(default_factory=list)  # (maturity time, customer, contact id)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=lambda: {g: {} for g in GROUPINGS})
    latest_live: dict[str, int] = field(default_factory=dict)  # customer -> latest maturity time counted here
    matured: list[tuple[int, str, str]] = field(default_factory=list)  # LIVE contacts by maturity time

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
                       team=c.get("team"), disposition=c.get("disposition"), survey=None, signal=c.get("resolved"),
                       state=PENDING)
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
            self._relabel([cust])
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
            bisect.insort(self.matured, (due, cust, cid))
            self.latest_live[cust] = max(self.latest_live.get(cust, due), due)
            touched[cust] = None
            n += 1
        if touched:
            self._relabel(list(touched))
        return n

    def not_yet(self, t: int) -> dict[tuple[str, str], list[int]] | None:
        """What the counts hold that a contact at `t` must not see: the labels matured since (the
        clock only moves forward; a contact scored out of time order sees what had matured before
        it, as in batch). None when nothing."""
        i = bisect.bisect_left(self.matured, (t, "", ""))
        if i == len(self.matured):
            return None
        out: dict[tuple[str, str], list[int]] = {}
        for _, cust, cid in self.matured[i:]:
            c = self.customers.get(cust, {}).get(cid)
            if c is None or c.counted is None:
                continue
            keys, events, trials = c.counted
            for gk in keys:
                slot = out.setdefault(gk, [0, 0])
                slot[0] += events
                slot[1] += trials
        return out

    def _relabel(self, customers: list[str]) -> None:
        """Label these customers' known contacts (the labeller) and move the counts of their matured
        ones to what it says now."""
        rows = [(cust, c) for cust in customers for c in self.customers[cust].values()]
        if not any(c.state == LIVE for _, c in rows):
            return
        # Every LIVE contact's window closed before the clock: as of the clock, none of them is censored.
        cfg = self.cfg.model_copy(update={"as_of": pd.Timestamp(self.clock, unit="s", tz="UTC").isoformat()})
        frame = pd.DataFrame({
            "contact_id": [c.contact_id for _, c in rows],
            "customer_id": [cust for cust, _ in rows],
            "started_at": pd.to_datetime(np.array([c.start for _, c in rows], dtype=np.int64), unit="s", utc=True),
            "ended_at": pd.to_datetime(pd.array([c.end for _, c in rows], dtype="Int64"), unit="us", utc=True),
            "reason_code": [c.reason_code for _, c in rows],
            "reason_family": [c.reason_family for _, c in rows],
            "disposition": pd.array([c.disposition for _, c in rows], dtype="str"),
            "survey_resolved": pd.array([c.survey for _, c in rows], dtype="boolean"),
            "resolution_signal": pd.array([c.signal for _, c in rows], dtype="boolean"),
        })
        labelled, repeated = label_flags(frame, cfg)
        for i, (cust, c) in enumerate(rows):
            if c.state == LIVE:
                self._count(c, (self._keys(cust, c), int(repeated[i]), int(labelled[i])))

    def _keys(self, cust: str, c: _Contact) -> tuple[tuple[str, str], ...]:
        team = c.team if c.team is not None else (self.team_of(c.agent) if c.agent is not None else None)
        keys = [("global", GLOBAL_KEY), ("customer", cust), ("reason_family", c.reason_family),
                ("reason_code", c.reason_code)]
        if team is not None:
            keys.append(("team", team))
        if c.agent is not None:
            keys += [("agent", c.agent), ("agent_family", f"{c.agent}|{c.reason_family}")]
        return tuple(keys)

    def _count(self, c: _Contact, now: tuple[tuple[tuple[str, str], ...], int, int]) -> None:
        if c.counted == now:
            return
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
        gap = int(math.ceil(self.cfg.merge_gap_s))
        dropped = 0
        del self.matured[:bisect.bisect_left(self.matured, (before, "", ""))]
        for cust in list(self.customers):
            mine = self.customers[cust]
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
        return dropped

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
