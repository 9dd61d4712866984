"""The app composed of one router per resource (models/serving/routes/): the OpenAPI document keeps its
paths and operation ids in their order, and every router's routes are strict (JSON with NaN is a 422
before anything else runs), here with a model that never loads."""

from __future__ import annotations

import time

from models.serving.app import create_app
from tests.models.serving.test_app import Server

PATHS = ["/healthz", "/readyz", "/v1/model", "/v1/score", "/v1/contacts", "/v1/route", "/v1/admin/reload", "/metrics"]


def _no_model():
    raise RuntimeError("no model here")


def test_routers_keep_the_paths_their_order_and_strict_json():
    app = create_app(_no_model)
    doc = app.openapi()
    assert list(doc["paths"]) == PATHS
    assert doc["paths"]["/v1/score"]["post"]["operationId"] == "score_v1_score_post"
    assert set(doc["paths"]["/v1/contacts"]["post"]["responses"]) == {"200", "413", "422"}
    with Server(app) as client:
        deadline = time.time() + 10
        while client.get("/readyz").json().get("error") is None:
            assert time.time() < deadline
            time.sleep(0.02)
        assert client.get("/readyz").json() == {"ready": False, "error": "RuntimeError: no model here"}
        for path in ("/v1/score", "/v1/contacts", "/v1/route"):
            r = client.post(path, content=b'{"contacts": NaN}', headers={"content-type": "application/json"})
            assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid", (path, r.text)
        assert client.get("/v1/model").status_code == 503
        assert client.post("/v1/admin/reload").json() == {
            "detail": "reload failed, the running model stays: RuntimeError: no model here"}
        assert 'fcr_requests_total{endpoint="/v1/route",status="422"} 1.0' in client.get("/metrics").text
