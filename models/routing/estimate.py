"""Doubly robust off-policy value of a routing policy, and its bootstrap interval.

In: per contact the observed resolution `y` (1 = resolved), the outcome model's predicted resolution under
the observed agent and under the policy's agent, the propensity of the observed agent, and whether the
policy's agent is the observed one. Out: per contact values whose mean is the policy's FCR (doubly robust:
right when either the outcome model or the propensity is right), and FCR / uplift with percentile intervals
from resampling contacts (models and assignments held fixed).
"""

from __future__ import annotations

import numpy as np

from pipeline.config import BootstrapConfig


def dr_values(y: np.ndarray, m_observed: np.ndarray, m_policy: np.ndarray, e_observed: np.ndarray,
              matched: np.ndarray) -> np.ndarray:
    """m(x, policy agent) + 1{observed agent = policy agent} / e(observed agent | x) * (y - m(x, observed agent))."""
    e = np.asarray(e_observed, dtype=float)
    if np.any(~(e > 0)):
        raise ValueError("every propensity of an observed agent must be > 0 (contacts outside overlap stay out)")
    correction = np.where(matched, (np.asarray(y, float) - m_observed) / e, 0.0)
    return np.asarray(m_policy, float) + correction


def interval(values: np.ndarray, y: np.ndarray, boot: BootstrapConfig) -> dict:
    """The policy's FCR (mean of `values`) and its uplift over the observed FCR (mean of `y`), each with a
    percentile bootstrap interval over contacts, in points (percentage points) for the uplift."""
    values, y = np.asarray(values, float), np.asarray(y, float)
    n = len(values)
    if n == 0:
        raise ValueError("no contacts to estimate on")
    rng = np.random.default_rng(boot.seed)
    tail = (1 - boot.confidence) / 2
    fcr_b, up_b = np.empty(boot.resamples), np.empty(boot.resamples)
    diff = values - y
    for r in range(boot.resamples):  # (one resample at a time: memory stays O(n))
        idx = rng.integers(0, n, n)
        fcr_b[r], up_b[r] = values[idx].mean(), diff[idx].mean()
    return {"fcr": float(values.mean()), "fcr_low": float(np.quantile(fcr_b, tail)),
            "fcr_high": float(np.quantile(fcr_b, 1 - tail)),
            "uplift_points": 100 * float(diff.mean()), "uplift_low": 100 * float(np.quantile(up_b, tail)),
            "uplift_high": 100 * float(np.quantile(up_b, 1 - tail))}
