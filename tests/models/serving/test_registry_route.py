"""/v1/route with a specialist capacity from a model served out of the MLflow registry (a real SQLite
store): the registered pyfunc model carries the test window's score distribution as an artifact, so a
registry URI derives any capacity's threshold as a model folder does."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from features.online import online_snapshot
from models.model_files import SCORES_FILE, SavedModel, load_score_distribution, save_model
from models.registry.gate import gate_on_test
from models.registry.tracking import label_target, log_train_run, model_card
from models.serving.app import create_app
from models.serving.scorer import build_scorer, load_model
from models.measures import capacity_threshold
from models.training.fit import train_model
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from models.config import LightGBMConfig, RegistryConfig, TrainConfig
from synthetic.config import SyntheticConfig
from pipeline.io import write_json, write_tables
from tests.centre import centre, feature_table
from tests.models.serving.test_app import Server, _ready


@pytest.mark.slow  # trains, logs and registers a real model (about 15 s)
def test_a_registry_model_routes_with_any_specialist_capacity(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    data, contacts = centre(SyntheticConfig.default(n_contacts=8000, n_customers=1500, n_agents=20, n_teams=3,
                                                    days=100, seed=4))
    T = contacts["started_at"].quantile(0.8)
    table, spec, labels = feature_table(data, contacts, as_of=T)
    cfg = TrainConfig.default(lightgbm=LightGBMConfig.default(learning_rate=0.1, n_estimators=120,
                                                              early_stopping_rounds=20),
                              registry=RegistryConfig.default(experiment="test"))
    result = train_model(table, spec, cfg)
    raw = result.test["p_repeat"].to_numpy()
    # as the train stage does: the model folder with its score distribution, then the MLflow run and registry
    files = save_model(SavedModel(result.booster, result.calibrator, result.spec), tmp_path / "model", raw)
    assert files["score_distribution"].name == SCORES_FILE
    metrics = {**result.metrics, "gate": gate_on_test(result.test, cfg.registry.gate,
                                                      result.metrics["model"]["trees"]).to_dict()}
    decision = log_train_run(cfg, label_target(LabelConfig.default()), result, table.iloc[result.split.test], files,
                             {}, metrics, "md5", None)
    card_metrics = {**metrics, "split": result.split.describe(table["started_at"]), "data_version": "md5"}
    write_json(model_card(cfg, card_metrics, result.spec), tmp_path / "model" / "model_card.json")
    name, version = cfg.registry.model_name, decision["version"]
    MlflowClient().set_registered_model_alias(name, "champion", str(version))  # as promotion would
    # the registered pyfunc model itself holds the distribution (not only the run's native_model folder)
    logged = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(tmp_path / "dl"))
    assert sorted(p.name for p in (tmp_path / "dl").rglob(SCORES_FILE)) == [SCORES_FILE], logged
    assert not list((tmp_path / "dl").rglob("test_predictions.parquet"))

    write_tables(online_snapshot(contacts[contacts["started_at"] < T], labels, LabelConfig.default(window_days=7), T), tmp_path / "snapshot")
    data.customers.to_parquet(tmp_path / "customers.parquet")
    data.agents.to_parquet(tmp_path / "agents.parquet")
    stored = load_score_distribution(files["score_distribution"])
    contact = {"customer_id": str(contacts["customer_id"].dropna().iloc[-1]), "channel": "phone",
               "reason_code": "BIL-01", "started_at": (T + np.timedelta64(10, "m")).isoformat(), "wait_s": 30.0}
    answers = {}
    for source in (f"models:/{name}/{version}", f"models:/{name}@champion", str(tmp_path / "model")):
        loaded = load_model(source, uri)
        assert loaded.test_scores is not None and np.array_equal(loaded.test_scores, stored), source
        scorer = build_scorer(loaded, tmp_path / "snapshot", tmp_path / "customers.parquet",
                              tmp_path / "agents.parquet", FeaturizeConfig.default())
        agents = sorted(scorer.state.agents)[:3]
        with Server(create_app(lambda s=scorer: s)) as client:
            _ready(client)
            for cap in (0.001, 0.05, 0.2, 0.5, 1.0):
                r = client.post("/v1/route", json={"contact": contact, "agents": agents, "specialist_capacity": cap})
                assert r.status_code == 200, (source, r.text)
                out = r.json()
                assert out["threshold"] == capacity_threshold(stored, cap) and out["specialist_capacity"] == cap
                # within one quantile step of the raw test scores' threshold (exact when they are few)
                k = math.ceil((1 - cap) * (len(stored) - 1))
                assert stored[max(k - 1, 0)] <= capacity_threshold(raw, cap) <= stored[min(k + 1, len(stored) - 1)]
                assert (out["route"] == "specialist") == (out["p_repeat"] >= out["threshold"])
                answers.setdefault(cap, set()).add((out["threshold"], out["p_repeat"]))
            info = client.get("/v1/model").json()
            assert info["specialist_capacity"] == cfg.specialist_capacity
    # registry URI (version or alias) and model folder: the same answer for every capacity
    assert all(len(v) == 1 for v in answers.values()), answers
