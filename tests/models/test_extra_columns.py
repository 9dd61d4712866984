"""A model trained with the user's extra columns (a number, a category, a flag, known at arrival, that
drive repeats; and an after-contact flag) applied on every path: batch scoring, the service over
HTTP (taken under the export's column names, typed, refused with the field named), /v1/contacts,
the gate's scoring of the champion, monitoring and SHAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.builder import training_table
from features.online import online_snapshot
from features.online_state import OnlineState
from features.spec import ExtraColumn, spec_extras
from labelling.labeller import label_contacts
from models.diagnostics.drivers import explain
from models.diagnostics.monitoring import monitor
from models.model_files import SavedModel, load_model, save_model
from models.serving.app import create_app
from models.serving.batch import batch_features, score_batch
from models.serving.mapping import DoorMapping
from models.serving.scorer import Scorer
from models.serving.scorer import load_model as load_served
from models.training.fit import train_model
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from models.config import ExplainConfig, LightGBMConfig, MonitorConfig, TrainConfig
from synthetic.config import SyntheticConfig
from tests.centre import centre
from tests.models.serving.test_app import Server, _ready

EXTRAS = {"priority": ExtraColumn("number", "arrival", "Priority"),
          "impact": ExtraColumn("category", "arrival", "Impact"),
          "vip": ExtraColumn("flag", "arrival", "VIP"),
          "reopened": ExtraColumn("flag", "after_contact", "Reopened")}
ARRIVAL = ("extra_priority", "extra_impact", "extra_vip")
FAST = TrainConfig.default(lightgbm=LightGBMConfig.default(learning_rate=0.1, n_estimators=150, early_stopping_rounds=20))


def with_extras(contacts: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The extra columns as ingest writes them (float, text, nullable boolean), each more often high on
    contacts that are repeated (what the user's export would carry as, say, a ticket's priority)."""
    rng = np.random.default_rng(seed)
    repeated = label_contacts(contacts, LabelConfig.default(window_days=7))["repeated"].fillna(False).to_numpy(bool)
    n = len(contacts)
    out = contacts.copy()
    out["extra_priority"] = np.round(rng.normal(1.0, 1.0, n) + 2.0 * repeated, 1)
    out["extra_impact"] = np.where(rng.random(n) < np.where(repeated, 0.7, 0.15), "high", rng.choice(["low", "medium"], n))
    out["extra_vip"] = pd.array(rng.random(n) < np.where(repeated, 0.6, 0.2), dtype="boolean")
    out["extra_reopened"] = pd.array(rng.random(n) < 0.1, dtype="boolean")
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data, contacts = centre(SyntheticConfig.default(n_contacts=8000, n_customers=1500, n_agents=20, n_teams=3,
                                                    days=100, seed=4))
    contacts = with_extras(contacts)
    T = contacts["started_at"].quantile(0.8)
    before = contacts[contacts["started_at"] < T]
    labels = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(T)))
    table, spec = training_table(before, labels, data.customers, data.agents, 7, FeaturizeConfig.default(), EXTRAS)
    spec = spec.to_dict()
    result = train_model(table, spec, FAST)
    model_dir = tmp_path_factory.mktemp("model")
    save_model(SavedModel(result.booster, result.calibrator, result.spec), model_dir, result.test["p_repeat"])
    threshold = float(result.metrics["model"]["capacity_threshold"])
    (model_dir / "model_card.json").write_text(f'{{"capacity_threshold": {threshold}, "registry": {{"version": 1}}}}')
    after = contacts[(contacts["started_at"] >= T) & contacts["customer_id"].notna() & contacts["agent_id"].notna()]
    requests = after.drop_duplicates("customer_id").head(20)
    snapshot = online_snapshot(before, labels, LabelConfig.default(window_days=7), T)
    return {"data": data, "before": before, "labels": labels, "table": table, "result": result, "spec": result.spec,
            "model_dir": model_dir, "threshold": threshold, "requests": requests, "snapshot": snapshot,
            "T": T, "contacts": contacts}


