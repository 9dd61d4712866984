"""FCR figures from labelled contacts: overall and by segment with Wilson intervals, the repeat-delay
distribution, and how often the survey and repeat tracking disagree.

In: the labelled contact table (contacts joined with the label columns). Out: plain DataFrames and
dicts; the label stage writes them as DVC metrics and plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import cohen_kappa_score


def wilson_interval(successes: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion; (nan, nan) where n == 0."""
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
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


def weekly_fcr(labelled: pd.DataFrame, *, first: pd.DataFrame | None = None) -> pd.DataFrame:
    """FCR by ISO week (weeks start on Monday, UTC)."""
    fc = first if first is not None else first_contacts(labelled, ["started_at"])
    us = pd.DatetimeIndex(fc["started_at"]).as_unit("us").asi8
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


def survey_agreement(labelled: pd.DataFrame) -> dict:
    """Survey answer vs repeat tracking on handled contacts with both: two measurements of one thing."""
    m = labelled["survey_resolved"].notna() & labelled["tracking_repeated"].notna() & (labelled["status"] != "excluded")
    m &= labelled["status"] == "labelled"
    s = labelled.loc[m, "survey_resolved"].astype(bool)
    t = ~labelled.loc[m, "tracking_repeated"].astype(bool)
    n = int(m.sum())
    if n == 0:
        return {"contacts_with_survey": 0}
    both = pd.crosstab(s.rename("survey_resolved"), t.rename("tracking_resolved"))
    return {
        "contacts_with_survey": n,
        "agreement": float((s == t).mean()),
        "cohen_kappa": float(cohen_kappa_score(s, t)) if s.nunique() > 1 and t.nunique() > 1 else None,
        "survey_resolved_but_repeated": int((s & ~t).sum()),
        "survey_not_resolved_but_no_repeat": int((~s & t).sum()),
        "crosstab": {f"survey={i}": {f"tracking={j}": int(both.loc[i, j]) for j in both.columns} for i in both.index},
    }


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
    c = metrics["counts"]
    if c["labelled"] + c["censored"] + c["excluded"] != c["rows_in"]:
        raise AssertionError(f"label counts do not add up: {c}")
    return metrics


def _num(x: float) -> float | None:
    """A rounded figure, or None (JSON null) where it cannot be computed (no first contacts)."""
    return None if x is None or not np.isfinite(x) else round(float(x), 4)
