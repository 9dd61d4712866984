"""Calibration of the booster's scores into probabilities of a repeat.

In: raw scores (log-odds) of the booster and outcomes of the validation window. Out: a `Calibrator`
that maps raw scores to probabilities, stored as plain JSON (two numbers for Platt scaling, the
breakpoints for isotonic regression) so that the service applies it with NumPy and nothing is pickled.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from models.scoring import Calibrator


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Literal["platt", "isotonic"]) -> Calibrator:
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    if method == "platt":
        lr = LogisticRegression(C=1e6, solver="lbfgs").fit(raw.reshape(-1, 1), y)
        return Calibrator("platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(1.0 / (1.0 + np.exp(-raw)), y)
        return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())
    raise ValueError(f"train.calibration: unknown method {method!r}; use 'platt' or 'isotonic'.")
