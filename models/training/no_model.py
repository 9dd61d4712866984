"""When no model can be useful (nothing known at arrival varies, or a window holds one outcome only), train
completes honestly without one.

In: the reason (from `NoModelPossible`), the train config, the features' data version and the output
folders. Out: a model directory holding only model_card.json with `"model": null` and the reason (the
marker explain, the report, `fcr status` and `fcr serve` read), header-only plot CSVs (DVC outputs), and
the strict-JSON dict for metrics/train.json. Nothing is logged to MLflow, registered or promoted.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from models.model_files import is_no_model
from models.training.feature_check import NoModelPossible, NoUsableFeature
from base.config import Paths
from models.config import TrainConfig
from contract.precision import write_csvs, write_json

log = logging.getLogger(__name__)
# The train stage's plot files (dvc.yaml) and their columns: written with a header and no rows.
PLOT_COLUMNS = {"roc": ["fpr", "tpr"], "pr": ["recall", "precision"], "calibration": ["mean_predicted", "observed_rate"],
                "capture": ["contacts_share", "repeats_captured"], "baselines": ["scorer", "log_loss"],
                "tuning": ["trial", "cv_log_loss"]}
NOT_REGISTERED = "no model was fitted, so nothing was registered or promoted"
NO_REGISTRY = {"run_id": None, "version": None, "promoted": False, "reason": NOT_REGISTERED}  # metrics/runs/train.json
__all__ = ["NO_REGISTRY", "NoModelPossible", "NoUsableFeature", "is_no_model", "no_model_card", "write_no_model"]


def no_model_card(cfg: TrainConfig, reason: str, data_version: str, dropped: list[dict]) -> dict:
    return {"model_name": cfg.registry.model_name, "model": None, "reason": reason, "data_version": data_version,
            "capacity_threshold": None, "gate_passed": False, "features": [], "dropped_features": dropped}


def write_no_model(cfg: TrainConfig, exc: NoModelPossible, data_version: str, paths: Paths) -> dict:
    """Write the marker outputs; returns metrics/train.json (model null, the reason, the gate not passed)."""
    reason, dropped = str(exc), exc.dropped
    log.error("no model: %s; the pipeline goes on with the descriptive results only", reason)
    model_dir = Path(paths.model_dir)
    shutil.rmtree(model_dir, ignore_errors=True)  # no older model files may pass for this run's
    write_json(no_model_card(cfg, reason, data_version, dropped), model_dir / "model_card.json")
    write_csvs({k: pd.DataFrame(columns=v) for k, v in PLOT_COLUMNS.items()}, paths.plots_dir, "train_")
    return {"model": None, "reason": reason, "data_version": data_version, "dropped_features": dropped,
            "gate": {"passed": False, "failures": [reason]}, "registry": NOT_REGISTERED}
