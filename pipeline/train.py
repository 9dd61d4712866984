"""DVC stage `train`: feature table -> every model the pipeline uses (routing: calibrated LightGBM, baselines, tuning
when on; case mix, after contact), metrics/train.json, plots/train_*.csv, the MLflow run; no model: its reason."""

from __future__ import annotations

from pathlib import Path

from models.model_files import SavedModel, save_model, save_models
from models.registry.gate import gate_on_test
from models.registry.lifeline import Lifeline
from labelling.target import label_target
from models.registry.tracking import SCHEMA_SAMPLE_ROWS, TableOutline, log_train_run, model_card
from models.training.auxiliary import auxiliary_models, training_spec
from models.training.evaluation import baseline_table, headline_metrics
from models.training.fit import KEY_COLUMNS, train_model
from models.training.rows import read_windows
from models.training.no_model import NO_REGISTRY, NoModelPossible, write_no_model
from models.training.tuning import tune
from pipeline.config import LabelConfig, Paths, TrainConfig
from pipeline.io import VerifiedTable, read_json, round_floats, write_csvs, write_json, write_parquet
from pipeline.stage import RUN_KEY, run_stage
from synthetic.truth import true_probabilities_if_synthetic


def run(cfg: TrainConfig, label: LabelConfig, paths: Paths) -> dict:
    lifeline = Lifeline().start()
    features = VerifiedTable(paths.features, paths.features_checksums, "dvc repro --force featurize")
    spec, data_version, keys = read_json(paths.feature_spec), features.version, features.columns(KEY_COLUMNS)
    try:  # only the rows the models use are read (models/training/rows.py), split + model frame built once
        table, windows = read_windows(keys, training_spec(spec, cfg), cfg, features.rows, SCHEMA_SAMPLE_ROWS)
        tuning = tune(table, spec, cfg)  # off by default; when on, cfg comes back with the chosen LightGBM settings
        test_rows = windows.take(table, windows.split.test)  # (only the test window is compared with the truth)
        true_p = true_probabilities_if_synthetic(paths.truth_dir, test_rows["contact_id"], spec["label_window_days"])
        result = train_model(table, spec, cfg := tuning.config, true_p, windows)
    except NoModelPossible as exc:  # one outcome only, or nothing varies: complete honestly, register nothing
        return write_no_model(cfg, exc, data_version, paths) | {RUN_KEY: {"registry": NO_REGISTRY}}
    model_dir, test = Path(paths.model_dir), round_floats(result.test)  # (as tracked: scores and gate see these)
    files = save_model(SavedModel(result.booster, result.calibrator, result.spec), model_dir, test["p_repeat"])
    save_models(auxiliary_models(windows, spec, cfg), model_dir)
    outline = TableOutline(table.iloc[:SCHEMA_SAMPLE_ROWS], len(keys), windows.missing)  # (MLflow's record of it)
    del windows  # (the model frame of the rows read: not needed past here)
    write_parquet(test, model_dir / "test_predictions.parquet")
    plot_files = write_csvs(result.curves | {"baselines": baseline_table(result.metrics), "tuning": tuning.trials},
                            paths.plots_dir, "train_")
    metrics = {**result.metrics, "split": result.split.describe(keys["started_at"]), "data_version": data_version,
               "gate": gate_on_test(test, cfg.registry.gate, result.metrics["model"]["trees"]).to_dict()}
    registry = log_train_run(cfg, label_target(label), result, test_rows, files, plot_files,
                             metrics, data_version, lifeline, tuning.trials, outline, paths.features)
    write_json(model_card(cfg, metrics, result.spec), model_dir / "model_card.json")
    lifeline.stop()
    return {**headline_metrics(result.metrics), "gate": metrics["gate"], "tuning": tuning.summary,
            "split": metrics["split"], "data_version": data_version, RUN_KEY: {"registry": registry}}


def main(params_path: str = "params.yaml") -> None:
    run_stage("train", run, "train", "label", params_path=params_path)


if __name__ == "__main__":
    main()
