"""Hot reload on SIGHUP in a real `fcr serve` process: the model folder is replaced, the process gets a
SIGHUP, /v1/model reports the new version, and every request sent meanwhile is answered 2xx; a reload
that fails leaves the running model answering. Both outcomes are in the log."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from tests.models.serving.test_live import ROOT, _contact, _port, project  # noqa: F401 - project is a fixture


def _wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow  # a real server process (about 15 s)
def test_sighup_reloads_without_dropping_requests(project, tmp_path):  # noqa: F811 - the imported fixture
    model = tmp_path / "model"
    shutil.copytree(project["model"], model)
    log_file = tmp_path / "serve.log"
    port = _port()
    with open(log_file, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "serve", "--model", str(model), "--params", str(project["params"]),
             "--port", str(port), "--journal", str(tmp_path / "journal.sqlite")], cwd=ROOT, env=os.environ,
            stdout=subprocess.DEVNULL, stderr=log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def ready() -> bool:
        assert proc.poll() is None, log_file.read_text()[-3000:]
        try:
            return client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def logged(text: str) -> bool:
        return text in log_file.read_text()

    answers: list[tuple[float, float, int | str]] = []  # (sent, answered, status or error)
    stop = threading.Event()

    def send(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            i = 0
            while not stop.is_set():
                body = {"contacts": [_contact(project, None, 60 + i % 50, customer=f"CUST-HUP-{k}")]}
                t = time.perf_counter()
                try:
                    status: int | str = c.post("/v1/score", json=body).status_code
                except httpx.HTTPError as exc:
                    status = f"{type(exc).__name__}: {exc}"
                answers.append((t, time.perf_counter(), status))
                i += 1

    try:
        _wait_for(ready, "fcr serve to be ready", 90)
        assert client.get("/v1/model").json()["version"] == 3
        senders = [threading.Thread(target=send, args=(k,)) for k in range(4)]
        for t in senders:
            t.start()
        time.sleep(0.5)
        # a new model in the same folder (as a new export would be), then the hang-up
        card = json.loads((model / "model_card.json").read_text())
        card["registry"]["version"] = 4
        (model / "model_card.new").write_text(json.dumps(card))
        os.replace(model / "model_card.new", model / "model_card.json")
        signalled = time.perf_counter()
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: client.get("/v1/model").json()["version"] == 4, "/v1/model to report version 4")
        swapped = time.perf_counter()
        time.sleep(0.5)
        # a broken model: the reload fails, the running model (version 4) stays and answers
        (model / "model.txt").write_text("not a LightGBM model")
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: logged("reload (SIGHUP): reload failed, the running model stays"), "the failure in the log")
        time.sleep(0.3)
        stop.set()
        for t in senders:
            t.join(30)
        assert proc.poll() is None, "SIGHUP ended the server"
        assert client.get("/v1/model").json()["version"] == 4
        statuses = [s for _, _, s in answers]
        assert statuses and all(isinstance(s, int) and 200 <= s < 300 for s in statuses), \
            sorted({str(s) for s in statuses if s != 200})
        during = [a for a in answers if signalled <= a[0] <= swapped]
        assert during, "no request was sent while the reload ran"
        assert logged("reload (SIGHUP): model ") and logged(" version 4 and its snapshot now answer")
    finally:
        stop.set()
        client.close()
        proc.terminate()
        proc.wait(30)


def test_fcr_serve_help_documents_the_reload_signal():
    from typer.testing import CliRunner

    from pipeline.cli import app

    out = CliRunner().invoke(app, ["serve", "--help"])
    text = " ".join(out.output.split())  # however the help is wrapped
    assert out.exit_code == 0 and "Hot reload: `kill -HUP <pid>`" in text and "never dropped" in text


def _stub(version: int) -> SimpleNamespace:
    """What the reload path touches of a Scorer (the real ones are exercised above)."""
    return SimpleNamespace(model=SimpleNamespace(source=f"stub-{version}", card={"version": version}), journal=None,
                           replay=lambda: 0, snapshot_end=0, learned={}, last_event=None, threshold=0.5)


def test_a_reload_during_the_start_up_load_is_refused_and_one_after_a_failed_start_recovers():
    from models.serving.app import create_app
    from tests.models.serving.test_app import Server

    gate, calls = threading.Event(), []

    def loader():
        calls.append(len(calls))
        if len(calls) == 1:  # the start-up load: slow, then failing (the model was half written)
            gate.wait(20)
            raise RuntimeError("model.txt half written")
        return _stub(len(calls))

    with Server(create_app(loader)) as client:
        r = client.post("/v1/admin/reload")
        assert r.status_code == 409 and "already running" in r.json()["detail"] and calls == [0]
        gate.set()
        _wait_for(lambda: "half written" in (client.get("/readyz").json().get("error") or ""), "the start-up error")
        r = client.post("/v1/admin/reload")
        assert r.status_code == 200 and r.json()["version"] == "2"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "model": "stub-2", "version": "2"}
