"""The operations report's figures, computed from labelled contacts: this period against the last,
biggest movers, monthly top reasons of unresolved contacts, team x week against targets, channel
switching, survey (or the user's resolution signal) against repeat tracking.

In: the contacts joined with their labels (report/inputs.py) and plain arguments. Out: DataFrames and
dicts. Pure. Every rate comes with its counts; a figure that cannot be computed is None with the reason,
never NaN. A period is a calendar month (UTC); a week starts on Monday (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, norm

from contract.schema import NO_AGENT_CHANNELS
from labelling.measure import first_contacts, wilson_interval

SEGMENT_WORDS = {"reason_family": "reason family", "channel": "channel", "team": "team"}


def pretty(value: object) -> str:
    """A category value as a reader sees it: `self_service` -> `self service`."""
    return str(value).replace("_", " ")


def utc_naive(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    return ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz is not None else ts


def level_z(significance: float) -> float:
    return float(norm.ppf(1 - significance / 2))


def interval(successes: np.ndarray, n: np.ndarray, significance: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson interval at 1 - significance, clipped to [0, 1] (labelling.measure)."""
    return wilson_interval(np.asarray(successes), np.asarray(n), level=1 - significance)


def two_proportion_p(resolved_a: int, n_a: int, resolved_b: int, n_b: int) -> float | None:
    """Two-sided p-value that two FCRs differ (Pearson chi-square on the 2x2 table, the two-proportion z-test);
    None when a side has no contacts. Both sides all resolved (or none): no evidence of a difference, p = 1."""
    if n_a <= 0 or n_b <= 0:
        return None
    table = np.array([[resolved_a, n_a - resolved_a], [resolved_b, n_b - resolved_b]], dtype=float)
    if (table.sum(axis=0) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    month: pd.Period
    complete: bool  # every contact of the month has a known outcome

    @property
    def name(self) -> str:
        return self.month.strftime("%B %Y") + ("" if self.complete else " (so far)")


def outcome_horizon(contacts: pd.DataFrame) -> pd.Timestamp | None:
    """The latest start of a labelled contact: after it, outcomes are not known yet (censored)."""
    lab = contacts.loc[contacts["status"] == "labelled", "started_at"]
    return utc_naive(lab).max() if len(lab) else None


def periods(contacts: pd.DataFrame) -> tuple[Period | None, Period | None]:
    """(current, previous): the latest calendar month whose contacts all have a known outcome, else the
    latest month with any (marked not complete); and the month before it if the data has it."""
    horizon = outcome_horizon(contacts)
    if horizon is None:
        return None, None
    first = utc_naive(contacts["started_at"]).min().to_period("M")
    last = horizon.to_period("M")  # its last contacts' outcomes are not known yet
    current = Period(last - 1, True) if last - 1 >= first else Period(last, False)
    previous = Period(current.month - 1, True) if current.month - 1 >= first else None
    return current, previous


def first_in_month(contacts: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    fc = first_contacts(contacts, ["started_at", *columns])
    return fc.assign(month=utc_naive(fc["started_at"]).dt.to_period("M"))


def fcr_of(fc: pd.DataFrame) -> dict:
    n, r = int(len(fc)), int(fc["resolved"].sum())
    return {"first_contacts": n, "resolved": r, "fcr": (r / n) if n else None}


def period_comparison(contacts: pd.DataFrame, target: float, significance: float) -> dict:
    """FCR this period vs the previous one and vs target, with the change and whether it is beyond noise."""
    current, previous = periods(contacts)
    if current is None:
        return {"available": False, "why": "no contact has a known outcome yet (every window is still open)"}
    fc = first_in_month(contacts, [])
    now = fcr_of(fc[fc["month"] == current.month])
    out = {
        "available": True,
        "current": current.name,
        "current_complete": current.complete,
        "now": now,
        "target": target,
        "previous": None,
        "before": None,
        "change": None,
        "p_value": None,
        "beyond_noise": None,
    }
    if now["fcr"] is not None:
        lo, hi = interval(np.array([now["resolved"]]), np.array([now["first_contacts"]]), significance)
        out["now"] |= {"low": float(lo[0]), "high": float(hi[0])}
        out["vs_target"] = (
            "above target" if lo[0] > target else "below target" if hi[0] < target else "at target (within noise)"
        )
    if previous is not None:
        before = fcr_of(fc[fc["month"] == previous.month])
        out |= {"previous": previous.name, "before": before}
        if before["fcr"] is not None and now["fcr"] is not None:
            p = two_proportion_p(now["resolved"], now["first_contacts"], before["resolved"], before["first_contacts"])
            out |= {
                "change": now["fcr"] - before["fcr"],
                "p_value": p,
                "beyond_noise": p is not None and p < significance,
            }
    return out


def movers(
    contacts: pd.DataFrame, segments: list[str], min_contacts: int, significance: float, top: int
) -> pd.DataFrame:
    """Segments (reason family, channel, team) whose FCR moved most from the previous period to this one,
    weighted by size (change x contacts now); only segments with at least `min_contacts` first contacts in
    both periods are ranked."""
    cols = ["segment", "value", "fcr_before", "fcr_now", "change", "first_contacts", "p_value", "beyond_noise"]
    current, previous = periods(contacts)
    segs = [s for s in segments if s in contacts.columns]
    if current is None or previous is None or not segs:
        return pd.DataFrame(columns=cols)
    fc = first_in_month(contacts, segs)
    rows = []
    for seg in segs:
        part = fc[fc["month"].isin([current.month, previous.month])]
        g = part.groupby([seg, "month"], observed=True)["resolved"].agg(["sum", "size"]).unstack("month")
        if current.month not in g.columns.get_level_values(1) or previous.month not in g.columns.get_level_values(1):
            continue
        for value, r in g.iterrows():
            n_now, n_before = r[("size", current.month)], r[("size", previous.month)]
            if not (n_now >= min_contacts and n_before >= min_contacts):
                continue
            r_now, r_before = int(r[("sum", current.month)]), int(r[("sum", previous.month)])
            p = two_proportion_p(r_now, int(n_now), r_before, int(n_before))
            rows.append(
                {
                    "segment": seg,
                    "value": str(value),
                    "fcr_before": r_before / n_before,
                    "fcr_now": r_now / n_now,
                    "change": r_now / n_now - r_before / n_before,
                    "first_contacts": int(n_now),
                    "p_value": p,
                    "beyond_noise": p is not None and p < significance,
                }
            )
    out = pd.DataFrame(rows, columns=cols)
    if not len(out):
        return out
    impact = (out["change"] * out["first_contacts"]).abs()
    return out.loc[impact.sort_values(ascending=False, kind="stable").index].head(top).reset_index(drop=True)


# --- reasons -------------------------------------------------------------------------------------


def monthly_reasons(contacts: pd.DataFrame, names: dict[str, str], top: int) -> tuple[pd.DataFrame, Period | None]:
    """Top `top` reason codes of unresolved contacts (labelled contacts the customer came back about) in the
    current period: repeats, share of all repeats, repeats last month and the change."""
    cols = ["reason", "reason_code", "repeats", "share_of_repeats", "repeats_last_month", "change_from_last_month"]
    current, previous = periods(contacts)
    if current is None:
        return pd.DataFrame(columns=cols), None
    lab = contacts[(contacts["status"] == "labelled") & contacts["repeated"].fillna(False).astype(bool)]
    month = utc_naive(lab["started_at"]).dt.to_period("M")
    counts = lab.groupby([month.rename("month"), lab["reason_code"].astype(str).rename("reason_code")]).size()
    now = counts[current.month] if current.month in counts.index.get_level_values(0) else pd.Series(dtype=int)
    before = (
        counts[previous.month]
        if previous is not None and previous.month in counts.index.get_level_values(0)
        else pd.Series(dtype=int)
    )
    table = pd.DataFrame({"repeats": now.astype(int)})
    table.index.name = "reason_code"
    table = table.reset_index().sort_values(["repeats", "reason_code"], ascending=[False, True]).head(top)
    total = int(now.sum())
    table["share_of_repeats"] = table["repeats"] / total if total else 0.0
    if previous is not None:
        table["repeats_last_month"] = table["reason_code"].map(before).fillna(0).astype(int)
        table["change_from_last_month"] = table["repeats"] - table["repeats_last_month"]
    else:
        table["repeats_last_month"] = pd.NA
        table["change_from_last_month"] = pd.NA
    table.insert(0, "reason", [names.get(c, pretty(c)) for c in table["reason_code"]])
    return table[cols].reset_index(drop=True), current


# --- team x week ---------------------------------------------------------------------------------


def week_start(ts: pd.Series) -> pd.Series:
    return utc_naive(ts).dt.to_period("W-SUN").dt.start_time


def team_weeks(
    contacts: pd.DataFrame,
    targets: dict[str, float],
    default_target: float,
    weeks: int,
    min_contacts: int,
    significance: float,
) -> pd.DataFrame:
    """Per team and week (the last `weeks` weeks with contacts): FCR of first contacts with its interval,
    the team's target and a verdict. A week in which some contacts' outcomes are not known yet is partial:
    shown, never compared with the target; a cell below `min_contacts` is "too few contacts"."""
    cols = ["team", "week", "first_contacts", "fcr", "low", "high", "target", "partial", "verdict"]
    if "team" not in contacts.columns or not len(contacts):
        return pd.DataFrame(columns=cols)
    handled = contacts[contacts["status"].isin(["labelled", "censored"])]
    week_all = week_start(contacts["started_at"])
    data_end = utc_naive(contacts["started_at"]).max()
    open_weeks = set(week_start(handled.loc[handled["status"] == "censored", "started_at"]))
    open_weeks |= {w for w in week_all.unique() if w + pd.Timedelta(days=7) > data_end + pd.Timedelta(seconds=1)}
    shown = sorted(week_all.unique())[-weeks:]
    fc = first_contacts(contacts, ["team", "started_at", "channel"])
    people = ~fc["channel"].astype(str).isin(NO_AGENT_CHANNELS) if "channel" in fc else True
    fc = fc[fc["team"].notna() & people].assign(week=week_start(fc["started_at"]))
    fc = fc[fc["week"].isin(shown)]
    g = fc.groupby(["team", "week"], observed=True)["resolved"].agg(["sum", "size"]).reset_index()
    teams = sorted(fc["team"].dropna().astype(str).unique())
    grid = pd.MultiIndex.from_product([teams, shown], names=["team", "week"]).to_frame(index=False)
    g["team"] = g["team"].astype(str)
    t = grid.merge(g, on=["team", "week"], how="left").fillna({"sum": 0, "size": 0})
    n, r = t["size"].to_numpy(dtype=np.int64), t["sum"].to_numpy(dtype=np.int64)
    low, high = interval(r, n, significance)
    with np.errstate(invalid="ignore", divide="ignore"):
        fcr = np.where(n > 0, r / np.maximum(n, 1), np.nan)
    target = t["team"].map(lambda x: targets.get(x, default_target)).to_numpy(dtype=float)
    partial = t["week"].isin(open_weeks).to_numpy()
    verdict = np.where(
        partial,
        "partial week",
        np.where(
            n < min_contacts,
            "too few contacts",
            np.where(low > target, "above target", np.where(high < target, "below target", "at target (within noise)")),
        ),
    )
    return pd.DataFrame(
        {
            "team": t["team"],
            "week": t["week"],
            "first_contacts": n,
            "fcr": fcr,
            "low": low,
            "high": high,
            "target": target,
            "partial": partial,
            "verdict": verdict,
        }
    )[cols]


# --- channel switching ---------------------------------------------------------------------------


def channel_switching(contacts: pd.DataFrame) -> pd.DataFrame:
    """Repeat contacts counted by the channel the episode started on (rows) and the channel the customer
    came back on (columns). Merged fragments are not contacts of their own and are left out."""
    need = {"episode_id", "contact_seq", "channel"}
    if not need <= set(contacts.columns):
        return pd.DataFrame()
    c = contacts[contacts["excluded_reason"].astype(str) != "merged"] if "excluded_reason" in contacts else contacts
    first = c[c["contact_seq"] == 1].drop_duplicates("episode_id").set_index("episode_id")["channel"].astype(str)
    rep = c[c["contact_seq"] > 1]
    if not len(rep):
        return pd.DataFrame()
    came_from = rep["episode_id"].map(first)
    m = came_from.notna()
    return pd.crosstab(came_from[m].rename("first channel"), rep.loc[m, "channel"].astype(str).rename("came back on"))


# --- survey / resolution signal vs repeat tracking -------------------------------------------------


def signal_column(contacts: pd.DataFrame) -> str | None:
    for col in ("resolution_signal", "survey_resolved"):
        if col in contacts.columns and contacts[col].notna().any():
            return col
    return None


def signal_agreement(contacts: pd.DataFrame, by: str | None, significance: float) -> dict:
    """The user's resolution signal (or the survey) against repeat tracking alone, on labelled contacts
    with both: agreement and the two ways they disagree, overall and per value of `by`."""
    col = signal_column(contacts)
    if col is None:
        return {"available": False}
    m = (contacts["status"] == "labelled") & contacts[col].notna() & contacts["tracking_repeated"].notna()
    d = contacts.loc[m]
    says = d[col].astype(bool).to_numpy()
    tracked = ~d["tracking_repeated"].astype(bool).to_numpy()
    n = int(m.sum())
    if n == 0:
        return {"available": False, "column": col}
    agree = int((says == tracked).sum())
    lo, hi = interval(np.array([agree]), np.array([n]), significance)
    out = {
        "available": True,
        "column": col,
        "contacts": n,
        "agree": agree,
        "agreement": agree / n,
        "low": float(lo[0]),
        "high": float(hi[0]),
        "says_resolved_but_came_back": int((says & ~tracked).sum()),
        "says_unresolved_but_no_repeat": int((~says & tracked).sum()),
        "both_resolved": int((says & tracked).sum()),
        "both_unresolved": int((~says & ~tracked).sum()),
    }
    if by is not None and by in d.columns:
        frame = pd.DataFrame(
            {
                by: d[by].astype(str).map(pretty).to_numpy(),
                "n": 1,
                "agree": says == tracked,
                "sr_cb": says & ~tracked,
                "su_nr": ~says & tracked,
            }
        )
        g = frame.groupby(by).sum().reset_index()
        out["by"] = pd.DataFrame(
            {
                by: g[by],
                "contacts": g["n"],
                "agreement": g["agree"] / g["n"],
                "says_resolved_but_came_back": g["sr_cb"],
                "says_unresolved_but_no_repeat": g["su_nr"],
            }
        )
    return out
