"""Applying a trained model: the model's input frame and the calibration, nothing else.

In: a table with the spec's model features, the feature spec (dict), raw booster scores. Out: the
model's input (column order and categories as in the spec) and calibrated probabilities. This module
imports only numpy and pandas: it is the one piece of project code the MLflow model ships
(models/registry/pyfunc.py), and the same code training, explain, report and the service use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Calibrator:
    """Raw scores (log-odds) -> probabilities: Platt (slope, intercept) or isotonic (breakpoints)."""

    method: Literal["platt", "isotonic"]
    slope: float = 1.0
    intercept: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * raw + self.intercept)))
        # Isotonic is fitted on the booster's probability; outside the fitted range it is clipped.
        return np.interp(1.0 / (1.0 + np.exp(-raw)), self.x, self.y)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(**d)


def categorical_levels(spec: dict) -> dict[str, list[str]]:
    """Categories of every categorical model feature, in the order the model codes them."""
    by_name = {f["name"]: f for f in spec["features"]}
    return {n: by_name[n]["categories"] for n in spec["model_features"] if by_name[n]["kind"] == "categorical"}


def model_frame(table: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The model's input: spec's model features in order; categoricals with the spec's categories
    (values never seen in training become missing), numerics as float32."""
    missing = [c for c in spec["model_features"] if c not in table.columns]
    if missing:
        raise KeyError(f"model input lacks feature column(s) {missing}; build them with the featurize stage.")
    levels = categorical_levels(spec)
    cols = {}
    for name in spec["model_features"]:
        col = table[name]
        if name in levels:
            values = col.astype("str") if not isinstance(col.dtype, pd.CategoricalDtype) else col
            cols[name] = pd.Categorical(values, categories=levels[name])
        else:
            cols[name] = pd.to_numeric(col, errors="raise").astype("float32")
    return pd.DataFrame(cols, index=table.index)
