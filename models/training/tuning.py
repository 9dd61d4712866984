"""Hyperparameter search for the routing model: Optuna over `train.tuning.space`, each trial scored by
rolling-origin cross-validation over time.

In: the feature table and its spec, the `train` section of params. Out: a `Tuning` with the train
section to fit the final model with (the best LightGBM settings in it), one row per trial and a
summary for metrics/train.json. The test window is never seen: folds lie inside the train +
validation windows of the time split. Pure: nothing is read, written or logged to MLflow here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from models.scoring import model_frame
from models.measures import raw_scores
from models.training.classifier import fit_booster
from models.training.split import time_split
from models.config import LightGBMConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    train: np.ndarray      # row positions, every one started before `origin - gap`
    valid: np.ndarray      # row positions of the validation block, from `origin` on
    origin: pd.Timestamp


def rolling_origin_folds(started_at: pd.Series, rows: np.ndarray, folds: int, fold_share: float,
                         gap: pd.Timedelta) -> list[Fold]:
    """`folds` consecutive validation blocks of `fold_share` of `rows` each, ending with the newest row;
    each fold trains on the rows that started more than `gap` before its block. The gap is the label
    window: a training contact's label looks that far ahead, so without it labels would see the block."""
    times = pd.DatetimeIndex(started_at.iloc[rows]).as_unit("ns").asi8
    order = np.argsort(times, kind="stable")
    rows, times = np.asarray(rows)[order], times[order]
    size = int(len(rows) * fold_share)
    if size < 1 or folds * size >= len(rows):
        raise ValueError(f"train.tuning: {len(rows)} contacts cannot give {folds} validation blocks of "
                         f"{fold_share:g} each; lower train.tuning.folds or train.tuning.fold_share")
    out = []
    for k in range(folds):
        lo = len(rows) - (folds - k) * size
        origin = times[lo]
        train = rows[:lo][times[:lo] < origin - gap.value]
        if len(train) == 0:
            raise ValueError(f"train.tuning: fold {k + 1} has no contacts older than its block minus the label "
                             "window; lower train.tuning.folds or train.tuning.fold_share")
        out.append(Fold(train, rows[lo:lo + size], pd.Timestamp(origin, tz="UTC")))
    return out


def cross_validate(X: pd.DataFrame, y: np.ndarray, folds: list[Fold], lgb_cfg: LightGBMConfig,
                   seed: int) -> dict:
    """Mean validation log loss (uncalibrated, what LightGBM minimises) and AUC over the folds. Early
    stopping uses the block it is scored on: optimistic alike for every trial, so fair for ranking them."""
    per_fold = []
    for f in folds:
        booster = fit_booster(X.iloc[f.train], y[f.train], X.iloc[f.valid], y[f.valid], lgb_cfg, seed)
        p = 1 / (1 + np.exp(-raw_scores(booster, X.iloc[f.valid])))
        yv = y[f.valid]
        per_fold.append({"log_loss": float(log_loss(yv, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
                         "roc_auc": float(roc_auc_score(yv, p)) if 0 < yv.mean() < 1 else float("nan"),
                         "trees": int(booster.best_iteration or booster.num_trees())})
    frame = pd.DataFrame(per_fold)
    return {"cv_log_loss": float(frame["log_loss"].mean()), "cv_roc_auc": float(frame["roc_auc"].mean()),
            "cv_trees": float(frame["trees"].mean()),
            **{f"fold{i + 1}_log_loss": v for i, v in enumerate(frame["log_loss"])}}


def _suggest(trial: optuna.Trial, name: str, low: float, high: float) -> float | int:
    """Integers for integer settings; a log scale when the range spans a factor of ten or more."""
    log_scale = low > 0 and high / low >= 10
    if LightGBMConfig.model_fields[name].annotation in (int, "int"):
        return trial.suggest_int(name, int(low), int(high), log=log_scale)
    return trial.suggest_float(name, low, high, log=log_scale)


@dataclass
class Tuning:
    config: TrainConfig                     # the train section to fit with (tuned LightGBM settings)
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per trial (empty when off)
    summary: dict = field(default_factory=dict)                 # for metrics/train.json


def tune(table: pd.DataFrame, spec: dict, cfg: TrainConfig) -> Tuning:
    """Optuna's TPE search (seeded, sequential: the same data and params pick the same settings), the
    params.yaml settings enqueued as trial 0; returns the best by cross-validated log loss."""
    t = cfg.tuning
    if not t.enabled:
        return Tuning(cfg, pd.DataFrame(columns=["trial", "cv_log_loss"]), {"enabled": False})
    split = time_split(table["started_at"], table["status"], cfg.split.valid_share, cfg.split.test_share)
    X, y = model_frame(table, spec), table["repeated"].fillna(False).to_numpy(dtype=np.int8)
    folds = rolling_origin_folds(table["started_at"], np.concatenate([split.train, split.valid]), t.folds,
                                 t.fold_share, pd.Timedelta(days=spec["label_window_days"]))
    log.info("tuning: %d trials x %d rolling-origin folds (origins %s)", t.trials, len(folds),
             ", ".join(f.origin.strftime("%Y-%m-%d") for f in folds))
    rows: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        update = {name: _suggest(trial, name, low, high) for name, (low, high) in t.space.items()}
        scores = cross_validate(X, y, folds, cfg.lightgbm.model_copy(update=update), cfg.seed)
        rows.append({"trial": trial.number, **update, **scores})
        log.info("trial %d: CV log loss %.5f %s", trial.number, scores["cv_log_loss"], update)
        return scores["cv_log_loss"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.enqueue_trial({name: getattr(cfg.lightgbm, name) for name in t.space})
    study.optimize(objective, n_trials=t.trials)
    best = study.best_trial
    trials = pd.DataFrame(rows)
    chosen = cfg.lightgbm.model_copy(update=best.params)
    summary = {"enabled": True, "trials": t.trials, "folds": len(folds), "best_trial": best.number,
               "cv_log_loss": best.value, "cv_log_loss_params_yaml": float(trials["cv_log_loss"].iloc[0]),
               "best": dict(best.params)}
    log.info("tuning: best trial %d, CV log loss %.5f (params.yaml settings %.5f): %s", best.number, best.value,
             summary["cv_log_loss_params_yaml"], best.params)
    return Tuning(cfg.model_copy(update={"lightgbm": chosen}), trials, summary)
