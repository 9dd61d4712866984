"""Point-in-time history primitives: counts and sums over a group's earlier rows in a time window.

In: a group code per row (customer, agent, reason code, ...; -1 = no group), times in seconds, and
per row a window [lo, hi) of times. Out: for each row, how many rows of its group (or the sum of a
weight over them) have a time in [lo, hi). With hi = the row's own time, only strictly earlier rows
count, so a feature can never see its own contact or anything after it.

One sort per grouping, then binary search: O(n log n), no Python loops, no pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_KEY = 2**62


@dataclass(frozen=True)
class GroupIndex:
    """Rows sorted by (group, time), packed into one int64 key for binary search."""

    keys: np.ndarray      # sorted packed keys
    order: np.ndarray     # row of each sorted position
    t0: int
    span: int

    @classmethod
    def build(cls, group: np.ndarray, t: np.ndarray, margin: int) -> "GroupIndex":
        """`margin`: the widest look-back (seconds) any query will use, so keys of groups never overlap."""
        t0 = int(t.min()) - margin - 1 if len(t) else 0
        span = (int(t.max()) - t0 + 2) if len(t) else 1
        n_groups = int(group.max(initial=-1)) + 2
        if n_groups * span >= _MAX_KEY:
            raise ValueError(f"{n_groups} groups x {span} s do not fit one int64 key; shorten the data span")
        keys = (group.astype(np.int64) + 1) * span + (t - t0)
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], order, t0, span)

    def _pos(self, group: np.ndarray, at: np.ndarray) -> np.ndarray:
        q = (group.astype(np.int64) + 1) * self.span + np.clip(at - self.t0, 0, self.span - 1)
        return np.searchsorted(self.keys, q, side="left")

    def count(self, group: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Rows of `group` with lo <= time < hi."""
        return np.maximum(self._pos(group, hi) - self._pos(group, lo), 0)

    def cumulative(self, weights: np.ndarray) -> np.ndarray:
        """Prefix sums of `weights` in sorted order, for `sum`."""
        return np.concatenate([[0.0], np.cumsum(weights[self.order], dtype=np.float64)])

    def sum(self, prefix: np.ndarray, group: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sum of the weights behind `prefix` over rows of `group` with lo <= time < hi."""
        a, b = self._pos(group, lo), self._pos(group, hi)
        return np.where(b > a, prefix[b] - prefix[a], 0.0)


def smoothed_rate(events: np.ndarray, trials: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """(events + strength * prior) / (trials + strength): a rate shrunk toward its prior when the
    history is short (empirical-Bayes style), so 2 contacts never make a 0% or 100% agent."""
    return (events + strength * prior) / (trials + strength)
