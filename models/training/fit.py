"""Train the repeat-risk model end to end on a feature table, with baselines and test metrics.

In: the feature table of the featurize stage (features + label columns), its spec, the `train`
section of params and, on synthetic data, the generator's true repeat probability per contact.
Out: a `TrainResult` with the booster, the calibrator, the split, the test-window predictions of the
model and the baselines, the metrics and the curves. Pure: nothing is read or written here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.config import LightGBMConfig, SplitConfig, TrainConfig
from models.training import baselines
from models.scoring import Calibrator
from models.training.calibration import fit_calibrator
from models.scoring import model_frame
from models.measures import expected_calibration_error, raw_scores, reliability_table
from models.training.classifier import fit_booster
from models.training.evaluation import capture_table, pr_table, roc_table, score_metrics
from models.training.feature_check import NoModelPossible, narrow_spec, unusable
from models.training.split import TimeSplit, time_split

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    booster: lgb.Booster
    calibrator: Calibrator
    split: TimeSplit
    test: pd.DataFrame                      # contact_id, started_at, repeated, p_repeat, raw, baseline columns
    X_test: pd.DataFrame                    # the model input of the test rows
    metrics: dict
    spec: dict                              # the spec of the features used (dropped_features listed)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator(raw_scores(self.booster, X))


@dataclass
class WindowFit:
    booster: lgb.Booster
    split: TimeSplit
    frame: pd.DataFrame  # the shared model frame of every row of the table (Windows.X: more columns than used)
    y: np.ndarray     # 1 = repeated (unlabelled rows 0; the split leaves them out)
    spec: dict        # the spec with the features used (constant / all-missing ones in dropped_features)
    fitted_rows: int  # training-window contacts the booster was fitted on (a sample beyond the cap)
    valid: np.ndarray  # validation rows of its early stopping, and of its calibration (a sample beyond the cap)

    def X(self, rows: np.ndarray) -> pd.DataFrame:
        """The model input of these rows (positions in the table)."""
        return model_rows(self.frame, rows, self.spec)


def model_rows(frame: pd.DataFrame, rows: np.ndarray, spec: dict) -> pd.DataFrame:
    """The spec's model input of these rows of a model frame: rows first, so only they are copied."""
    return frame.iloc[rows][spec["model_features"]]


@dataclass
class Windows:
    """What every model of the train stage shares, built once: the time split of the labelled contacts, the
    outcome, the unusable features of the training window and the model frame of every row for the union of
    the models' features (each model takes its columns of it)."""
    split: TimeSplit
    y: np.ndarray               # 1 = repeated (unlabelled rows 0; the split leaves them out)
    X: pd.DataFrame             # model frame of every row, the usable features of the spec it was built for
    unusable: dict[str, str]    # feature: why it is left out (training window, or listed by featurize)

    def model_spec(self, spec: dict) -> dict:
        """`spec` reduced to its usable features (raises NoUsableFeature when none is left)."""
        return narrow_spec(spec, self.unusable, len(self.split.train))


def sample_rows(rows: np.ndarray, at_most: int | None, seed: int) -> np.ndarray:
    """`rows` or, when longer than `at_most`, a random sample of that many of them, in their order."""
    if at_most is None or len(rows) <= at_most:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, at_most, replace=False))


def prepare_windows(table: pd.DataFrame, spec: dict, split_cfg: SplitConfig) -> Windows:
    """Time split (each window must hold both outcomes), the usable features of `spec` (pass the union of the
    models' specs) and their model frame."""
    split = time_split(table["started_at"], table["status"], split_cfg.valid_share, split_cfg.test_share)
    y = table["repeated"].fillna(False).to_numpy(dtype=np.int8)
    for name in ("train", "valid", "test"):
        rows = getattr(split, name)
        repeats = int(y[rows].sum())
        if repeats in (0, len(rows)):
            raise NoModelPossible(f"the {name} window holds {len(rows)} labelled contacts and {repeats} repeats: one "
                             "class only, so no model can be fitted or scored; bring more data, widen label."
                             "window_days, or change train.split.valid_share / test_share in params.yaml.")
    reasons = unusable(table, spec, split.train)
    usable = dict(spec, model_features=[n for n in spec["model_features"] if n not in reasons])
    return Windows(split, y, model_frame(table, usable), reasons)


