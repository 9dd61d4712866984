"""The live service as a routing system meets it: a real `fcr serve` process that learns the contacts
it scores and is told about, journals them before answering, and gives the same answers after a
SIGKILL and a restart; contact and request ids; idempotent re-scoring; hostile input at the door."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from contract.lineage import lineage, source_identity
from labelling.target import label_target
from models.serving.scorer import ModelNotFound, load_model
from models.training.fit import train_model
from labelling.config import LabelConfig
from models.config import LightGBMConfig, TrainConfig
from synthetic.config import SyntheticConfig
from pipeline.io import write_tables
from features.online import online_snapshot
from tests.centre import centre, feature_table

ROOT = Path(__file__).resolve().parents[3]
HEADER_TIMEOUT_S = 2.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small trained model, its snapshot and side tables on disk, and a params.yaml pointing at them."""
    d = tmp_path_factory.mktemp("live")
    data, contacts = centre(SyntheticConfig.default(n_contacts=8000, n_customers=1500, n_agents=20, n_teams=3,
                                                    days=100, seed=4))
    T = contacts["started_at"].quantile(0.8)
    table, spec, labels = feature_table(data, contacts, as_of=T)
    result = train_model(table, spec, TrainConfig.default(lightgbm=LightGBMConfig.default(
        learning_rate=0.1, n_estimators=120, early_stopping_rounds=20)))
    model = d / "model"
    model.mkdir()
    result.booster.save_model(model / "model.txt", num_iteration=result.booster.best_iteration or None)
    (model / "calibration.json").write_text(json.dumps(result.calibrator.to_dict()))
    # The data's lineage, in the model's spec and in the project's feature_spec.json: serve checks they match.
    spec = spec | {"lineage": lineage(source_identity("synthetic", {}, {}, None), label_target(LabelConfig.default()))}
    (model / "feature_spec.json").write_text(json.dumps(spec))
    (d / "feature_spec.json").write_text(json.dumps(spec))
    threshold = result.metrics["model"]["capacity_threshold"]
    (model / "model_card.json").write_text(json.dumps({"model_name": "fcr-classifier", "registry": {"version": 3},
                                                       "capacity_threshold": threshold}))
    write_tables(online_snapshot(contacts[contacts["started_at"] < T], labels, LabelConfig.default(window_days=7), T),
                 d / "snapshot")
    data.customers.to_parquet(d / "customers.parquet")
    data.agents.to_parquet(d / "agents.parquet")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"].update(online_snapshot=str(d / "snapshot"), customers=str(d / "customers.parquet"),
                           agents=str(d / "agents.parquet"), feature_spec=str(d / "feature_spec.json"))
    params["serve"].update(journal=str(d / "journal.sqlite"), body_timeout_s=1.5, max_body_bytes=100_000,
                           header_timeout_s=HEADER_TIMEOUT_S)
    (d / "params.yaml").write_text(yaml.safe_dump(params))
    agent = str(contacts["agent_id"].dropna().iloc[-1])
    return {"dir": d, "model": model, "params": d / "params.yaml", "T": T, "agent": agent}


class Served:
    """`fcr serve` in its own process (killable with SIGKILL)."""

    def __init__(self, project: dict, env: dict | None = None) -> None:
        self.port = _port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--model", str(project["model"]), "--params",
             str(project["params"]), "--port", str(self.port)], cwd=ROOT, env=os.environ | (env or {}),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.time() + 90
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-2000:]
            try:
                if self.client.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "fcr serve did not become ready"
            time.sleep(0.2)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.client.close()


def _contact(project: dict, cid: str | None, minutes: float, customer: str = "CUST-LIVE-1") -> dict:
    t = (project["T"] + __import__("pandas").Timedelta(minutes=minutes)).isoformat()
    body = {"customer_id": customer, "channel": "phone", "reason_code": "BIL-01", "agent_id": project["agent"],
            "started_at": t, "wait_s": 30.0}
    return body | ({"contact_id": cid} if cid else {})


