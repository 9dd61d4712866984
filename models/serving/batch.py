"""Batch scoring: a file of new contacts -> calibrated repeat risk, route and (optionally) reasons per row.

In: the new contacts in contract form (mapped by contract/ingest.py as ingest maps the export), the
history the point-in-time features need (ingested contacts, their labels, customers, agents), a loaded
model (the champion by default) and its routing threshold. Out: one row per new contact, in input
order. Features come from the batch builder (features/builder.py) over history + new contacts, the
user's extra columns the model was built with included (its feature spec names them), so a
contact's features are what training would have computed for it; label-derived history uses only
windows closed before the contact (the builder's point-in-time rule).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.builder import build_features, input_columns
from features.spec import EXTRA_PREFIX, ExtraColumn
from models.scoring import model_frame
from models.serving.scorer import LoadedModel
from features.config import FeaturizeConfig

log = logging.getLogger(__name__)


def batch_features(new: pd.DataFrame, history: pd.DataFrame, labels: pd.DataFrame, customers: pd.DataFrame,
                   agents: pd.DataFrame, window_days: float, cfg: FeaturizeConfig,
                   extras: dict[str, ExtraColumn] | None = None) -> pd.DataFrame:
    """Features of the new contacts (input order), computed with the history before them. A new contact
    already in the history replaces it (re-scoring an old contact sees no label of its own). `extras`:
    the user's extra columns the model uses (`spec_extras` of its spec); a new contact without one has
    it missing, as an export without it would."""
    history = history[~history["contact_id"].isin(new["contact_id"])]
    cols = [c for c in input_columns(extras) if c in new.columns or c in history.columns]
    absent = [c for c in input_columns(extras) if c.startswith(EXTRA_PREFIX) and c not in cols]
    if absent:
        log.warning("the model uses extra column(s) %s that neither the new contacts nor the history have: "
                    "scored as unknown (ingest.files.extra_columns no longer declares them?)", absent)
    both = pd.concat([history.reindex(columns=cols), new.reindex(columns=cols)], ignore_index=True)
    for c in both.columns:  # categories of the two parts differ: plain values, the builder re-encodes
        if isinstance(both[c].dtype, pd.CategoricalDtype):
            both[c] = both[c].astype(object)
    labels = labels[labels["contact_id"].isin(history["contact_id"])]
    features = build_features(both, labels, customers, agents, window_days, cfg, extras=extras)
    return features.iloc[len(history):].reset_index(drop=True)


def score_batch(features: pd.DataFrame, model: LoadedModel, threshold: float, reasons: int = 0,
                chunk: int = 20_000, progress: bool = True) -> pd.DataFrame:
    """p_repeat (calibrated), route (specialist when p >= threshold) and, with `reasons` > 0, the
    strongest pushes toward a repeat as `reason_1..k` ("feature = value (+log-odds)")."""
    X = model_frame(features, model.spec)
    names = model.spec["model_features"]
    p = np.empty(len(X))
    text: list[list[str]] = []
    starts = range(0, len(X), chunk)
    for lo in tqdm(starts, desc="scoring", unit="chunk", disable=not progress or len(starts) < 2):
        part = X.iloc[lo:lo + chunk]
        if reasons <= 0:
            p[lo:lo + len(part)] = model.calibrator(model.booster.predict(part, raw_score=True))
            continue
        contrib = model.booster.predict(part, pred_contrib=True)
        p[lo:lo + len(part)] = model.calibrator(contrib.sum(axis=1))
        for i in range(len(part)):
            row = contrib[i, :-1]
            top = [j for j in np.argsort(-row, kind="stable")[:reasons] if row[j] > 0]
            text.append([f"{names[j]} = {part.iat[i, j]} (+{row[j]:.3f})" for j in top])
    out = pd.DataFrame({"contact_id": features["contact_id"].to_numpy(), "started_at": features["started_at"].to_numpy(),
                        "p_repeat": p, "route": np.where(p >= threshold, "specialist", "standard")})
    for k in range(reasons):
        out[f"reason_{k + 1}"] = [r[k] if k < len(r) else None for r in text]
    return out
