"""DVC stage `train`: feature table -> every model the pipeline uses, metrics, plots, MLflow run.

Fits the routing model (calibrated LightGBM on arrival features, time split, baselines; on the
synthetic centre also the Bayes AUC of the true probabilities) and, as params ask, the case-mix and
after-contact models. Writes each as a native model folder under the model directory, the test-window
predictions, metrics/train.json (with the promotion gate), plots/train_*.csv, and logs and registers
the routing model in MLflow. Dies with the `dvc repro` that started it (models/registry/lifeline.py).
"""

from __future__ import annotations

from pathlib import Path

from models.model_files import SavedModel, save_model
from models.registry.gate import gate_on_test
from models.registry.lifeline import Lifeline
from models.registry.tracking import label_target, log_train_run, model_card
from models.training.auxiliary import auxiliary_models
from models.training.fit import train_model
from pipeline.config import LabelConfig, Paths, TrainConfig
from pipeline.io import file_md5, read_json, read_verified, write_json, write_parquet
from pipeline.stage import run_stage
from synthetic.truth import true_probabilities_if_synthetic


def run(cfg: TrainConfig, label: LabelConfig, paths: Paths) -> dict:
    lifeline = Lifeline().start()
    table = read_verified(paths.features, paths.features_checksums, "dvc repro --force featurize")
    spec = read_json(paths.feature_spec)
    true_p = true_probabilities_if_synthetic(paths.truth_dir, table["contact_id"], spec["label_window_days"])
    result = train_model(table, spec, cfg, true_p)
    model_dir, plots = Path(paths.model_dir), Path(paths.plots_dir)
    files = save_model(SavedModel(result.booster, result.calibrator, result.spec), model_dir)
    for name, model in auxiliary_models(table, spec, cfg).items():
        save_model(model, model_dir / name)
    write_parquet(result.test, model_dir / "test_predictions.parquet")
    plots.mkdir(parents=True, exist_ok=True)
    plot_files = {name: plots / f"train_{name}.csv" for name in result.curves}
    for name, curve in result.curves.items():
        curve.to_csv(plot_files[name], index=False)
    data_version = file_md5(paths.features)
    metrics = {**result.metrics, "split": result.split.describe(table["started_at"]), "data_version": data_version,
               "gate": gate_on_test(result.test, cfg.registry.gate, result.metrics["model"]["trees"]).to_dict()}
    metrics["registry"] = log_train_run(cfg, label_target(label), result, table.iloc[result.split.test], files,
                                        plot_files, metrics, data_version, lifeline)
    write_json(model_card(cfg, metrics, result.spec), model_dir / "model_card.json")
    lifeline.stop()
    return metrics


def main(params_path: str = "params.yaml") -> None:
    run_stage("train", run, "train", "label", params_path=params_path)


if __name__ == "__main__":
    main()
