"""The service's live feature state: recent history per customer and agent, and matured label counts.

In (once, at start-up): the online snapshot (features/online.py), the customers and agents tables,
the feature spec and `FeaturizeConfig`. Out (per request): a float64 matrix of the spec's model
features, categoricals as their codes in the spec (what LightGBM saw in training; unknown = NaN), for
a list of raw contacts (dicts with customer_id, channel, reason_code, reason_family, agent_id, team,
started_at as epoch seconds, wait_s, and `extra_<name>` for the user's extra columns).
No rule is written here: the arriving contacts and the history rows that can reach them (the
customer's contacts, the agent's contacts of the same UTC day) go through features/rules.py, the
batch builder's rules, with the matured counts as their base: the snapshot's plus those of the labels
that matured since (features/live_labels.py: before a contact at t is scored, every known contact whose
window closed before t is labelled by the labeller). `observe` adds a contact to the history (the live
service learns what it scores), `observe_outcome` tells labelling what a contact was (a completion).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.builder import NO_PREVIOUS
from features.live_labels import LiveLabels
from features.rules import DAY, GLOBAL_KEY, GROUPINGS, MISSING_TIME, Inputs, agent_day_start, derived
from features.spec import PROFILE, WINDOWS_DAYS
from features.config import FeaturizeConfig
from labelling.config import LabelConfig

NAN = float("nan")


@dataclass
class _History:
    """One customer's contacts, in time order (parallel lists)."""
    times: list[int] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)

    def add(self, t: int, channel: str, family: str) -> None:
        i = bisect.bisect_right(self.times, t)
        self.times.insert(i, t)
        self.channels.insert(i, channel)
        self.families.insert(i, family)


