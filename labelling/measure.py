"""FCR figures from labelled contacts: overall and by segment with Wilson intervals, the repeat-delay
distribution, how often the survey (and the export's own resolution signal) and repeat tracking
disagree, and sanity warnings on whether repeat tracking can work on the data.

In: the labelled contact table (contacts joined with the label columns), or pieces of it that each hold
whole customers. Out: plain DataFrames and dicts; the label stage writes them as DVC metrics and plots.
Made in three steps, so that a Dask cluster never gathers the table (engine/label.py): `summarize` a
labelled frame into small additive counts (`LabelSummary`), `combine` the summaries of pieces (sums; the
first and last start), and the figures from the combined counts (`label_figures`: FCR, Wilson intervals,
agreement, kappa, warnings). The local engine summarizes the whole table: the same figures, float for float.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtri  # (the normal quantile norm.ppf computes, without importing scipy.stats)


def wilson_interval(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion; (nan, nan) where n == 0."""
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = ndtri(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # Floating point can put a bound a hair outside [0, 1] (e.g. -5.6e-17 when there are no events).
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


WEIGHT = "n_contacts"  # contacts a row stands for, in counted contacts (report/counts.py); absent: one each


def weights(rows: pd.DataFrame) -> np.ndarray:
    """How many contacts each row stands for: its `WEIGHT`, else one (a contact)."""
    return rows[WEIGHT].to_numpy(dtype=np.int64) if WEIGHT in rows.columns else np.ones(len(rows), dtype=np.int64)


def first_contacts(labelled: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The FCR population: labelled (matured, not excluded) first contacts of an episode, with a
    boolean `resolved`; only `columns` (default all) are carried, since this can be millions of rows (and the
    count of contacts each row stands for, `WEIGHT`, when the rows are counts)."""
    mask = ((labelled["status"] == "labelled") & labelled["is_first_contact"]).to_numpy()
    wanted = None if columns is None else [c for c in [*columns, WEIGHT] if c in labelled.columns]
    keep = labelled if wanted is None else labelled[list(dict.fromkeys(wanted))]
    out = keep[mask]
    return out.assign(resolved=~labelled["repeated"].fillna(True).to_numpy(dtype=bool)[mask])


def _counts(values: np.ndarray | list, counts: np.ndarray | list, dtype: object = object) -> pd.Series:
    """A count table: counts by value, in the order given (int64, on an index of `dtype`)."""
    return pd.Series(np.asarray(counts, dtype=np.int64), index=pd.Index(values, dtype=dtype))


def first_contact_counts(fc: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """First contacts and resolved ones (of `first_contacts`) by the values of `by` (one row "all" without):
    the additive counts behind `fcr_table`. Grouped on integer codes: cheap for millions of contacts."""
    w = weights(fc)
    resolved = np.where(fc["resolved"].to_numpy(dtype=bool), w, 0)
    if by is None:
        return pd.DataFrame({"first_contacts": _counts(["all"], [int(w.sum())]),
                             "resolved": _counts(["all"], [int(resolved.sum())])})
    col = fc[by]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, uniques = col.cat.codes.to_numpy(), np.asarray(col.cat.categories, dtype=object)
    else:
        codes, uniques = pd.factorize(col.to_numpy(), sort=True)
    keep = codes >= 0
    size = np.bincount(codes[keep], weights=w[keep], minlength=len(uniques)).astype(np.int64)
    res = np.bincount(codes[keep], weights=resolved[keep], minlength=len(uniques)).astype(np.int64)
    present = size > 0
    values = np.asarray(uniques, dtype=object)[present]
    return pd.DataFrame({"first_contacts": _counts(values, size[present]), "resolved": _counts(values, res[present])})


def fcr_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """FCR = share of first contacts resolved, with counts and a 95% Wilson interval, per segment, from
    `first_contact_counts` (or the sum of several), the segments sorted as text."""
    grp = pd.DataFrame({"segment": counts.index.to_numpy(dtype=object),
                        "first_contacts": counts["first_contacts"].to_numpy(dtype=np.int64),
                        "resolved": counts["resolved"].to_numpy(dtype=np.int64)})
    grp = grp.sort_values("segment", key=lambda s: s.astype(str)).reset_index(drop=True)
    grp["fcr"] = grp["resolved"] / grp["first_contacts"]
    grp["ci_low"], grp["ci_high"] = wilson_interval(grp["resolved"].to_numpy(), grp["first_contacts"].to_numpy())
    return grp


def fcr_table(labelled: pd.DataFrame, by: str | None = None, *, first: pd.DataFrame | None = None) -> pd.DataFrame:
    """FCR = share of first contacts resolved, with counts and a 95% Wilson interval, per `by`.

    `first` (from first_contacts) saves selecting the first contacts again for every table."""
    fc = first if first is not None else first_contacts(labelled, [by] if by else [])
    return fcr_from_counts(first_contact_counts(fc, by))


def fcr_by_count(labelled: pd.DataFrame, column: str, cap: int = 3) -> pd.DataFrame:
    """FCR by a count of the first contact (e.g. transfers), `cap` or more together ("3+")."""
    fc = first_contacts(labelled, [column])
    capped = np.minimum(fc[column].fillna(0), cap).astype(int).astype(str).replace(str(cap), f"{cap}+")
    return fcr_table(labelled, column, first=fc.assign(**{column: capped}))


MONDAY_US = pd.Timestamp("1970-01-05").value // 1000  # the first Monday of the epoch, in microseconds
WEEK_US = 7 * 86_400 * 1_000_000


def weekly_counts(fc: pd.DataFrame, tz: str = "UTC") -> pd.DataFrame:
    """`first_contact_counts` by ISO week number since the epoch's first Monday (at midnight in `tz`)."""
    started = pd.DatetimeIndex(fc["started_at"])
    if started.tz is not None and tz != "UTC":
        started = started.tz_convert(tz).tz_localize(None)  # wall-clock time: weeks cut at local midnight
    week_no = (started.as_unit("us").asi8 - MONDAY_US) // WEEK_US
    lo = int(week_no.min()) if len(week_no) else 0
    weeks = pd.Categorical.from_codes(week_no - lo, categories=np.arange(lo, int(week_no.max(initial=lo)) + 1))
    return first_contact_counts(fc.assign(week=weeks), "week")


def weekly_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """FCR by ISO week (`weekly_counts`, or their sum), each week named by its Monday."""
    table = fcr_from_counts(counts)
    start = pd.to_datetime(table["segment"].astype(np.int64) * WEEK_US + MONDAY_US, unit="us")
    return table.assign(segment=start.dt.strftime("%Y-%m-%d")).rename(columns={"segment": "week"})


def weekly_fcr(labelled: pd.DataFrame, *, first: pd.DataFrame | None = None, tz: str = "UTC") -> pd.DataFrame:
    """FCR by ISO week (weeks start on Monday at midnight in `tz`)."""
    fc = first if first is not None else first_contacts(labelled, ["started_at"])
    return weekly_from_counts(weekly_counts(fc, tz))


DELAY_MAX_DAYS, DELAY_BIN_HOURS = 30, 12


def _delay_edges(max_days: int, bin_hours: int) -> np.ndarray:
    return np.arange(0, max_days + 1e-9, bin_hours / 24)


def repeat_delay_counts(labelled: pd.DataFrame, max_days: int = DELAY_MAX_DAYS,
                        bin_hours: int = DELAY_BIN_HOURS) -> np.ndarray:
    """Contacts by delay (in `bin_hours` bins up to `max_days`) until the customer came back about the same
    issue: the counts of `repeat_delay_histogram`."""
    d = labelled["next_contact_delay_s"].dropna() / 86_400
    counts, _ = np.histogram(d[d < max_days], bins=_delay_edges(max_days, bin_hours))
    return counts.astype(np.int64)


def repeat_delay_table(counts: np.ndarray, max_days: int = DELAY_MAX_DAYS,
                       bin_hours: int = DELAY_BIN_HOURS) -> pd.DataFrame:
    return pd.DataFrame({"delay_days": _delay_edges(max_days, bin_hours)[:-1].round(3), "contacts": counts})


def repeat_delay_histogram(labelled: pd.DataFrame, max_days: int = DELAY_MAX_DAYS,
                           bin_hours: int = DELAY_BIN_HOURS) -> pd.DataFrame:
    """How long until the customer came back about the same issue (any delay, not only within the
    window, up to `max_days`), for handled contacts: a long tail just past the window says the window
    is too short."""
    return repeat_delay_table(repeat_delay_counts(labelled, max_days, bin_hours), max_days, bin_hours)


def kappa_from_confusion(confusion: np.ndarray) -> float:
    """Cohen's kappa from a 2x2 confusion table: the steps of scikit-learn's cohen_kappa_score."""
    confusion = np.asarray(confusion).astype(np.float64)
    sum0, sum1 = np.sum(confusion, axis=0), np.sum(confusion, axis=1)
    expected = np.outer(sum0, sum1) / np.sum(sum0)
    weights = np.ones((2, 2))
    np.fill_diagonal(weights, 0)
    return float(1 - np.sum(weights * confusion) / np.sum(weights * expected))


def confusion_2x2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of the (a, b) pairs of two yes/no measurements: row a (False, True), column b."""
    return np.bincount(np.asarray(a, bool) * 2 + np.asarray(b, bool), minlength=4).reshape(2, 2).astype(np.int64)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two yes/no measurements of the same contacts, each taking both values: the steps
    of scikit-learn's cohen_kappa_score on the 2x2 confusion table, so the same float (a test compares),
    without importing scikit-learn into the stage (a fifth of a second)."""
    return kappa_from_confusion(confusion_2x2(a, b))


def _agreement(confusion: np.ndarray, name_a: str) -> dict:
    """Two yes/no measurements of "resolved" on the same contacts (the `confusion_2x2` of measurement
    `name_a` and tracking): agreement, Cohen's kappa (None when either side is constant: kappa is
    undefined), disagreements and the cross-table of the values each side takes."""
    n = int(confusion.sum())
    rows, cols = confusion.sum(axis=1) > 0, confusion.sum(axis=0) > 0
    prefix = name_a.split("_")[0]
    return {
        "agreement": (int(confusion[0, 0]) + int(confusion[1, 1])) / n,
        "cohen_kappa": kappa_from_confusion(confusion) if rows.all() and cols.all() else None,
        f"{prefix}_resolved_but_repeated": int(confusion[1, 0]),
        f"{prefix}_not_resolved_but_no_repeat": int(confusion[0, 1]),
        "crosstab": {f"{prefix}={i}": {f"tracking={j}": int(confusion[int(i), int(j)]) for j in (False, True)
                                       if cols[int(j)]} for i in (False, True) if rows[int(i)]},
    }


def survey_counts(labelled: pd.DataFrame) -> np.ndarray:
    """Survey answer (row) vs tracking's "resolved" (column) on labelled contacts with both: a 2x2 table."""
    m = labelled["survey_resolved"].notna() & labelled["tracking_repeated"].notna() & (labelled["status"] != "excluded")
    m &= labelled["status"] == "labelled"
    return confusion_2x2(labelled.loc[m, "survey_resolved"].astype(bool).to_numpy(),
                         ~labelled.loc[m, "tracking_repeated"].astype(bool).to_numpy())


def survey_figures(confusion: np.ndarray) -> dict:
    n = int(confusion.sum())
    return {"contacts_with_survey": n, **_agreement(confusion, "survey_resolved")} if n else {"contacts_with_survey": 0}


def survey_agreement(labelled: pd.DataFrame) -> dict:
    """Survey answer vs repeat tracking on handled contacts with both: two measurements of one thing."""
    return survey_figures(survey_counts(labelled))


def data_end(started_at: pd.Series, as_of: str | None) -> pd.Timestamp:
    """The end of the data: label.as_of, else the latest start (UTC when the time has no zone)."""
    end = pd.Timestamp(as_of) if as_of else started_at.max()
    if end is not pd.NaT and end.tzinfo is None:
        end = end.tz_localize("UTC")
    return end


def tracking_matured(labelled: pd.DataFrame, window_days: float, as_of: str | None,
                     end: pd.Timestamp | None = None) -> pd.Series:
    """Handled contacts whose repeat-tracking window is over by the end of the data (`end`, else `data_end`)."""
    t = labelled["started_at"]
    end = data_end(t, as_of) if end is None else end
    return labelled["tracking_repeated"].notna() & (t + pd.Timedelta(days=window_days) <= end)


def signal_counts(labelled: pd.DataFrame, window_days: float, end: pd.Timestamp) -> np.ndarray | None:
    """The export's resolution signal (row) vs tracking's "resolved" (column) on handled contacts whose
    tracking window is over by `end`: a 2x2 table; None without a signal column."""
    if "resolution_signal" not in labelled:
        return None
    m = labelled["resolution_signal"].notna() & tracking_matured(labelled, window_days, None, end)
    return confusion_2x2(labelled.loc[m, "resolution_signal"].astype(bool).to_numpy(),
                         ~labelled.loc[m, "tracking_repeated"].astype(bool).to_numpy())


def signal_figures(confusion: np.ndarray | None) -> dict:
    if confusion is None:
        return {"contacts_with_signal": 0, "note": "no outcome signal in the export (ingest.files.outcome_signal)"}
    n = int(confusion.sum())
    if n == 0:
        return {"contacts_with_signal": 0, "note": "no handled contact has both a signal and a closed window"}
    return {"contacts_with_signal": n, **_agreement(confusion, "signal_resolved")}


def signal_agreement(labelled: pd.DataFrame, window_days: float, as_of: str | None) -> dict:
    """The export's own resolution signal vs repeat tracking, on handled contacts whose tracking
    window is over and that have a signal (like the survey: two measurements of one thing)."""
    return signal_figures(signal_counts(labelled, window_days, data_end(labelled["started_at"], as_of)))


# Sanity thresholds: beyond them a figure is more likely a mapping or export problem than a fact
# about the operation (they only warn; the figures are still written).
MAX_ANONYMOUS_SHARE = 0.2
MAX_CENSORED_SHARE = 0.5
MIN_RETURNING_SHARE = 0.05   # of known customers with two contacts or more
MIN_SPAN_WINDOWS = 3         # the data should span several windows
PLAUSIBLE_REPEAT_RATE = (0.01, 0.6)


def count_equal(values: pd.Series, value: str) -> int:
    """Rows whose value, as text, is `value`; a categorical column is counted on its codes, not turned
    into text row by row (at 3M contacts 0.3 s a column)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        match = np.asarray(values.cat.categories.astype("str") == value, dtype=bool)
        codes = values.cat.codes.to_numpy()
        return int(np.bincount(codes[codes >= 0], minlength=len(match))[match].sum()) if len(match) else 0
    return int((values.astype("str") == value).sum())


def merged_share(labelled: pd.DataFrame) -> float | None:
    """Share of the contacts merged into an earlier contact of the same customer (None: no contacts)."""
    n = len(labelled)
    return count_equal(labelled["excluded_reason"], "merged") / n if n else None


def customer_counts(customers: pd.Series) -> tuple[int, int]:
    """(known customers, those with more than one contact). Text ids in sorted order, as ingest writes them,
    are counted from their runs rather than hashed (3M contacts: 0.05 s instead of 0.2 s)."""
    if customers.dtype == "str":
        ids = pc.drop_null(pa.array(customers))
        n = len(ids)
        if n > 1 and pc.all(pc.less_equal(ids.slice(0, n - 1), ids.slice(1))).as_py():
            starts = np.flatnonzero(np.r_[True, pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)])
            return len(starts), int((np.diff(np.r_[starts, n]) > 1).sum())
    per_customer = customers.dropna().value_counts()
    return len(per_customer), int((per_customer > 1).sum())


def returning_share(customers: pd.Series) -> float | None:
    """Share of the known customers with more than one contact (None: no known customer)."""
    known, returning = customer_counts(customers)
    return returning / known if known else None


def merge_warning(share: float | None, max_share: float) -> str | None:
    """Words for a merged share above label.max_merged_share, with its likely cause."""
    if share is None or share <= max_share:
        return None
    return (f"{share:.1%} of contacts were merged into an earlier contact, above label.max_merged_share="
            f"{max_share:.0%}: merges should only join pieces of one contact (a dropped call and the call back, a "
            "transfer); this many usually means ended_at is mapped to a ticket's close or last event time (then "
            "a new ticket soon after the previous one closed looks like its continuation) or label.merge_gap_s "
            "is too long for this export; map ended_at to the end of the interaction, or set "
            "label.merge_gap_s: 0")


@dataclass
class SanityCounts:
    """The counts behind `sanity_warnings` (a customer's contacts all in one piece: `customers`,
    `returning` add up; None without a customer_id column)."""

    rows: int = 0
    merged: int = 0
    anonymous: int = 0
    censored: int = 0
    labelled: int = 0
    customers: int | None = None
    returning: int | None = None
    first_start: pd.Timestamp = pd.NaT
    last_start: pd.Timestamp = pd.NaT
    tracked: int = 0
    tracked_repeated: int = 0


def sanity_counts(labelled: pd.DataFrame) -> SanityCounts:
    known, returning = customer_counts(labelled["customer_id"]) if "customer_id" in labelled else (None, None)
    t = labelled["started_at"]
    tracked = labelled["tracking_repeated"].dropna().astype(bool)
    return SanityCounts(rows=len(labelled), merged=count_equal(labelled["excluded_reason"], "merged"),
                        anonymous=count_equal(labelled["excluded_reason"], "anonymous_customer"),
                        censored=count_equal(labelled["status"], "censored"),
                        labelled=count_equal(labelled["status"], "labelled"), customers=known, returning=returning,
                        first_start=t.min(), last_start=t.max(), tracked=len(tracked),
                        tracked_repeated=int(tracked.to_numpy(dtype=bool).sum()))


def sanity_figures(c: SanityCounts, window_days: float, max_merged_share: float) -> tuple[dict, list[str]]:
    """Figures that tell whether repeat tracking can work on this export, and warnings in words."""
    n, anonymous, censored, lab = c.rows, c.anonymous, c.censored, c.labelled
    merged = c.merged / n if n else None
    returning = c.returning / c.customers if c.customers else None
    span_days = float((c.last_start - c.first_start) / pd.Timedelta(days=1)) if n else 0.0
    rate = c.tracked_repeated / c.tracked if c.tracked else None
    figures = {"anonymous_share": anonymous / n if n else None,
               "censored_share": censored / (censored + lab) if censored + lab else None,
               "returning_customer_share": returning, "data_span_days": round(span_days, 2),
               "window_days": window_days, "tracking_repeat_rate": rate, "merged_share": merged}
    warnings = []
    too_many_merged = merge_warning(merged, max_merged_share)
    if too_many_merged:
        warnings.append(too_many_merged)
    if n and anonymous / n > MAX_ANONYMOUS_SHARE:
        warnings.append(f"{anonymous / n:.0%} of contacts are anonymous (no customer id): they cannot be linked; "
                        "check ingest.files.anonymous_customer_ids and the customer_id mapping")
    if censored + lab and censored / (censored + lab) > MAX_CENSORED_SHARE:
        warnings.append(f"{censored / (censored + lab):.0%} of handled contacts are censored (their window is not "
                        "over): the data is short for label.window_days")
    if returning is not None and returning < MIN_RETURNING_SHARE:
        warnings.append(f"only {returning:.1%} of customers have more than one contact: repeat tracking sees "
                        "almost no repeats; is customer_id a per-contact id?")
    if span_days < MIN_SPAN_WINDOWS * window_days:
        warnings.append(f"the data spans {span_days:.1f} days, under {MIN_SPAN_WINDOWS} windows of "
                        f"{window_days:g} days: few contacts can be labelled")
    if rate is not None and not PLAUSIBLE_REPEAT_RATE[0] <= rate <= PLAUSIBLE_REPEAT_RATE[1]:
        warnings.append(f"repeat tracking finds {rate:.1%} of handled contacts repeated, outside the plausible "
                        f"{PLAUSIBLE_REPEAT_RATE[0]:.0%}-{PLAUSIBLE_REPEAT_RATE[1]:.0%}: "
                        + ("the merges above most likely swallowed the repeats" if too_many_merged else
                           "check label.match and the reason codes"))
    return figures, warnings


def sanity_warnings(labelled: pd.DataFrame, window_days: float,
                    max_merged_share: float) -> tuple[dict, list[str]]:
    """Figures that tell whether repeat tracking can work on this export, and warnings in words."""
    return sanity_figures(sanity_counts(labelled), window_days, max_merged_share)


def _value_counts(values: pd.Series) -> pd.Series:
    """Rows by value (every category of a categorical, in category order), on a plain index: additive."""
    counts = values.value_counts(sort=False)
    return _counts(counts.index.to_numpy(dtype=object), counts.to_numpy())


@dataclass
class StatusCounts:
    """Rows by status, excluded rows by reason, repeated rows by the source of the label."""

    rows: int = 0
    status: pd.Series = field(default_factory=lambda: _counts([], []))
    excluded_by_reason: pd.Series = field(default_factory=lambda: _counts([], []))
    repeated_by_source: pd.Series = field(default_factory=lambda: _counts([], []))


def status_summary(labels: pd.DataFrame) -> StatusCounts:
    return StatusCounts(rows=len(labels), status=_value_counts(labels["status"]),
                        excluded_by_reason=_value_counts(labels.loc[labels["status"] == "excluded", "excluded_reason"]),
                        repeated_by_source=_value_counts(labels.loc[labels["repeat_source"] != "", "repeat_source"]))


def status_figures(c: StatusCounts) -> dict:
    """Counts by status, and of the excluded by reason and the repeated by source, largest first."""
    out = {s: int(c.status.get(s, 0)) for s in ("labelled", "censored", "excluded")}
    out["rows_in"] = c.rows
    for name, counts in (("excluded_by_reason", c.excluded_by_reason), ("repeated_by_source", c.repeated_by_source)):
        out[name] = {str(k): int(v) for k, v in counts.sort_values(ascending=False).items() if v and k != ""}
    return out


def status_counts(labels: pd.DataFrame) -> dict:
    return status_figures(status_summary(labels))


SEGMENTS = ("channel", "reason_family", "team")


def segment_counts(labelled: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """`first_contact_counts` overall ('all'), by each segment column present and by week ('week')."""
    segments = [s for s in SEGMENTS if s in labelled.columns]
    first = first_contacts(labelled, [*segments, "started_at"])
    return {"all": first_contact_counts(first), **{seg: first_contact_counts(first, seg) for seg in segments},
            "week": weekly_counts(first)}


def segment_figures(counts: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: weekly_from_counts(c) if name == "week" else fcr_from_counts(c) for name, c in counts.items()}


def segment_tables(labelled: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """FCR tables overall ('all'), by each segment column present and by week ('week')."""
    return segment_figures(segment_counts(labelled))


@dataclass
class LabelSummary:
    """The additive counts of a labelled frame behind every figure of the label stage (`summarize`)."""

    status: StatusCounts
    first: dict[str, pd.DataFrame]   # `segment_counts`
    survey: np.ndarray               # `survey_counts`
    signal: np.ndarray | None        # `signal_counts`
    sanity: SanityCounts
    repeat_delays: np.ndarray        # `repeat_delay_counts`


def summarize(labelled: pd.DataFrame, window_days: float, end: pd.Timestamp | None = None) -> LabelSummary:
    """The counts of `labelled` (the whole table, or a piece holding whole customers); `end`: the end of the
    whole data (`data_end`), default that of this frame."""
    end = data_end(labelled["started_at"], None) if end is None else end
    return LabelSummary(status=status_summary(labelled), first=segment_counts(labelled),
                        survey=survey_counts(labelled), signal=signal_counts(labelled, window_days, end),
                        sanity=sanity_counts(labelled), repeat_delays=repeat_delay_counts(labelled))


def _add(a: object, b: object) -> object:
    """The sum of two counts of a summary: numbers, arrays, count tables by value (in order of appearance)."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, (pd.Series, pd.DataFrame)):
        return pd.concat([a, b]).groupby(level=0, sort=False).sum()
    return a + b


def _earliest(a: pd.Timestamp, b: pd.Timestamp, latest: bool = False) -> pd.Timestamp:
    if pd.isna(a) or pd.isna(b):
        return b if pd.isna(a) else a
    return max(a, b) if latest else min(a, b)


def combine(summaries: list[LabelSummary]) -> LabelSummary:
    """The summary of the frames of `summaries` together (each holding whole customers): counts summed,
    the first and last start of all."""
    def merge(x: LabelSummary, y: LabelSummary) -> LabelSummary:
        status = StatusCounts(**{f.name: _add(getattr(x.status, f.name), getattr(y.status, f.name))
                                 for f in fields(StatusCounts)})
        sanity = SanityCounts(**{f.name: _add(getattr(x.sanity, f.name), getattr(y.sanity, f.name))
                                 for f in fields(SanityCounts) if not f.name.endswith("_start")},
                              first_start=_earliest(x.sanity.first_start, y.sanity.first_start),
                              last_start=_earliest(x.sanity.last_start, y.sanity.last_start, latest=True))
        first = {k: _add(x.first[k], y.first[k]) for k in x.first}
        return LabelSummary(status=status, first=first, survey=x.survey + y.survey, signal=_add(x.signal, y.signal),
                            sanity=sanity, repeat_delays=x.repeat_delays + y.repeat_delays)

    if not summaries:
        raise ValueError("no summary to combine")
    out = summaries[0]
    for s in summaries[1:]:
        out = merge(out, s)
    return out


def label_figures(summary: LabelSummary, rules: dict) -> tuple[dict, dict[str, pd.DataFrame], pd.DataFrame]:
    """metrics/label.json's figures (`metrics_from_summary`), the FCR tables and the repeat-delay histogram."""
    tables = segment_figures(summary.first)
    return metrics_from_summary(summary, rules, tables), tables, repeat_delay_table(summary.repeat_delays)


def metrics_from_summary(summary: LabelSummary, rules: dict, tables: dict[str, pd.DataFrame]) -> dict:
    """metrics/label.json: the rules, counts by status, FCR overall and by segment, survey agreement."""
    def records(t: pd.DataFrame) -> dict:
        return {str(r.segment): {"fcr": _num(r.fcr), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high),
                                 "first_contacts": int(r.first_contacts)} for r in t.itertuples()}

    metrics = {"rules": rules, "counts": status_figures(summary.status), "fcr": records(tables["all"])["all"]}
    for seg in SEGMENTS:
        if seg in tables:
            metrics[f"fcr_by_{seg}"] = records(tables[seg])
    metrics["survey_vs_tracking"] = survey_figures(summary.survey)
    metrics["signal_vs_tracking"] = signal_figures(summary.signal)
    metrics["sanity"], metrics["warnings"] = sanity_figures(summary.sanity, rules["window_days"],
                                                            rules["max_merged_share"])
    metrics["merges"] = {"merged": metrics["counts"]["excluded_by_reason"].get("merged", 0),
                         "merged_share": metrics["sanity"]["merged_share"],
                         "max_merged_share": rules["max_merged_share"],
                         "above_max": bool(metrics["sanity"]["merged_share"] is not None
                                           and metrics["sanity"]["merged_share"] > rules["max_merged_share"])}
    c = metrics["counts"]
    if c["labelled"] + c["censored"] + c["excluded"] != c["rows_in"]:
        raise AssertionError(f"label counts do not add up: {c}")
    return metrics


def label_metrics(labelled: pd.DataFrame, rules: dict, tables: dict[str, pd.DataFrame]) -> dict:
    """metrics/label.json from the whole labelled table (`summarize`, then `metrics_from_summary`)."""
    end = data_end(labelled["started_at"], rules.get("as_of"))
    return metrics_from_summary(summarize(labelled, rules["window_days"], end), rules, tables)


def _num(x: float) -> float | None:
    """A rounded figure, or None (JSON null) where it cannot be computed (no first contacts)."""
    return None if x is None or not np.isfinite(x) else round(float(x), 4)
