"""A model on disk: LightGBM's native model file, its calibration and its feature spec (JSON).

In/out: a folder with model.txt, calibration.json and feature_spec.json, and for the routing model
score_distribution.json: its calibrated test-window scores (all of them when few, else 1,001 quantiles),
from which the service sets a specialist threshold for any capacity. The train stage writes one per
model it fits (routing model at the top of the model directory, case-mix and after-contact models in
subfolders) and logs the same files with the MLflow model; explain, report and the service only load
them. Nothing is pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.scoring import Calibrator, model_frame

SCORES_FILE = "score_distribution.json"
# 1,001 quantiles (levels 0, 0.001, ..., 1): a threshold for any capacity within one 0.1% step.
QUANTILES = 1001


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


def score_distribution(scores: np.ndarray) -> dict:
    """The test window's calibrated scores as a served model needs them to set a specialist threshold:
    `values` sorted, either every score (`kind: scores`, when at most QUANTILES: thresholds are exact)
    or QUANTILES quantiles at levels k / (QUANTILES - 1) (`kind: quantiles`), each the score at sorted
    index ceil(level * (n - 1)) (numpy's "higher" method, as capacity_threshold; integer arithmetic, so
    no level rounds to a neighbouring score). `capacity_threshold(values, c)` is then within one
    quantile step of `capacity_threshold(scores, c)`: the stored quantile at or above it, except where
    (1 - c)(n - 1) rounds across an integer in floating point and numpy's raw index moves one score up.
    Non-finite scores are left out and counted; none finite: ValueError."""
    p = np.asarray(scores, dtype=np.float64)
    finite = np.sort(p[np.isfinite(p)])
    n = len(finite)
    if n == 0:
        raise ValueError(f"no finite test-window score among {len(p)}: no specialist threshold can be derived")
    if n <= QUANTILES:
        kind, values = "scores", finite
    else:
        k = np.arange(QUANTILES, dtype=np.int64)
        kind, values = "quantiles", finite[-(-k * (n - 1) // (QUANTILES - 1))]  # ceil without floats
    return {"kind": kind, "n_scores": n, "non_finite_left_out": int(len(p) - n), "values": values.tolist()}


def load_score_distribution(path: str | Path) -> np.ndarray:
    """The sorted `values` of a score_distribution.json (see `score_distribution`); ValueError when they
    are not a non-empty, sorted list of probabilities."""
    doc = json.loads(Path(path).read_text())
    values = np.asarray(doc.get("values", []), dtype=np.float64) if isinstance(doc, dict) else np.array([])
    if (values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all() or (np.diff(values) < 0).any()
            or values[0] < 0 or values[-1] > 1):
        raise ValueError(f"{path}: `values` must be a non-empty sorted list of probabilities in [0, 1]")
    return values


def save_model(model: SavedModel, folder: str | Path, test_scores: np.ndarray | None = None) -> dict[str, Path]:
    """The model's files in `folder`; with `test_scores` (the routing model's calibrated test-window
    scores), their distribution too (SCORES_FILE). Returns the files by role."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"booster": folder / "model.txt", "calibration": folder / "calibration.json",
             "feature_spec": folder / "feature_spec.json"}
    if test_scores is not None:
        files["score_distribution"] = folder / SCORES_FILE
        files["score_distribution"].write_text(json.dumps(score_distribution(test_scores), allow_nan=False) + "\n")
    model.booster.save_model(files["booster"], num_iteration=model.booster.best_iteration or None)
    files["calibration"].write_text(json.dumps(model.calibrator.to_dict(), indent=2, allow_nan=False) + "\n")
    files["feature_spec"].write_text(json.dumps(model.spec, indent=2, allow_nan=False) + "\n")
    return files


NATIVE_FILES = ("model.txt", "calibration.json", "feature_spec.json")


def save_models(models: dict[str, SavedModel], folder: str | Path) -> None:
    """Each model in its own subfolder of `folder`, named by its key (the case-mix and after-contact models)."""
    for name, model in models.items():
        save_model(model, Path(folder) / name)


def files_md5(folder: str | Path) -> str:
    """The content hash of a model's native files (NATIVE_FILES, in that order): the same files, the same
    hash, wherever they were restored from (DVC's run cache, `dvc exp apply`, a registry download)."""
    import hashlib

    digest = hashlib.md5()
    for name in NATIVE_FILES:
        digest.update(name.encode() + b"\0" + (Path(folder) / name).read_bytes() + b"\0")
    return digest.hexdigest()


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