@pytest.mark.slow
def test_learns_a_contact_then_survives_sigkill(project):
    served = Served(project)
    try:
        c = served.client
        # the customer's next contact, 10 minutes after the first, as it scores with no history
        before = c.post("/v1/score", json={"contacts": [_contact(project, None, 70)]}).json()["results"][0]
        first = c.post("/v1/score", json={"contacts": [_contact(project, "live-1", 60)]},
                       headers={"X-Request-ID": "req-42"})
        assert first.headers["x-request-id"] == "req-42"
        one = first.json()["results"][0]
        assert one["contact_id"] == "live-1" and one["learned"] is True
        again = c.post("/v1/score", json={"contacts": [_contact(project, "live-1", 60)]}).json()["results"][0]
        assert again["learned"] is False and again["p_repeat"] == one["p_repeat"]  # idempotent
        done = _contact(project, "live-1", 60) | {"ended_at": (project["T"] + __import__("pandas").Timedelta(
            minutes=68)).isoformat(), "transfers": 1, "disposition": "handled"}
        r = c.post("/v1/contacts", json={"contacts": [done]})
        assert r.status_code == 200 and r.json()["accepted"] == 1 and r.json()["learned"] == 0  # known already
        after = c.post("/v1/score", json={"contacts": [_contact(project, "live-2", 70)]}).json()["results"][0]
        assert after["p_repeat"] != before["p_repeat"]  # the history changed: a same-issue contact 10 min ago
        info = c.get("/v1/model").json()
        assert info["journal_length"] == 3 and info["live_contacts"] == 2 and info["snapshot_end"]
        assert 'fcr_journal_events 3.0' in c.get("/metrics").text
        served.kill()  # nothing flushed on purpose: what was acknowledged must be in the journal
        served = Served(project)
        probe = _contact(project, None, 70)
        restarted = served.client.post("/v1/score", json={"contacts": [probe]}).json()["results"][0]
        assert restarted["p_repeat"] == after["p_repeat"]
        assert served.client.get("/v1/model").json()["live_contacts"] == 2
    finally:
        served.kill()


@pytest.mark.slow
def test_a_label_matures_live_and_survives_sigkill(project):
    """A customer's contact, its completion, and the customer's contact after the label window (7 days)
    has closed: that one sees one more labelled past contact (the service labelled it live, with the
    labeller); one just before the window closes does not. After a SIGKILL and a restart (the journal
    replayed) the same contacts get the same features and probabilities."""
    import pandas as pd

    day = 24 * 60
    first, edge, after = 3 * 60, 3 * 60 + 7 * day - 1, 3 * 60 + 7 * day + 1  # minutes after the snapshot
    who = {"customer": "CUST-MATURE-1"}

    def score(client, cid, minutes):
        body = {"contacts": [_contact(project, cid, minutes, **who)], "features": True}
        r = client.post("/v1/score", json=body)
        assert r.status_code == 200, r.text
        return r.json()["results"][0]

    served = Served(project)
    try:
        c = served.client
        one = score(c, "mature-1", first)
        assert one["features"]["customer_past_labelled"] == 0 and one["learned"] is True
        done = _contact(project, "mature-1", first, **who) | {
            "ended_at": (project["T"] + pd.Timedelta(minutes=first + 6)).isoformat(), "disposition": "handled"}
        assert c.post("/v1/contacts", json={"contacts": [done]}).status_code == 200
        later = score(c, "mature-2", after)  # mature-1's window closed 1 minute before
        assert later["features"]["customer_past_labelled"] == 1
        assert later["features"]["customer_past_repeats"] == 0  # mature-1 was not repeated within 7 days
        assert later["features"]["customer_contacts_7d"] == 0  # and it left the 7-day count
        probes = [score(c, None, edge), score(c, None, after)]
        assert probes[0]["features"]["customer_past_labelled"] == 0  # scored after, but before the edge
        assert probes[1]["features"]["customer_past_labelled"] == 1
        served.kill()
        served = Served(project)
        again = [score(served.client, None, edge), score(served.client, None, after)]
        for a, b in zip(probes, again, strict=True):
            assert a["features"] == b["features"] and a["p_repeat"] == b["p_repeat"]
    finally:
        served.kill()


