"""Which of the spec's model features can teach a model anything in the training window.

In: the feature table, its spec and the training rows. Out: the spec with `model_features` reduced to
the usable ones and `dropped_features` listing each left-out feature with its reason. A feature is left
out when it is entirely missing or takes one value on every training row (nothing to split on); one
value plus missing rows is kept (missingness itself can carry signal). Features the featurize stage
already listed in the spec's `dropped_features` stay out.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class NoModelPossible(ValueError):
    """The data cannot teach any model (one outcome only in a window, or no usable feature). The train
    stage completes without a model (models/training/no_model.py); `dropped` lists left-out features."""

    def __init__(self, message: str, dropped: list[dict] | None = None) -> None:
        super().__init__(message)
        self.dropped = dropped or []


class NoUsableFeature(NoModelPossible):
    """Nothing known at arrival varies in the training window: `dropped` lists every feature and why."""


def _listed(spec: dict) -> dict[str, str]:
    out = {}
    for d in spec.get("dropped_features") or []:
        if isinstance(d, dict):
            out[str(d["name"])] = str(d.get("reason", "dropped by the featurize stage"))
        else:
            out[str(d)] = "dropped by the featurize stage"
    return out


# A category with nearly one value per contact is an identifier (a ticket number, a free-text field):
# it can only memorise the training window. Numbers are exempt (waits, tenures are near-unique and useful).
ID_LIKE_SHARE = 0.5
ID_LIKE_MIN_ROWS = 50


def why_unusable(col: pd.Series) -> str | None:
    """The reason a training-window column cannot be used, or None."""
    present = col.dropna()
    if present.empty:
        return "all missing in the training window"
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if len(present) == len(col) and (present.min() == present.max() if numeric else _distinct(present) <= 1):
        return f"constant in the training window (every row {present.iloc[0]})"
    if not numeric and len(present) >= ID_LIKE_MIN_ROWS and (n := _distinct(present)) > ID_LIKE_SHARE * len(present):
        return (f"id-like in the training window ({n:,} distinct values in {len(present):,} "
                "contacts): it can only memorise, not generalise")
    return None


def _distinct(present: pd.Series) -> int:
    """Distinct values of a column without missing ones (a categorical's by its codes: no hashing of 6M rows)."""
    if isinstance(present.dtype, pd.CategoricalDtype):
        return int(np.count_nonzero(np.bincount(present.cat.codes.to_numpy(), minlength=1)))
    return int(present.nunique())


def unusable(table: pd.DataFrame, spec: dict, rows: np.ndarray) -> dict[str, str]:
    """Each model feature of `spec` that cannot be used, with its reason: listed by featurize, or unusable on
    the training rows (why_unusable). Absent columns are not judged here: model_frame names them in its error."""
    return reasons_of(spec, {name: why_unusable(table[name].iloc[rows]) for name in to_judge(spec)
                             if name in table.columns})


def to_judge(spec: dict) -> list[str]:
    """The model features whose training-window values decide whether they are used (those featurize did not list)."""
    listed = _listed(spec)
    return [name for name in spec["model_features"] if name not in listed]


def reasons_of(spec: dict, found: dict[str, str | None]) -> dict[str, str]:
    """`unusable`'s answer from `why_unusable` of each judged feature (`found`: name -> reason or None; a name
    missing from it is not judged): the ones featurize listed, then those found unusable, in the spec's order."""
    reasons = _listed(spec)
    for name in spec["model_features"]:
        if name not in reasons and (why := found.get(name)):
            reasons[name] = why
            log.warning("feature %s left out of training: %s", name, why)
    return reasons


def narrow_spec(spec: dict, reasons: dict[str, str], n_rows: int) -> dict:
    """`spec` without the features `reasons` names (each listed in `dropped_features` with its reason; those
    the featurize stage listed stay listed). Raises when no model feature is left."""
    listed = _listed(spec)
    keep = [n for n in spec["model_features"] if n not in reasons]
    dropped = [{"name": n, "reason": r} for n, r in listed.items()]
    dropped += [{"name": n, "reason": reasons[n]} for n in spec["model_features"] if n in reasons and n not in listed]
    if not keep:
        raise NoUsableFeature(f"no usable feature: every model feature is missing or constant in the "
                              f"{n_rows} training-window contacts ({', '.join(d['name'] for d in dropped)}); "
                              "check the export's columns (ingest.files.column_map in params.yaml) or bring more "
                              "data.", dropped)
    return dict(spec, model_features=keep, dropped_features=dropped)


def usable_spec(table: pd.DataFrame, spec: dict, rows: np.ndarray) -> dict:
    """The spec training uses: see the module docstring. Raises when no feature is left."""
    return narrow_spec(spec, unusable(table, spec, rows), len(rows))
