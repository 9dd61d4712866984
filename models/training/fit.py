"""Train the repeat-risk model end to end on a feature table, with baselines and test metrics.

In: the feature table of the featurize stage (features + label columns), its spec, the `train`
section of params and, on synthetic data, the generator's true repeat probability per contact.
Out: a `TrainResult` with the booster, the calibrator, the split, the test-window predictions of the
model and the baselines, the metrics and the curves. Pure: nothing is read or written here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

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
from models.training.feature_check import NoModelPossible, narrow_spec, reasons_of, to_judge, why_unusable
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
    windows: "Windows"  # the shared model frame (Windows.X: more columns than used)
    y: np.ndarray     # 1 = repeated (unlabelled rows 0; the split leaves them out)
    spec: dict        # the spec with the features used (constant / all-missing ones in dropped_features)
    fitted_rows: int  # training-window contacts the booster was fitted on (a sample beyond the cap)
    valid: np.ndarray  # validation rows of its early stopping, and of its calibration (a sample beyond the cap)

    def X(self, rows: np.ndarray) -> pd.DataFrame:
        """The model input of these rows (positions in the table)."""
        return self.windows.model_rows(rows, self.spec)


def model_rows(frame: pd.DataFrame, rows: np.ndarray, spec: dict) -> pd.DataFrame:
    """The spec's model input of these rows of a model frame: rows first, so only they are copied."""
    return frame.iloc[rows][spec["model_features"]]


@dataclass
class Windows:
    """What every model of the train stage shares, built once: the time split of the labelled contacts, the
    outcome, the unusable features of the training window and the model frame of the rows read (every row, or
    only those the models use: `read`) for the union of the models' features (each model takes its columns of it).
    Split, outcome and the facts of whole columns are those of the whole table either way."""
    split: TimeSplit
    y: np.ndarray               # 1 = repeated, every row of the table (unlabelled rows 0; the split leaves them out)
    X: pd.DataFrame             # model frame of the rows read, the usable features of the spec it was built for
    unusable: dict[str, str]    # feature: why it is left out (training window, or listed by featurize)
    train_columns: pd.DataFrame  # the baselines' columns (baselines.COLUMNS) of the whole training window
    missing: dict[str, bool]    # model feature (and repeated): a missing value on any row of the table
    read: np.ndarray | None = None  # table positions of the rows of X, ascending (None: every row)

    def model_spec(self, spec: dict) -> dict:
        """`spec` reduced to its usable features (raises NoUsableFeature when none is left)."""
        return narrow_spec(spec, self.unusable, len(self.split.train))

    def at(self, rows: np.ndarray) -> np.ndarray:
        """Positions in the rows read of these table positions; raises when one of them was not read."""
        if self.read is None:
            return rows
        at = np.searchsorted(self.read, rows)
        if len(rows) and (at.max() >= len(self.read) or not np.array_equal(self.read[at], rows)):
            raise ValueError(f"{len(rows)} table rows asked, some of which were not read: the rows read "
                             "(models.training.rows.rows_used) must include every sample the models draw.")
        return at

    def take(self, table: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
        """These table positions of `table`, the rows read (the whole table when `read` is None)."""
        return table.iloc[self.at(rows)]

    def model_rows(self, rows: np.ndarray, spec: dict) -> pd.DataFrame:
        """The spec's model input of these table positions."""
        return model_rows(self.X, self.at(rows), spec)


def sample_rows(rows: np.ndarray, at_most: int | None, seed: int) -> np.ndarray:
    """`rows` or, when longer than `at_most`, a random sample of that many of them, in their order."""
    if at_most is None or len(rows) <= at_most:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, at_most, replace=False))


KEY_COLUMNS = ["started_at", "status", "repeated"]  # what the split and its class checks read of every row


