"""DVC stage `explain`: trained model + test window -> SHAP drivers of non-resolution.

Reads the model directory of the train stage (native LightGBM model, feature spec, model card,
test-window predictions) and the feature table; explains a sample of the test window with
models/explain.py; writes reports/drivers.json, reports/drivers.csv, reports/drivers_by_family.csv,
reports/drivers_by_segment.csv and reports/shap_sample.parquet (per-contact SHAP for the report's
plots), and logs them to the training run in MLflow. With `explain.after_contact`, also fits the
after-contact diagnostic model (routing features + transfers, handle time, disposition) on the same
train/validation windows and explains the same sample with it: reports/drivers_after_contact.csv.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.config import ExplainConfig, LightGBMConfig, Paths, RegistryConfig, SplitConfig
from models.classifier import model_frame
from models.explain import after_contact_drivers, family_drivers, global_drivers, segment_drivers, shap_values
from pipeline.io import write_json, write_parquet
from pipeline.params import load_params

log = logging.getLogger(__name__)


def run(cfg: ExplainConfig, paths: Paths, registry: RegistryConfig | None = None,
        split_cfg: SplitConfig | None = None, lgb_cfg: LightGBMConfig | None = None, seed: int = 0) -> dict:
    model_dir, reports = Path(paths.model_dir), Path(paths.reports_dir)
    booster = lgb.Booster(model_file=str(model_dir / "model.txt"))
    spec = json.loads((model_dir / "feature_spec.json").read_text())
    card = json.loads((model_dir / "model_card.json").read_text())
    test = pd.read_parquet(model_dir / "test_predictions.parquet", columns=["contact_id", "p_repeat", "repeated"])
    sample = test.sample(n=min(cfg.sample_size, len(test)), random_state=cfg.seed).sort_index()
    features = pd.read_parquet(paths.features)
    table = features.set_index("contact_id").loc[sample["contact_id"]]
    X = model_frame(table, spec)
    log.info("explaining %d test-window contacts", len(X))
    shap = shap_values(booster, X)
    drivers = global_drivers(shap, spec)
    families = family_drivers(drivers)
    segments = [c for c in cfg.segments if c in table.columns]
    by_segment = segment_drivers(shap, spec, table[segments], cfg.segment_top, cfg.min_segment_contacts)

    reports.mkdir(parents=True, exist_ok=True)
    drivers.to_csv(reports / "drivers.csv", index=False)
    families.to_csv(reports / "drivers_by_family.csv", index=False)
    by_segment.to_csv(reports / "drivers_by_segment.csv", index=False)
    names = spec["model_features"]
    per_contact = pd.DataFrame(shap[:, : len(names)].astype(np.float32), columns=[f"shap_{n}" for n in names])
    per_contact.insert(0, "contact_id", sample["contact_id"].to_numpy())
    per_contact["base_value"] = shap[:, -1]
    write_parquet(per_contact, reports / "shap_sample.parquet")
    summary = {
        "contacts_explained": int(len(X)),
        "method": "TreeSHAP via LightGBM pred_contrib (log-odds of a repeat)",
        "top_drivers": drivers.head(cfg.top_features).to_dict("records"),
        "toward_repeat": drivers[drivers["mean_shap"] > 0]["feature"].head(cfg.top_features).tolist(),
        "by_family": families.to_dict("records"),
        "controllable_share": float(drivers.loc[drivers["controllable"], "share_of_total"].sum()),
        "by_segment": {col: {v: g[["feature", "mean_abs_shap", "mean_shap"]].to_dict("records")
                             for v, g in by_segment[by_segment["segment"] == col].groupby("value")}
                       for col in segments} if len(by_segment) else {},
        "model": {"run_id": card.get("registry", {}).get("run_id"), "version": card.get("registry", {}).get("version")},
    }
    if cfg.after_contact:
        after = after_contact_drivers(features, sample["contact_id"], spec, split_cfg or SplitConfig(),
                                      lgb_cfg or LightGBMConfig(), seed)
        after.to_csv(reports / "drivers_after_contact.csv", index=False)
        process = after[after["family"] == "process"]
        summary["after_contact"] = {
            "what": "diagnostic model: routing features + features known only after the contact; not for routing",
            "process_drivers": process[["feature", "rank", "mean_abs_shap", "mean_shap"]].to_dict("records"),
            "top_drivers": after.head(cfg.top_features)[["rank", "feature", "family", "mean_abs_shap"]].to_dict("records"),
        }
        log.info("after-contact diagnostic: %s", ", ".join(f"{r.feature} #{r.rank}" for r in process.itertuples()))
    write_json(summary, reports / "drivers.json")
    run_id = summary["model"]["run_id"]
    if registry is not None and run_id:
        _log_to_mlflow(registry, run_id, reports)
    log.info("top drivers: %s", ", ".join(drivers["feature"].head(5)))
    return summary


def _log_to_mlflow(registry: RegistryConfig, run_id: str, reports: Path) -> None:
    import mlflow

    from models.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(registry))
    with mlflow.start_run(run_id=run_id):
        for name in ("drivers.json", "drivers.csv", "drivers_by_family.csv", "drivers_by_segment.csv",
                     "drivers_after_contact.csv"):
            if (reports / name).exists():
                mlflow.log_artifact(str(reports / name), artifact_path="drivers")


def main(params_path: str = "params.yaml") -> None:
    from pipeline.io import setup_logging

    setup_logging()
    params = load_params(params_path)
    run(params.explain, params.paths, params.train.registry, params.train.split, params.train.lightgbm,
        params.train.seed)


if __name__ == "__main__":
    main()
