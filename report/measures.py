"""The operations report's figures, computed from labelled contacts: this period against the last,
biggest movers, monthly top reasons of unresolved contacts, team x week against targets, channel
switching, survey (or the user's resolution signal) against repeat tracking.

In: the contacts joined with their labels, or their counts (report/counts.py: rows standing for several
contacts, with their number in `labelling.measure.WEIGHT`; every figure counts contacts, not rows), and plain
arguments. Channel switching needs the contacts themselves (their episodes). Out: DataFrames and dicts. Pure. Every rate comes with its counts; a figure that cannot be computed is None with the reason,
never NaN. Months and weeks (from Monday) are cut in the report's time zone (`Calendar.tz`). The headline
period is the latest month whose outcomes are all known and that holds enough first contacts (`periods`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from base.frames import per_category, per_value
from scipy.stats import chi2_contingency, norm

from contract.schema import NO_AGENT_CHANNELS
from labelling.measure import first_contacts, weights, wilson_interval

SEGMENT_WORDS = {"reason_family": "reason family", "channel": "channel", "team": "team"}


def pretty(value: object) -> str:
    """A category value as a reader sees it: `self_service` -> `self service`."""
    return str(value).replace("_", " ")


def utc_naive(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    return ts.dt.tz_convert("UTC").dt.tz_localize(None) if ts.dt.tz is not None else ts


def local_naive(ts: pd.Series, tz: str) -> pd.Series:
    """Wall-clock times in `tz` (naive): what a manager there calls the day, week and month."""
    ts = pd.to_datetime(ts)
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts
    return ts.dt.tz_convert(tz).dt.tz_localize(None)


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
class Calendar:
    """How the report cuts time: the zone of its months and weeks, the label window, the end of the data
    (label.as_of, else the latest start) and the fewest first contacts a period or segment needs."""

    tz: str
    window_days: float
    data_end: pd.Timestamp  # UTC
    min_contacts: int

    @classmethod
    def of(cls, contacts: pd.DataFrame, tz: str, window_days: float, as_of: str | None, min_contacts: int) -> "Calendar":
        if as_of:
            end = pd.Timestamp(as_of)
            end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        else:
            t = pd.to_datetime(contacts["started_at"])
            end = (t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")).max()
        return cls(tz, window_days, end, min_contacts)

    def month_end(self, month: pd.Period) -> pd.Timestamp:
        """The first instant after `month` in the report's zone, in UTC."""
        start = (month + 1).start_time.tz_localize(self.tz, ambiguous=False, nonexistent="shift_forward")
        return start.tz_convert("UTC")

    def matured(self, month: pd.Period) -> bool:
        """Every contact of the month has a known outcome: month end + label window <= end of the data."""
        return self.data_end is not pd.NaT and self.month_end(month) + pd.Timedelta(days=self.window_days) \
            <= self.data_end


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


def month_counts(contacts: pd.DataFrame, cal: Calendar) -> pd.Series:
    """First contacts with a known outcome per calendar month in the report's zone."""
    fc = first_contacts(contacts, ["started_at"])
    month = local_naive(fc["started_at"], cal.tz).dt.to_period("M")
    return pd.Series(weights(fc), index=fc.index).groupby(month).sum().sort_index()


def periods(contacts: pd.DataFrame, cal: Calendar) -> tuple[Period | None, Period | None, str | None]:
    """(current, previous, why): the headline month is the latest calendar month (in `cal.tz`) whose
    outcomes are all known (month end + window <= end of the data) and that holds at least
    `cal.min_contacts` first contacts; the previous month when it qualifies too. Without a headline
    month, `why` says so in words."""
    counts = month_counts(contacts, cal)
    matured = [m for m in counts.index if cal.matured(m)]
    enough = [m for m in matured if counts[m] >= cal.min_contacts]
    if not enough:
        if not len(counts):
            why = "no first contact has a known outcome yet (every window is still open)"
        elif not matured:
            why = (f"no calendar month is complete with every outcome known ({cal.window_days:g} days after the "
                   f"month end, the data ends {cal.data_end.tz_convert(cal.tz):%d %b %Y})")
        else:
            best = max(matured, key=lambda m: (counts[m], m))
            why = (f"no month with every outcome known holds the {cal.min_contacts:,} first contacts a figure "
                   f"needs; the most, {best.strftime('%B %Y')}, holds "
                   f"{int(counts[best]):,}")
        return None, None, why
    current = enough[-1]
    before = current - 1
    previous = Period(before, True) if before in enough else None
    return Period(current, True), previous, None


