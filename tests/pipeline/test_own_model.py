"""Your own model, end to end, as a newcomer goes: the README's `make repro` (synthetic centre), then a
hand-written tab-separated `.txt` export (day-first dates in two columns, Madrid time, three extra
columns that drive repeats: a number, a category and a flag) by params.yaml alone. Its model becomes its
source's champion; `fcr score` on new rows of the same format uses it by default; `fcr serve` scores with
it and takes the extra fields by their export names; the synthetic champion is refused for this data
(score: exit 2, serve: /readyz 503) unless --any-source; and switching params back to the synthetic
centre (a run-cache restore) leaves the report, the model card and `fcr status` naming the right
versions. Runs in a copy of the shared fresh clone (tests/conftest.py `default_clone`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import run_in

pytestmark = pytest.mark.slow
CODES = ["BILL", "NET", "MOVE", "TV", "PAY", "ROUTER"]
HEADER = ["Fecha", "Hora", "Llamada", "Cliente", "Cola", "Agente", "Motivo", "Impact", "Tier", "VIP"]


def _export(rng: np.random.Generator, n_customers: int, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Contacts of a telephony log in Madrid time. The repeat risk of each contact rises with Impact, with
    a bronze Tier and with VIP = S: a repeat is the same customer calling about the same code 1-4 days on."""
    rows = []
    for c in range(n_customers):
        t = start + pd.Timedelta(seconds=float(rng.uniform(0, days * 86400)))
        code = CODES[rng.integers(len(CODES))]
        for _ in range(4):  # a chain of at most four calls about one issue
            impact, tier, vip = int(rng.integers(1, 6)), ["oro", "plata", "bronce"][rng.integers(3)], rng.random() < 0.2
            logit = -2.2 + 0.55 * (impact - 3) + {"oro": -0.9, "plata": 0.0, "bronce": 0.9}[tier] + 1.2 * vip
            rows.append({"t": t, "customer": f"C{c:05d}", "code": code, "Impact": impact, "Tier": tier,
                         "VIP": "S" if vip else "N", "agent": f"ag{rng.integers(25):02d}"})
            if rng.random() >= 1 / (1 + np.exp(-logit)):
                break
            t = t + pd.Timedelta(days=float(rng.uniform(1, 4)))
    df = pd.DataFrame(rows).sort_values("t", ignore_index=True)
    local = df["t"]  # (written as Madrid wall-clock times; ingest reads them with timezone Europe/Madrid)
    return pd.DataFrame({"Fecha": local.dt.strftime("%d/%m/%Y"), "Hora": local.dt.strftime("%H:%M"),
                         "Llamada": [f"L{i:06d}" for i in range(len(df))], "Cliente": df["customer"],
                         "Cola": "Q" + df["agent"].str[-1], "Agente": df["agent"], "Motivo": df["code"],
                         "Impact": df["Impact"], "Tier": df["Tier"], "VIP": df["VIP"]})


def _files_params(params: dict, export: str) -> None:
    params["ingest"]["source"] = "files"
    params["ingest"]["files"] = {
        "contacts": export, "customers": None, "agents": None, "reason_family_file": None,
        "read": {"delimiter": None, "encoding": None, "quote": None, "decimal": None, "member": None},
        "timestamp_format": "%d/%m/%Y %H:%M", "timezone": "Europe/Madrid", "dst_ambiguous": "earliest",
        "dst_nonexistent": "shift_forward", "future_tolerance_hours": 24,
        "column_map": {"contact_id": "Llamada", "customer_id": "Cliente",
                       "started_at": {"parts": ["Fecha", "Hora"], "sep": " "}, "channel": {"constant": "phone"},
                       "reason_code": "Motivo", "agent_id": "Agente", "team": "Cola", "wait_s": None,
                       "handle_s": None, "transfers": None, "disposition": None, "ended_at": None,
                       "survey_resolved": None},
        "value_maps": {}, "channel_map": {}, "reason_families": {}, "missing_values": [""],
        "anonymous_customer_ids": [], "filters": [], "events": None,
        "extra_columns": {"impact": {"column": "Impact", "kind": "number", "availability": "arrival"},
                          "tier": {"column": "Tier", "kind": "category", "availability": "arrival"},
                          "vip": {"column": "VIP", "kind": "flag", "availability": "arrival"}},
        "outcome_signal": None}


