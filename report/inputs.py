"""What the report reads: the outputs of label, train and explain, gathered in one object.

In: the paths section. Out: `ReportInputs` (tables and dicts only; nothing is fitted or computed here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.model_files import SavedModel, load_model
from pipeline.config import Paths

SEGMENTS = ("channel", "reason_family", "team")


@dataclass
class ReportInputs:
    label: dict                          # metrics/label.json
    weekly: pd.DataFrame                 # FCR by week
    segments: dict[str, pd.DataFrame]    # FCR by channel / reason family / team (those the data has)
    card: dict                           # the routing model's card (metrics, registry version)
    spec: dict
    curves: dict[str, pd.DataFrame]      # train_roc, train_pr, train_calibration, train_capture
    drivers: pd.DataFrame
    top_n: int                           # drivers listed in drivers.json
    after: pd.DataFrame | None           # drivers of the after-contact model
    shap: pd.DataFrame                   # per-contact SHAP of the explained sample
    table: pd.DataFrame                  # the feature table
    test_ids: pd.Series                  # contacts of the test window
    casemix: SavedModel | None
    truth_dir: Path


def load_report_inputs(paths: Paths) -> ReportInputs:
    reports, plots, model_dir = Path(paths.reports_dir), Path(paths.plots_dir), Path(paths.model_dir)
    segments = {s: pd.read_csv(plots / f"fcr_by_{s}.csv").rename(columns={"segment": s})
                for s in SEGMENTS if (plots / f"fcr_by_{s}.csv").exists()}
    after = pd.read_csv(reports / "drivers_after_contact.csv") if (reports / "drivers_after_contact.csv").exists() else None
    return ReportInputs(
        label=json.loads((Path(paths.metrics_dir) / "label.json").read_text()),
        weekly=pd.read_csv(plots / "fcr_by_week.csv"), segments=segments,
        card=json.loads((model_dir / "model_card.json").read_text()),
        spec=json.loads((model_dir / "feature_spec.json").read_text()),
        curves={k: pd.read_csv(plots / f"train_{k}.csv") for k in ("roc", "pr", "calibration", "capture")},
        drivers=pd.read_csv(reports / "drivers.csv"),
        top_n=len(json.loads((reports / "drivers.json").read_text())["top_drivers"]),
        after=after if after is not None and len(after) else None,
        shap=pd.read_parquet(reports / "shap_sample.parquet"),
        table=pd.read_parquet(paths.features),
        test_ids=pd.read_parquet(model_dir / "test_predictions.parquet", columns=["contact_id"])["contact_id"],
        casemix=load_model(model_dir / "casemix") if (model_dir / "casemix").exists() else None,
        truth_dir=Path(paths.truth_dir))
