"""Drivers of repeats in words a manager can act on, and what the data could not support.

In: the explain stage's driver table, the feature specification (a feature's plain-words `label` and
`controllable` when the spec has them, else its description and its family), the labelled feature table
and the per-contact attributions of the explained sample. Out: per driver a sentence with a size a manager
understands: the repeat rate of the contacts where the driver pushes toward a repeat against all the others
("2.1 times as likely to come back"), measured on the labelled contacts themselves.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from base.frames import per_category, per_value
from report.feature_rows import FeatureRows, max_of, min_of

from report.measures import two_proportion_p

# Words of the model's own vocabulary that mean nothing to an operations reader.
_JARGON = [
    (re.compile(r",?\s*shrunk toward[^,;)]*", re.I), ""),
    (re.compile(r"\bmatured\s+", re.I), ""),
    (re.compile(r"\bshrunk\b", re.I), "smoothed"),
    (re.compile(r"\bmatured\b", re.I), "closed"),
]


def plain_label(feature: dict) -> str:
    """The feature's plain-words label (spec `label`, else its description) without model jargon."""
    text = str(feature.get("label", feature.get("description", feature["name"])))
    for pattern, repl in _JARGON:
        text = pattern.sub(repl, text)
    return text.replace("_", " ").strip()


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def number(x: float, digits: int = 2) -> str:
    """A plain number with thousands separators, never in scientific notation: 15,734; 12.5; 0.81."""
    if not np.isfinite(x):
        return "not known"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}".rstrip("0").rstrip(".") if abs(x) >= 0.01 else f"{x:,.4f}".rstrip("0").rstrip(".")


def duration(seconds: float) -> str:
    """A duration in the unit a manager would say: 45 seconds, 6 minutes, 19 hours, 3.5 days."""
    for size, one, many in ((86400, "day", "days"), (3600, "hour", "hours"), (60, "minute", "minutes")):
        if abs(seconds) >= size:
            v = seconds / size
            text = f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}".removesuffix(".0")
            return f"{text} {one if text == '1' else many}"
    return f"{seconds:.0f} second{'' if round(seconds) == 1 else 's'}"


def in_unit(x: float, unit: str | None) -> str:
    """A value of a feature in its unit (features/spec.py `unit`)."""
    if unit in ("contacts", "transfers"):
        return f"{x:,.0f} {unit[:-1] if x == 1 else unit}"
    if unit == "days":
        return duration(x * 86400)
    if unit == "seconds":
        return duration(x)
    if unit == "share":
        return f"{x:.0%}" if 0.01 <= x <= 0.99 else f"{x:.1%}"
    return number(x)


def condition_words(rule: tuple[str, object], unit: str | None) -> str:
    """The condition of a driver group in words with its unit: "more than 3 contacts", "above 40%",
    "from 18:00 on", "Saturday or later", "yes"."""
    kind, x = rule
    if kind == "eq":
        return f"\u201c{str(x).replace('_', ' ')}\u201d"
    cut = float(x)
    above = kind == "gt"
    if unit == "flag":
        return "yes" if above else "no"
    if unit in ("contacts", "transfers"):  # counts: > 2.5 is 3 or more, <= 2.5 is 2 or fewer
        whole = float(np.floor(cut))
        if above:
            return f"{in_unit(whole + 1, unit)} or more"
        return f"no {unit}" if whole <= 0 else f"{in_unit(whole, unit)} or fewer"
    if unit == "hour":
        h = int(np.floor(cut)) + 1
        return f"from {h % 24:02d}:00 on" if above else f"before {h % 24:02d}:00"
    if unit == "weekday":
        d = int(np.floor(cut))
        return f"after {WEEKDAYS[d % 7]}" if above else f"{WEEKDAYS[d % 7]} or earlier"
    shown = in_unit(cut, unit)
    if unit in ("days", "seconds"):
        return f"more than {shown}" if above else f"{shown} or less"
    return f"above {shown}" if above else f"{shown} or less"


def driver_group(values: pd.Series, shap: np.ndarray) -> tuple[str, tuple[str, object]] | None:
    """Which contacts this driver pushes toward a repeat, as a condition on its value: for a category, the
    value with the highest average push; for a number, above (or at most) its median, by the direction in
    which larger values push. Returns (condition in words without a unit, the rule giving the mask)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_string_dtype(values):
        v = values.astype(str)
        means = pd.Series(shap).groupby(v.to_numpy()).mean()
        if len(means) < 2:
            return None
        top = str(means.idxmax())
        return condition_words(("eq", top), None), ("eq", top)
    num = pd.to_numeric(values, errors="coerce")
    ok = num.notna().to_numpy()
    if ok.sum() < 2 or num.nunique() < 2 or np.ptp(np.asarray(shap, dtype=float)[ok]) == 0:
        return None  # (a driver the model never used pushes nothing: no direction; no 0/0 correlation)
    rho = np.corrcoef(num[ok].rank(), pd.Series(shap[ok]).rank())[0, 1]
    if not np.isfinite(rho):
        return None
    cut = float(num.median())
    if cut >= float(num.max()):  # mostly one high value: compare it with the rest
        cut = float(num[num < cut].max())
    rule = ("gt", cut) if rho > 0 else ("le", cut)
    return condition_words(rule, None), rule


def _mask(values: pd.Series, rule: tuple[str, object]) -> np.ndarray:
    kind, x = rule
    if kind == "eq":
        return per_value(values, lambda v: v.astype(str) == x)
    num = pd.to_numeric(values, errors="coerce")
    return (num > x).to_numpy() if kind == "gt" else (num <= x).fillna(False).to_numpy()


def same_partition(a: pd.Series, b: pd.Series) -> bool:
    """Do two columns split the contacts the same way (one value of one is always one value of the other,
    both ways)? E.g. reason family and reason code when the export has no reason families."""
    if pd.api.types.is_numeric_dtype(a) or pd.api.types.is_numeric_dtype(b):
        return False
    x, y = (per_category(c, lambda v: pd.factorize(v.astype(str))[0]) for c in (a, b))  # (equal text: equal code)
    if not len(x):
        return False
    pairs = np.unique(x.astype(np.int64) * (int(y.max()) + 1) + y)  # the distinct (x, y) pairs
    return len(pairs) == len(np.unique(x)) == len(np.unique(y))  # one y per x and one x per y


def presentation(name: str, entry: dict) -> dict:
    """The feature's words: the current declaration's label, unit and window for a built-in feature (a model
    made before they existed reads the same), else what the spec holds."""
    from features.spec import FEATURES  # the declarations, not a model's copy of them

    builtin = {f.name: f for f in FEATURES}.get(name)
    if builtin is None:
        return entry
    return entry | {"label": builtin.label, "unit": builtin.unit, "window_days": builtin.window_days}


def started_range(table: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(first, last) contact start of the rows, or None when they have no start times."""
    if "started_at" not in table or not len(table):
        return None
    ts = pd.to_datetime(table["started_at"])
    return ts.min(), ts.max()