def split_outcomes(keys: pd.DataFrame, split_cfg: SplitConfig) -> tuple[TimeSplit, np.ndarray]:
    """Time split of the table's KEY_COLUMNS (each window must hold both outcomes) and the outcome of every row."""
    split = time_split(keys["started_at"], keys["status"], split_cfg.valid_share, split_cfg.test_share)
    y = keys["repeated"].fillna(False).to_numpy(dtype=np.int8)
    for name in ("train", "valid", "test"):
        rows = getattr(split, name)
        repeats = int(y[rows].sum())
        if repeats in (0, len(rows)):
            raise NoModelPossible(f"the {name} window holds {len(rows)} labelled contacts and {repeats} repeats: one "
                             "class only, so no model can be fitted or scored; bring more data, widen label."
                             "window_days, or change train.split.valid_share / test_share in params.yaml.")
    return split, y


@dataclass(frozen=True)
class ColumnFacts:
    """What training needs of a whole column besides the rows it reads."""
    reason: str | None       # why the training window cannot teach it (why_unusable; judged model features)
    missing: bool            # a missing value on any row (model features; MLflow's schema of the table)
    train: pd.Series | None  # its training-window values (the baselines' columns)


def _facts(column: pd.Series, judge: bool, feature: bool, baseline: bool, split: TimeSplit) -> ColumnFacts:
    return ColumnFacts(why_unusable(column.iloc[split.train]) if judge else None,
                       bool(column.isna().any()) if feature else False,
                       column.iloc[split.train] if baseline else None)


def column_checks(spec: dict, split: TimeSplit) -> dict[str, Callable[[pd.Series], ColumnFacts]]:
    """Per column of the table training looks at whole (the spec's model features, the baselines' columns): the
    function giving its ColumnFacts from the whole column, run as each column is read."""
    judged, features = set(to_judge(spec)), set(spec["model_features"])
    return {name: partial(_facts, judge=name in judged, feature=name in features,
                          baseline=name in baselines.COLUMNS, split=split)
            for name in [*spec["model_features"], *[c for c in baselines.COLUMNS if c not in features]]}


def windows_from(split: TimeSplit, y: np.ndarray, table: pd.DataFrame, spec: dict, facts: dict[str, ColumnFacts],
                 read: np.ndarray | None = None, repeated_missing: bool = False) -> Windows:
    """The Windows of `spec` (the union of the models' specs) from the split, the rows read (`table`: those at
    positions `read`, every row when None) and the facts of the whole columns (column_checks)."""
    reasons = reasons_of(spec, {name: f.reason for name, f in facts.items()})
    usable = dict(spec, model_features=[n for n in spec["model_features"] if n not in reasons])
    train_columns = pd.DataFrame({c: facts[c].train for c in baselines.COLUMNS if c in facts})
    missing = {name: f.missing for name, f in facts.items()} | {"repeated": repeated_missing}
    return Windows(split, y, model_frame(table, usable), reasons, train_columns, missing, read)


def prepare_windows(table: pd.DataFrame, spec: dict, split_cfg: SplitConfig) -> Windows:
    """Time split (each window must hold both outcomes), the usable features of `spec` (pass the union of the
    models' specs) and their model frame, of every row of `table` (the train stage reads only the rows its
    models use: models/training/rows.py)."""
    split, y = split_outcomes(table, split_cfg)
    facts = {name: check(table[name]) for name, check in column_checks(spec, split).items() if name in table.columns}
    return windows_from(split, y, table, spec, facts, None, bool(table["repeated"].isna().any()))


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
    booster = fit_booster(windows.model_rows(train, spec), y[train], windows.model_rows(valid, spec),
                          y[valid], lgb_cfg, seed, monotone)
    return WindowFit(booster, split, windows, y, spec, len(train), valid)


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
    test_rows = windows.take(table, split.test)
    rows = {"train": windows.train_columns[used], "test": test_rows[used]}
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

    test = pd.DataFrame({"contact_id": test_rows["contact_id"].to_numpy(),
                         "started_at": test_rows["started_at"].to_numpy(),
                         "repeated": y["test"], "p_repeat": p, "raw_score": raw})
    for name, s in scores.items():
        if s is not None:
            test[f"p_{name}"] = s
    if true_p is not None:
        tp = true_p.reindex(test_rows.index).to_numpy(dtype=float)
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
