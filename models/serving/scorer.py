"""Scoring arriving contacts: the trained model plus the online snapshot, loaded once.

In: a model (an exported model directory with model.txt, calibration.json, feature_spec.json and
model_card.json, or an MLflow registry alias such as `models:/fcr-classifier@champion`), the online
snapshot directory and the customers/agents tables of the featurize stage. Out: a `Scorer` whose
`score` turns raw contact fields into the calibrated probability of a repeat, a risk band, a route
under the training capacity threshold, and the top reasons (per-contact SHAP, LightGBM pred_contrib).
No pandas per request: features from features/online_state.py, booster on a NumPy matrix, one thread.
Unknown customers, agents and reason codes are scored (their features fall back to the priors).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.online_state import OnlineState
from pipeline.config import FeaturizeConfig
from models.scoring import Calibrator

log = logging.getLogger(__name__)


class ModelNotFound(RuntimeError):
    """The model to serve could not be found or read."""


@dataclass
class LoadedModel:
    booster: lgb.Booster
    calibrator: Calibrator
    spec: dict
    card: dict
    source: str
    descriptions: dict[str, str] = field(default_factory=dict)


def _find(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    if not hits:
        raise ModelNotFound(f"{name} not found under {root}: is this a model exported by the train stage?")
    return hits[0]


def load_model(source: str, tracking_uri: str | None = None) -> LoadedModel:
    """From a directory (the train stage's model_dir) or a `models:/name@alias` URI of the registry."""
    card: dict = {}
    if source.startswith("models:/"):
        import mlflow
        from mlflow import MlflowClient

        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        name, _, alias = source.removeprefix("models:/").partition("@")
        try:
            root = Path(mlflow.artifacts.download_artifacts(artifact_uri=source))
            client = MlflowClient()
            version = client.get_model_version_by_alias(name, alias) if alias else None
        except Exception as exc:
            raise ModelNotFound(f"cannot load {source} from MLflow at {mlflow.get_tracking_uri()}: {exc}. "
                                "Run `dvc repro` (train stage) first, or pass --model DIR.") from exc
        if version is not None:
            run = client.get_run(version.run_id)
            card = {"model_name": name, "alias": alias, "version": int(version.version), "run_id": version.run_id,
                    "capacity_threshold": run.data.metrics.get("model.capacity_threshold"),
                    "test_metrics": {k.removeprefix("model."): v for k, v in run.data.metrics.items()
                                     if k.startswith("model.")}}
    else:
        root = Path(source)
        if not root.is_dir():
            raise ModelNotFound(f"model directory {root} does not exist: run `dvc repro` (train stage) first.")
        card_file = root / "model_card.json"
        if card_file.exists():
            full = json.loads(card_file.read_text())
            card = {"model_name": full.get("model_name"), "alias": None,
                    "version": full.get("registry", {}).get("version"), "run_id": full.get("registry", {}).get("run_id"),
                    "capacity_threshold": full.get("capacity_threshold"), "test_metrics": full.get("test_metrics", {})}
    booster = lgb.Booster(model_file=str(_find(root, "model.txt")))
    calibrator = Calibrator.from_dict(json.loads(_find(root, "calibration.json").read_text()))
    spec = json.loads(_find(root, "feature_spec.json").read_text())
    descriptions = {f["name"]: f.get("label", f["name"]) for f in spec["features"]}
    return LoadedModel(booster, calibrator, spec, card, source, descriptions)


def load_snapshot(directory: str | Path) -> dict[str, pd.DataFrame]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelNotFound(f"online snapshot {directory} does not exist: run `dvc repro` (featurize stage) first.")
    return {p.stem: pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))}


@dataclass
class Scorer:
    """The hot path: raw contacts (dicts) -> feature matrix (NumPy) -> booster (one thread) -> calibration."""
    model: LoadedModel
    state: OnlineState
    threshold: float

    def matrix(self, contacts: list[dict]) -> np.ndarray:
        rows = []
        for c in contacts:
            r = dict(c)
            if not r.get("reason_family"):
                # the data's own mapping (snapshot history); an unknown code is its own family
                r["reason_family"] = self.state.family_of.get(r["reason_code"], r["reason_code"])
            when = r["started_at"]
            r["started_at"] = math.floor(when.timestamp()) if isinstance(when, datetime) else int(when)
            rows.append(r)
        return self.state.features(rows)

    def score(self, contacts: list[dict], reasons: int = 3) -> tuple[np.ndarray, list[list[dict]]]:
        """Calibrated probabilities of a repeat and, per contact, the `reasons` strongest pushes toward one."""
        X = self.matrix(contacts)
        if reasons <= 0:
            return self.model.calibrator(self.model.booster.predict(X, raw_score=True, num_threads=1)), [[]] * len(X)
        contrib = self.model.booster.predict(X, pred_contrib=True, num_threads=1)
        p = self.model.calibrator(contrib.sum(axis=1))
        out = []
        for i in range(len(X)):
            row = contrib[i, :-1]
            top = np.argsort(-row, kind="stable")[:reasons]
            out.append([self._reason(j, X[i, j], float(row[j])) for j in top if row[j] > 0])
        return p, out

    def _reason(self, j: int, value: float, contribution: float) -> dict:
        name = self.model.spec["model_features"][j]
        shown: object
        if math.isnan(value):
            shown = None
        elif name in self.state.codes:
            shown = self.state.labels[name][int(value)]
        else:
            shown = round(float(value), 3)
        return {"feature": name, "value": shown, "contribution": round(contribution, 4),
                "text": _reason_text(self.model.descriptions.get(name, name), shown)}

    def route(self, p: np.ndarray) -> tuple[list[str], list[str]]:
        routes = np.where(p >= self.threshold, "specialist", "standard")
        bands = np.where(p >= self.threshold, "high", np.where(p >= 0.5 * self.threshold, "medium", "low"))
        return routes.tolist(), bands.tolist()


def build_scorer(model: str | LoadedModel, snapshot_dir: str | Path, customers: str | Path, agents: str | Path,
                 featurize: FeaturizeConfig, tracking_uri: str | None = None) -> Scorer:
    """`model`: a source for `load_model`, or a model loaded already."""
    if isinstance(model, str):
        model = load_model(model, tracking_uri)
    threshold = model.card.get("capacity_threshold")
    if threshold is None:
        raise ModelNotFound(f"{model.source} carries no capacity threshold (model_card.json / run metrics).")
    state = OnlineState(load_snapshot(snapshot_dir), pd.read_parquet(customers), pd.read_parquet(agents), model.spec,
                        featurize)
    return Scorer(model, state, float(threshold))


def _reason_text(description: str, value: object) -> str:
    return f"{description}: {'unknown (new or not on file)' if value is None else value}"