def _wider(a: tuple | None, b: tuple | None) -> tuple | None:
    return b if a is None else a if b is None else (min_of(a[0], b[0]), max_of(a[1], b[1]))


def data_days(table: pd.DataFrame | FeatureRows) -> float | None:
    """Days the data covers (first to last contact), or None when it has no start times."""
    rows = FeatureRows.of(table)
    span = rows.fold(["started_at"], started_range, _wider) if "started_at" in rows.columns else None
    return None if span is None else float((span[1] - span[0]) / pd.Timedelta(days=1))


def _labelled(rows: pd.DataFrame) -> np.ndarray:
    return (rows["status"] == "labelled").to_numpy()


class _Columns:
    """The labelled rows of the feature table, one column at a time, each read once."""

    def __init__(self, rows: FeatureRows) -> None:
        self.rows, self.taken = rows, {}

    def __getitem__(self, name: str) -> pd.Series:
        if name not in self.taken:
            self.taken[name] = self.rows.column(name, _labelled, ["status"])
        return self.taken[name]


def drivers_in_words(
    drivers: pd.DataFrame,
    spec: dict,
    table: pd.DataFrame | FeatureRows,
    shap: pd.DataFrame,
    top: int,
    significance: float,
) -> pd.DataFrame:
    """The top drivers, each with its condition, the repeat rate with and without it and their ratio; a driver
    whose two rates do not differ beyond noise (two-proportion test at `significance`) is left out."""
    cols = [
        "driver",
        "condition",
        "controllable",
        "contacts_with",
        "rate_with",
        "rate_without",
        "times_as_likely",
        "sentence",
    ]
    by_name = {f["name"]: f for f in spec.get("features", [])}
    table = FeatureRows.of(table)
    lab = _Columns(table)  # (a column at a time: a copy of the whole labelled table is GBs at 10M)
    y = lab["repeated"].fillna(False).to_numpy(dtype=bool)
    sample = table.rows_with(shap["contact_id"], [f for f in drivers["feature"] if f in table.columns])
    span = data_days(table)
    rows, shown = [], []
    for r in drivers.itertuples():
        if len(rows) >= top:
            break
        f = by_name.get(r.feature, {"name": r.feature, "description": getattr(r, "description", r.feature)})
        f = presentation(r.feature, f)
        if r.feature not in table.columns or f"shap_{r.feature}" not in shap.columns:
            continue
        if f.get("window_days") and span is not None and f["window_days"] > span:
            continue  # a 90-day count on 28 days of data: every contact's window is cut short
        if any(same_partition(lab[r.feature], lab[other]) for other in shown):
            continue  # the same driver under another name (reason family = reason code when none are given)
        found = driver_group(sample[r.feature], shap[f"shap_{r.feature}"].to_numpy(dtype=float))
        if found is None:
            continue
        _, rule = found
        condition = condition_words(rule, f.get("unit"))
        m = _mask(lab[r.feature], rule)
        n_with, n_without = int(m.sum()), int((~m).sum())
        if n_with == 0 or n_without == 0:
            continue
        with_, without = y[m].mean(), y[~m].mean()
        p = two_proportion_p(int(y[m].sum()), n_with, int(y[~m].sum()), n_without)
        if p is None or p >= significance:
            continue
        ratio = with_ / without if without > 0 else None
        label = plain_label(f)
        controllable = bool(f.get("controllable", getattr(r, "controllable", False)))
        if ratio is None:
            size = "every repeat is in this group (no ratio can be given)"
        elif ratio >= 1:
            size = f"{ratio:.1f} times as likely to come back"
        else:
            size = f"less likely to come back: {ratio:.1f} times as often"
        shown.append(r.feature)
        rows.append(
            {
                "driver": label,
                "condition": condition,
                "controllable": controllable,
                "contacts_with": n_with,
                "rate_with": float(with_),
                "rate_without": float(without),
                "times_as_likely": ratio,
                "sentence": f"{label[:1].upper() + label[1:]}: {condition}. {size[:1].upper() + size[1:]} "
                f"({with_:.0%} of these contacts led to a repeat, against {without:.0%} of the others).",
            }
        )
    return pd.DataFrame(rows, columns=cols)
