"""DVC stage `explain`: trained models + test window -> SHAP drivers of non-resolution.

Loads the routing model (and the after-contact diagnostic model when train fitted one), explains a
sample of the test window (models/diagnostics/drivers.py) and writes reports/drivers.json, the driver
tables (CSV) and reports/shap_sample.parquet (per-contact SHAP for the report), also logged to the
training run in MLflow. Nothing is fitted here. No model (train's marker card): empty tables and its reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from models.diagnostics.drivers import explain, no_model_explanation
from models.model_files import is_no_model, load_model
from models.registry.tracking import log_artifacts_to_run
from pipeline.config import ExplainConfig, Paths, RegistryConfig
from pipeline.io import read_json, write_json, write_parquet
from pipeline.stage import run_file, run_stage

log = logging.getLogger(__name__)


def _explain(cfg: ExplainConfig, model_dir: Path, features: str):
    model = load_model(model_dir)
    after = load_model(model_dir / "after_contact") if (model_dir / "after_contact").exists() else None
    test = pd.read_parquet(model_dir / "test_predictions.parquet", columns=["contact_id"])
    ids = test.sample(n=min(cfg.sample_size, len(test)), random_state=cfg.seed).sort_index()["contact_id"]
    sample = pd.read_parquet(features).set_index("contact_id").loc[ids].reset_index()
    log.info("explaining %d test-window contacts", len(sample))
    return explain(model, sample, cfg, after)


def run(cfg: ExplainConfig, registry: RegistryConfig, paths: Paths) -> None:
    model_dir, reports = Path(paths.model_dir), Path(paths.reports_dir)
    card = read_json(model_dir / "model_card.json")  # train fitted no model: empty tables and its reason
    out = no_model_explanation(card["reason"]) if is_no_model(card) else _explain(cfg, model_dir, paths.features)
    reports.mkdir(parents=True, exist_ok=True)
    tables = {"drivers": out.drivers, "drivers_by_family": out.by_family, "drivers_by_segment": out.by_segment,
              "drivers_after_contact": out.after_contact if out.after_contact is not None else out.drivers.iloc[:0]}
    for name, table in tables.items():  # an empty after-contact table when train fitted no such model
        table.to_csv(reports / f"{name}.csv", index=False)
    write_parquet(out.per_contact, reports / "shap_sample.parquet")
    write_json(out.summary, reports / "drivers.json")
    train_run = run_file(paths, "train")  # this clone's latest training run (untracked: ids differ per run)
    registered = read_json(train_run).get("registry", {}) if train_run.exists() else {}
    if registered.get("run_id"):
        log_artifacts_to_run(registry, registered["run_id"], [reports / f"{n}.csv" for n in tables] +
                             [reports / "drivers.json"], "drivers")
    log.info("top drivers: %s", ", ".join(out.drivers["feature"].head(5)) or out.summary.get("reason"))


def main(params_path: str = "params.yaml") -> None:
    run_stage("explain", run, "explain", "train.registry", params_path=params_path)


if __name__ == "__main__":
    main()