def test_the_spec_carries_the_extra_columns_and_the_model_uses_them(world):
    spec = world["spec"]
    assert set(ARRIVAL) <= set(spec["model_features"]) and "extra_reopened" not in spec["model_features"]
    assert spec_extras(spec) == EXTRAS  # kinds, availability and the export's column travel with the model
    gain = dict(zip(world["result"].booster.feature_name(),
                    world["result"].booster.feature_importance("gain"), strict=True))
    top = sorted(gain, key=gain.get, reverse=True)[:6]
    assert set(ARRIVAL) <= set(top), top
    # a spec written before the spec recorded them: read back from its custom features
    old = {k: v for k, v in spec.items() if k != "extra_columns"}
    assert {n: x.kind for n, x in spec_extras(old).items()} == {"priority": "number", "impact": "category",
                                                                 "vip": "number", "reopened": "number"}


def _batch(world, requests: pd.DataFrame) -> pd.DataFrame:
    data = world["data"]
    labels = label_contacts(world["before"], LabelConfig.default(window_days=7, as_of=str(requests["started_at"].max())))
    features = batch_features(requests, world["before"], labels, data.customers, data.agents, 7,
                              FeaturizeConfig.default(), spec_extras(world["spec"]))
    return score_batch(features, load_served(str(world["model_dir"])), world["threshold"], reasons=3)


def test_batch_scoring_builds_the_extra_columns(world):
    requests = world["requests"]
    out = _batch(world, requests)
    assert out["p_repeat"].notna().all()
    # the values are used: high on all three pushes every contact's risk up
    high = _batch(world, requests.assign(extra_priority=5.0, extra_impact="high",
                                         extra_vip=pd.array([True] * len(requests), dtype="boolean")))
    low = _batch(world, requests.assign(extra_priority=-1.0, extra_impact="low",
                                        extra_vip=pd.array([False] * len(requests), dtype="boolean")))
    assert (high["p_repeat"].to_numpy() > low["p_repeat"].to_numpy()).all()
    assert out["reason_1"].str.contains("extra_").any() or high["reason_1"].str.contains("extra_").any()


def _payload(rows: pd.DataFrame) -> list[dict]:
    """The contacts as a routing system sends them: the extra columns under the export's names, as text."""
    return [{"customer_id": r["customer_id"], "channel": str(r["channel"]), "reason_code": str(r["reason_code"]),
             "agent_id": r["agent_id"], "started_at": r["started_at"].isoformat(),
             "wait_s": None if pd.isna(r["wait_s"]) else float(r["wait_s"]),
             "Priority": str(r["extra_priority"]), "Impact": r["extra_impact"],
             "VIP": "Yes" if r["extra_vip"] else "no"} for _, r in rows.iterrows()]


def test_the_service_takes_the_extra_columns_by_the_exports_names(world):
    data = world["data"]
    state = OnlineState(world["snapshot"], data.customers, data.agents, world["spec"], FeaturizeConfig.default())
    scorer = Scorer(load_served(str(world["model_dir"])), state, world["threshold"])
    requests = world["requests"]
    with Server(create_app(lambda: scorer, door_mapping=DoorMapping(extra_columns=EXTRAS))) as client:
        _ready(client)
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        props = schema["Contact"]["properties"]
        assert {c: props[c]["x-fcr-kind"] for c in ("Priority", "Impact", "VIP")} == \
            {"Priority": "number", "Impact": "category", "VIP": "flag"}
        assert "Reopened" not in props and schema["CompletedContact"]["properties"]["Reopened"]["x-fcr-kind"] == "flag"
        r = client.post("/v1/score", json={"contacts": _payload(requests), "features": True})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        # the batch pipeline's scores (history labelled as known when the requests come)
        assert np.allclose([x["p_repeat"] for x in results], _batch(world, requests)["p_repeat"], atol=1e-9)
        first, row = results[0]["features"], requests.iloc[0]
        assert first["extra_impact"] == row["extra_impact"] and first["extra_vip"] == float(bool(row["extra_vip"]))
        assert first["extra_priority"] == pytest.approx(row["extra_priority"], rel=1e-6)
        # unknown and ill-typed values: 422 naming the field
        base = _payload(requests.head(1))[0]
        for bad, field in ((base | {"Priorty": 3}, "Priorty"), (base | {"Priority": "high"}, "Priority"),
                           (base | {"VIP": "maybe"}, "VIP"), (base | {"Impact": ["a"]}, "Impact"),
                           (base | {"extra_priority": 3}, "extra_priority"), (base | {"Reopened": "yes"}, "Reopened")):
            r = client.post("/v1/score", json={"contacts": [bad]})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "contacts", 0, field], r.text
        # a completed contact with its extra columns, the after-contact one too
        done = base | {"contact_id": "X-1", "Reopened": "Yes", "Priority": "", "ended_at": base["started_at"]}
        r = client.post("/v1/contacts", json={"contacts": [done]})
        assert r.status_code == 200 and r.json()["learned"] == 1, r.text
        assert client.post("/v1/contacts", json={"contacts": [done | {"Reopened": 2}]}).status_code == 422