@pytest.mark.slow
def test_hostile_input_gets_4xx_at_the_door(project):
    served = Served(project, env={"FCR_API_TOKEN": "t0ken"})
    auth = {"Authorization": "Bearer t0ken"}
    try:
        c = served.client
        good = json.dumps({"contacts": [_contact(project, None, 5)]})
        assert c.post("/v1/score", content=good, headers=auth | {"content-type": "application/json"}).status_code == 200
        for bad in ('"wait_s": NaN', '"wait_s": Infinity', '"wait_s": -Infinity', '"wait_s": 1e400'):
            body = good.replace('"wait_s": 30.0', bad)
            r = c.post("/v1/score", content=body, headers=auth | {"content-type": "application/json"})
            assert r.status_code == 422, (bad, r.status_code, r.text)
        surrogate = good.replace('"CUST-LIVE-1"', '"\\ud800"')
        r = c.post("/v1/score", content=surrogate, headers=auth | {"content-type": "application/json"})
        assert r.status_code == 422, r.text
        # over the body limit: refused from the headers alone, before reading or parsing the body
        t0 = time.perf_counter()
        r = c.post("/v1/score", content=b"x" * 5_000_000, headers=auth | {"content-type": "application/json"})
        assert r.status_code == 413 and time.perf_counter() - t0 < 2.0
        # no token: 401 before the body is read
        r = c.post("/v1/score", content=good, headers={"content-type": "application/json"})
        assert r.status_code == 401 and r.headers["x-request-id"]
        r = c.post("/v1/score", content=good, headers={"Authorization": "Bearer t0kem",
                                                       "content-type": "application/json"})
        assert r.status_code == 401
        # a client that trickles its body gets 408 after serve.body_timeout_s, not a held worker
        with socket.create_connection(("127.0.0.1", served.port)) as s:
            s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{")
            s.settimeout(10)
            t0 = time.perf_counter()
            answer = s.recv(4096)
            assert b" 408 " in answer.split(b"\r\n")[0] and time.perf_counter() - t0 < 5
        assert c.get("/healthz").status_code == 200
    finally:
        served.kill()


@pytest.mark.slow
def test_a_slowloris_client_is_cut_off_while_others_are_served(project):
    """A client sending its request line and headers a byte per second gets 408 and a closed connection
    at serve.header_timeout_s; meanwhile other clients are answered, and a kept-alive connection idle
    for longer than the header deadline (but not the keep-alive timeout) still gets its next answer."""
    served = Served(project)
    try:
        c = served.client
        probe = {"contacts": [_contact(project, None, 5)]}
        assert c.post("/v1/score", json=probe).status_code == 200
        time.sleep(HEADER_TIMEOUT_S + 1)  # idle on the kept-alive connection: not a slow request
        assert c.post("/v1/score", json=probe).status_code == 200
        request = b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" * 10
        answered, closed_after, answer = [], None, b""
        with socket.create_connection(("127.0.0.1", served.port)) as s:
            t0 = time.perf_counter()
            for byte in request:
                try:
                    s.sendall(bytes([byte]))
                except OSError:  # reset: closed
                    closed_after = time.perf_counter() - t0
                    break
                next_byte = time.perf_counter() + 1.0
                while (left := next_byte - time.perf_counter()) > 0:
                    answered.append(c.post("/v1/score", json=probe).status_code)
                    s.settimeout(max(0.01, min(left, 0.2)))
                    try:
                        chunk = s.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        chunk = b""
                    answer += chunk
                    if not chunk:
                        closed_after = time.perf_counter() - t0
                        break
                if closed_after is not None:
                    break
        assert closed_after is not None, "the slow client was never disconnected"
        assert HEADER_TIMEOUT_S - 0.2 <= closed_after <= HEADER_TIMEOUT_S + 1.5, closed_after
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert len(answered) >= 3 and set(answered) == {200}, answered
        assert c.get("/healthz").status_code == 200
    finally:
        served.kill()


def test_model_paths_are_checked_at_start(tmp_path):
    with pytest.raises(ModelNotFound, match="model.txt not found in /"):
        load_model("/")  # never walks the disk
    for uri in ("models:/fcr-classifier", "models:/", "models:/x/one", "models:/x/1@champion"):
        with pytest.raises(ModelNotFound, match="not a registry URI"):
            load_model(uri)


@pytest.mark.slow
def test_fcr_serve_refuses_an_unknown_registry_version(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "serve", "--model", "models:/no-such-model/1",
                           "--params", str(ROOT / "params.yaml")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"})
    assert proc.returncode == 2 and "cannot load models:/no-such-model/1" in proc.stderr
