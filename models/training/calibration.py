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
from threadpoolctl import threadpool_limits

from contract.precision import MODEL_DIGITS, round_significant

from models.scoring import Calibrator


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: Literal["platt", "isotonic"]) -> Calibrator:
    """Its numbers rounded to MODEL_DIGITS significant digits, in memory as on disk: the fit's last digits
    depend on the CPU's BLAS kernels (contract/precision.py). Platt: Newton steps to convergence on one
    BLAS thread (lbfgs stops early, where different kernels leave it in different places)."""
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    if method == "platt":
        with threadpool_limits(1):
            lr = LogisticRegression(C=1e6, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(raw.reshape(-1, 1), y)
        slope, intercept = round_significant(np.array([lr.coef_[0, 0], lr.intercept_[0]]), MODEL_DIGITS)
        return Calibrator("platt", slope=float(slope), intercept=float(intercept))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(1.0 / (1.0 + np.exp(-raw)), y)
        return Calibrator("isotonic", x=round_significant(iso.X_thresholds_, MODEL_DIGITS).tolist(),
                          y=round_significant(iso.y_thresholds_, MODEL_DIGITS).tolist())
    raise ValueError(f"train.calibration: unknown method {method!r}; use 'platt' or 'isotonic'.")