def test_monitoring_and_shap_use_the_extra_columns(world):
    table, model = world["table"], load_model(world["model_dir"])
    started = table["started_at"]
    cut = started.quantile(0.6)
    result = monitor(table[started < cut], table[started >= cut].reset_index(drop=True), model,
                     MonitorConfig.default())
    assert set(ARRIVAL) <= set(result.drift["feature"]) and result.summary["auc"] > 0.6
    out = explain(model, table.tail(500).reset_index(drop=True), ExplainConfig.default())
    assert set(ARRIVAL) <= set(out.drivers["feature"].head(8)), out.drivers["feature"].head(8).tolist()
    assert {f"shap_{n}" for n in ARRIVAL} <= set(out.per_contact.columns)


@pytest.mark.slow  # fits and registers three models in MLflow (15-20 s)
def test_a_champion_with_extra_columns_is_scored_by_the_gate(world, tmp_path, monkeypatch):
    """The gate scores a champion built on extra columns on the challenger's test rows (it blocked
    every later promotion with a KeyError); a champion built on extra columns the data no longer has
    cannot score it and does not stand in the way."""
    from models.registry.gate import gate_on_test
    from models.registry.tracking import label_target, log_train_run
    from models.config import RegistryConfig

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    cfg = FAST.model_copy(update={"registry": RegistryConfig.default(experiment="extras")})
    target = label_target(LabelConfig.default())

    def register(table: pd.DataFrame, spec: dict, name: str, **lgb) -> dict:
        run_cfg = cfg.model_copy(update={"lightgbm": cfg.lightgbm.model_copy(update=lgb)})
        result = train_model(table, spec, run_cfg)
        files = save_model(SavedModel(result.booster, result.calibrator, result.spec), tmp_path / name)
        gate = gate_on_test(result.test, cfg.registry.gate, result.metrics["model"]["trees"])
        return log_train_run(run_cfg, target, result, table.iloc[result.split.test], files, {},
                             {**result.metrics, "gate": gate.to_dict()}, "md5", None)

    table, spec = world["table"], world["spec"]
    first = register(table, spec, "v1")
    assert first["promoted"] and first["reason"] == "no champion for this data source yet"
    second = register(table, spec, "v2", num_leaves=5)  # (other files: identical ones are one version)
    assert second["comparable"] and second["champion_log_loss"] is not None, second["reason"]
    assert "test log loss" in second["reason"]
    champion = 2 if second["promoted"] else 1
    plain = table.drop(columns=[c for c in table.columns if c.startswith("extra_")])
    data = world["data"]
    _, plain_spec = training_table(world["before"].drop(columns=list(ARRIVAL) + ["extra_reopened"]), world["labels"],
                                   data.customers, data.agents, 7, FeaturizeConfig.default())
    third = register(plain, plain_spec.to_dict(), "v3")
    # the champion stands aside: only the baseline gate decides (on this small centre it may fail it)
    assert third["champion_version"] == champion and third["comparable"] is False
    assert "cannot score these contacts" in third["reason"] and third["promoted"] == third["gate_passed"]
