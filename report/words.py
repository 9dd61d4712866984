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


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:.2g}"


def driver_group(values: pd.Series, shap: np.ndarray) -> tuple[str, pd.Series] | None:
    """Which contacts this driver pushes toward a repeat, as a condition on its value: for a category, the
    value with the highest average push; for a number, above (or at most) its median, by the direction in
    which larger values push. Returns (condition in words, a function of values giving the mask)."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_string_dtype(values):
        v = values.astype(str)
        means = pd.Series(shap).groupby(v.to_numpy()).mean()
        if len(means) < 2:
            return None
        top = str(means.idxmax())
        return f"is {top.replace('_', ' ')}", ("eq", top)
    num = pd.to_numeric(values, errors="coerce")
    ok = num.notna().to_numpy()
    if ok.sum() < 2 or num.nunique() < 2:
        return None
    rho = np.corrcoef(num[ok].rank(), pd.Series(shap[ok]).rank())[0, 1]
    if not np.isfinite(rho):
        return None
    cut = float(num.median())
    if cut >= float(num.max()):  # mostly one high value: compare it with the rest
        cut = float(num[num < cut].max())
    if rho > 0:
        return f"is above {_fmt(cut)}", ("gt", cut)
    return f"is {_fmt(cut)} or less", ("le", cut)


def _mask(values: pd.Series, rule: tuple[str, object]) -> np.ndarray:
    kind, x = rule
    if kind == "eq":
        return (values.astype(str) == x).to_numpy()
    num = pd.to_numeric(values, errors="coerce")
    return (num > x).to_numpy() if kind == "gt" else (num <= x).fillna(False).to_numpy()


def drivers_in_words(
    drivers: pd.DataFrame, spec: dict, table: pd.DataFrame, shap: pd.DataFrame, top: int, significance: float
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
    lab = table[table["status"] == "labelled"]
    y = lab["repeated"].fillna(False).to_numpy(dtype=bool)
    sample = table.set_index("contact_id").reindex(shap["contact_id"])
    rows = []
    for r in drivers.itertuples():
        if len(rows) >= top:
            break
        f = by_name.get(r.feature, {"name": r.feature, "description": getattr(r, "description", r.feature)})
        if r.feature not in table.columns or f"shap_{r.feature}" not in shap.columns:
            continue
        found = driver_group(sample[r.feature], shap[f"shap_{r.feature}"].to_numpy(dtype=float))
        if found is None:
            continue
        condition, rule = found
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
            size = f"only {ratio:.1f} times as likely to come back (less likely)"
        rows.append(
            {
                "driver": label,
                "condition": condition,
                "controllable": controllable,
                "contacts_with": n_with,
                "rate_with": float(with_),
                "rate_without": float(without),
                "times_as_likely": ratio,
                "sentence": f"{label[:1].upper() + label[1:]} {condition}: {size} "
                f"({with_:.0%} of these contacts led to a repeat, against {without:.0%} of the others).",
            }
        )
    return pd.DataFrame(rows, columns=cols)
