"""labelling/measure.py as it was before its figures came from summaries (issue 28): the figures computed on the
whole labelled table, kept to check that the summary route gives the same values, float for float
(tests/labelling/test_measure.py)."""

from __future__ import annotations

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


def first_contacts(labelled: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """The FCR population: labelled (matured, not excluded) first contacts of an episode, with a
    boolean `resolved`; only `columns` (default all) are carried, since this can be millions of rows."""
    mask = ((labelled["status"] == "labelled") & labelled["is_first_contact"]).to_numpy()
    keep = labelled if columns is None else labelled[[c for c in columns if c in labelled.columns]]
    out = keep[mask]
    return out.assign(resolved=~labelled["repeated"].fillna(True).to_numpy(dtype=bool)[mask])


def fcr_table(labelled: pd.DataFrame, by: str | None = None, *, first: pd.DataFrame | None = None) -> pd.DataFrame:
    """FCR = share of first contacts resolved, with counts and a 95% Wilson interval, per `by`.

    `first` (from first_contacts) saves selecting the first contacts again for every table."""
    fc = first if first is not None else first_contacts(labelled, [by] if by else [])
    resolved = fc["resolved"].to_numpy()
    if by is None:
        grp = pd.DataFrame({"segment": ["all"], "first_contacts": [len(fc)], "resolved": [int(resolved.sum())]})
    else:
        # Group on integer codes: cheap even for millions of contacts with string segments.
        col = fc[by]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes, uniques = col.cat.codes.to_numpy(), np.asarray(col.cat.categories, dtype=object)
        else:
            codes, uniques = pd.factorize(col.to_numpy(), sort=True)
        keep = codes >= 0
        size = np.bincount(codes[keep], minlength=len(uniques))
        res = np.bincount(codes[keep], weights=resolved[keep], minlength=len(uniques)).astype(np.int64)
        grp = pd.DataFrame({"segment": np.asarray(uniques, dtype=object), "first_contacts": size, "resolved": res})
        grp = grp[grp["first_contacts"] > 0].sort_values("segment", key=lambda s: s.astype(str))
        grp = grp.reset_index(drop=True)
    grp["fcr"] = grp["resolved"] / grp["first_contacts"]
    grp["ci_low"], grp["ci_high"] = wilson_interval(grp["resolved"].to_numpy(), grp["first_contacts"].to_numpy())
    return grp


def fcr_by_count(labelled: pd.DataFrame, column: str, cap: int = 3) -> pd.DataFrame:
    """FCR by a count of the first contact (e.g. transfers), `cap` or more together ("3+")."""
    fc = first_contacts(labelled, [column])
    capped = np.minimum(fc[column].fillna(0), cap).astype(int).astype(str).replace(str(cap), f"{cap}+")
    return fcr_table(labelled, column, first=fc.assign(**{column: capped}))


def weekly_fcr(labelled: pd.DataFrame, *, first: pd.DataFrame | None = None, tz: str = "UTC") -> pd.DataFrame:
    """FCR by ISO week (weeks start on Monday at midnight in `tz`)."""
    fc = first if first is not None else first_contacts(labelled, ["started_at"])
    started = pd.DatetimeIndex(fc["started_at"])
    if started.tz is not None and tz != "UTC":
        started = started.tz_convert(tz).tz_localize(None)  # wall-clock time: weeks cut at local midnight
    us = started.as_unit("us").asi8
    monday = pd.Timestamp("1970-01-05").value // 1000  # the first Monday of the epoch, in microseconds
    week_us = 7 * 86_400 * 1_000_000
    week_no = (us - monday) // week_us
    lo = int(week_no.min()) if len(week_no) else 0
    weeks = pd.Categorical.from_codes(week_no - lo, categories=np.arange(lo, int(week_no.max(initial=lo)) + 1))
    table = fcr_table(fc, "week", first=fc.assign(week=weeks))
    start = pd.to_datetime(table["segment"].astype(np.int64) * week_us + monday, unit="us")
    return table.assign(segment=start.dt.strftime("%Y-%m-%d")).rename(columns={"segment": "week"})


def repeat_delay_histogram(labelled: pd.DataFrame, max_days: int = 30, bin_hours: int = 12) -> pd.DataFrame:
    """How long until the customer came back about the same issue (any delay, not only within the
    window, up to `max_days`), for handled contacts: a long tail just past the window says the window
    is too short."""
    d = labelled["next_contact_delay_s"].dropna() / 86_400
    edges = np.arange(0, max_days + 1e-9, bin_hours / 24)
    counts, _ = np.histogram(d[d < max_days], bins=edges)
    return pd.DataFrame({"delay_days": edges[:-1].round(3), "contacts": counts})


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two yes/no measurements of the same contacts, each taking both values: the steps
    of scikit-learn's cohen_kappa_score on the 2x2 confusion table, so the same float (a test compares),
    without importing scikit-learn into the stage (a fifth of a second)."""
    confusion = np.bincount(np.asarray(a, bool) * 2 + np.asarray(b, bool), minlength=4).reshape(2, 2)
    confusion = confusion.astype(np.float64)
    sum0, sum1 = np.sum(confusion, axis=0), np.sum(confusion, axis=1)
    expected = np.outer(sum0, sum1) / np.sum(sum0)
    weights = np.ones((2, 2))
    np.fill_diagonal(weights, 0)
    return float(1 - np.sum(weights * confusion) / np.sum(weights * expected))


def _agreement(a: pd.Series, b: pd.Series, name_a: str, name_b: str) -> dict:
    """Two yes/no measurements of "resolved" on the same contacts: agreement, Cohen's kappa (None
    when either side is constant: kappa is undefined), disagreements and the cross-table."""
    n = len(a)
    both = pd.crosstab(a.rename(name_a), b.rename(name_b))
    return {
        "agreement": float((a == b).mean()),
        "cohen_kappa": cohen_kappa(a.to_numpy(), b.to_numpy()) if a.nunique() > 1 and b.nunique() > 1 else None,
        f"{name_a.split('_')[0]}_resolved_but_repeated": int((a & ~b).sum()),
        f"{name_a.split('_')[0]}_not_resolved_but_no_repeat": int((~a & b).sum()),
        "crosstab": {f"{name_a.split('_')[0]}={i}": {f"tracking={j}": int(both.loc[i, j]) for j in both.columns}
                     for i in both.index},
        "contacts": n,
    }


def survey_agreement(labelled: pd.DataFrame) -> dict:
    """Survey answer vs repeat tracking on handled contacts with both: two measurements of one thing."""
    m = labelled["survey_resolved"].notna() & labelled["tracking_repeated"].notna() & (labelled["status"] != "excluded")
    m &= labelled["status"] == "labelled"
    s = labelled.loc[m, "survey_resolved"].astype(bool)
    t = ~labelled.loc[m, "tracking_repeated"].astype(bool)
    n = int(m.sum())
    if n == 0:
        return {"contacts_with_survey": 0}
    out = _agreement(s, t, "survey_resolved", "tracking_resolved")
    del out["contacts"]
    return {"contacts_with_survey": n, **out}


def tracking_matured(labelled: pd.DataFrame, window_days: float, as_of: str | None) -> pd.Series:
    """Handled contacts whose repeat-tracking window is over by the end of the data."""
    t = labelled["started_at"]
    end = pd.Timestamp(as_of) if as_of else t.max()
    if end is not pd.NaT and end.tzinfo is None:
        end = end.tz_localize("UTC")
    return labelled["tracking_repeated"].notna() & (t + pd.Timedelta(days=window_days) <= end)


def signal_agreement(labelled: pd.DataFrame, window_days: float, as_of: str | None) -> dict:
    """The export's own resolution signal vs repeat tracking, on handled contacts whose tracking
    window is over and that have a signal (like the survey: two measurements of one thing)."""
    if "resolution_signal" not in labelled:
        return {"contacts_with_signal": 0, "note": "no outcome signal in the export (ingest.files.outcome_signal)"}
    m = labelled["resolution_signal"].notna() & tracking_matured(labelled, window_days, as_of)
    n = int(m.sum())
    if n == 0:
        return {"contacts_with_signal": 0, "note": "no handled contact has both a signal and a closed window"}
    s = labelled.loc[m, "resolution_signal"].astype(bool)
    t = ~labelled.loc[m, "tracking_repeated"].astype(bool)
    out = _agreement(s, t, "signal_resolved", "tracking_resolved")
    del out["contacts"]
    return {"contacts_with_signal": n, **out}


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


def returning_share(customers: pd.Series) -> float | None:
    """Share of the known customers with more than one contact (None: no known customer). Text ids in
    sorted order, as ingest writes them, are counted from their runs rather than hashed (3M contacts:
    0.05 s instead of 0.2 s)."""
    if customers.dtype == "str":
        ids = pc.drop_null(pa.array(customers))
        n = len(ids)
        if n > 1 and pc.all(pc.less_equal(ids.slice(0, n - 1), ids.slice(1))).as_py():
            starts = np.flatnonzero(np.r_[True, pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)])
            return float((np.diff(np.r_[starts, n]) > 1).mean())
    per_customer = customers.dropna().value_counts()
    return float((per_customer > 1).mean()) if len(per_customer) else None


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


def sanity_warnings(labelled: pd.DataFrame, window_days: float,
                    max_merged_share: float) -> tuple[dict, list[str]]:
    """Figures that tell whether repeat tracking can work on this export, and warnings in words."""
    n = len(labelled)
    merged = merged_share(labelled)
    anonymous = count_equal(labelled["excluded_reason"], "anonymous_customer")
    censored, lab = count_equal(labelled["status"], "censored"), count_equal(labelled["status"], "labelled")
    returning = returning_share(labelled["customer_id"]) if "customer_id" in labelled else None
    t = labelled["started_at"]
    span_days = float((t.max() - t.min()) / pd.Timedelta(days=1)) if n else 0.0
    tracked = labelled["tracking_repeated"].dropna().astype(bool)
    rate = float(tracked.mean()) if len(tracked) else None
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


def status_counts(labels: pd.DataFrame) -> dict:
    counts = labels["status"].value_counts()
    out = {s: int(counts.get(s, 0)) for s in ("labelled", "censored", "excluded")}
    out["rows_in"] = int(len(labels))
    out["excluded_by_reason"] = {str(k): int(v) for k, v in labels.loc[labels["status"] == "excluded", "excluded_reason"]
                                 .value_counts().items() if v and k != ""}
    out["repeated_by_source"] = {str(k): int(v) for k, v in labels.loc[labels["repeat_source"] != "", "repeat_source"]
                                 .value_counts().items() if v and k != ""}
    return out


SEGMENTS = ("channel", "reason_family", "team")


def segment_tables(labelled: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """FCR tables overall ('all'), by each segment column present and by week ('week')."""
    segments = [s for s in SEGMENTS if s in labelled.columns]
    first = first_contacts(labelled, [*segments, "started_at"])
    tables = {"all": fcr_table(labelled, first=first)}
    tables |= {seg: fcr_table(labelled, seg, first=first) for seg in segments}
    tables["week"] = weekly_fcr(labelled, first=first)
    return tables


def label_metrics(labelled: pd.DataFrame, rules: dict, tables: dict[str, pd.DataFrame]) -> dict:
    """metrics/label.json: the rules, counts by status, FCR overall and by segment, survey agreement."""
    def records(t: pd.DataFrame) -> dict:
        return {str(r.segment): {"fcr": _num(r.fcr), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high),
                                 "first_contacts": int(r.first_contacts)} for r in t.itertuples()}

    metrics = {"rules": rules, "counts": status_counts(labelled), "fcr": records(tables["all"])["all"]}
    for seg in SEGMENTS:
        if seg in tables:
            metrics[f"fcr_by_{seg}"] = records(tables[seg])
    metrics["survey_vs_tracking"] = survey_agreement(labelled)
    metrics["signal_vs_tracking"] = signal_agreement(labelled, rules["window_days"], rules.get("as_of"))
    metrics["sanity"], metrics["warnings"] = sanity_warnings(labelled, rules["window_days"],
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


def _num(x: float) -> float | None:
    """A rounded figure, or None (JSON null) where it cannot be computed (no first contacts)."""
    return None if x is None or not np.isfinite(x) else round(float(x), 4)
