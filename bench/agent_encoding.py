"""Measure how to hand hundreds of agents to LightGBM: native categorical `agent_id` (with LightGBM's
categorical smoothing) vs only the point-in-time smoothed agent repeat rates, vs both.

Reads the featurize stage output (run `dvc repro featurize` first), trains one LightGBM per variant
on the oldest 70% of labelled contacts (early stopping on the next 15%), scores the newest 15%.
Prints test log loss and ROC AUC per variant. Run: `uv run python bench/agent_encoding.py`.
"""

from __future__ import annotations

import argparse
import json
import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

log = logging.getLogger("bench")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", default="data/features/features.parquet")
    ap.add_argument("--spec", default="data/features/feature_spec.json")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = json.load(open(a.spec))
    df = pd.read_parquet(a.features)
    df = df[df["status"] == "labelled"].sort_values("started_at", kind="stable")
    y = df["repeated"].astype(bool).to_numpy()
    n = len(df)
    tr, va = slice(0, int(0.7 * n)), slice(int(0.7 * n), int(0.85 * n))
    te = slice(int(0.85 * n), n)
    base = [f["name"] for f in spec["features"] if f["availability"] == "arrival" and f["name"] != "agent_id"]
    variants = {
        "smoothed agent rates only": base,
        "native categorical agent_id only": [f for f in base if not f.startswith("agent_") or f == "agent_tenure_days"]
        + ["agent_id"],
        "both": base + ["agent_id"],
    }
    log.info("%-36s %10s %8s", "variant", "log loss", "AUC")
    for name, cols in variants.items():
        X = df[cols]
        model = lgb.LGBMClassifier(n_estimators=2000, learning_rate=0.05, num_leaves=63, min_child_samples=100,
                                   cat_smooth=50, verbose=-1, random_state=0, n_jobs=2)
        model.fit(X.iloc[tr], y[tr], eval_X=X.iloc[va], eval_y=y[va],
                  callbacks=[lgb.early_stopping(100, verbose=False)])
        p = model.predict_proba(X.iloc[te])[:, 1]
        log.info("%-36s %10.5f %8.4f", name, log_loss(y[te], np.clip(p, 1e-6, 1 - 1e-6)), roc_auc_score(y[te], p))


if __name__ == "__main__":
    main()
