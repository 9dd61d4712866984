"""The scoring and routing HTTP service (FastAPI), for routing systems.

In: a loader that returns a `Scorer` (models/serving/scorer.py), called once in a background thread at
start-up, and the service settings. Out: a FastAPI app with /v1/score, /v1/route, /v1/model,
/healthz, /readyz and /metrics (Prometheus). Requests and responses are pydantic models, so the
OpenAPI document is generated and bad input gets a 422 naming the field; a batch over the limit gets 413.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contract.vocabulary import CHANNELS
from models.serving.scorer import Scorer

log = logging.getLogger(__name__)
TOKEN_ENV = "FCR_API_TOKEN"
Channel = Literal[tuple(CHANNELS)]  # type: ignore[valid-type]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(None, max_length=128, description="null or unknown: scored as a new customer")
    channel: Channel
    reason_code: str = Field(min_length=1, max_length=64)
    reason_family: str | None = Field(None, max_length=64, description="defaults to the catalogue's family")
    agent_id: str | None = Field(None, max_length=128)
    started_at: AwareDatetime = Field(description="arrival time with its UTC offset")
    wait_s: float | None = Field(None, ge=0, le=86_400)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: list[Contact] = Field(min_length=1, description="one or many contacts (413 above the batch limit)")


class Reason(BaseModel):
    feature: str
    value: str | float | None
    contribution: float
    text: str


class ScoreResult(BaseModel):
    p_repeat: float = Field(description="calibrated probability that the customer comes back about this issue")
    risk_band: Literal["low", "medium", "high"]
    route: Literal["specialist", "standard"]
    reasons: list[Reason]


class ScoreResponse(BaseModel):
    model_version: str
    threshold: float
    results: list[ScoreResult]


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact: Contact
    agents: list[str] = Field(min_length=1, max_length=500, description="available agent ids")


class RankedAgent(BaseModel):
    agent_id: str
    p_resolved: float


class RouteResponse(BaseModel):
    model_version: str
    best_agent: str
    ranking: list[RankedAgent]


class _Measure:
    """Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware): request
    count by route and status, latency histogram by route."""

    def __init__(self, app, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            path = route.path if route is not None else "other"
            self.requests.labels(path, str(status["code"])).inc()
            self.latency.labels(path).observe(time.perf_counter() - t0)


class State:
    def __init__(self) -> None:
        self.scorer: Scorer | None = None
        self.error: str | None = None
        self.loaded_at: datetime | None = None


def create_app(loader: Callable[[], Scorer], max_batch: int = 1000) -> FastAPI:
    state = State()
    registry = CollectorRegistry()
    requests = Counter("fcr_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("fcr_request_seconds", "request latency", ["endpoint"], registry=registry,
                        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
    predictions = Counter("fcr_predictions_total", "scored contacts by route", ["route", "model_version"],
                          registry=registry)

    def load() -> None:
        try:
            state.scorer = loader()
            state.loaded_at = datetime.now()
            log.info("model %s and snapshot loaded", state.scorer.model.source)
        except Exception as exc:  # reported by /readyz and the log; the process stays up to say why
            state.error = f"{type(exc).__name__}: {exc}"
            log.error("could not load the model or snapshot: %s", state.error)

    # /docs and /redoc with Swagger UI and ReDoc files from the installed fastapi-offline package, not a
    # CDN: the API docs work on machines without internet.
    app = FastAPIOffline(title="FCR scoring and routing", version="1",
                         description="Repeat risk of arriving contacts and agent ranking for routing systems.")
    threading.Thread(target=load, daemon=True, name="fcr-loader").start()
    bearer = HTTPBearer(auto_error=False)

    async def authorise(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        token = os.environ.get(TOKEN_ENV)
        if token and (creds is None or creds.credentials != token):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def scorer() -> Scorer:
        if state.scorer is None:
            raise HTTPException(503, state.error or "model and snapshot are still loading")
        return state.scorer

    def version() -> str:
        s = state.scorer
        return str(s.model.card.get("version")) if s else "none"

    app.add_middleware(_Measure, requests=requests, latency=latency)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict:
        if state.scorer is None:
            response.status_code = 503
            return {"ready": False, "error": state.error}
        return {"ready": True, "model": state.scorer.model.source, "version": version()}

    @app.get("/v1/model", dependencies=[Depends(authorise)])
    async def model_info(s: Scorer = Depends(scorer)) -> dict:
        return {"source": s.model.source, **s.model.card, "threshold": s.threshold, "feature_spec": s.model.spec}

    def frame(contacts: list[Contact]) -> list[dict]:
        return [c.model_dump() for c in contacts]

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=[Depends(authorise)],
              responses={413: {"description": "batch over the limit"}})
    async def score(body: ScoreRequest, s: Scorer = Depends(scorer)) -> ScoreResponse:
        if len(body.contacts) > max_batch:
            raise HTTPException(413, f"{len(body.contacts)} contacts in one request; the limit is {max_batch}")
        p, reasons = s.score(frame(body.contacts))
        routes, bands = s.route(p)
        for r in routes:
            predictions.labels(r, version()).inc()
        return ScoreResponse(model_version=version(), threshold=s.threshold, results=[
            ScoreResult(p_repeat=float(pi), risk_band=b, route=r, reasons=[Reason(**x) for x in why])
            for pi, b, r, why in zip(p, bands, routes, reasons, strict=True)])

    @app.post("/v1/route", response_model=RouteResponse, dependencies=[Depends(authorise)])
    async def route(body: RouteRequest, s: Scorer = Depends(scorer)) -> RouteResponse:
        agents = list(dict.fromkeys(body.agents))
        contacts = [body.contact.model_copy(update={"agent_id": a}) for a in agents]
        p, _ = s.score(frame(contacts), reasons=0)
        ranking = sorted(zip(agents, (1 - p).tolist(), strict=True), key=lambda x: -x[1])
        return RouteResponse(model_version=version(), best_agent=ranking[0][0],
                             ranking=[RankedAgent(agent_id=a, p_resolved=q) for a, q in ranking])

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.fcr = state
    return app
