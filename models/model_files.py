"""A model on disk: LightGBM's native model file, its calibration and its feature spec (JSON).

In/out: a folder with model.txt, calibration.json and feature_spec.json. The train stage writes one
per model it fits (routing model at the top of the model directory, case-mix and after-contact models
in subfolders); explain, report and the service only load them. Nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.scoring import Calibrator, model_frame


@dataclass
class SavedModel:
    booster: lgb.Booster
    calibrator: Calibrator
    spec: dict

    def raw(self, table: pd.DataFrame) -> np.ndarray:
        """Log-odds of a repeat for the rows of a feature table (or a model frame)."""
        return self.booster.predict(model_frame(table, self.spec), raw_score=True)

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a repeat."""
        return self.calibrator(self.raw(table))


def save_model(model: SavedModel, folder: str | Path) -> dict[str, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"booster": folder / "model.txt", "calibration": folder / "calibration.json",
             "feature_spec": folder / "feature_spec.json"}
    model.booster.save_model(files["booster"], num_iteration=model.booster.best_iteration or None)
    files["calibration"].write_text(json.dumps(model.calibrator.to_dict(), indent=2, allow_nan=False) + "\n")
    files["feature_spec"].write_text(json.dumps(model.spec, indent=2, allow_nan=False) + "\n")
    return files


def load_model(folder: str | Path) -> SavedModel:
    folder = Path(folder)
    if not (folder / "model.txt").exists():
        raise FileNotFoundError(f"{folder} holds no model (model.txt); run `dvc repro train`.")
    return SavedModel(lgb.Booster(model_file=str(folder / "model.txt")),
                      Calibrator.from_dict(json.loads((folder / "calibration.json").read_text())),
                      json.loads((folder / "feature_spec.json").read_text()))


def is_no_model(card: dict) -> bool:
    """True for the marker model_card.json of a train run that fitted no model (`"model": null` and the
    reason; models/training/no_model.py writes it): explain, the report, status and serve read it."""
    return "model" in card and card["model"] is None
