"""The scoring service over real HTTP (uvicorn on a loopback port), with a model trained on a small
synthetic centre and a snapshot taken at time T."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from hypothesis import HealthCheck, settings

from features.builder import build_features
from features.config import FeaturizeConfig
from labelling.config import LabelConfig
from models.config import LightGBMConfig, TrainConfig
from synthetic.config import SyntheticConfig
from labelling.labeller import label_contacts
from features.online import online_snapshot
from features.online_state import OnlineState
from models.scoring import model_frame
from models.measures import raw_scores
from models.serving.scorer import ModelNotFound, Scorer, load_model
from models.serving.app import create_app
from models.training.fit import train_model
from tests.centre import centre, feature_table


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data, contacts = centre(SyntheticConfig.default(n_contacts=20000, n_customers=3000, n_agents=40, n_teams=5, days=150,
                                            seed=9))
    T = contacts["started_at"].quantile(0.8)
    before = contacts[contacts["started_at"] < T]
    table, spec, labels = feature_table(data, contacts, as_of=T)
    result = train_model(table, spec, TrainConfig.default(lightgbm=LightGBMConfig.default(learning_rate=0.1, n_estimators=200,
                                                                            early_stopping_rounds=20)))
    model_dir = tmp_path_factory.mktemp("model")
    result.booster.save_model(model_dir / "model.txt", num_iteration=result.booster.best_iteration or None)
    (model_dir / "calibration.json").write_text(json.dumps(result.calibrator.to_dict()))
    (model_dir / "feature_spec.json").write_text(json.dumps(spec))
    threshold = float(result.metrics["model"]["capacity_threshold"])
    (model_dir / "model_card.json").write_text(json.dumps({"model_name": "fcr-classifier", "capacity_threshold":
                                                           threshold, "registry": {"version": 7}}))
    result.test.to_parquet(model_dir / "test_predictions.parquet")  # as the train stage writes it
    snapshot = online_snapshot(before, labels, LabelConfig.default(window_days=7), T)
    after = contacts[(contacts["started_at"] >= T) & contacts["customer_id"].notna() & contacts["agent_id"].notna()]
    requests = after.drop_duplicates("customer_id").head(25)
    # The batch pipeline's answer: the batch feature builder over the history plus these contacts
    # (the history's labels as known when the requests come: the service matures the labels of the
    # snapshot's contacts whose window closes after T; the requests carry no id, so they are not
    # learned and label nothing), the model frame, the booster and the calibration.
    both = pd.concat([before, requests], ignore_index=True)
    labels_both = label_contacts(before, LabelConfig.default(window_days=7, as_of=str(requests["started_at"].max())))
    batch = build_features(both, labels_both, data.customers, data.agents, 7, FeaturizeConfig.default()).tail(len(requests))
    expected = result.calibrator(raw_scores(result.booster, model_frame(batch, spec)))
    scorer = Scorer(load_model(str(model_dir)), OnlineState(snapshot, data.customers, data.agents, spec, FeaturizeConfig.default()), threshold)
    return {"scorer": scorer, "requests": requests, "expected": expected, "model_dir": model_dir, "before": before,
            "labels": labels, "labels_at_requests": labels_both, "data": data, "threshold": threshold}


class Server:
    def __init__(self, app) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)


def _payload(rows: pd.DataFrame) -> list[dict]:
    out = []
    for _, r in rows.iterrows():
        out.append({"customer_id": r["customer_id"], "channel": str(r["channel"]), "reason_code": str(r["reason_code"]),
                    "agent_id": r["agent_id"], "started_at": r["started_at"].isoformat(),
                    "wait_s": None if pd.isna(r["wait_s"]) else float(r["wait_s"])})
    return out


def _ready(client: httpx.Client) -> None:
    deadline = time.time() + 30
    while client.get("/readyz").status_code != 200:
        assert time.time() < deadline, client.get("/readyz").json()
        time.sleep(0.05)


def test_readiness_waits_for_the_model_and_scores_match_the_batch_pipeline(world):
    gate = threading.Event()

    def loader():
        gate.wait(20)
        return world["scorer"]

    with Server(create_app(loader, max_batch=50)) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        body = {"contacts": _payload(world["requests"])}
        assert client.post("/v1/score", json=body).status_code == 503
        gate.set()
        _ready(client)
        r = client.post("/v1/score", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        p = np.array([x["p_repeat"] for x in out["results"]])
        assert np.allclose(p, world["expected"], atol=1e-9)
        thr = out["threshold"]
        assert all((x["route"] == "specialist") == (x["p_repeat"] >= thr) for x in out["results"])
        assert all(len(x["reasons"]) <= 3 and all(z["contribution"] > 0 for z in x["reasons"])
                   for x in out["results"])
        assert out["model_version"] == "7"
        info = client.get("/v1/model").json()
        assert info["feature_spec"]["model_features"] and info["threshold"] == thr
        metrics = client.get("/metrics").text
        assert 'fcr_predictions_total{model_version="7",route="standard"}' in metrics
        assert 'fcr_request_seconds_bucket{endpoint="/v1/score"' in metrics


def test_unknowns_route_bad_input_limits_and_auth(world, monkeypatch):
    with Server(create_app(lambda: world["scorer"], max_batch=3)) as client:
        _ready(client)
        unknown = {"customer_id": "never-seen", "channel": "chat", "reason_code": "ZZZ-99", "agent_id": "nobody",
                   "started_at": "2030-01-01T10:00:00+02:00"}
        r = client.post("/v1/score", json={"contacts": [unknown]})
        assert r.status_code == 200 and 0 < r.json()["results"][0]["p_repeat"] < 1
        r = client.post("/v1/score", json={"contacts": [unknown] * 4})
        assert r.status_code == 413 and "limit is 3" in r.json()["detail"]
        r = client.post("/v1/score", json={"contacts": [unknown | {"channel": "fax", "wait_s": -1}]})
        assert r.status_code == 422
        fields = {tuple(e["loc"][-1:]) for e in r.json()["detail"]}
        assert ("channel",) in fields and ("wait_s",) in fields
        r = client.post("/v1/score", json={"contacts": [unknown | {"started_at": "2030-01-01T10:00:00"}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "started_at"
        agents = sorted(world["scorer"].state.agents)[:5] + ["unknown-agent"]
        r = client.post("/v1/route", json={"contact": _payload(world["requests"].head(1))[0], "agents": agents})
        assert r.status_code == 200, r.text
        ranking = r.json()["ranking"]
        assert {a["agent_id"] for a in ranking} == set(agents) and r.json()["best_agent"] == ranking[0]["agent_id"]
        assert [a["p_resolved"] for a in ranking] == sorted((a["p_resolved"] for a in ranking), reverse=True)
        worst = ranking[-1]["agent_id"]
        r = client.post("/v1/route", json={"contact": _payload(world["requests"].head(1))[0] | {"contact_id": "k1"},
                                           "agents": agents, "current_agent": worst}).json()
        assert r["contact_id"] == "k1" and r["expected_gain"] == pytest.approx(
            ranking[0]["p_resolved"] - ranking[-1]["p_resolved"]) and r["expected_gain"] >= 0
        assert (r["route"] == "specialist") == (r["p_repeat"] >= r["threshold"])
        assert r["p_repeat"] == pytest.approx(1 - ranking[0]["p_resolved"])
        assert all(z["contribution"] > 0 and z["text"] for z in r["reasons"])
        monkeypatch.setenv("FCR_API_TOKEN", "s3cret")
        assert client.post("/v1/score", json={"contacts": [unknown]}).status_code == 401
        ok = client.post("/v1/score", json={"contacts": [unknown]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert client.get("/healthz").status_code == 200  # probes need no token


def test_route_threshold_follows_the_specialist_capacity(world, monkeypatch):
    """/v1/route with a specialist capacity: the threshold is the score above which that share of the
    test window falls (brute force on test_predictions.parquet), the train stage's threshold at its
    own capacity; out-of-range capacities and a model without test scores get 422."""
    import dataclasses
    import math

    s = world["scorer"]
    scores = np.sort(pd.read_parquet(world["model_dir"] / "test_predictions.parquet")["p_repeat"].to_numpy())
    n = len(scores)
    assert s.threshold_for(None) == world["threshold"]
    assert s.threshold_for(TrainConfig.default().specialist_capacity) == world["threshold"]
    thresholds = []
    for cap in (0.001, 0.05, 0.1, 0.25, 0.5, 0.9, 1.0):
        thr = s.threshold_for(cap)
        assert thr == scores[math.ceil((1 - cap) * (n - 1))], cap
        assert (scores > thr).mean() <= cap <= (scores >= thr).mean() + 1 / n, cap
        thresholds.append(thr)
    assert thresholds == sorted(thresholds, reverse=True)
    contact = _payload(world["requests"].head(1))[0]
    agents = sorted(s.state.agents)[:3]
    with Server(create_app(lambda: s)) as client:
        _ready(client)
        for cap in (0.05, 0.5, 1.0):
            r = client.post("/v1/route", json={"contact": contact, "agents": agents, "specialist_capacity": cap})
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["threshold"] == s.threshold_for(cap) and out["specialist_capacity"] == cap
            assert (out["route"] == "specialist") == (out["p_repeat"] >= out["threshold"])
        r = client.post("/v1/route", json={"contact": contact, "agents": agents}).json()
        assert r["threshold"] == world["threshold"] and r["specialist_capacity"] is None
        for bad in (0, -0.1, 1.5, "lots"):
            r = client.post("/v1/route", json={"contact": contact, "agents": agents, "specialist_capacity": bad})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "specialist_capacity", bad
    blind = dataclasses.replace(s, model=dataclasses.replace(s.model, test_scores=None))
    with Server(create_app(lambda: blind)) as client:
        _ready(client)
        r = client.post("/v1/route", json={"contact": contact, "agents": agents, "specialist_capacity": 0.3})
        assert r.status_code == 422 and "test_predictions.parquet" in r.json()["detail"]
        assert client.post("/v1/route", json={"contact": contact, "agents": agents}).status_code == 200


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    with Server(create_app(lambda: load_model(str(tmp_path / "nope")))) as client:
        deadline = time.time() + 10
        while client.get("/readyz").json().get("error") is None and time.time() < deadline:
            time.sleep(0.05)
        r = client.get("/readyz")
        assert r.status_code == 503 and "does not exist" in r.json()["error"]



def test_no_input_gives_a_server_error(world):
    """Schemathesis over the OpenAPI document, every operation: whatever the input, never a 5xx, and
    every answer matches its documented schema."""
    import schemathesis
    from hypothesis import given
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    with Server(create_app(lambda: world["scorer"], max_batch=20)) as client:
        _ready(client)
        schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/score", "/v1/route", "/v1/model", "/readyz", "/metrics"}
        for op in operations:
            @given(case=op.as_strategy())
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case) -> None:
                case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

            check()


def test_fcr_serve_refuses_to_start_without_a_model(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "serve", "--model", str(tmp_path / "missing"),
                           "--params", str(root / "params.yaml")], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "dvc repro" in proc.stderr


def test_api_docs_load_their_assets_from_the_package_not_a_cdn(world):
    """/docs works offline: every script and stylesheet it names is served by the app itself."""
    import re

    with Server(create_app(lambda: world["scorer"])) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and not [a for a in assets if a.startswith(("http://", "https://", "//"))], assets
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 100, asset
        assert client.get("/openapi.json").json()["paths"]


def test_batch_scoring_equals_the_batch_pipeline_and_the_service(world):
    """`fcr score`'s core: history + new contacts through the batch builder, then the model; the same
    probabilities as the batch pipeline (and so as the service), in input order, with reasons."""
    from models.serving.batch import batch_features, score_batch

    requests, data = world["requests"], world["data"]
    shuffled = requests.sample(frac=1, random_state=1)  # any input order comes back as given
    features = batch_features(shuffled, world["before"], world["labels_at_requests"], data.customers, data.agents, 7,
                              FeaturizeConfig.default())
    out = score_batch(features, load_model(str(world["model_dir"])), world["threshold"], reasons=3, chunk=7)
    assert list(out["contact_id"]) == list(shuffled["contact_id"])
    expected = pd.Series(world["expected"], index=requests["contact_id"].to_numpy()).loc[shuffled["contact_id"]]
    assert np.allclose(out["p_repeat"], expected.to_numpy(), atol=1e-9)
    assert ((out["route"] == "specialist") == (out["p_repeat"] >= world["threshold"])).all()
    assert out["reason_1"].notna().any() and out["reason_1"].dropna().str.contains(r"\(\+").all()
    plain = score_batch(features, load_model(str(world["model_dir"])), world["threshold"], reasons=0)
    assert "reason_1" not in plain.columns and np.allclose(plain["p_repeat"], out["p_repeat"], atol=1e-9)


def test_ingest_mappings_apply_at_the_door(world):
    from models.serving.mapping import DoorMapping

    door = DoorMapping(channel_map={"Voice": "phone", "WEBCHAT": "chat"}, reason_families={},
                       anonymous_customer_ids=frozenset({"", "0", "anonymous"}))
    with Server(create_app(lambda: world["scorer"], door_mapping=door)) as client:
        _ready(client)
        base = _payload(world["requests"].head(1))[0] | {"channel": "phone"}
        want = client.post("/v1/score", json={"contacts": [base]}).json()["results"][0]["p_repeat"]
        raw = client.post("/v1/score", json={"contacts": [base | {"channel": " Voice "}]})
        assert raw.status_code == 200 and raw.json()["results"][0]["p_repeat"] == want
        nobody = client.post("/v1/score", json={"contacts": [base | {"customer_id": None}]}).json()
        zero = client.post("/v1/score", json={"contacts": [base | {"customer_id": "0"}]}).json()
        assert zero["results"][0]["p_repeat"] == nobody["results"][0]["p_repeat"]
        r = client.post("/v1/score", json={"contacts": [base | {"channel": "fax", "wait_s": -1}]})
        assert r.status_code == 422
        msgs = {e["loc"][-1]: e["msg"] for e in r.json()["detail"]}
        assert "channel_map" in msgs["channel"] and "wait_s" in msgs


def test_hot_reload_swaps_the_model_and_keeps_the_old_one_on_failure(world, monkeypatch):
    calls = {"n": 0}

    def loader():
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("snapshot half written")
        return world["scorer"]

    monkeypatch.setenv("FCR_API_TOKEN", "tok")
    auth = {"Authorization": "Bearer tok"}
    with Server(create_app(loader)) as client:
        _ready(client)
        assert client.post("/v1/admin/reload").status_code == 401  # admin needs the token too
        r = client.post("/v1/admin/reload", headers=auth)
        assert r.status_code == 200 and r.json()["version"] == "7" and calls["n"] == 2
        r = client.post("/v1/admin/reload", headers=auth)
        assert r.status_code == 503 and "half written" in r.json()["detail"]
        ok = client.post("/v1/score", json={"contacts": _payload(world["requests"].head(2))}, headers=auth)
        assert ok.status_code == 200  # the running model stayed


def test_each_load_takes_its_state_out_of_the_collectors_sight(world, monkeypatch):
    """What a load holds for good is frozen (a full collection walking the snapshot's state stalled
    every request ~170 ms about once a minute under live load), the state of a reload too."""
    import copy
    import dataclasses
    import gc

    made = []

    def loader():
        s0 = world["scorer"]
        made.append(dataclasses.replace(s0, state=copy.deepcopy(s0.state)))  # objects of this load's own
        return made[-1]

    def watched(scorer) -> list[int]:  # a few of the state's objects, which the collector tracks
        return [id(h) for h in list(scorer.state.customer_history.values())[:50]]

    monkeypatch.setenv("FCR_API_TOKEN", "tok")
    try:
        with Server(create_app(loader)) as client:
            _ready(client)
            seen = {id(o) for o in gc.get_objects()}  # (the generations collections walk; not the frozen)
            assert watched(made[0]) and not seen & set(watched(made[0]))
            assert client.post("/v1/admin/reload", headers={"Authorization": "Bearer tok"}).status_code == 200
            seen = {id(o) for o in gc.get_objects()}
            assert len(made) == 2 and not seen & set(watched(made[1]))
            r = client.post("/v1/score", json={"contacts": _payload(world["requests"].head(2))},
                            headers={"Authorization": "Bearer tok"})
            assert r.status_code == 200
    finally:
        gc.unfreeze()  # the test process as it was


def test_the_live_state_stays_bounded_as_contact_time_passes(world):
    """A long-running service: contacts learned over 400 days leave the state holding only the
    look-back's worth (history and contact ids), and a start time far ahead of the clock prunes nothing."""
    import copy
    import dataclasses

    from features.rules import DAY

    s0 = world["scorer"]
    start = int(time.time()) - 400 * DAY  # contact time up to today: pruning is bounded by the wall clock
    s = dataclasses.replace(s0, state=copy.deepcopy(s0.state), learned={}, latest=0, pruned_at=0, snapshot_end=start)
    customer, agent = str(world["requests"]["customer_id"].iloc[0]), str(world["requests"]["agent_id"].iloc[0])
    lookback_days = (start - s.state.horizon(start)[0]) / DAY
    for day in range(400):
        for k in range(3):
            assert s.apply({"contact_id": f"d{day}-{k}", "customer_id": customer, "agent_id": agent, "channel": "phone",
                            "reason_family": "billing", "reason_code": "BIL-01",
                            "started_at": start + day * DAY + k * 3600})
    assert len(s.learned) <= 3 * (lookback_days + 2) < 3 * 400
    assert len(s.state.customer_history[customer].times) <= 3 * (lookback_days + 2)
    # agents keep what follows the start of the UTC day before the last prune, and a prune runs once per day of
    # contact time: under three days, so parts of at most four days' three contacts (which days depends on
    # the clock's time of day: 9 to 11 over a day's start times in 15-minute steps)
    assert len(s.state.agent_times[agent]) <= 3 * 4
    recent = [t for t in s.state.customer_history[customer].times if t >= time.time() - (lookback_days - 3) * DAY]
    assert len(recent) >= 3 * (lookback_days - 4)
    far = int(time.time()) + 50 * 365 * DAY  # a wrong clock or a hostile client
    assert s.apply({"contact_id": "future", "customer_id": "x", "agent_id": None, "channel": "phone",
                    "reason_family": "billing", "reason_code": "BIL-01", "started_at": far})
    assert s.latest <= time.time() + DAY + 5
    assert set(recent) <= set(s.state.customer_history[customer].times)  # the last months are all still there
    assert s0.learned == {} or "d0-0" not in s0.learned  # the fixture's scorer is untouched