def _write_params(project: Path, edit) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`fcr serve` as a real process on a free port."""

    def __init__(self, project: Path, env: dict, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(self.port), *args],
                                     cwd=project, env=env | {"FCR_API_TOKEN": ""}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def __enter__(self) -> "Serve":
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"fcr serve exited {self.proc.returncode}: {self.proc.stderr.read()[-3000:]}")
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("fcr serve did not answer within 120 s")

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _ready(url: str) -> httpx.Response:
    deadline = time.time() + 120
    while True:
        r = httpx.get(url + "/readyz", timeout=5)
        if r.status_code == 200 or time.time() > deadline or "error" in r.json() and r.json()["error"]:
            return r
        time.sleep(0.3)


def test_your_own_export_trains_the_model_that_scores_it(default_clone, tmp_path):
    project = tmp_path / "own"
    shutil.copytree(default_clone.path, project, symlinks=True)
    env = default_clone.env | {"PYTHONPATH": str(project)}
    fcr = [sys.executable, "-m", "pipeline.cli"]
    synthetic_spec = json.loads((project / "data/features/feature_spec.json").read_text())["lineage"]

    rng = np.random.default_rng(24)
    history = _export(rng, 3000, pd.Timestamp("2025-01-06 08:00"), 150)
    (project / "inputs").mkdir(exist_ok=True)
    history.to_csv(project / "inputs/llamadas.txt", sep="\t", index=False, lineterminator="\r\n")
    _write_params(project, lambda p: _files_params(p, "inputs/llamadas.txt"))
    # VIP is written S / N: ingest stops, names the column and the values, and says what to write.
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode != 0 and "(column 'VIP')" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert "value_maps: {vip: {" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    _write_params(project, lambda p: p["ingest"]["files"].update(value_maps={"vip": {"S": "yes", "N": "no"}}))
    run_in([sys.executable, "-m", "dvc", "repro"], project, env)

    # The user's model became its source's champion; the synthetic one stays findable.
    lineage = json.loads((project / "data/features/feature_spec.json").read_text())["lineage"]
    assert lineage["source"] == "files" and lineage["id"] != synthetic_spec["id"]
    decision = json.loads((project / "metrics/runs/train.json").read_text())["registry"]
    assert decision["promoted"], decision
    assert decision["champion_alias"] == f"champion-{lineage['id']}"
    spec = json.loads((project / "models_out/feature_spec.json").read_text())
    assert {"extra_impact", "extra_vip"} <= set(spec["model_features"]) and spec["lineage"] == lineage
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    client = MlflowClient()
    synthetic_champion = client.get_model_version_by_alias("fcr-classifier", f"champion-{synthetic_spec['id']}")
    assert int(synthetic_champion.version) != decision["version"]

    # `fcr score` on new rows in the same .txt format: the user's champion by default, as models_out.
    new = _export(np.random.default_rng(99), 60, pd.Timestamp("2025-06-10 08:00"), 3)
    new["Llamada"] = "N" + new["Llamada"]
    (project / "nuevas.txt").write_text(new.to_csv(sep="\t", index=False))
    run_in([*fcr, "score", "nuevas.txt", "by_default.csv"], project, env)
    run_in([*fcr, "score", "nuevas.txt", "by_folder.csv", "--model", "models_out"], project, env)
    default, folder = pd.read_csv(project / "by_default.csv"), pd.read_csv(project / "by_folder.csv")
    assert len(default) == len(new) and default["p_repeat"].tolist() == folder["p_repeat"].tolist()
    assert "model_warning" not in default

    # The synthetic champion is refused for this data, with one message; --any-source scores and says so.
    synthetic_uri = f"models:/fcr-classifier/{synthetic_champion.version}"
    proc = subprocess.run([*fcr, "score", "nuevas.txt", "x.csv", "--model", synthetic_uri], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "does not belong to this project's data" in proc.stderr and "--any-source" in proc.stderr
    proc = subprocess.run([*fcr, "score", "nuevas.txt", "x.csv", "--model", synthetic_uri, "--any-source"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert pd.read_csv(project / "x.csv")["model_warning"].str.contains("trained on synthetic source").all()

    # fcr serve: the user's champion, the extra fields by their export names; the synthetic one: not ready.
    contact = {"contact_id": "S1", "customer_id": "C00001", "channel": "phone", "reason_code": "NET",
               "agent_id": "ag03", "team": "Q3", "started_at": "2025-06-12T10:00:00+02:00"}
    with Serve(project, env) as server:
        ready = _ready(server.url)
        assert ready.status_code == 200 and lineage["id"] in ready.json()["model"], ready.text
        risky = {**contact, "Impact": 5, "Tier": "bronce", "VIP": "S"}
        calm = {**contact, "contact_id": "S2", "Impact": 1, "Tier": "oro", "VIP": "N"}
        r = httpx.post(server.url + "/v1/score", json={"contacts": [risky, calm]}, timeout=30)
        assert r.status_code == 200, r.text
        p = [s["p_repeat"] for s in r.json()["results"]]
        assert p[0] > p[1] + 0.1, p  # the extra columns drive the served risk
        assert "Impact" in json.dumps(httpx.get(server.url + "/openapi.json", timeout=30).json())
    with Serve(project, env, "--model", synthetic_uri) as server:
        ready = _ready(server.url)
        assert ready.status_code == 503 and "does not belong to this project's data" in ready.json()["error"]
        assert httpx.post(server.url + "/v1/score", json={"contacts": [contact]}, timeout=30).status_code == 503

    # Back to the synthetic centre: DVC restores its outputs from the run cache; every output names v1 again.
    shutil.copy(default_clone.path / "params.yaml", project / "params.yaml")
    run_in([sys.executable, "-m", "dvc", "repro"], project, env)
    status = run_in([*fcr, "status"], project, env)
    version = int(synthetic_champion.version)
    assert f"registry version {version}," in status and "these files are the champion" in status, status
    assert f"champion: version {version} " in status, status
    html = (project / "reports/drivers.html").read_text()
    assert f"model version {version} (the champion)" in html
    card = json.loads((project / "models_out/model_card.json").read_text())
    assert card["data_version"] == json.loads((project / "metrics/train.json").read_text())["data_version"]
    assert os.path.exists(project / "models_out/model.txt")
