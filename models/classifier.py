"""The repeat-risk classifier: LightGBM on the arrival features of the feature spec.

In: the feature table, its spec (features/builder.py), train/validation windows and the `lightgbm`
section of params. Out: a `lightgbm.Booster` trained with early stopping on validation; it is handed
on as LightGBM's native model file. `model_frame` is the one place that turns a table into the
model's input (column order and categories as in the spec), for training, the MLflow model and tests.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the MLflow model ships this module alone, without the features package
    from features.config import LightGBMConfig

log = logging.getLogger(__name__)


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


def booster_params(cfg: LightGBMConfig, seed: int) -> dict:
    return {
        "objective": "binary", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples, "feature_fraction": cfg.colsample_bytree,
        "lambda_l2": cfg.reg_lambda, "cat_smooth": cfg.cat_smooth, "num_threads": cfg.n_jobs,
        # Same data and params give the same trees, whatever the thread scheduling.
        "seed": seed, "deterministic": True, "force_col_wise": True, "verbosity": -1,
    }


def fit_booster(X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
                cfg: LightGBMConfig, seed: int = 0) -> lgb.Booster:
    """Gradient boosting with early stopping on the validation window's log loss."""
    train = lgb.Dataset(X_train, label=y_train, free_raw_data=True)
    valid = lgb.Dataset(X_valid, label=y_valid, reference=train)
    booster = lgb.train(booster_params(cfg, seed), train, num_boost_round=cfg.n_estimators, valid_sets=[valid],
                        valid_names=["valid"],
                        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)])
    log.info("LightGBM: %d trees (best on validation, log loss %.5f)", booster.best_iteration,
             booster.best_score["valid"]["binary_logloss"])
    return booster


def raw_scores(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """Log-odds of a repeat before calibration, using the trees up to the early-stopping point."""
    return booster.predict(X, raw_score=True, num_iteration=booster.best_iteration or None)