def fit_on_windows(windows: Windows, spec: dict, lgb_cfg: LightGBMConfig, seed: int,
                   max_train_rows: int | None = None, max_valid_rows: int | None = None) -> WindowFit:
    """LightGBM on the spec's usable features of the train window (a random sample of `max_train_rows` of it
    when longer) with early stopping on validation (a random sample of `max_valid_rows` of it when longer: the
    loss is computed after every tree): how every model of the project (routing, case mix, after contact) starts."""
    spec = windows.model_spec(spec)
    y, split = windows.y, windows.split
    by_name = {f["name"]: f for f in spec["features"]}
    monotone = [int(by_name[n].get("monotone", 0)) for n in spec["model_features"]]
    train, valid = sample_rows(split.train, max_train_rows, seed), sample_rows(split.valid, max_valid_rows, seed)
    for rows, window, name in ((train, split.train, "training"), (valid, split.valid, "validation")):
        if len(rows) < len(window):
            log.info("a random %d of the %d %s contacts", len(rows), len(window), name)
    booster = fit_booster(model_rows(windows.X, train, spec), y[train], model_rows(windows.X, valid, spec),
                          y[valid], lgb_cfg, seed, monotone)
    return WindowFit(booster, split, windows.X, y, spec, len(train), valid)


def frequent_caller_share(metrics: dict) -> dict:
    """How much of the model is "just the frequent-caller baseline": both AUCs, the gain, and the share of
    the model's AUC lift over chance (AUC - 0.5) that the frequent-caller count alone reaches."""
    fc = metrics["baselines"].get("frequent_caller", {})
    model_auc = metrics["model"]["roc_auc"]
    if "roc_auc" not in fc:
        return {"computed": False, "reason": "no frequent-caller baseline (the table lacks the count column)"}
    out = {"model_auc": model_auc, "frequent_caller_auc": fc["roc_auc"], "auc_gain": model_auc - fc["roc_auc"],
           "share_of_model_lift": None, "share_reason": None}
    if model_auc > 0.5:
        out["share_of_model_lift"] = (fc["roc_auc"] - 0.5) / (model_auc - 0.5)
    else:
        out["share_reason"] = "the model does no better than chance (AUC <= 0.5): no lift to share"
    return out


