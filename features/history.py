"""Point-in-time history primitives: counts and sums over a group's earlier rows in a time window.

In: a group code per row (customer, agent, reason code, ...; -1 = no group) and times in seconds.
Out: for each row, how many earlier rows of its group (or the sum of a weight over them) fall in a
look-back window [t - lookback, t), or started before t - lag (`matured_at`: the latter at any query
times, for rows given apart from the queries). The window ends at the row's own
time, exclusive, so a feature never sees its own contact, a contact at the same second, or anything
after it.

One sort per grouping; every query is then a binary search with keys that are already sorted (the
rows' own keys shifted by the look-back), which keeps it cache-friendly at 10 million rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_MAX_KEY = 2**62


def arrow_array(values: pd.Series) -> pa.Array:
    """An Arrow-backed column as one Arrow array, without copying."""
    arr = pa.array(values)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def group_codes(values: pd.Series) -> np.ndarray:
    """Integer group codes of a column's values (-1 for missing), without Python objects."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return pc.dictionary_encode(arrow_array(values)).indices.fill_null(-1).to_numpy().astype(np.int64)


@dataclass
class GroupIndex:
    """Rows sorted by (group, time), packed into one int64 key: (group + 1) * span + (t - t0)."""

    keys: np.ndarray      # sorted packed keys
    order: np.ndarray     # original row of each sorted position
    span: int
    margin: int
    _here: np.ndarray | None = None  # cached _at(0)

    @classmethod
    def build(cls, group: np.ndarray, t: np.ndarray, margin: int,
              time_order: np.ndarray | None = None) -> "GroupIndex":
        """`margin`: the longest look-back (seconds) any query will use. With `time_order` (rows
        sorted by time) and fewer than 32,767 groups, the sort is a radix sort of 16-bit codes."""
        t0 = int(t.min()) - margin - 1 if len(t) else 0
        span = (int(t.max()) - t0 + 2) if len(t) else 1
        n_groups = int(group.max(initial=-1)) + 2
        if n_groups * span >= _MAX_KEY:
            raise ValueError(f"{n_groups} groups x {span} s do not fit one int64 key; shorten the data span")
        if time_order is not None and n_groups < 2**15:
            order = time_order[np.argsort((group[time_order] + 1).astype(np.int16), kind="stable")]
        else:
            order = np.argsort((group.astype(np.int64) + 1) * span + (t - t0), kind="stable")
        keys = (group[order].astype(np.int64) + 1) * span + (t[order] - t0)
        return cls(keys, order, span, margin)

    def _unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self.order] = values
        return out

    def _at(self, lookback: np.ndarray | int) -> np.ndarray:
        """Sorted position of the first row of each row's group at or after t - lookback."""
        # a Python comparison for the usual scalar look-back: np.any costs microseconds per call, which
        # the service pays a dozen times per request
        too_long = lookback > self.margin if isinstance(lookback, (int, np.integer)) else \
            len(lookback) > 0 and lookback.max() > self.margin
        if too_long:
            raise ValueError("look-back longer than the index margin")
        return np.searchsorted(self.keys, self.keys - lookback, side="left")

    def _group_start(self) -> np.ndarray:
        """Sorted position of the first row of each row's group (a linear pass over sorted keys)."""
        g = self.keys // self.span
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
        return np.repeat(first, np.diff(np.r_[first, len(g)]))

    def _now(self) -> np.ndarray:
        """Sorted position of each row's first tie: rows before it are strictly earlier."""
        if self._here is None:
            self._here = self._at(0)
        return self._here

    def window_count(self, lookback: np.ndarray | int) -> np.ndarray:
        """Per row: earlier rows of its group with t - lookback <= time < t. `lookback` is a
        number or an array in sorted order (see `sorted_values`)."""
        return self._unsort(self._now() - self._at(lookback))

    def previous(self) -> np.ndarray:
        """Per row: the original row of its group's latest strictly earlier row, or -1."""
        at = self._now() - 1
        ok = (at >= 0) & (self.keys[np.maximum(at, 0)] // self.span == self.keys // self.span)
        return self._unsort(np.where(ok, self.order[np.maximum(at, 0)], -1))

    def sorted_values(self, values: np.ndarray) -> np.ndarray:
        return values[self.order]

    def matured_sums(self, weights: list[np.ndarray], lag: int) -> list[np.ndarray]:
        """Per row and 0/1 weight: how many of its group's rows that started before t - lag have it."""
        start, end = self._group_start(), self._at(lag)
        sums = []
        for w in weights:
            prefix = np.zeros(len(w) + 1, dtype=np.int64)
            np.cumsum(w[self.order], dtype=np.int64, out=prefix[1:])
            sums.append(self._unsort(prefix[end] - prefix[start]))
        return sums


def matured_at(times: np.ndarray, weights: list[np.ndarray], t: np.ndarray, lag: int) -> list[np.ndarray]:
    """`GroupIndex.matured_sums` of one group at any query times: per time of `t` and weight, the sum of
    the weight over the entries of `times` before t - lag. The entries and the queries are indexed as one
    group, the queries weighing nothing, so that the rule is `matured_sums`' own."""
    n = len(times)
    rows = np.concatenate([np.asarray(times, dtype=np.int64), np.asarray(t, dtype=np.int64)])
    index = GroupIndex.build(np.zeros(len(rows), dtype=np.int64), rows, margin=lag)
    padded = [np.concatenate([np.asarray(w, dtype=np.int64), np.zeros(len(t), dtype=np.int64)]) for w in weights]
    return [s[n:] for s in index.matured_sums(padded, lag)]


def smoothed_rate(events: np.ndarray, trials: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """(events + strength * prior) / (trials + strength): a rate shrunk toward its prior when the
    history is short (empirical-Bayes style), so 2 contacts never make a 0% or 100% agent."""
    return (events + strength * prior) / (trials + strength)