def first_in_month(contacts: pd.DataFrame, columns: list[str], tz: str) -> pd.DataFrame:
    fc = first_contacts(contacts, ["started_at", *columns])
    return fc.assign(month=local_naive(fc["started_at"], tz).dt.to_period("M"))


def weighted_counts(fc: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """First contacts (`size`) and resolved ones (`sum`) of `first_contacts` rows (contacts or counts) by `by`."""
    w = weights(fc)
    frame = fc[by].assign(sum=np.where(fc["resolved"].to_numpy(dtype=bool), w, 0), size=w)
    return frame.groupby(by, observed=True)[["sum", "size"]].sum()


def fcr_of(fc: pd.DataFrame) -> dict:
    w = weights(fc)
    n, r = int(w.sum()), int(w[fc["resolved"].to_numpy(dtype=bool)].sum())
    return {"first_contacts": n, "resolved": r, "fcr": (r / n) if n else None}


def period_comparison(contacts: pd.DataFrame, target: float, significance: float, cal: Calendar) -> dict:
    """FCR this period vs the previous one and vs target, with the change and whether it is beyond noise."""
    current, previous, why = periods(contacts, cal)
    if current is None:
        return {"available": False, "why": why}
    fc = first_in_month(contacts, [], cal.tz)
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
    if previous is None and (fc["month"] == current.month - 1).any():
        n = int(weights(fc)[(fc["month"] == current.month - 1).to_numpy()].sum())
        out["previous_why"] = (f"{(current.month - 1).strftime('%B %Y')} holds {n:,} first contacts with a known "
                               f"outcome, under the {cal.min_contacts:,} a comparison needs: no comparison.")
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
    by_segment: dict[str, pd.DataFrame], min_contacts: int, significance: float, top: int, cal: Calendar
) -> pd.DataFrame:
    """Segments (reason family, channel, team) whose FCR moved most from the previous period to this one,
    weighted by size (change x contacts now); only segments with at least `min_contacts` first contacts in
    both periods are ranked. `by_segment`: segment column -> contacts (or counts) holding it, in the order
    the segments are ranked on ties."""
    cols = ["segment", "value", "fcr_before", "fcr_now", "change", "first_contacts", "p_value", "beyond_noise"]
    segs = [s for s, frame in by_segment.items() if s in frame.columns]
    if not segs:
        return pd.DataFrame(columns=cols)
    current, previous, _ = periods(by_segment[segs[0]], cal)
    if current is None or previous is None:
        return pd.DataFrame(columns=cols)
    rows = []
    for seg in segs:
        fc = first_in_month(by_segment[seg], [seg], cal.tz)
        part = fc[fc["month"].isin([current.month, previous.month])]
        g = weighted_counts(part, [seg, "month"]).unstack("month")
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


def monthly_reasons(contacts: pd.DataFrame, names: dict[str, str], top: int,
                    cal: Calendar) -> tuple[pd.DataFrame, Period | None]:
    """Top `top` reason codes of unresolved contacts (labelled contacts the customer came back about) in the
    headline period: repeats, share of all repeats, repeats last month and the change, and the reason's
    first contacts in the period (an action needs at least `cal.min_contacts` of them)."""
    cols = ["reason", "reason_code", "repeats", "share_of_repeats", "repeats_last_month", "change_from_last_month",
            "first_contacts"]
    current, previous, _ = periods(contacts, cal)
    if current is None:
        return pd.DataFrame(columns=cols), None
    lab = contacts[(contacts["status"] == "labelled") & contacts["repeated"].fillna(False).astype(bool)]
    month = local_naive(lab["started_at"], cal.tz).dt.to_period("M")
    counts = pd.Series(weights(lab), index=lab.index).groupby(
        [month.rename("month"), lab["reason_code"].astype(str).rename("reason_code")]).sum()
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
    fc = first_in_month(contacts, ["reason_code"], cal.tz)
    now_fc = fc[fc["month"] == current.month]
    per_reason = pd.Series(weights(now_fc), index=now_fc.index).groupby(now_fc["reason_code"].astype(str)).sum()
    table["first_contacts"] = table["reason_code"].map(per_reason).fillna(0).astype(int)
    return table[cols].reset_index(drop=True), current


