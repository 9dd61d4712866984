"""DVC stage `train`: feature table -> calibrated LightGBM, baselines, metrics, plots, MLflow run.

Reads the features and their spec (and, on synthetic data, the generator's true probabilities);
calls models/training.py; writes the model directory (LightGBM's native model file, calibration,
feature spec, model card, test-window predictions), metrics/train.json, the evaluation plots, and
logs the run and the registered model to MLflow (tracking URI in params or MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd

from features.charts import model_evaluation_figure
from features.config import Paths, TrainConfig
from features.synthetic import true_repeat_probability
from models.tracking import log_training
from models.training import TrainResult, train_model
from pipeline.io import write_json, write_parquet
from pipeline.params import load_params

log = logging.getLogger(__name__)
PLOTS = {"roc": "train_roc.csv", "pr": "train_pr.csv", "calibration": "train_calibration.csv",
         "capture": "train_capture.csv"}


def file_md5(path: str | Path) -> str:
    """The hash DVC gives a file output: the data version of the features."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _true_probabilities(paths: Paths, table: pd.DataFrame, window_days: float) -> pd.Series | None:
    truth_file = Path(paths.truth_dir) / "truth.parquet"
    if not truth_file.exists():
        return None
    truth = pd.read_parquet(truth_file, columns=["contact_id", "p_unresolved", "p_return", "busy_s"])
    p = true_repeat_probability(truth, window_days)
    return pd.Series(p.to_numpy(), index=truth["contact_id"]).reindex(table["contact_id"]).set_axis(table.index)


def _flat(prefix: str, d: dict) -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out |= _flat(key, v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
    return out


def save_model(result: TrainResult, spec: dict, model_dir: Path) -> dict[str, Path]:
    model_dir.mkdir(parents=True, exist_ok=True)
    files = {"booster": model_dir / "model.txt", "calibration": model_dir / "calibration.json",
             "feature_spec": model_dir / "feature_spec.json"}
    result.booster.save_model(files["booster"], num_iteration=result.booster.best_iteration or None)
    write_json(result.calibrator.to_dict(), files["calibration"])
    write_json(spec, files["feature_spec"])
    return files


def run(cfg: TrainConfig, paths: Paths) -> dict:
    started = time.perf_counter()
    table = pd.read_parquet(paths.features)
    spec = json.loads(Path(paths.feature_spec).read_text())
    true_p = _true_probabilities(paths, table, spec["label_window_days"])
    result = train_model(table, spec, cfg, true_p)
    seconds = time.perf_counter() - started

    model_dir, plots_dir = Path(paths.model_dir), Path(paths.plots_dir)
    model_files = save_model(result, spec, model_dir)
    write_parquet(result.test, model_dir / "test_predictions.parquet")
    plot_files = {}
    for name, file in PLOTS.items():
        plot_files[name] = plots_dir / file
        plot_files[name].parent.mkdir(parents=True, exist_ok=True)
        result.curves[name].to_csv(plot_files[name], index=False)
    m = result.metrics["model"]
    fig = model_evaluation_figure(result.curves["roc"], result.curves["pr"], result.curves["calibration"],
                                  result.curves["capture"], m["roc_auc"], m["ece"], m["repeat_rate"],
                                  cfg.specialist_capacity)
    fig.savefig(plots_dir / "train_evaluation.png")

    data_version = file_md5(paths.features)
    metrics = {**result.metrics, "split": result.split.describe(table["started_at"]),
               "training_seconds": round(seconds, 2), "rows_per_second": round(len(result.split.train) / seconds),
               "data_version": data_version}
    exp = os.environ.get("DVC_EXP_NAME")
    tags = {"data_version.features_md5": data_version, "dvc.experiment": exp or "",
            "dvc.baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""), "calibration": cfg.calibration}
    params = _flat("train", cfg.model_dump()) | {"train.calibration": cfg.calibration,
                                                  "label.window_days": spec["label_window_days"],
                                                  "features": len(spec["model_features"])}
    registry = log_training(
        cfg=cfg.registry, run_name=exp or f"train-{time.strftime('%Y%m%d-%H%M%S')}", params=params,
        metrics=_flat("", {k: v for k, v in metrics.items() if k != "split"}), tags=tags,
        artifacts={"plots": plots_dir / "train_evaluation.png", **{f"plots_{k}": v for k, v in plot_files.items()},
                   "model_files": model_files["calibration"], "feature_spec": model_files["feature_spec"]},
        model_artifacts=model_files, X_test=result.X_test, y_test=result.test["repeated"].to_numpy(),
        predict=result.predict)
    metrics["registry"] = registry
    write_json(metrics, Path(paths.metrics_dir) / "train.json")
    card = {"model_name": cfg.registry.model_name, "registry": registry, "data_version": data_version,
            "capacity_threshold": m["capacity_threshold"], "specialist_capacity": cfg.specialist_capacity,
            "test_metrics": m, "split": metrics["split"], "calibration": cfg.calibration,
            "features": spec["model_features"]}
    write_json(card, model_dir / "model_card.json")
    log.info("train: %.1f s (%d training rows/s); MLflow run %s", seconds, metrics["rows_per_second"],
             registry["run_id"])
    return metrics


def main(params_path: str = "params.yaml") -> None:
    from pipeline.io import setup_logging

    setup_logging()
    params = load_params(params_path)
    run(params.train, params.paths)


if __name__ == "__main__":
    main()
