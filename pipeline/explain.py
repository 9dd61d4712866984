"""DVC stage `explain`: trained models + test window -> SHAP drivers of non-resolution.

Loads the routing (and after-contact) model, explains a test-window sample (models/diagnostics) and writes
reports/drivers.json, the driver tables, shap_sample.parquet and SHAP's plots (reports/shap/), also logged to
the training run in MLflow. Nothing is fitted here. No model (train's marker card): empty tables, its reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

from models.diagnostics.drivers import no_model_explanation
from models.diagnostics.shap_plots import explain_test_sample
from models.model_files import is_no_model
from models.registry.tracking import log_artifacts_to_run
from pipeline.config import ExplainConfig, Paths, RegistryConfig
from pipeline.io import read_json, save_figures, write_csvs, write_json, write_parquet
from pipeline.stage import run_file, run_stage

log = logging.getLogger(__name__)


def run(cfg: ExplainConfig, registry: RegistryConfig, paths: Paths) -> None:
    model_dir, reports = Path(paths.model_dir), Path(paths.reports_dir)
    card = read_json(model_dir / "model_card.json")  # train fitted no model: empty tables and its reason
    out, figures = ((no_model_explanation(card["reason"]), {}) if is_no_model(card)
                    else explain_test_sample(cfg, model_dir, paths.features))
    reports.mkdir(parents=True, exist_ok=True)
    tables = {"drivers": out.drivers, "drivers_by_family": out.by_family, "drivers_by_segment": out.by_segment,
              "drivers_after_contact": out.after_contact if out.after_contact is not None else out.drivers.iloc[:0]}
    write_csvs(tables, reports)  # an empty after-contact table when train fitted no such model
    write_parquet(out.per_contact, reports / "shap_sample.parquet")
    save_figures(figures, reports / "shap")  # SHAP's own plots for analysts
    write_json(out.summary, reports / "drivers.json")
    train_run = run_file(paths, "train")  # this clone's latest training run (untracked: ids differ per run)
    if (run_id := (read_json(train_run).get("registry", {}) if train_run.exists() else {}).get("run_id")):
        log_artifacts_to_run(registry, run_id, [*(reports / f"{n}.csv" for n in tables), reports / "drivers.json"],
                             "drivers")
    log.info("top drivers: %s", ", ".join(out.drivers["feature"].head(5)) or out.summary.get("reason"))


def main(params_path: str = "params.yaml") -> None:
    matplotlib.use("Agg")  # a non-interactive stage: figures are only saved
    run_stage("explain", run, "explain", "train.registry", params_path=params_path)


if __name__ == "__main__":
    main()