def train_model(table: pd.DataFrame, spec: dict, cfg: TrainConfig, true_p: pd.Series | None = None,
                windows: Windows | None = None) -> TrainResult:
    """Time split, LightGBM with early stopping, calibration on validation, baselines, test metrics.

    `true_p` (indexed like `table`, at least its test rows; NaN where unknown) adds the Bayes AUC of the true probabilities on
    the test rows that have one, and the model's AUC on those same rows. `windows`: the split and model
    frame shared with the other models (prepare_windows); built here for `spec` when None."""
    windows = windows or prepare_windows(table, spec, cfg.split)
    fit = fit_on_windows(windows, spec, cfg.lightgbm, cfg.seed, cfg.max_train_rows, cfg.max_valid_rows)
    booster, split = fit.booster, fit.split
    X = {"valid": fit.X(fit.valid), "test": fit.X(split.test)}  # (train: only the LR sample's rows)
    y = {"train": fit.y[split.train], "valid": fit.y[fit.valid], "test": fit.y[split.test]}
    log.info("split: %d train, %d validation, %d test contacts", *(len(getattr(split, k)) for k in
                                                                   ("train", "valid", "test")))
    calibrator = fit_calibrator(raw_scores(booster, X["valid"]), y["valid"], cfg.calibration)
    raw = raw_scores(booster, X["test"])
    p = calibrator(raw)

    used = [c for c in baselines.COLUMNS if c in table.columns]  # (not every column: 6M rows of them are GBs)
    rows = {name: table[used].iloc[getattr(split, name)] for name in ("train", "test")}
    scores: dict[str, np.ndarray | None] = {
        "overall_rate": baselines.overall_rate(y["train"], len(y["test"])),
        "reason_rate": baselines.reason_rate(rows["train"]["reason_code"], y["train"], rows["test"]["reason_code"]),
        "frequent_caller": baselines.frequent_caller(rows["train"], y["train"], rows["test"]),
        "previous_outcome": baselines.previous_outcome(rows["train"], y["train"], rows["test"]),
    }
    lr_rows = sample_rows(np.arange(len(y["train"])), cfg.baseline_rows, cfg.seed)
    lr = baselines.logistic_regression(fit.X(split.train[lr_rows]), y["train"][lr_rows], cfg.seed)
    scores["logistic_regression"] = baselines.predict_logistic(lr, X["test"])

    model_metrics = score_metrics(y["test"], p, cfg.capture_shares, cfg.specialist_capacity)
    model_metrics["uncalibrated_ece"] = expected_calibration_error(y["test"], 1 / (1 + np.exp(-raw)))
    model_metrics["trees"] = int(booster.best_iteration or booster.num_trees())
    model_metrics["fitted_rows"] = fit.fitted_rows  # (train.max_train_rows)
    model_metrics["validation_rows"] = len(fit.valid)  # (train.max_valid_rows)
    metrics: dict = {"model": model_metrics, "baselines": {}, "improvement_over_baselines": {}}
    for name, s in scores.items():
        if s is None:
            metrics["baselines"][name] = {"computed": False, "reason": "the feature table lacks its columns"}
            continue
        b = score_metrics(y["test"], s, cfg.capture_shares)
        metrics["baselines"][name] = b
        metrics["improvement_over_baselines"][name] = {
            "log_loss_reduction": b["log_loss"] - model_metrics["log_loss"],
            "auc_gain": model_metrics["roc_auc"] - b["roc_auc"],
            "brier_reduction": b["brier"] - model_metrics["brier"],
        }
    metrics["baselines"]["logistic_regression"]["fitted_rows"] = len(lr_rows)  # (train.baseline_rows)
    metrics["beats_all_baselines_on_log_loss"] = len(metrics["improvement_over_baselines"]) == len(scores) and all(
        v["log_loss_reduction"] > 0 for v in metrics["improvement_over_baselines"].values())
    metrics["frequent_caller_share"] = frequent_caller_share(metrics)

    test = pd.DataFrame({"contact_id": table["contact_id"].iloc[split.test].to_numpy(),
                         "started_at": table["started_at"].iloc[split.test].to_numpy(),
                         "repeated": y["test"], "p_repeat": p, "raw_score": raw})
    for name, s in scores.items():
        if s is not None:
            test[f"p_{name}"] = s
    if true_p is not None:
        tp = true_p.reindex(table.index[split.test]).to_numpy(dtype=float)
        known = ~np.isnan(tp)
        test["p_true"] = tp
        if known.sum() and 0 < y["test"][known].mean() < 1:
            bayes = float(roc_auc_score(y["test"][known], tp[known]))
            ours = float(roc_auc_score(y["test"][known], p[known]))
            metrics["bayes"] = {"rows": int(known.sum()), "bayes_auc": bayes, "model_auc_same_rows": ours,
                                "auc_ratio": ours / bayes}
            log.info("AUC %.4f vs Bayes AUC %.4f of the true probabilities (ratio %.4f, %d rows)",
                     ours, bayes, ours / bayes, known.sum())
    curves = {"roc": roc_table(y["test"], p), "pr": pr_table(y["test"], p),
              "calibration": reliability_table(y["test"], p, bins=10),
              "capture": capture_table(y["test"], p)}
    log.info("test: AUC %.4f, log loss %.5f (logistic regression %.5f), ECE %.4f",
             model_metrics["roc_auc"], model_metrics["log_loss"],
             metrics["baselines"]["logistic_regression"]["log_loss"], model_metrics["ece"])
    metrics["dropped_features"] = fit.spec["dropped_features"]
    return TrainResult(booster, calibrator, split, test, X["test"], metrics, fit.spec, curves)
