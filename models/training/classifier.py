"""The repeat-risk classifier: LightGBM on the arrival features of the feature spec.

In: the feature table, its spec (features/spec.py), train/validation windows and the `lightgbm`
section of params. Out: a `lightgbm.Booster` trained with early stopping on validation; it is handed
on as LightGBM's native model file.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd


if TYPE_CHECKING:
    from models.config import LightGBMConfig

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 30.0  # a progress line at most this often during a fit


def booster_params(cfg: LightGBMConfig, seed: int) -> dict:
    return {
        "objective": "binary", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples, "feature_fraction": cfg.colsample_bytree,
        "lambda_l2": cfg.reg_lambda, "cat_smooth": cfg.cat_smooth, "num_threads": cfg.n_jobs,
        # Same data and params give the same trees, whatever the thread scheduling.
        "seed": seed, "deterministic": True, "force_col_wise": True, "verbosity": -1,
    }


class Progress:
    """A LightGBM callback logging the trees grown and the validation log loss every `every_s` seconds (a fit
    on millions of contacts runs for minutes)."""

    def __init__(self, every_s: float = PROGRESS_EVERY_S) -> None:
        self.every_s, self.last = every_s, time.monotonic()

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        if time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        loss = {name: value for _, name, value, _ in env.evaluation_result_list}.get("binary_logloss")
        log.info("LightGBM: %d trees so far, validation log loss %s", env.iteration + 1,
                 "?" if loss is None else f"{loss:.5f}")


def fit_booster(X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray,
                cfg: LightGBMConfig, seed: int, monotone: list[int] | None = None) -> lgb.Booster:
    """Gradient boosting with early stopping on the validation window's log loss. `monotone`: per
    column, +1 / -1 where the score must not fall / rise as the feature grows (the spec's declaration)."""
    params = booster_params(cfg, seed)
    if monotone and any(monotone):
        params["monotone_constraints"] = list(monotone)
        params["monotone_constraints_method"] = cfg.monotone_method
    train = lgb.Dataset(X_train, label=y_train, free_raw_data=True)
    valid = lgb.Dataset(X_valid, label=y_valid, reference=train)
    booster = lgb.train(params, train, num_boost_round=cfg.n_estimators, valid_sets=[valid],
                        valid_names=["valid"],
                        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False), Progress()])
    log.info("LightGBM: %d trees (best on validation, log loss %.5f)", booster.best_iteration,
             booster.best_score["valid"]["binary_logloss"])
    return booster
