"""Scoring arriving contacts: the trained model plus the online snapshot, loaded once.

In: a model (an exported model directory with model.txt, calibration.json, feature_spec.json and
model_card.json, or an MLflow registry alias such as `models:/fcr-classifier@champion`), the online
snapshot directory and the customers/agents tables of the featurize stage. Out: a `Scorer` whose
`score` turns raw contact fields into the calibrated probability of a repeat, a risk band, a route
under the training capacity threshold, and the top reasons (per-contact SHAP, LightGBM pred_contrib).
No pandas per request: features from features/online_state.py, booster on a NumPy matrix, one thread.
Unknown customers, agents and reason codes are scored (their features fall back to the priors).
Live state: `learn` journals events (models/serving/journal.py) and then adds them to the state, so a
customer's next contact sees this one, and its label once its window has closed (with the
completion's disposition and resolution signal); contacts that started before the snapshot's end are in it
already and are not added again; the same contact id is learned once (idempotent re-scoring).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.online_state import OnlineState
from features.rules import DAY
from features.config import FeaturizeConfig
from base.errors import ExpectedError
from contract.lineage import champion_alias, mismatch
from models.model_files import SCORES_FILE, is_no_model, load_score_distribution
from models.scoring import Calibrator
from models.measures import capacity_threshold
from models.serving.journal import Journal

log = logging.getLogger(__name__)


class ModelNotFound(ExpectedError, RuntimeError):
    """The model to serve could not be found or read."""


class ModelMismatch(ExpectedError):
    """The model was trained on another data source (or label rules) than the project is set up for."""


class CapacityUnknown(ValueError):
    """No specialist threshold can be derived for the capacity asked."""


@dataclass
class LoadedModel:
    booster: lgb.Booster
    calibrator: Calibrator
    spec: dict
    card: dict
    source: str
    descriptions: dict[str, str] = field(default_factory=dict)
    # calibrated p_repeat of the test window, sorted scores or quantiles (thresholds for any capacity)
    test_scores: np.ndarray | None = None


def _find(root: Path, name: str, search: bool = False) -> Path:
    """`name` in the model folder itself; `search` (an MLflow download, a small folder we made): below it.
    A directory given by the user is never walked: `--model /` must not read the whole disk."""
    hits = sorted(root.rglob(name)) if search else [root / name] if (root / name).is_file() else []
    if not hits:
        raise ModelNotFound(f"{name} not found in {root}: give the folder the train stage exported (paths.model_dir, "
                            "e.g. models_out) or a registry URI models:/NAME@ALIAS or models:/NAME/VERSION.")
    return hits[0]


def current_lineage(feature_spec: str | Path) -> dict | None:
    """The lineage of the data the project is set up for now (featurize's feature_spec.json), or None."""
    path = Path(feature_spec)
    return json.loads(path.read_text()).get("lineage") if path.is_file() else None


def check_lineage(model: LoadedModel, current: dict | None, any_source: bool = False) -> str | None:
    """None when `model` belongs to the data of lineage `current`. Otherwise ModelMismatch saying what to
    run, or, with `any_source` (the user's explicit choice), the mismatch, for the output to say."""
    why = mismatch(model.spec.get("lineage"), current)
    if why is None:
        return None
    if any_source:
        log.warning("scoring with %s although %s (--any-source)", model.source, why)
        return why
    raise ModelMismatch(f"{model.source} does not belong to this project's data: {why}. Run `dvc repro` to train a "
                        "model on the data params.yaml's ingest section names (it becomes this source's champion "
                        "when it passes the gate), or pass --any-source to score with this model anyway.")


def load_model(source: str, tracking_uri: str | None = None, source_id: str | None = None) -> LoadedModel:
    """From a directory (the train stage's model_dir) or a `models:/name@alias` URI of the registry. With
    `source_id` (the current data's lineage id), `@champion` means that data source's champion
    (`@champion-<id>`, models/registry/promotion.py) when the registry has one."""
    card: dict = {}
    if source.startswith("models:/"):
        import mlflow
        from mlflow import MlflowClient

        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        name, _, alias = source.removeprefix("models:/").partition("@")
        name, _, number = name.partition("/")
        if not name or (alias and number) or not (alias or number.isdigit()):
            raise ModelNotFound(f"{source!r} is not a registry URI: write models:/NAME@ALIAS or models:/NAME/VERSION.")
        if alias == "champion" and source_id:
            try:
                MlflowClient().get_model_version_by_alias(name, champion_alias(source_id))
                alias = champion_alias(source_id)
                source = f"models:/{name}@{alias}"
            except Exception:  # noqa: BLE001 - no champion for this source: `champion` as it is (checked later)
                pass
        try:
            root = Path(mlflow.artifacts.download_artifacts(artifact_uri=source))
            client = MlflowClient()
            version = (client.get_model_version_by_alias(name, alias) if alias
                       else client.get_model_version(name, number))
        except Exception as exc:
            from models.registry.tracking import redact_uri

            where = redact_uri(mlflow.get_tracking_uri())
            raise ModelNotFound(f"cannot load {source} from MLflow at {where}: {exc}. "
                                "Run `dvc repro` (train stage) first, or pass --model DIR.") from exc
        if version is not None:
            run = client.get_run(version.run_id)
            card = {"model_name": name, "alias": alias, "version": int(version.version), "run_id": version.run_id,
                    "capacity_threshold": run.data.metrics.get("model.capacity_threshold"),
                    "specialist_capacity": float(run.data.params["train.specialist_capacity"])
                    if "train.specialist_capacity" in run.data.params else None,
                    "test_metrics": {k.removeprefix("model."): v for k, v in run.data.metrics.items()
                                     if k.startswith("model.")}}
    else:
        root = Path(source)
        if not root.is_dir():
            raise ModelNotFound(f"model directory {root} does not exist: run `dvc repro` (train stage) first.")
        card_file = root / "model_card.json"
        if card_file.exists():
            full = json.loads(card_file.read_text())
            if is_no_model(full):  # train completed without a model (nothing known at arrival varied)
                raise ModelNotFound(f"{root} holds no model: {full.get('reason')}")
            card = {"model_name": full.get("model_name"), "alias": None,
                    "version": full.get("registry", {}).get("version"), "run_id": full.get("registry", {}).get("run_id"),
                    "capacity_threshold": full.get("capacity_threshold"), "test_metrics": full.get("test_metrics", {}),
                    "specialist_capacity": full.get("specialist_capacity")}
    search = source.startswith("models:/")
    booster = lgb.Booster(model_file=str(_find(root, "model.txt", search)))
    calibrator = Calibrator.from_dict(json.loads(_find(root, "calibration.json", search).read_text()))
    spec = json.loads(_find(root, "feature_spec.json", search).read_text())
    descriptions = {f["name"]: f.get("label", f["name"]) for f in spec["features"]}
    return LoadedModel(booster, calibrator, spec, card, source, descriptions, _test_scores(root, search))


def _test_scores(root: Path, search: bool) -> np.ndarray | None:
    """The test window's score distribution the train stage saves with the model (SCORES_FILE, in the
    model folder and among the registered MLflow model's artifacts); a folder older than that: the
    test_predictions.parquet beside it. None when neither is there."""
    found = sorted(root.rglob(SCORES_FILE)) if search else [f for f in [root / SCORES_FILE] if f.is_file()]
    if found:
        try:
            return load_score_distribution(found[0])
        except ValueError as exc:
            raise ModelNotFound(f"{exc}: export the model again (`dvc repro` train stage)") from exc
    tests = sorted(root.rglob("test_predictions.parquet")) if search else \
        [root / "test_predictions.parquet"] if (root / "test_predictions.parquet").is_file() else []
    if tests:
        p = pd.read_parquet(tests[0], columns=["p_repeat"])["p_repeat"].to_numpy(dtype=float)
        return p[np.isfinite(p)] if np.isfinite(p).any() else None
    return None


def load_snapshot(directory: str | Path) -> dict[str, pd.DataFrame]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelNotFound(f"online snapshot {directory} does not exist: run `dvc repro` (featurize stage) first.")
    return {p.stem: pd.read_parquet(p) for p in sorted(directory.glob("*.parquet"))}


PRUNE_KEYS_PER_EVENT = 256  # keys a learned event prunes: a sweep of 100,000 customers spreads over ~1,000 events

@dataclass
class Scorer:
    """The hot path: raw contacts (dicts) -> feature matrix (NumPy) -> booster (one thread) -> calibration."""
    model: LoadedModel
    state: OnlineState
    threshold: float
    snapshot_end: int = 0                 # epoch seconds: contacts before it are in the snapshot
    journal: Journal | None = None
    learned: dict[str, tuple[bool, int]] = field(default_factory=dict)  # contact id -> (its agent is known, start)
    last_event: float | None = None       # wall-clock time of the latest event learned
    latest: int = 0                       # latest start time learned (epoch seconds): the state's "now"
    pruned_at: int = 0                    # `latest` when the last prune began
    sweep: Iterator[int] | None = None    # the prune in progress, a few keys per event

    def prepare(self, contacts: list[dict]) -> list[dict]:
        """Raw fields -> the state's input: family filled in, start time in epoch seconds (the user's
        extra columns come as `extra_<name>`, read at the door: models/serving/mapping.py)."""
        rows = []
        for c in contacts:
            r = dict(c)
            if not r.get("reason_family"):
                # the data's own mapping (snapshot history); an unknown code is its own family
                r["reason_family"] = self.state.family_of.get(r["reason_code"], r["reason_code"])
            when = r["started_at"]
            r["started_at"] = math.floor(when.timestamp()) if isinstance(when, datetime) else int(when)
            rows.append(r)
        return rows

    def matrix(self, contacts: list[dict]) -> np.ndarray:
        return self.state.features(self.prepare(contacts), clock_limit=_clock_limit())

    def learn(self, kind: str, contacts: list[dict]) -> list[bool]:
        """Journal, then add to the live state, the contacts with an id (`arrival`: scored;
        `completion`: ended). Per contact: whether it changed the state (False: no id, already
        learned, or older than the snapshot)."""
        rows = [r for r in self.prepare(contacts)]
        events = [(r["contact_id"], r["started_at"], _jsonable(r)) for r in rows if r.get("contact_id")]
        new = iter(self.journal.append(kind, events) if self.journal is not None and events else [True] * len(events))
        out = []
        for r in rows:
            out.append(bool(r.get("contact_id")) and next(new) and self.apply(r))
        return out

    def apply(self, r: dict) -> bool:
        """One journaled event into the state (at start-up, the journal's replay comes through here)."""
        cid, t = r["contact_id"], int(r["started_at"])
        if t < self.snapshot_end:
            return False
        # labels whose window closed before this contact, as scoring it matured them (so a replay
        # matures at the same points); then what it tells labelling (disposition, resolution signal)
        self.state.mature(min(t, _clock_limit()))
        self.state.observe_outcome(r)
        has_agent = self.learned.get(cid, (None, t))[0]
        if has_agent is None:
            self.state.observe(r)
        elif not has_agent and r.get("agent_id") is not None:  # the completion names the agent
            self.state.observe(r, customer=False)
        else:  # nothing new for the history (labelling may have learned the outcome): not counted as learned
            return False
        self.learned[cid] = (bool(has_agent) or r.get("agent_id") is not None, t)
        self.last_event = time.time()
        # a start time far ahead of the clock (a wrong or hostile client) must not prune live history
        self.latest = max(self.latest, min(t, _clock_limit()))
        if self.latest - self.pruned_at >= DAY:
            if self.sweep is not None:  # the last sweep is not over after a day: few events a day, finish it
                sum(self.sweep)
            self.sweep, self.pruned_at = self.prune_steps(self.latest), self.latest
        if self.sweep is not None and len(list(islice(self.sweep, PRUNE_KEYS_PER_EVENT))) < PRUNE_KEYS_PER_EVENT:
            self.sweep = None  # done: the next sweep a day of contact time after this one began
        return True

    def prune(self, now: int) -> int:
        """Bound memory: the state forgets what no contact at or after `now` can see, and the ids of
        contacts older than that are forgotten too (the journal still refuses them twice). The service
        runs it once per day of contact time, a few keys per event (`prune_steps`): one sweep at once
        stalled a request for tens of ms per 100,000 customers."""
        return sum(self.prune_steps(now))

    def prune_steps(self, now: int) -> Iterator[int]:
        """`prune`, one key (customer, agent or contact id) a step; each yields how many entries went."""
        dropped = 0
        for k in self.state.prune_steps(now):
            dropped += k
            yield k
        before = self.state.horizon(now)[0]
        for cid in list(self.learned):
            old = self.learned.get(cid, (None, before))[1] < before
            if old:
                del self.learned[cid]
            yield int(old)
        log.debug("state pruned at %d: %d history entries dropped, %d contact ids kept", now, dropped,
                  len(self.learned))

    def replay(self) -> int:
        """Apply the journal's events since the snapshot's end; how many changed the state."""
        if self.journal is None:
            return 0
        return sum(self.apply(body) for _, body in self.journal.replay(since=self.snapshot_end))

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

    def _shown(self, name: str, value: float) -> str | float | None:
        if math.isnan(value):
            return None
        if name in self.state.codes:
            return self.state.labels[name][int(value)]
        return float(value)

    def named(self, x: np.ndarray) -> dict[str, str | float | None]:
        """One contact's model features by name, categories as their values (what `features: true` shows)."""
        return {name: self._shown(name, float(v)) for name, v in zip(self.model.spec["model_features"], x, strict=True)}

    def _reason(self, j: int, value: float, contribution: float) -> dict:
        name = self.model.spec["model_features"][j]
        shown = self._shown(name, value)
        if isinstance(shown, float):
            shown = round(shown, 3)
        return {"feature": name, "value": shown, "contribution": round(contribution, 4),
                "text": _reason_text(self.model.descriptions.get(name, name), shown)}

    def threshold_for(self, capacity: float | None) -> float:
        """The specialist threshold for a capacity (share of contacts specialists can take): the score
        above which that share of the model's test-window contacts fall (as the train stage sets the
        model's own threshold; from the saved quantiles of a large window: within one 0.1% quantile
        step of it); None: the model's threshold. Raises CapacityUnknown without test scores."""
        if capacity is None:
            return self.threshold
        scores = self.model.test_scores
        if scores is None:
            if capacity == self.model.card.get("specialist_capacity"):
                return self.threshold
            raise CapacityUnknown(
                f"{self.model.source} carries no test-window scores ({SCORES_FILE}, or test_predictions.parquet "
                "beside a model folder), so no threshold can "
                f"be derived for specialist_capacity {capacity}: omit it to use the model's threshold "
                f"({self.threshold:.4f}, capacity {self.model.card.get('specialist_capacity')}).")
        return capacity_threshold(scores, capacity)

    def route(self, p: np.ndarray, threshold: float | None = None) -> tuple[list[str], list[str]]:
        threshold = self.threshold if threshold is None else threshold
        routes = np.where(p >= threshold, "specialist", "standard")
        bands = np.where(p >= threshold, "high", np.where(p >= 0.5 * threshold, "medium", "low"))
        return routes.tolist(), bands.tolist()


def build_scorer(model: str | LoadedModel, snapshot_dir: str | Path, customers: str | Path, agents: str | Path,
                 featurize: FeaturizeConfig, tracking_uri: str | None = None, journal: Journal | None = None) -> Scorer:
    """`model`: a source for `load_model`, or a model loaded already. With a journal, its events since
    the snapshot's end are replayed into the state."""
    if isinstance(model, str):
        model = load_model(model, tracking_uri)
    threshold = model.card.get("capacity_threshold")
    if threshold is None:
        raise ModelNotFound(f"{model.source} carries no capacity threshold (model_card.json / run metrics).")
    snapshot = load_snapshot(snapshot_dir)
    state = OnlineState(snapshot, pd.read_parquet(customers), pd.read_parquet(agents), model.spec, featurize)
    end = int(pd.Timestamp(snapshot["meta"]["as_of"].iloc[0]).timestamp())
    scorer = Scorer(model, state, float(threshold), snapshot_end=end, journal=journal)
    log.info("journal: %d events replayed since the snapshot's end", scorer.replay())
    return scorer


def _clock_limit() -> int:
    """The latest contact time the live state moves to: a day past the wall clock (a start time far
    ahead, from a wrong or hostile client, neither matures every label nor prunes live history)."""
    return int(time.time()) + int(DAY)


def _jsonable(r: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}


def _reason_text(description: str, value: object) -> str:
    return f"{description}: {'unknown (new or not on file)' if value is None else value}"