# --- team x week ---------------------------------------------------------------------------------


def week_start(ts: pd.Series, tz: str) -> pd.Series:
    return local_naive(ts, tz).dt.to_period("W-SUN").dt.start_time


def team_weeks(
    contacts: pd.DataFrame,
    targets: dict[str, float],
    default_target: float,
    weeks: int,
    min_contacts: int,
    significance: float,
    tz: str,
) -> pd.DataFrame:
    """Per team and week (the last `weeks` weeks with contacts): FCR of first contacts with its interval,
    the team's target and a verdict. A week in which some contacts' outcomes are not known yet is partial:
    shown, never compared with the target; a cell below `min_contacts` is "too few contacts"."""
    cols = ["team", "week", "first_contacts", "fcr", "low", "high", "target", "partial", "verdict"]
    if "team" not in contacts.columns or not len(contacts):
        return pd.DataFrame(columns=cols)
    handled = contacts[contacts["status"].isin(["labelled", "censored"])]
    week_all = week_start(contacts["started_at"], tz)
    data_end = local_naive(contacts["started_at"], tz).max()
    open_weeks = set(week_start(handled.loc[handled["status"] == "censored", "started_at"], tz))
    open_weeks |= {w for w in week_all.unique() if w + pd.Timedelta(days=7) > data_end + pd.Timedelta(seconds=1)}
    shown = sorted(week_all.unique())[-weeks:]
    fc = first_contacts(contacts, ["team", "started_at", "channel"])
    people = ~fc["channel"].astype(str).isin(NO_AGENT_CHANNELS) if "channel" in fc else True
    fc = fc[fc["team"].notna() & people]
    fc = fc.assign(week=week_start(fc["started_at"], tz))  # (of the rows kept: none kept, none made up)
    fc = fc[fc["week"].isin(shown)]
    g = weighted_counts(fc, ["team", "week"]).reset_index()
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
    c = contacts[list(need)]  # (only the columns used: the contacts table is GBs at 10M)
    if "excluded_reason" in contacts:
        c = c[per_value(contacts["excluded_reason"], lambda r: r.astype(str) != "merged")]
    seq = c["contact_seq"].to_numpy(dtype=float)
    rep = np.flatnonzero(seq > 1)
    if not len(rep):
        return pd.DataFrame()
    # Episodes as codes (hashing 10M text ids once), each episode's first channel looked up by code.
    episode = pd.factorize(c["episode_id"])[0]
    channel = per_category(c["channel"], lambda v: v.astype(str).to_numpy(dtype=object))
    first = np.flatnonzero((seq == 1) & (episode >= 0))
    first = first[np.unique(episode[first], return_index=True)[1]]  # the first such row of each episode
    first_channel = np.full(max(int(episode.max()) + 1, 1), None, dtype=object)
    first_channel[episode[first]] = channel[first]
    came_from = np.where(episode[rep] >= 0, first_channel[np.maximum(episode[rep], 0)], None)
    m = pd.notna(came_from)
    return pd.crosstab(pd.Series(came_from[m], name="first channel"),
                       pd.Series(channel[rep][m], name="came back on"))


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
    w = weights(d)
    n = int(w.sum())
    if n == 0:
        return {"available": False, "column": col}
    agree = int(w[says == tracked].sum())
    lo, hi = interval(np.array([agree]), np.array([n]), significance)
    out = {
        "available": True,
        "column": col,
        "contacts": n,
        "agree": agree,
        "agreement": agree / n,
        "low": float(lo[0]),
        "high": float(hi[0]),
        "says_resolved_but_came_back": int(w[says & ~tracked].sum()),
        "says_unresolved_but_no_repeat": int(w[~says & tracked].sum()),
        "both_resolved": int(w[says & tracked].sum()),
        "both_unresolved": int(w[~says & ~tracked].sum()),
    }
    if by is not None and by in d.columns:
        frame = pd.DataFrame(
            {
                by: d[by].astype(str).map(pretty).to_numpy(),
                "n": w,
                "agree": np.where(says == tracked, w, 0),
                "sr_cb": np.where(says & ~tracked, w, 0),
                "su_nr": np.where(~says & tracked, w, 0),
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
