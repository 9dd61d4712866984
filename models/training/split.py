"""Time-ordered split of labelled contacts into train / validation / test windows.

In: the `started_at` and `status` columns of the feature table. Out: three integer index arrays into
it, oldest to newest. Never random: a model of repeats is used on contacts that arrive after the ones
it learnt from, so it is scored that way. Contacts at the very same second stay on one side of a
boundary. Censored and excluded contacts are left out (their label is unknown or undefined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from base.errors import NotEnoughData


@dataclass(frozen=True)
class TimeSplit:
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    valid_start: pd.Timestamp
    test_start: pd.Timestamp

    def describe(self, started_at: pd.Series) -> dict:
        out = {}
        for name in ("train", "valid", "test"):
            idx = getattr(self, name)
            times = started_at.iloc[idx]
            out[name] = {"contacts": int(len(idx)), "from": str(times.min()), "to": str(times.max())}
        return out


def time_split(started_at: pd.Series, status: pd.Series, valid_share: float, test_share: float) -> TimeSplit:
    """Oldest (1 - valid - test) of labelled contacts to train, then validation, newest to test."""
    labelled = np.flatnonzero((status == "labelled").to_numpy())
    if len(labelled) < 3:
        raise NotEnoughData(f"only {len(labelled)} labelled contacts: too few to split into train/valid/test.")
    seconds = pd.DatetimeIndex(started_at.iloc[labelled]).as_unit("s").asi8
    order = labelled[np.argsort(seconds, kind="stable")]
    t = np.sort(seconds, kind="stable")
    n = len(order)

    def boundary(share_from_end: float) -> int:
        # First position of the window, moved back to the first contact of its second.
        pos = int(round(n * (1 - share_from_end)))
        return int(np.searchsorted(t, t[min(pos, n - 1)], side="left"))

    v, s = boundary(valid_share + test_share), boundary(test_share)
    if not 0 < v < s < n:
        raise NotEnoughData(f"time split leaves an empty window (train {v}, valid {s - v}, test {n - s} contacts); "
                         "lower train.split shares or bring more data.")
    ts = pd.Timestamp(int(t[v]), unit="s", tz="UTC"), pd.Timestamp(int(t[s]), unit="s", tz="UTC")
    return TimeSplit(order[:v], order[v:s], order[s:], ts[0], ts[1])