def test_a_prune_is_spread_over_events_and_ends_as_one_prune(world):
    """The service prunes a few keys per learned event (one sweep at once stalled a request for tens of
    ms per 100,000 customers): the steps add up to the same state as one prune, and an event that
    starts a sweep over the snapshot's customers does not finish it."""
    import copy
    import dataclasses

    from features.rules import DAY
    from models.serving.scorer import PRUNE_KEYS_PER_EVENT

    s0 = world["scorer"]
    now = max(max(h.times) for h in s0.state.customer_history.values()) + 200 * DAY
    whole, stepped = copy.deepcopy(s0.state), copy.deepcopy(s0.state)
    dropped = whole.prune(now)
    steps = list(stepped.prune_steps(now))
    assert dropped > 0 and sum(steps) == dropped and len(steps) > 2 * PRUNE_KEYS_PER_EVENT
    assert {k: (h.times, h.channels) for k, h in whole.customer_history.items()} == \
        {k: (h.times, h.channels) for k, h in stepped.customer_history.items()}
    assert whole.agent_times == stepped.agent_times and whole.live.size() == stepped.live.size()

    s = dataclasses.replace(s0, state=copy.deepcopy(s0.state), learned={}, latest=0, pruned_at=0, sweep=None)
    event = {"customer_id": "c-new", "agent_id": None, "channel": "phone", "reason_family": "billing",
             "reason_code": "BIL-01"}
    assert s.apply(event | {"contact_id": "p1", "started_at": now})
    assert s.sweep is not None  # started, not finished within the event
    for k in range(2, 2 + len(steps) // PRUNE_KEYS_PER_EVENT + 2):
        s.apply(event | {"contact_id": f"p{k}", "started_at": now + k})
    assert s.sweep is None and s.pruned_at == now
