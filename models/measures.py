"""Measures of repeat-risk scores shared by training, diagnostics, serving and the report.

In: true outcomes (1 = repeated) and predicted probabilities of a repeat, or a booster and its input.
Out: plain numbers and a small table: the reliability curve and the expected calibration error, the share
of repeats captured when the riskiest k% go to specialists, the score threshold that fills a given
specialist capacity, and a booster's raw scores. One definition of each, beside models/scoring.py: the
train stage reports them, monitoring recomputes them on new contacts, the service sets its specialist
threshold with them and the report quotes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import lightgbm as lgb


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of the predicted probability: mean prediction vs observed rate per bin."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "contacts", "mean_predicted", "observed_rate"])
    order = np.argsort(p, kind="stable")
    edges = np.linspace(0, len(p), bins + 1).round().astype(int)
    rows = []
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if hi > lo:
            idx = order[lo:hi]
            rows.append((b, hi - lo, p[idx].mean(), y[idx].mean()))
    return pd.DataFrame(rows, columns=["bin", "contacts", "mean_predicted", "observed_rate"])


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Contact-weighted mean |observed rate - mean prediction| over equal-count bins."""
    table = reliability_table(y, p, bins)
    if table.empty:
        return float("nan")
    gap = (table["observed_rate"] - table["mean_predicted"]).abs()
    return float((gap * table["contacts"]).sum() / table["contacts"].sum())


def capture_at(y: np.ndarray, p: np.ndarray, share: float) -> float:
    """Share of all repeats among the riskiest `share` of contacts (ties broken by order)."""
    y = np.asarray(y, dtype=float)
    k = int(np.ceil(share * len(y)))
    if k == 0 or y.sum() == 0:
        return 0.0
    top = np.argsort(-np.asarray(p, dtype=float), kind="stable")[:k]
    return float(y[top].sum() / y.sum())


def capacity_threshold(p: np.ndarray, capacity_share: float) -> float:
    """The score above which about `capacity_share` of contacts fall: route those to specialists."""
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return float("nan")
    return float(np.quantile(p, 1 - capacity_share, method="higher"))


def raw_scores(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """Log-odds of a repeat before calibration, using the trees up to the early-stopping point."""
    return booster.predict(X, raw_score=True, num_iteration=booster.best_iteration or None)
