"""The built-in synthetic contact centre: a year of contacts whose non-resolution has a known cause.

In: a `SyntheticConfig` (size, seed, messiness). Out: `SyntheticData` holding
- `contacts`: the raw export, messy the way real exports are (strings for timestamps, mixed UTC
  offsets, anonymous customers, abandoned contacts without agent, duplicated rows, dropped calls
  called back within seconds, a few broken rows, shuffled);
- `customers` and `agents` side tables;
- `truth`: one row per generated contact with its true probability of not being resolved, whether
  the customer came back about the same issue and when, and the issue it belongs to;
- `truth_meta`: the planted drivers with their sizes (logit effects) and the return-delay law.

Everything is vectorised over "attempts": attempt 1 of every issue, then attempt 2 of the issues
still open, and so on, so 10 million contacts generate in well under a minute. A centre larger than
synthetic.part_contacts is generated in parts, disjoint blocks of customers one after the other
(synthetic/parts.py), handed over table by table as they are made (`generate_into`); the agents and
teams are the centre's, shared by the parts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import expit
from scipy.stats import norm
from tqdm import tqdm

from contract.vocabulary import CHANNELS
from synthetic.reasons import REASONS
from synthetic.config import SyntheticConfig
from synthetic.ids import CONTACT_DIGITS, CONTACT_PREFIX, ids as _ids
from synthetic.parts import Part, split_parts

log = logging.getLogger(__name__)

DAY = 86_400
MAX_ATTEMPTS = 8
VIRTUAL_AGENT = "VA-0001"  # the self-service bot, as exports list it
# Measured on the default configuration: contacts generated per issue (attempts incl. abandoned).
CONTACTS_PER_ISSUE = 1.36

SEGMENTS = ("consumer", "small_business", "enterprise")
TIERS = ("bronze", "silver", "gold", "platinum")
PLANS = ("basic", "standard", "premium", "unlimited")
REGIONS = ("north", "south", "east", "west", "central")
LANGUAGES = ("en", "es", "fr")
FAMILIES = tuple(REASONS)
CODES = tuple(code for fam in FAMILIES for code, _, _ in REASONS[fam])
CODE_FAMILY = np.array([FAMILIES.index(fam) for fam in FAMILIES for _ in REASONS[fam]])
CODE_DIFFICULTY = np.array([d for fam in FAMILIES for _, _, d in REASONS[fam]])
FAMILY_FIRST_CODE = np.searchsorted(CODE_FAMILY, np.arange(len(FAMILIES)))  # each family's codes are contiguous
FAMILY_CODES = np.bincount(CODE_FAMILY)

CHANNEL_MIX = np.array([0.38, 0.25, 0.17, 0.08, 0.12])
FAMILY_MIX = np.array([0.18, 0.12, 0.20, 0.12, 0.12, 0.10, 0.07, 0.09])
WEEKDAY_FACTOR = np.array([1.25, 1.10, 1.05, 1.00, 0.95, 0.55, 0.40])  # Monday first
# Arrivals by hour of day (UTC, the centre's own clock), one profile per channel.
_OFFICE = np.array([1, 1, 1, 1, 1, 2, 4, 10, 22, 30, 32, 30, 26, 27, 30, 29, 26, 22, 16, 12, 9, 6, 3, 2])
HOUR_PROFILE = {
    "phone": _OFFICE,
    "chat": _OFFICE * 0.6 + np.array([4] * 7 + [8] * 12 + [14] * 5) * 0.9,
    "email": np.full(24, 10.0) + _OFFICE * 0.3,
    "social": np.array([3] * 7 + [6] * 10 + [12] * 7, dtype=float),
    "self_service": np.full(24, 8.0) + _OFFICE * 0.5,
}
SITE_OFFSETS_MIN = np.array([-300, 60, 330])  # other sites' clocks: UTC-05:00, +01:00, +05:30

# Planted logit effects on P(contact not resolved). Named as the features a model would see.
INTERCEPT = -1.85
CHANNEL_EFFECT = np.array([0.0, 0.15, 0.45, 0.35, 0.90])
SEGMENT_EFFECT = np.array([0.0, -0.15, -0.50])
TIER_EFFECT = np.array([0.10, 0.0, -0.10, -0.25])
LANGUAGE_EFFECT = np.array([0.0, 0.30, 0.30])
NEW_CUSTOMER_EFFECT = 0.40      # tenure < 90 days
REPEAT_ATTEMPT_EFFECT = 0.25    # per earlier handled attempt of the same issue
WAIT_EFFECT = 0.20              # per log(1 + wait minutes)
TRANSFER_EFFECT = 0.35          # per transfer
NEW_AGENT_EFFECT = 0.90         # times exp(-agent tenure days / 45)
AFTER_HOURS_EFFECT = 0.35       # phone/chat contacts outside 08:00-20:00
SKILL_DIFFICULTY_INTERACTION = 0.80
AGENT_SKILL_SD = 0.30
NEW_HIRE_SHARE = 0.30  # agents hired during the year (contact centres lose a third of their staff a year)
# Routing: blended teams take their secondary channel at this weight; a quarter of the teams are
# specialists (this much more skilled) who get hard cases (reason difficulty >= HARD_DIFFICULTY) at 8
# times and easy ones (< EASY_DIFFICULTY) at a quarter of an ordinary team's weight, key customers at 4 times.
BLEND_SHARE = 0.6
SPECIALIST_TEAM_SHARE = 0.25
SPECIALIST_SKILL = 0.30
SPECIALIST_ROUTING = np.array([0.25, 1.0, 8.0])  # easy, ordinary, hard
HARD_DIFFICULTY = 0.45
EASY_DIFFICULTY = -0.2
KEY_CUSTOMER_ROUTING = 4.0  # enterprise or platinum customers: to specialist teams, this many times more
# Within a team, an agent's share of easy / ordinary / hard cases goes with exp(this * hard_lean),
# hard_lean ~ N(0, 1) per agent, independent of skill.
CASE_LEAN = np.array([-2.0, 0.0, 2.0])
CUSTOMER_LATENT_SD = 0.20
GIVE_UP = np.array([0.20, 0.14, 0.08])  # unresolved customers who never come back, by segment
RETURN_DELAY_MEDIAN_H = 30.0
RETURN_DELAY_SIGMA = 1.0

# Each planted driver with the model features that carry it. `observed`: "arrival" where a feature
# known at arrival measures it; "after_contact" (transfers, and the disposition "transferred" that
# says the same: known once the contact ends, so only in the after-contact diagnostic model);
# "hidden" (a customer random effect no column holds, which matured history can only partly reveal).
PLANTED_DRIVERS = [
    {"driver": "agent_skill_x_reason_difficulty", "observed": "arrival",
     "features": ["agent_family_repeat_rate", "agent_repeat_rate", "team"],
     "effect": f"-skill * (1 + {SKILL_DIFFICULTY_INTERACTION} * max(difficulty, 0)); skill sd ~{AGENT_SKILL_SD}"
               f" + team, specialist teams +{SPECIALIST_SKILL}", "size": 0.50},
    {"driver": "reason_difficulty", "observed": "arrival", "features": ["reason_code", "reason_difficulty", "reason_family"],
     "effect": "difficulty logit shift, range -0.9..1.1", "size": 0.55},
    {"driver": "channel", "observed": "arrival", "features": ["channel"],
     "effect": dict(zip(CHANNELS, CHANNEL_EFFECT.tolist())), "size": 0.90},
    {"driver": "customer_segment", "observed": "arrival", "features": ["segment"],
     "effect": dict(zip(SEGMENTS, SEGMENT_EFFECT.tolist())), "size": 0.50},
    {"driver": "customer_tier", "observed": "arrival", "features": ["tier"],
     "effect": dict(zip(TIERS, TIER_EFFECT.tolist())), "size": 0.35},
    {"driver": "customer_language", "observed": "arrival", "features": ["language"],
     "effect": dict(zip(LANGUAGES, LANGUAGE_EFFECT.tolist())), "size": 0.30},
    {"driver": "new_customer", "observed": "arrival", "features": ["customer_tenure_days"],
     "effect": f"{NEW_CUSTOMER_EFFECT} if tenure < 90 days", "size": NEW_CUSTOMER_EFFECT},
    {"driver": "customer_latent_complexity", "observed": "hidden",
     "features": ["customer_repeat_rate", "customer_past_repeats", "customer_past_labelled"],
     "effect": f"customer random effect, sd {CUSTOMER_LATENT_SD}", "size": CUSTOMER_LATENT_SD},
    {"driver": "repeat_attempt", "observed": "arrival", "features": ["same_issue_contacts_window"],
     "effect": f"{REPEAT_ATTEMPT_EFFECT} per earlier handled contact of the issue", "size": REPEAT_ATTEMPT_EFFECT},
    {"driver": "queue_wait", "observed": "arrival", "features": ["wait_s"],
     "effect": f"{WAIT_EFFECT} per log(1+wait minutes)", "size": WAIT_EFFECT},
    {"driver": "transfers", "observed": "after_contact", "features": ["transfers", "disposition"],
     "effect": f"{TRANSFER_EFFECT} per transfer", "size": TRANSFER_EFFECT},
    {"driver": "new_agent", "observed": "arrival", "features": ["agent_tenure_days"],
     "effect": f"{NEW_AGENT_EFFECT} * exp(-tenure/45)", "size": NEW_AGENT_EFFECT},
    {"driver": "after_hours", "observed": "arrival", "features": ["hour"],
     "effect": f"{AFTER_HOURS_EFFECT} for phone/chat outside 08:00-20:00", "size": AFTER_HOURS_EFFECT},
]


@dataclass(frozen=True)
class SyntheticData:
    contacts: pd.DataFrame
    customers: pd.DataFrame
    agents: pd.DataFrame
    truth: pd.DataFrame
    agent_truth: pd.DataFrame
    truth_meta: dict


def _customers(cfg: SyntheticConfig, rng: np.random.Generator, start_s: int) -> dict[str, np.ndarray]:
    n = cfg.n_customers
    seg = rng.choice(3, n, p=[0.80, 0.15, 0.05])
    return {
        "segment": seg,
        "tier": rng.choice(4, n, p=[0.45, 0.30, 0.18, 0.07]),
        "plan": rng.choice(4, n, p=[0.35, 0.35, 0.20, 0.10]),
        "region": rng.choice(5, n),
        "language": rng.choice(3, n, p=[0.80, 0.12, 0.08]),
        # Signup dates reach into the simulated year so that some customers are brand new.
        "signup_s": (start_s + rng.uniform(-6 * 365, 0.9 * cfg.days, n) * DAY).astype(np.int64),
        "latent": rng.normal(0, CUSTOMER_LATENT_SD, n),
        "activity": rng.gamma(0.8, 1.0, n) * np.array([1.0, 1.3, 1.8])[seg],
    }


def _agents(cfg: SyntheticConfig, rng: np.random.Generator, start_s: int) -> dict[str, np.ndarray]:
    # Teams are blended, as most centres run them: a primary human channel (teams spread in proportion
    # to channel volume) and a secondary one they also take, so a team does not stand for a channel.
    # Each has a focus family; some are specialist teams of more skilled agents to which hard reasons
    # and key customers are routed, so agents get different case mixes (what case-mix adjustment is for).
    human = np.array([0.45, 0.25, 0.20, 0.10])
    n_teams = max(cfg.n_teams, 4)
    primary = np.sort(np.r_[np.arange(4), rng.choice(4, n_teams - 4, p=human)])
    secondary = (primary + rng.integers(1, 4, n_teams)) % 4
    serves = np.zeros((n_teams, 4))
    serves[np.arange(n_teams), primary] = 1.0
    serves[np.arange(n_teams), secondary] = BLEND_SHARE
    specialist = np.zeros(n_teams, dtype=bool)
    specialist[rng.choice(n_teams, max(1, int(round(SPECIALIST_TEAM_SHARE * n_teams))), replace=False)] = True
    team_focus = rng.choice(len(FAMILIES), n_teams)
    team_effect = rng.normal(0, 0.15, n_teams) + SPECIALIST_SKILL * specialist
    n = max(cfg.n_agents, n_teams)
    # Every team gets at least one agent; the rest are spread by the volume of the channels it serves.
    w = (serves / serves.sum(axis=0) * human).sum(axis=1)
    agent_team = np.sort(np.r_[np.arange(n_teams), rng.choice(n_teams, n - n_teams, p=w / w.sum())])
    new_hire = rng.random(n) < NEW_HIRE_SHARE
    hired = np.where(new_hire, rng.uniform(0, 0.95 * cfg.days, n), -30 - rng.exponential(700, n))
    hired[np.r_[0, np.flatnonzero(np.diff(agent_team)) + 1]] = -400.0  # each team has a veteran
    base = rng.normal(0, AGENT_SKILL_SD, n) + team_effect[agent_team]
    fam_dev = rng.normal(0, 0.30, (n, len(FAMILIES)))
    # Which queues an agent is staffed on (escalations, key accounts, the easy front line) follows
    # rota, licences and languages more than measured skill: a lean toward hard cases, independent of skill.
    hard_lean = rng.normal(0, 1, n)
    return {
        "team": agent_team, "team_channel": primary, "team_second_channel": secondary, "serves": serves,
        "team_focus": team_focus,
        "team_specialist": specialist,
        "hired_s": (start_s + hired * DAY).astype(np.int64), "skill_base": base, "skill_family": fam_dev,
        "hard_lean": hard_lean,
    }


def _sample_hours(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    hours = np.empty(len(channel), dtype=np.int64)
    for c, name in enumerate(CHANNELS):
        idx = np.flatnonzero(channel == c)
        p = HOUR_PROFILE[name] / HOUR_PROFILE[name].sum()
        hours[idx] = rng.choice(24, len(idx), p=p)
    return hours


def _assign_agents(rng, ag, channel, family, case, key_customer, t) -> np.ndarray:
    """Route each handled contact to a team serving its channel (teams prefer their focus family;
    specialist teams get the hard cases and few easy ones), then to an agent of that team already
    hired at the time of the contact, hard cases leaning to the agents staffed on hard queues and easy
    ones away from them. `case`: 0 easy, 1 ordinary, 2 hard."""
    agent = np.full(len(channel), -1, dtype=np.int64)
    n_teams = len(ag["team_channel"])
    team_first = np.searchsorted(ag["team"], np.arange(n_teams))
    # Agents are sorted by team: per case, cumulative agent weights and each team's span of them.
    cum = np.cumsum(np.exp(np.outer(CASE_LEAN, ag["hard_lean"])), axis=1)
    lo = np.where(team_first > 0, cum[:, np.maximum(team_first - 1, 0)], 0.0)
    span = cum[:, np.r_[team_first[1:], len(ag["team"])] - 1] - lo
    key = ((channel * len(FAMILIES) + family) * 3 + case) * 2 + key_customer
    order = np.argsort(key, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(key[order])) + 1, len(key)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = order[a:b]
        c, f, k, vip = channel[idx[0]], family[idx[0]], case[idx[0]], key_customer[idx[0]]
        w = (ag["serves"][:, c] * (1.0 + 3.0 * (ag["team_focus"] == f))
             * np.where(ag["team_specialist"], SPECIALIST_ROUTING[k] * (KEY_CUSTOMER_ROUTING if vip else 1.0), 1.0))
        team = rng.choice(n_teams, len(idx), p=w / w.sum())

        def draw(team):
            u = lo[k, team] + rng.random(len(team)) * span[k, team]
            return np.minimum(np.searchsorted(cum[k], u, side="right"), len(ag["team"]) - 1)

        pick = draw(team)
        for _ in range(20):  # redraw agents not hired yet
            bad = ag["hired_s"][pick] > t[idx]
            if not bad.any():
                break
            pick[bad] = draw(team[bad])
        bad = ag["hired_s"][pick] > t[idx]
        pick[bad] = team_first[team[bad]]  # the team's veteran
        agent[idx] = pick
    return agent


def generate(cfg: SyntheticConfig) -> SyntheticData:
    """Generate the synthetic contact centre described in the module docstring, as frames in memory (a
    centre of several parts with each table's parts concatenated)."""
    tables: dict[str, list] = {}
    meta = generate_into(cfg, lambda name, table: tables.setdefault(name.split("-")[0], []).append(table))
    contacts = tables["contacts"][0] if len(tables["contacts"]) == 1 else pa.concat_tables(tables["contacts"])
    whole = {k: v[0] if len(v) == 1 else pd.concat(v, ignore_index=True) for k, v in tables.items() if k != "contacts"}
    return SyntheticData(contacts=contacts.to_pandas(), customers=whole["customers"], agents=whole["agents"],
                         truth=whole["truth"], agent_truth=whole["agent_truth"], truth_meta=meta)


@dataclass
class Numbering:
    """Where the next part's contact and issue numbers start (after those of the parts before it), and the
    counts so far."""

    contacts: int = 0  # contact ids used (contacts and call-back legs)
    issues: int = 0
    generated: int = 0  # contacts generated (the truth's rows)
    export_rows: int = 0


def _streams(cfg: SyntheticConfig, parts: list[Part], start_s: int
             ) -> tuple[dict, Iterator[tuple[np.random.Generator, dict]]]:
    """The agents and, part by part (lazily), each part's random stream and customers. One part: the
    centre's one stream, drawing the customers, then the agents (as the centre always did); several: the
    agents from child 0 of SeedSequence(seed).spawn, part k's customers and all the rest from child k + 1."""
    if len(parts) == 1:
        rng = np.random.default_rng(cfg.seed)
        cu = _customers(cfg, rng, start_s)
        return _agents(cfg, rng, start_s), iter([(rng, cu)])
    children = np.random.SeedSequence(cfg.seed).spawn(len(parts) + 1)
    ag = _agents(cfg, np.random.default_rng(children[0]), start_s)
    rngs = (np.random.default_rng(child) for child in children[1:])
    return ag, ((rng, _customers(_part_config(cfg, p), rng, start_s)) for rng, p in zip(rngs, parts))


def _part_config(cfg: SyntheticConfig, part: Part) -> SyntheticConfig:
    return cfg if part.parts == 1 else cfg.model_copy(update={"n_contacts": part.n_contacts,
                                                               "n_customers": part.n_customers})


def generate_into(cfg: SyntheticConfig, sink: Callable[[str, pd.DataFrame | pa.Table], None]) -> dict:
    """Generate the centre part by part (`split_parts`: synthetic.part_contacts), handing each table to
    `sink(name, table)` as soon as it is complete (each part's truth first, then its "contacts", the
    export, as an Arrow table, then its "customers"; after the parts "agents" and "agent_truth"; a part's
    tables named "truth-00000", ... when there are several: synthetic/parts.py) and keeping none of
    them: a sink that writes each one lets the generator hold at most one part's contacts' columns and one
    table. Returns the truth's meta (truth.json) of the whole centre. Each part draws from one random
    stream in a fixed order (customers, [agents,] issues, their attempts, then the export's messiness):
    the same seed and part size give the same centre."""
    start_s = int(datetime(cfg.start.year, cfg.start.month, cfg.start.day, tzinfo=timezone.utc).timestamp())
    end_s = start_s + cfg.days * DAY
    parts = split_parts(cfg)
    ag, streams = _streams(cfg, parts, start_s)
    moments = {d["driver"]: np.zeros(3) for d in PLANTED_DRIVERS}
    at = Numbering()
    for part, (rng, cu) in zip(parts, streams):
        pcfg = _part_config(cfg, part)
        cust, first = _issues(pcfg, rng, cu, start_s)
        n_issues = len(cust)
        g = _attempts(pcfg, rng, cu, ag, cust, first, start_s, end_s, moments)
        del cust, first
        _assemble(pcfg, rng, g, cu, ag, part, at, sink)
        at.issues += n_issues
        del g, cu, rng
        if part.parts > 1:
            log.info("synthetic part %d of %d written (%d contacts so far)", part.index + 1, part.parts, at.generated)
    agents, agent_truth = _agent_tables(ag, start_s)
    sink("agents", agents)
    sink("agent_truth", agent_truth)
    sd = {k: float(np.sqrt(max(m[2] / m[0] - (m[1] / m[0]) ** 2, 0.0))) if m[0] else 0.0 for k, m in moments.items()}
    return _truth_meta(cfg, start_s, end_s, at.generated, at.export_rows, sd)


def _issues(cfg: SyntheticConfig, rng: np.random.Generator, cu: dict[str, np.ndarray],
            start_s: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Issues: who (the customer of each issue), and their first attempt: when (weekday and yearly
    seasonality), which reason, first channel."""
    n_issues = max(1, int(round(cfg.n_contacts / CONTACTS_PER_ISSUE)))
    cust = rng.choice(cfg.n_customers, n_issues, p=cu["activity"] / cu["activity"].sum())
    days = np.arange(cfg.days)
    weekday0 = cfg.start.weekday()
    day_w = WEEKDAY_FACTOR[(days + weekday0) % 7] * (1 + 0.15 * np.cos(2 * np.pi * (days - 15) / 365))
    day = rng.choice(cfg.days, n_issues, p=day_w / day_w.sum())
    channel = rng.choice(5, n_issues, p=CHANNEL_MIX)
    t = start_s + day * DAY + _sample_hours(rng, channel) * 3600 + rng.integers(0, 3600, n_issues)
    # Nobody contacts before signing up: such issues go to another customer (redrawn).
    p_cust = cu["activity"] / cu["activity"].sum()
    for _ in range(30):
        early = np.flatnonzero(cu["signup_s"][cust] > t)
        if not len(early):
            break
        cust[early] = rng.choice(cfg.n_customers, len(early), p=p_cust)
    early = cu["signup_s"][cust] > t
    cust[early] = int(np.argmin(cu["signup_s"]))
    family = rng.choice(len(FAMILIES), n_issues, p=FAMILY_MIX)
    code = FAMILY_FIRST_CODE[family] + (rng.random(n_issues) * FAMILY_CODES[family]).astype(np.int64)
    first = {"issue": np.arange(n_issues), "t": t, "channel": channel, "code": code,
             "attempt": np.ones(n_issues, dtype=np.int64), "handled_before": np.zeros(n_issues, dtype=np.int64)}
    return cust, first


def _attempts(cfg: SyntheticConfig, rng: np.random.Generator, cu: dict, ag: dict, cust: np.ndarray,
              first: dict[str, np.ndarray], start_s: int, end_s: int, moments: dict[str, np.ndarray]
              ) -> dict[str, np.ndarray]:
    """Every contact, attempt by attempt: attempt 1 of every issue, then attempt 2 of the issues still
    open, and so on. Returns the contacts' columns; adds to `moments` those of each planted driver's part
    of the logit over handled contacts (count, sum, sum of squares: its spread over all parts)."""
    at = first
    rows: list[dict[str, np.ndarray]] = []
    n_issues = len(at["issue"])
    progress = tqdm(total=n_issues, desc="synthetic issues", unit="issue", unit_scale=True, leave=False,
                    disable=n_issues < 200_000)
    while len(at["issue"]):
        keep = at["t"] < end_s  # attempts after the end of the export never reach the data
        progress.update(int((~keep).sum()))
        at = {k: at[k][keep] for k in ("issue", "t", "channel", "code", "attempt", "handled_before")}
        n = len(at["issue"])
        if not n:
            break
        s = _handle(cfg, rng, cu, ag, cust[at["issue"]], at, start_s)
        row = _outcome(cfg, rng, s, *_logit(cu, s, at, moments), at)
        rows.append(row)
        # Next attempts of the issues that go on.
        progress.update(int(n - row["returns"].sum()))
        at = _next_attempts(rng, s, at, row)
        del s  # (not held while the next, smaller round is drawn: the first round is the largest)

    progress.close()
    # Column by column, each round's piece let go as soon as it is copied: one column twice, never all.
    g = {k: np.concatenate([r.pop(k) for r in rows]) for k in list(rows[0]) if k != "returns"}
    del rows
    return g


def _handle(cfg: SyntheticConfig, rng: np.random.Generator, cu: dict, ag: dict, c: np.ndarray,
            at: dict[str, np.ndarray], start_s: int) -> dict[str, np.ndarray]:
    """How each attempt is handled: its queue wait (or abandonment), the agent it is routed to, the
    transfers and the handle time."""
    t, channel, code = at["t"], at["channel"], at["code"]
    n = len(t)
    fam = CODE_FAMILY[code]
    diff = CODE_DIFFICULTY[code]
    hour = (t % DAY) // 3600
    weekday0 = cfg.start.weekday()
    peak = 1.0 + 0.8 * np.isin(hour, [9, 10, 11, 14, 15]) + 0.6 * (((t - start_s) // DAY + weekday0) % 7 == 0)
    queued = channel <= 1  # phone and chat queue in real time
    wait = np.where(queued, rng.exponential(np.where(channel == 0, 80.0, 45.0) * peak), np.nan)
    abandoned = np.zeros(n, dtype=bool)
    if cfg.messiness.abandonment:
        patience = rng.exponential(np.where(channel == 0, 900.0, 600.0))
        abandoned = queued & (wait > patience)
        wait = np.where(abandoned, patience, wait)
    handled = ~abandoned
    agent = np.full(n, -1, dtype=np.int64)
    human = handled & (channel <= 3)
    seg = cu["segment"][c]
    key_customer = (seg == 2) | (cu["tier"][c] == 3)
    case = np.where(diff >= HARD_DIFFICULTY, 2, np.where(diff < EASY_DIFFICULTY, 0, 1))
    agent[human] = _assign_agents(rng, ag, channel[human], fam[human], case[human], key_customer[human],
                                  t[human])
    a = np.maximum(agent, 0)
    skill = ag["skill_base"][a] + ag["skill_family"][a, fam]
    agent_tenure_d = (t - ag["hired_s"][a]) / DAY
    transfers = np.where(human & queued, np.minimum(
        rng.poisson(0.12 * np.exp(0.8 * diff - 0.8 * skill)), 3), 0)
    handle = np.where(handled, rng.lognormal(np.log(np.array([360, 600, 240, 200, 120.0])[channel]), 0.5)
                      * np.exp(0.3 * diff) * (1 + 0.3 * transfers), 0.0).round()
    after_hours = queued & ((hour < 8) | (hour >= 20))
    return {"customer": c, "family": fam, "difficulty": diff, "queued": queued, "wait": wait,
            "abandoned": abandoned, "handled": handled, "human": human, "segment": seg, "agent": agent,
            "skill": skill, "agent_tenure_d": agent_tenure_d, "transfers": transfers, "handle": handle,
            "after_hours": after_hours}


def _planted_parts(cu: dict, s: dict[str, np.ndarray], at: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray]]:
    """The planted logit, one part per driver (named as in PLANTED_DRIVERS), one at a time: the caller
    sums them without holding all thirteen (`_logit`)."""
    c, t, human, diff = s["customer"], at["t"], s["human"], s["difficulty"]
    yield ("agent_skill_x_reason_difficulty",
           -np.where(human, s["skill"] * (1 + SKILL_DIFFICULTY_INTERACTION * np.maximum(diff, 0)), 0.0))
    yield "reason_difficulty", diff
    yield "channel", CHANNEL_EFFECT[at["channel"]]
    yield "customer_segment", SEGMENT_EFFECT[s["segment"]]
    yield "customer_tier", TIER_EFFECT[cu["tier"][c]]
    yield "customer_language", LANGUAGE_EFFECT[cu["language"][c]]
    yield "new_customer", NEW_CUSTOMER_EFFECT * ((t - cu["signup_s"][c]) < 90 * DAY)
    yield "customer_latent_complexity", cu["latent"][c]
    yield "repeat_attempt", REPEAT_ATTEMPT_EFFECT * at["handled_before"]
    yield "queue_wait", WAIT_EFFECT * np.log1p(np.nan_to_num(s["wait"]) / 60)
    yield "transfers", TRANSFER_EFFECT * s["transfers"]
    yield "new_agent", np.where(human, NEW_AGENT_EFFECT * np.exp(-np.maximum(s["agent_tenure_d"], 0) / 45), 0.0)
    yield "after_hours", AFTER_HOURS_EFFECT * s["after_hours"]


AGENT_PARTS = ("agent_skill_x_reason_difficulty", "new_agent", "transfers")  # what another agent would change


def _logit(cu: dict, s: dict[str, np.ndarray], at: dict[str, np.ndarray],
           moments: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The planted logit (the intercept plus the parts, added in their order) and the logit without the
    agent's and the transfers' parts (synthetic/counterfactual.py puts another agent's back, transfers
    drawn from that agent's law); each part's running moments over handled contacts (its spread) updated."""
    total, agent = 0, {}
    for name, v in _planted_parts(cu, s, at):
        handled = v[s["handled"]]
        moments[name] += (len(handled), float(handled.sum()), float(np.square(handled).sum()))
        total = total + v
        if name in AGENT_PARTS:
            agent[name] = v
    logit = INTERCEPT + total
    return logit, logit - agent["agent_skill_x_reason_difficulty"] - agent["new_agent"] - agent["transfers"]


def _outcome(cfg: SyntheticConfig, rng: np.random.Generator, s: dict[str, np.ndarray], logit: np.ndarray,
             logit_without_agent: np.ndarray, at: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Whether each attempt is resolved, whether a phone call drops, and whether and when the customer
    comes back about the issue: the attempt's row of the generated contacts (`returns`: it goes on)."""
    t, handled, human = at["t"], s["handled"], s["human"]
    n = len(t)
    p_unres = np.where(handled, expit(logit), np.nan)
    resolved = handled & (rng.random(n) >= np.nan_to_num(p_unres))
    busy = np.round(np.nan_to_num(s["wait"])) + s["handle"]
    # Dropped calls: a phone conversation cut off and called back within seconds.
    dropped = human & (at["channel"] == 0) & (rng.random(n) < cfg.messiness.dropped_calls)
    drop_gap = np.where(dropped, rng.uniform(10, 90, n).round(), 0.0)
    busy = busy + drop_gap
    # Does the customer come back about this issue, and when?
    last = at["attempt"] >= MAX_ATTEMPTS
    p_return = np.where(handled & ~last, 1 - GIVE_UP[s["segment"]], np.where(~handled & ~last, 0.8, 0.0))
    returns = ~resolved & (rng.random(n) < p_return)
    delay_h = np.where(handled, rng.lognormal(np.log(RETURN_DELAY_MEDIAN_H), RETURN_DELAY_SIGMA, n),
                       rng.lognormal(np.log(0.75), 1.2, n))
    next_t = np.where(returns, t + busy + np.round(delay_h * 3600), -1).astype(np.int64)
    return {
        "issue": at["issue"], "attempt": at["attempt"], "t": t, "customer": s["customer"], "channel": at["channel"],
        "code": at["code"], "agent": s["agent"], "wait": s["wait"], "handle": s["handle"],
        "transfers": s["transfers"], "abandoned": s["abandoned"], "dropped": dropped, "drop_gap": drop_gap,
        "p_unres": p_unres, "resolved": resolved, "p_return": np.where(handled, p_return, np.nan), "busy": busy,
        "next_t": next_t, "logit_without_agent": np.where(human, logit_without_agent, np.nan),
        "queued": s["queued"], "returns": returns,
    }


def _next_attempts(rng: np.random.Generator, s: dict[str, np.ndarray], at: dict[str, np.ndarray],
                   row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The next attempt of each issue that goes on: a channel switch (always off self-service; an
    abandoned contact mostly comes back on its channel), sometimes another reason of the same family."""
    channel, code, abandoned, handled = at["channel"], at["code"], s["abandoned"], s["handled"]
    n = len(channel)
    go = row["returns"]
    switch = rng.random(n) < np.where(channel == 4, 1.0, 0.35)
    new_channel = np.where(channel == 4, rng.choice(2, n, p=[0.6, 0.4]), rng.choice(5, n, p=CHANNEL_MIX))
    new_channel = np.where(abandoned, np.where(rng.random(n) < 0.85, channel, 1 - channel), new_channel)
    channel_next = np.where(switch | abandoned, new_channel, channel)
    recode = handled & (rng.random(n) < 0.2)
    fam = s["family"]
    other = FAMILY_FIRST_CODE[fam] + (rng.random(n) * FAMILY_CODES[fam]).astype(np.int64)
    code_next = np.where(recode, other, code)
    return {"issue": at["issue"][go], "t": row["next_t"][go], "channel": channel_next[go], "code": code_next[go],
            "attempt": at["attempt"][go] + 1, "handled_before": (at["handled_before"] + handled)[go]}


EXPORT_USES = ("t", "wait", "handle", "dropped", "drop_gap", "abandoned", "transfers", "resolved", "customer",
               "channel", "code")  # the contacts' columns the export is made of (besides its ids)


def _assemble(cfg: SyntheticConfig, rng: np.random.Generator, g: dict[str, np.ndarray], cu: dict, ag: dict,
              part: Part, at: Numbering, sink: Callable[[str, pd.DataFrame | pa.Table], None]) -> None:
    """A part's generated contacts (`g`, emptied here) as its truth, its export (with its messiness) and its
    customers, each handed to `sink` in turn; its contacts, call-back legs and issues numbered after `at`'s,
    its customers after `part.first_customer`; `at` moved on past them, its counts added to."""
    g["issue"] += at.issues  # (in place; the same order)
    order = np.lexsort((g["issue"], g["t"]))
    for k in g:  # in place: the columns in time order replace the generated ones
        g[k] = g[k][order]
    n = len(order)
    del order
    contact_id = _ids(CONTACT_PREFIX, at.contacts + np.arange(n) + 1, CONTACT_DIGITS)
    cust_ids = _ids("C", part.first_customer + np.arange(1, cfg.n_customers + 1), 7)
    truth = _truth(g, cu, contact_id, cust_ids, at.contacts)
    sink(part.name("truth"), truth)
    del truth
    ids = _id_columns(g, ag, cust_ids)  # (the export's ids: made once the truth is written)
    for k in set(g) - set(EXPORT_USES):  # (the truth's own columns)
        del g[k]
    legs, second, leg_id = _legs(g, contact_id, at.contacts)
    del contact_id
    export = _export(cfg, rng, g, ids, legs, second, leg_id)
    g.clear()  # (the caller's reference too: nothing below needs the contacts' columns)
    at.contacts += len(leg_id)
    del legs, second, leg_id, ids["contact_agent"], ids["contact_team"]
    _messy_rows(export, rng, cfg.messiness)
    at.generated += n
    at.export_rows += len(export["contact_id"])
    sink(part.name("contacts"), pa.table(export))
    export.clear()
    sink(part.name("customers"), _customer_table(cu, ids["customer"]))


def _agent_ids(ag: dict) -> tuple[pa.Array, pa.Array]:
    """The agents' ids and the teams' names."""
    return _ids("A", np.arange(1, len(ag["team"]) + 1), 4), _ids("T", np.arange(1, len(ag["team_channel"]) + 1), 2)


def _id_columns(g: dict[str, np.ndarray], ag: dict, cust_ids: pa.Array) -> dict[str, pa.Array]:
    """The ids as exports write them: customers, and each contact's agent and team (the virtual agent and
    "Self-service" on self-service, none on abandoned contacts)."""
    hired = g["agent"] >= 0
    agent_ids, team_names = _agent_ids(ag)
    agent_col = pa.array(np.where(hired, g["agent"], 0)).to_numpy()
    agent_str = pc.if_else(pa.array(hired), agent_ids.take(pa.array(agent_col)), pa.scalar(VIRTUAL_AGENT))
    agent_str = pc.if_else(pa.array(g["abandoned"]), pa.scalar(None, pa.string()), agent_str)
    team_str = pc.if_else(pa.array(hired), team_names.take(pa.array(ag["team"][agent_col])),
                          pa.scalar("Self-service"))
    team_str = pc.if_else(pa.array(g["abandoned"]), pa.scalar(None, pa.string()), team_str)
    return {"customer": cust_ids, "contact_agent": agent_str, "contact_team": team_str}


def _truth(g: dict[str, np.ndarray], cu: dict, contact_id: pa.Array, cust_ids: pa.Array, before: int) -> pd.DataFrame:
    """One row per generated contact: its true probabilities, outcome and next contact of the issue (the
    contact ids: `before` + 1, ...). The frame holds the contacts' own columns where it can (not copied:
    `copy=False`)."""
    nxt = _next_of_issue(g["issue"], g["attempt"])  # (may lie beyond the export's end: then none)
    return pd.DataFrame({
        "contact_id": contact_id.to_pandas(),
        "issue_id": g["issue"], "attempt": g["attempt"],
        "customer_id": cust_ids.take(pa.array(g["customer"])).to_pandas(),
        "started_at": pd.to_datetime(g["t"], unit="s", utc=True),
        "abandoned": g["abandoned"], "p_unresolved": g["p_unres"], "resolved": g["resolved"],
        "p_return": g["p_return"], "busy_s": g["busy"],
        "next_issue_contact_id": contact_id.take(pa.array(np.maximum(nxt, 0), mask=nxt < 0)).to_pandas(),
        "next_issue_contact_at": pd.to_datetime(np.where(g["next_t"] >= 0, g["next_t"], np.nan), unit="s", utc=True),
        "dropped_call": g["dropped"],
        # The customer's random effect on the logit: what the customer history features try to recover.
        "customer_latent": cu["latent"][g["customer"]],
        # Agent-handled contacts: the logit without the agent's parts and transfers, and whether it queued
        # (transfers happen only then): the same contact handled by another agent (synthetic/counterfactual.py).
        "logit_without_agent": g["logit_without_agent"], "queued": g["queued"],
        "reason_code": _named(CODES, g["code"]).to_pandas(),
        "callback_leg_id": _callback_ids(g["dropped"], before),
    }, copy=False)


def _callback_ids(dropped: np.ndarray, before: int) -> pd.Series:
    """The id of each dropped call's call-back leg (numbered after the contacts, `before` + 1, ..., in their
    order), none for the other contacts."""
    n, rows = len(dropped), np.flatnonzero(dropped)
    callback = pd.Series(None, index=pd.RangeIndex(n), dtype="str")
    legs = _ids(CONTACT_PREFIX, before + np.arange(n + 1, n + 1 + len(rows)), CONTACT_DIGITS)
    callback.iloc[rows] = legs.to_pandas().to_numpy()
    return callback


def _next_of_issue(issue: np.ndarray, attempt: np.ndarray) -> np.ndarray:
    """Row of each contact's next attempt of its issue (attempt + 1), -1 where there is none. An issue's
    attempts are numbered 1, 2, ... without gaps, so in (issue, attempt) order the next one follows."""
    order = np.lexsort((attempt, issue))
    nxt = np.full(len(issue), -1, dtype=np.int64)
    follows = (issue[order[1:]] == issue[order[:-1]]) & (attempt[order[1:]] == attempt[order[:-1]] + 1)
    nxt[order[:-1][follows]] = order[1:][follows]
    return nxt


def _legs(g: dict[str, np.ndarray], contact_id: pa.Array, before: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """The export's rows: one per contact, a second one for the call-back leg of each dropped call.
    Returns the contact of each leg, whether it is a call-back leg, and the legs' ids (the contacts'
    `contact_id`, the call-back legs' numbered after them)."""
    n = len(g["t"])
    legs = np.r_[np.arange(n), np.flatnonzero(g["dropped"])]
    second = np.r_[np.zeros(n, bool), np.ones(g["dropped"].sum(), bool)]
    n_callbacks = int(second.sum())
    callback_numbers = before + np.arange(n + 1, n + 1 + n_callbacks)
    leg_id = pa.concat_arrays([contact_id, _ids(CONTACT_PREFIX, callback_numbers, CONTACT_DIGITS)])
    return legs, second, leg_id


EXPORT_COLUMNS = ("contact_id", "customer_id", "started_at", "ended_at", "channel", "reason_code", "agent_id", "team",
                  "wait_s", "handle_s", "transfers", "disposition", "survey_resolved")
TEXT = pa.large_string()  # the export's text as pandas holds it, so that writing it needs no conversion


def _export(cfg: SyntheticConfig, rng: np.random.Generator, g: dict[str, np.ndarray], ids: dict[str, pa.Array],
            legs: np.ndarray, second: np.ndarray, leg_id: pa.Array) -> dict[str, pa.Array]:
    """The export's columns, leg by leg: a dropped call's handle time split between its two legs, the
    survey answers (some contradicting the outcome), anonymous customers and site clocks. Each of the
    contacts' columns in `g` is let go once its last export column is made (`g` ends empty); text
    columns are taken from their few values (Arrow), not built as numpy text (4 bytes a character)."""
    cols: dict[str, pa.Array] = {"contact_id": leg_id.cast(TEXT)}
    started, ended = _leg_times(rng, g, legs, second, cols)
    _leg_outcomes(cfg, rng, g, legs, second, cols)
    # Messiness of real exports.
    m = cfg.messiness
    n = len(legs)
    cust_col = ids["customer"].take(pa.array(g.pop("customer")[legs]))
    anon = rng.random(n) < m.anonymous
    cols["customer_id"] = pc.if_else(pa.array(anon), pa.array(np.where(rng.random(n) < 0.5, "", "0")),
                                     cust_col).cast(TEXT)
    del cust_col
    offsets = np.where(rng.random(n) < m.mixed_timezones, rng.choice(SITE_OFFSETS_MIN, n), 0)
    cols["started_at"] = _iso(started, offsets).cast(TEXT)
    del started
    cols["ended_at"] = _iso(ended, offsets).cast(TEXT)
    del ended
    cols["agent_id"] = ids["contact_agent"].take(pa.array(legs)).cast(TEXT)
    cols["team"] = ids["contact_team"].take(pa.array(legs)).cast(TEXT)
    return {name: cols[name] for name in EXPORT_COLUMNS}


def _leg_times(rng: np.random.Generator, g: dict[str, np.ndarray], legs: np.ndarray, second: np.ndarray,
               cols: dict[str, pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Each leg's wait and handle time (a dropped call's split between its legs) into `cols`; returns its
    start and end (seconds). Lets go of the contacts' times."""
    wait = np.round(g.pop("wait")[legs])
    handle = g.pop("handle")[legs]
    first_part = np.where(g["dropped"][legs], np.round(handle * rng.uniform(0.2, 0.6, len(legs))), handle)
    t0 = g.pop("t")[legs]
    first_end = t0 + np.nan_to_num(wait) + first_part
    started = np.where(second, first_end + g.pop("drop_gap")[legs], t0)
    ended = np.where(second, started + handle - first_part, first_end)
    cols["wait_s"] = pa.array(wait, mask=np.isnan(wait))
    cols["handle_s"] = pa.array(np.where(second, handle - first_part, first_part))
    return started, ended


def _leg_outcomes(cfg: SyntheticConfig, rng: np.random.Generator, g: dict[str, np.ndarray], legs: np.ndarray,
                  second: np.ndarray, cols: dict[str, pa.Array]) -> None:
    """Each leg's channel, reason, transfers, disposition and survey answer into `cols`."""
    abandoned, first_leg_dropped = g.pop("abandoned")[legs], g.pop("dropped")[legs] & ~second
    transfers = g.pop("transfers")[legs]
    disposition = np.where(abandoned, 0, np.where(first_leg_dropped, 1, np.where(transfers > 0, 2, 3)))
    n = len(legs)
    survey_answered = ~abandoned & ~first_leg_dropped & (rng.random(n) < cfg.survey_rate)
    flip = rng.random(n) < cfg.survey_noise
    survey = pd.array(np.where(survey_answered, g.pop("resolved")[legs] ^ flip, False), dtype="boolean")
    survey[~survey_answered] = pd.NA
    cols["channel"] = _named(CHANNELS, g.pop("channel")[legs], TEXT)
    cols["reason_code"] = _named(CODES, g.pop("code")[legs], TEXT)
    cols["transfers"] = pa.array(transfers)
    cols["disposition"] = _named(("abandoned", "dropped", "transferred", "handled"), disposition, TEXT)
    cols["survey_resolved"] = pa.array(survey)


def _named(names: tuple[str, ...], codes: np.ndarray, text: pa.DataType = pa.string()) -> pa.Array:
    """names[code] for each code, as Arrow text."""
    return pa.array(list(names), text).take(pa.array(codes))


def _messy_rows(cols: dict[str, pa.Array], rng: np.random.Generator, m) -> None:
    """A few broken rows, rows exported twice, and the rows shuffled (as `cfg.messiness` asks), in place
    and a column at a time: each column's previous version is let go as its new one is made."""
    n = len(cols["contact_id"])
    if m.bad_rows > 0:
        _break_rows(cols, rng, m.bad_rows)
    if m.duplicates > 0:
        dup = pa.array(np.flatnonzero(rng.random(n) < m.duplicates))
        for name in cols:
            cols[name] = pa.chunked_array([cols[name], cols[name].take(dup)])
        n += len(dup)
    if m.out_of_order:
        shuffle = pa.array(rng.permutation(n))
        for name in cols:
            cols[name] = pc.take(cols[name], shuffle)


def _customer_table(cu: dict, cust_ids: pa.Array) -> pd.DataFrame:
    """The customers table (of a part)."""
    return pd.DataFrame({
        "customer_id": cust_ids.to_pandas(),
        "segment": np.array(SEGMENTS)[cu["segment"]], "tier": np.array(TIERS)[cu["tier"]],
        "plan": np.array(PLANS)[cu["plan"]], "region": np.array(REGIONS)[cu["region"]],
        "language": np.array(LANGUAGES)[cu["language"]],
        "signup_date": pd.to_datetime(cu["signup_s"], unit="s", utc=True).normalize(),
    })


def _agent_tables(ag: dict, start_s: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The agents table (the virtual agent last) and the agents' true skills."""
    agent_ids, team_names = _agent_ids(ag)
    agents = pd.DataFrame({
        "agent_id": agent_ids.to_pandas(),
        "team": team_names.take(pa.array(ag["team"])).to_pandas(),
        "channel": np.array(CHANNELS)[ag["team_channel"][ag["team"]]],
        "hired_at": pd.to_datetime(ag["hired_s"], unit="s", utc=True).normalize(),
        "second_channel": np.array(CHANNELS)[ag["team_second_channel"][ag["team"]]],
        "skills": np.array(FAMILIES)[ag["team_focus"][ag["team"]]],
        "specialist": ag["team_specialist"][ag["team"]],
    })
    agent_truth = pd.DataFrame({"agent_id": agents["agent_id"], "skill": ag["skill_base"],
                                "specialist": agents["specialist"],
                                "hired_at_exact": pd.to_datetime(ag["hired_s"], unit="s", utc=True)})
    virtual = pd.DataFrame({"agent_id": [VIRTUAL_AGENT], "team": ["Self-service"], "channel": ["self_service"],
                            "hired_at": [pd.Timestamp(start_s - 400 * DAY, unit="s", tz="UTC").normalize()],
                            "second_channel": [None], "skills": ["all"], "specialist": [False]})
    for f, fam in enumerate(FAMILIES):
        agent_truth[f"skill_{fam}"] = ag["skill_base"] + ag["skill_family"][:, f]
    return pd.concat([agents, virtual], ignore_index=True), agent_truth


def _truth_meta(cfg: SyntheticConfig, start_s: int, end_s: int, n: int, export_rows: int,
                spread_sd: dict[str, float]) -> dict:
    """truth.json: the generator's settings, the planted drivers with their spreads, the return-delay law."""
    return {
        "generator": "fcr synthetic contact centre", "seed": cfg.seed,
        "start": datetime.fromtimestamp(start_s, timezone.utc).isoformat(),
        "end": datetime.fromtimestamp(end_s, timezone.utc).isoformat(),
        "n_contacts_logical": int(n), "n_export_rows": int(export_rows),
        "match_rule": "reason_family",
        "return_delay": {"law": "lognormal", "median_hours": RETURN_DELAY_MEDIAN_H, "sigma": RETURN_DELAY_SIGMA,
                         "measured_from": "end of the contact (busy_s after its start)"},
        "p_repeat_formula": "p_unresolved * p_return * P(delay <= window - busy_s)",
        "intercept": INTERCEPT,
        # spread_sd: the standard deviation of the driver's part of the logit over handled contacts, as
        # generated: how much it moves contacts apart (a driver's importance, in the model's units).
        "planted_drivers": [dict(d, spread_sd=spread_sd[d["driver"]]) for d in PLANTED_DRIVERS],
        "non_drivers": ["plan", "region"],
    }


ISO_PIECE = 1 << 20  # rows of timestamps written at a time (numpy's text takes 4 bytes a character)


def _iso(seconds: np.ndarray, offset_min: np.ndarray) -> pa.Array:
    """ISO 8601 strings in the writer's local clock with its UTC offset, as exports carry them."""
    pieces = [_iso_piece(seconds[lo:lo + ISO_PIECE], offset_min[lo:lo + ISO_PIECE])
              for lo in range(0, len(seconds), ISO_PIECE)] or [_iso_piece(seconds, offset_min)]
    return pa.chunked_array([c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])],
                            pa.string()).combine_chunks()


def _iso_piece(seconds: np.ndarray, offset_min: np.ndarray) -> pa.Array:
    local = (seconds + offset_min * 60).astype("datetime64[s]")
    text = pa.array(np.datetime_as_string(local, unit="s"))
    values, inverse = np.unique(offset_min, return_inverse=True)
    names = np.array(["Z" if v == 0 else f"{'-' if v < 0 else '+'}{abs(v) // 60:02d}:{abs(v) % 60:02d}" for v in values])
    suffix = names[inverse]
    return pc.binary_join_element_wise(text, pa.array(suffix), "")


def _break_rows(cols: dict[str, pa.Array], rng: np.random.Generator, share: float) -> None:
    """A few rows as broken as real exports have them (in place): unknown channel, unreadable timestamp,
    missing contact id, negative handle time."""
    n = len(cols["contact_id"])
    bad = rng.random(n) < share
    kind = rng.integers(0, 4, n)
    cols["channel"] = pc.if_else(pa.array(bad & (kind == 0)), pa.scalar("fax"), cols["channel"])
    cols["started_at"] = pc.if_else(pa.array(bad & (kind == 1)), pa.scalar("31/02/2025 25:61"), cols["started_at"])
    cols["contact_id"] = pc.if_else(pa.array(bad & (kind == 2)), pa.scalar(None, pa.string()), cols["contact_id"])
    cols["handle_s"] = pc.if_else(pa.array(bad & (kind == 3)), pa.scalar(-1.0), cols["handle_s"])


def true_repeat_probability(truth: pd.DataFrame, window_days: float) -> pd.Series:
    """True P(the customer comes back about the same issue within the window) of each handled contact.

    The next attempt starts `busy_s` (wait + talk) plus a lognormal delay after the contact starts;
    the labeller measures start to start, hence the shift by busy_s."""
    budget_h = (window_days * DAY - truth["busy_s"]) / 3600
    within = norm.cdf((np.log(np.maximum(budget_h, 1e-9)) - np.log(RETURN_DELAY_MEDIAN_H)) / RETURN_DELAY_SIGMA)
    return pd.Series(truth["p_unresolved"] * truth["p_return"] * within, index=truth.index, name="p_repeat")
