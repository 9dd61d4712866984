"""Evaluation of repeat-risk scores for the routing use.

In: true outcomes (1 = repeated) and predicted probabilities of a repeat. Out: every figure the train
stage reports for one set of scores (`score_metrics`: the shared measures of models/measures.py,
expected calibration error, capture at k% and the capacity threshold, beside generic ranking metrics
from scikit-learn: ROC AUC, PR AUC, log loss, Brier) and the curves it hands to DVC plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, precision_recall_curve, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from models.measures import capacity_threshold, capture_at, expected_calibration_error


def score_metrics(y: np.ndarray, p: np.ndarray, capture_shares: list[float] | tuple[float, ...] = (),
                  capacity_share: float | None = None) -> dict[str, float]:
    """Every figure the train stage reports for one set of scores on one window."""
    y = np.asarray(y, dtype=np.int8)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    out = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "mean_predicted": float(p.mean()),
        "repeat_rate": float(y.mean()),
    }
    for k in capture_shares:
        out[f"capture_at_{round(100 * k):g}pct"] = capture_at(y, p, k)
    if capacity_share is not None:
        out["capacity_threshold"] = capacity_threshold(p, capacity_share)
    return out


def roc_table(y: np.ndarray, p: np.ndarray, points: int = 200) -> pd.DataFrame:
    fpr, tpr, _ = sk_roc_curve(y, p)
    keep = _thin(len(fpr), points)
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def pr_table(y: np.ndarray, p: np.ndarray, points: int = 200) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(y, p)
    keep = _thin(len(recall), points)
    return pd.DataFrame({"recall": recall[keep], "precision": precision[keep]}).sort_values("recall")


def capture_table(y: np.ndarray, p: np.ndarray, points: int = 100) -> pd.DataFrame:
    """Share of repeats captured (y) against the share of contacts sent to specialists (x)."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    caught = np.cumsum(y[order]) / max(y.sum(), 1.0)
    shares = np.linspace(0, 1, points + 1)
    k = np.ceil(shares * len(y)).astype(int)
    captured = np.where(k > 0, caught[np.maximum(k - 1, 0)], 0.0)
    return pd.DataFrame({"contacts_share": shares, "repeats_captured": captured, "random": shares})


def _thin(n: int, points: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))


HEADLINE = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "repeat_rate", "capture_at_10pct", "trees")


def headline_metrics(metrics: dict) -> dict:
    """The few figures `dvc exp show` compares (tracked metrics/train.json): the model's headline scores,
    each baseline's AUC and log loss, the Bayes comparison, the frequent-caller share and the split sizes. The full tables are
    `baseline_table` (a CSV) and the curves."""
    out = {"model": {k: metrics["model"][k] for k in HEADLINE if k in metrics["model"]},
           "baselines": {name: {k: b[k] for k in ("roc_auc", "log_loss")} for name, b in metrics["baselines"].items()},
           "beats_all_baselines_on_log_loss": metrics["beats_all_baselines_on_log_loss"]}
    for key in ("bayes", "frequent_caller_share", "dropped_features"):  # how much is just the frequent caller
        if key in metrics:
            out[key] = metrics[key]
    return out


def baseline_table(metrics: dict) -> pd.DataFrame:
    """One row per scorer (the model, then each baseline) with every test-window figure: plots/train_baselines.csv."""
    rows = [{"scorer": "model", **metrics["model"]}]
    rows += [{"scorer": name, **b} for name, b in metrics["baselines"].items()]
    return pd.DataFrame(rows)