def _seconds(values: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(values).as_unit("s").asi8


def _text(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].astype("str").to_numpy(dtype=object, na_value=None) if col in frame else \
        np.full(len(frame), None, dtype=object)


class _Codes(dict):
    """Strings -> consecutive integer codes, for one request (only equality matters to the rules)."""

    def __missing__(self, key: str) -> int:
        code = self[key] = len(self)
        return code


class OnlineState:
    def __init__(self, snapshot: dict[str, pd.DataFrame], customers: pd.DataFrame, agents: pd.DataFrame,
                 spec: dict, cfg: FeaturizeConfig) -> None:
        self.window_days = float(snapshot["meta"]["window_days"].iloc[0])
        self.strength = cfg.prior_strength
        self.names = list(spec["model_features"])
        by_name = {f["name"]: f for f in spec["features"]}
        self.labels = {n: list(by_name[n]["categories"]) for n in self.names if by_name[n]["kind"] == "categorical"}
        self.codes = {n: {v: float(i) for i, v in enumerate(cats)} for n, cats in self.labels.items()}
        hist = snapshot["history"]
        t = _seconds(hist["started_at"])
        cust, ch, fam, agent = (_text(hist, c) for c in ("customer_id", "channel", "reason_family", "agent_id"))
        # reason code -> family as the user's data maps them (the service never guesses from a catalogue)
        self.family_of = dict(zip(_text(hist, "reason_code"), fam, strict=True))
        self.customer_history: dict[str, _History] = {}
        self.agent_times: dict[str, list[int]] = {}
        for i in np.argsort(t, kind="stable").tolist():
            if cust[i] is not None:
                h = self.customer_history.get(cust[i])
                if h is None:
                    h = self.customer_history[cust[i]] = _History()
                h.times.append(int(t[i]))
                h.channels.append(ch[i])
                h.families.append(fam[i])
            if agent[i] is not None:
                self.agent_times.setdefault(agent[i], []).append(int(t[i]))
        prof = customers.set_index(customers["customer_id"].astype("str"))
        signup = _seconds(prof["signup_date"]) if "signup_date" in prof else np.full(len(prof), MISSING_TIME)
        cols = [_text(prof, c) for c in PROFILE]
        self.profile = {k: (tuple(col[i] for col in cols), int(signup[i])) for i, k in enumerate(prof.index)}
        ag = agents.set_index(agents["agent_id"].astype("str"))
        hired = _seconds(ag["hired_at"]) if "hired_at" in ag else np.full(len(ag), MISSING_TIME)
        team = _text(ag, "team")
        self.agents = {k: (team[i], int(hired[i])) for i, k in enumerate(ag.index)}
        self.counts = {g: dict(zip(snapshot[g].index.astype("str"),
                                   zip(snapshot[g]["events"].tolist(), snapshot[g]["trials"].tolist(), strict=True),
                                   strict=True))
                       for g in GROUPINGS}
        meta = snapshot["meta"]
        if "label" not in meta:
            raise ValueError("the online snapshot carries no label rules (meta.label; made before live labelling): "
                             "run `dvc repro featurize` to write it again")
        label = LabelConfig.model_validate_json(meta["label"].iloc[0])
        self.live = LiveLabels(label, lambda aid: self.agents.get(aid, (None, 0))[0])
        as_of = int(pd.Timestamp(meta["as_of"].iloc[0]).timestamp())
        self.live.load_snapshot(hist, as_of)

    def mature(self, now: int) -> int:
        """Label the contacts whose window closed before `now`; how many (features/live_labels.py)."""
        return self.live.mature(now)

    def observe_outcome(self, c: dict) -> bool:
        """A learned contact (arrival or completion) for labelling; whether labelling learned anything."""
        return self.live.observe(c)

    def observe(self, c: dict, customer: bool = True) -> None:
        """A contact the service scored or was told about enters the customer's and agent's history
        (`customer=False`: the agent's only, when a completion names the agent of a scored arrival)."""
        t = int(c["started_at"])
        if customer and c.get("customer_id") is not None:
            self.customer_history.setdefault(c["customer_id"], _History()).add(t, c["channel"], c["reason_family"])
        if c.get("agent_id") is not None:
            bisect.insort(self.agent_times.setdefault(c["agent_id"], []), t)

    def horizon(self, now: int) -> tuple[int, int]:
        """(customer, agent) times before which nothing is seen by a contact at or after `now`: the
        snapshot's look-back (longest count window or label window, plus a day) and the previous UTC day."""
        lookback = int(round((max(max(WINDOWS_DAYS), self.window_days) + 1) * DAY))
        return now - lookback, int(agent_day_start(now)) - int(DAY)

    def prune(self, now: int) -> int:
        """Forget history no contact at or after `now` can see (as the snapshot does): customers'
        contacts older than the look-back, each customer's latest one kept (days since the last
        contact, previous channel) when none is recent, and agents' contacts before the previous day.
        Keeps a long-running service's memory bounded by the look-back instead of growing with every
        contact; labelling forgets the same way (features/live_labels.py). How many went."""
        return sum(self.prune_steps(now))

    def prune_steps(self, now: int) -> Iterator[int]:
        """`prune`, one customer or agent a step (each step yields how many entries went), so that the
        service spreads a sweep over requests instead of stalling one (tens of ms per 100,000
        customers). Keys learned or changed between steps are handled as they are then: the horizon
        only moves forward, so what a step drops stays invisible to every later contact."""
        cust_before, agent_before = self.horizon(now)
        yield from self.live.prune_steps(cust_before)
        for cid in list(self.customer_history):
            h = self.customer_history.get(cid)
            k = min(bisect.bisect_left(h.times, cust_before), len(h.times) - 1) if h is not None else 0
            if k > 0:
                del h.times[:k], h.channels[:k], h.families[:k]
            yield max(k, 0)
        for aid in list(self.agent_times):
            times = self.agent_times.get(aid)
            k = bisect.bisect_left(times, agent_before) if times is not None else 0
            if times is not None and k == len(times):
                del self.agent_times[aid]
            elif k:
                del times[:k]
            yield k

    def _code(self, name: str, value: object) -> float:
        return self.codes[name].get(value, NAN) if value is not None else NAN

    def _base(self, grouping: str, key: str | None, hide: dict | None) -> tuple[float, float]:
        if key is None:
            return 0, 0
        e, t = self.counts[grouping].get(key, (0, 0))
        live = self.live.counts[grouping].get(key)
        if live is not None:
            e, t = e + live[0], t + live[1]
        if hide is not None and grouping in hide:
            h = hide[grouping]
            e, t = e - h[0], t - h[1]
        return e, t

    def features(self, contacts: list[dict], clock_limit: int | None = None) -> np.ndarray:
        """One row per contact, the spec's model features in order (see the module docstring). Labels
        mature first, up to the latest contact's start (no later than `clock_limit`: a start time far
        ahead of the clock must not mature everything); each contact sees only those that had matured
        before its own start."""
        latest = max((int(c["started_at"]) for c in contacts), default=0)
        self.live.mature(latest if clock_limit is None else min(latest, clock_limit))
        return self._features(contacts)

    def _features(self, contacts: list[dict]) -> np.ndarray:
        k = len(contacts)
        live = self.live
        cust_c, chan_c, fam_c, code_c, agent_c = _Codes(), _Codes(), _Codes(), _Codes(), _Codes()
        rows: list[tuple[int, int, int, int, int]] = []  # history rows: t, customer, channel, family, agent
        for cid in {c["customer_id"] for c in contacts if c.get("customer_id") is not None}:
            h = self.customer_history.get(cid)
            if h is not None:
                code = cust_c[cid]
                rows.extend((t, code, chan_c[ch], fam_c[fa], -1)
                            for t, ch, fa in zip(h.times, h.channels, h.families, strict=True))
        day_start: dict[str, int] = {}
        for c in contacts:
            if c.get("agent_id") is not None:
                s = int(agent_day_start(int(c["started_at"])))
                day_start[c["agent_id"]] = min(s, day_start.get(c["agent_id"], s))
        for aid, start in day_start.items():  # the agent's contacts of the day: all agent_contacts_today sees
            times = self.agent_times.get(aid, [])
            code = agent_c[aid]
            rows.extend((t, -1, -1, 0, code) for t in times[bisect.bisect_left(times, start):])
        m = len(rows) + k
        t = np.empty(m, dtype=np.int64)
        cust, chan, fam, reason, agent, team = (np.full(m, -1, dtype=np.int64) for _ in range(6))
        if rows:
            t[:len(rows)], cust[:len(rows)], chan[:len(rows)], fam[:len(rows)], agent[:len(rows)] = \
                np.array(rows, dtype=np.int64).T
        signup, hired = np.full(m, MISSING_TIME, dtype=np.int64), np.full(m, MISSING_TIME, dtype=np.int64)
        base = {g: (np.zeros(m), np.zeros(m)) for g in GROUPINGS}
        teams: list[str | None] = []
        for j, c in enumerate(contacts):
            i = len(rows) + j
            cid, aid, fa = c.get("customer_id"), c.get("agent_id"), c["reason_family"]
            t[i] = int(c["started_at"])
            chan[i], fam[i], reason[i] = chan_c[c["channel"]], fam_c[fa], code_c[c["reason_code"]]
            if cid is not None:
                cust[i] = cust_c[cid]
                signup[i] = self.profile.get(cid, (None, MISSING_TIME))[1]
            team_of_agent, hired_at = self.agents.get(aid, (None, MISSING_TIME)) if aid is not None else (None, 0)
            tm = c.get("team") or team_of_agent
            teams.append(tm)
            if aid is not None:
                agent[i], hired[i] = agent_c[aid], hired_at
            team[i] = 0 if tm is not None else -1  # only whether there is one matters: its counts are in base
            keys = {"global": GLOBAL_KEY, "customer": cid, "reason_family": fa, "reason_code": c["reason_code"],
                    "team": tm, "agent": aid, "agent_family": f"{aid}|{fa}" if aid is not None else None}
            hide = live.not_yet(int(t[i]), keys)
            for g, key in keys.items():
                base[g][0][i], base[g][1][i] = self._base(g, key, hide)
        x = Inputs(t=t, customer=cust, channel=chan, family=fam, reason=reason, agent=agent, team=team,
                   signup=signup, hired=hired, labelled=np.zeros(m, dtype=bool), repeated=np.zeros(m, dtype=bool),
                   base=base)
        d = {name: v[len(rows):] for name, v in derived(x, self.window_days, self.strength).items()}
        channel_of = {code: ch for ch, code in chan_c.items()}
        out = np.full((k, len(self.names)), NAN)
        for j, c in enumerate(contacts):
            cid = c.get("customer_id")
            nobody = (None,) * len(PROFILE)
            values = self.profile.get(cid, (nobody, 0))[0] if cid is not None else nobody
            prev = int(d["previous_channel"][j])
            cats = {**dict(zip(PROFILE, values, strict=True)), "reason_code": c["reason_code"],
                    "reason_family": c["reason_family"], "channel": c["channel"], "team": teams[j],
                    "agent_id": c.get("agent_id"), "previous_channel": channel_of[prev] if prev >= 0 else NO_PREVIOUS}
            for col, name in enumerate(self.names):
                if name in self.codes:
                    out[j, col] = self._code(name, cats[name] if name in cats else _as_text(c.get(name)))
                elif name in d:
                    out[j, col] = d[name][j]
                else:  # wait_s and the user's numeric / flag extra columns: the request's value
                    out[j, col] = _as_number(c.get(name))
        # The batch features are float32 (features/builder.py): round the same way, so that a value on
        # a tree's split threshold falls on the same side.
        return out.astype(np.float32).astype(np.float64)


def _as_number(v: object) -> float:
    if v is None or isinstance(v, str):
        return NAN
    f = float(v)  # bools: 1.0 / 0.0, as the batch builder reads flags
    return f if math.isfinite(f) else NAN


def _as_text(v: object) -> str | None:
    return None if v is None else str(v)
