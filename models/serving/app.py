"""The scoring and routing HTTP service (FastAPI), for routing systems.

In: a loader that returns a `Scorer` (models/serving/scorer.py), called once in a background thread at
start-up (and again on POST /v1/admin/reload or, with `reload_on_sighup`, on SIGHUP: one reload path,
the old scorer answering until the new one is ready), and the service settings. Out: a FastAPI app with
/v1/score, /v1/route, /v1/contacts (completed contacts), /v1/model, /v1/admin/reload, /healthz,
/readyz and /metrics (Prometheus). Requests and responses are pydantic models, so the OpenAPI document
is generated and bad input gets a 422 naming the field; a batch over the limit gets 413.
At the door, before any body is parsed (`_Door`): the request id (X-Request-ID, accepted or made,
echoed and logged), the bearer token (constant-time compare), the body size (413 as soon as it is
over) and a deadline for the body (408 for a client that trickles it). JSON is strict: NaN,
Infinity, numbers out of range and invalid unicode give 422.
The user's extra columns (ingest.files.extra_columns) are fields of the contacts under the export's
column names, typed by their kind (`request_models`): the request models are built per app, so the
handlers' annotations are evaluated where they are defined (no `from __future__ import annotations`).
"""

import asyncio
import gc
import hmac
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import pydantic_core
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator
from pydantic import model_validator

from contract.vocabulary import CHANNELS
from features.spec import EXTRA_PREFIX
from models.serving import mapping
from models.serving.mapping import DoorMapping
from models.serving.scorer import CapacityUnknown, Scorer

log = logging.getLogger(__name__)
TOKEN_ENV = "FCR_API_TOKEN"


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    contact_id: str | None = Field(None, min_length=1, max_length=128,
                                   description="echoed; with it the contact enters the customer's live history once")
    customer_id: str | None = Field(None, max_length=128, description="null, unknown or an anonymous id of the "
                                    "export (ingest.files.anonymous_customer_ids): scored as a new customer")
    channel: str = Field(min_length=1, max_length=64, description=f"one of {list(CHANNELS)} or a raw value of the "
                         "export that ingest.files.channel_map maps")
    reason_code: str = Field(min_length=1, max_length=64)
    reason_family: str | None = Field(None, max_length=64, description="defaults to the catalogue's family")
    agent_id: str | None = Field(None, max_length=128)
    started_at: AwareDatetime = Field(description="arrival time with its UTC offset")
    wait_s: float | None = Field(None, ge=0, le=86_400)
    team: str | None = Field(None, max_length=128, description="defaults to the agent's team")

    # Ingest's mappings at the door (models/serving/mapping.py): the same raw values as the exports.
    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        return mapping.CURRENT.get().channel(v)

    @field_validator("customer_id")
    @classmethod
    def _customer(cls, v: str | None) -> str | None:
        return mapping.CURRENT.get().customer(v)

    @model_validator(mode="after")
    def _family(self) -> "Contact":
        if self.reason_family is None:
            self.reason_family = mapping.CURRENT.get().reason_families.get(self.reason_code)
        return self


class CompletedContact(Contact):
    contact_id: str = Field(min_length=1, max_length=128)
    ended_at: AwareDatetime | None = None
    transfers: int | None = Field(None, ge=0, le=1000)
    disposition: str | None = Field(None, max_length=64)
    resolved: bool | None = Field(None, description="the resolution signal, when known")


class ContactsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    contacts: list[CompletedContact] = Field(min_length=1)


class ContactsResponse(BaseModel):
    accepted: int = Field(description="contacts journaled (already known ones included)")
    learned: int = Field(description="contacts that changed the live state")
    journal_length: int


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    contacts: list[Contact] = Field(min_length=1, description="one or many contacts (413 above the batch limit)")
    features: bool = Field(False, description="also return each contact's model features, as the model saw them")


class Reason(BaseModel):
    feature: str
    value: str | float | None
    contribution: float
    text: str


class ScoreResult(BaseModel):
    contact_id: str | None
    learned: bool = Field(description="this contact entered the live state now (False: no id, or known already)")
    p_repeat: float = Field(description="calibrated probability that the customer comes back about this issue")
    risk_band: Literal["low", "medium", "high"]
    route: Literal["specialist", "standard"]
    reasons: list[Reason]
    features: dict[str, str | float | None] | None = Field(None, description="with `features: true`: the model's "
                                                            "inputs by name (null: missing)")


class ScoreResponse(BaseModel):
    model_version: str
    threshold: float
    results: list[ScoreResult]


class RouteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    contact: Contact
    agents: list[str] = Field(min_length=1, max_length=500, description="available agent ids")
    current_agent: str | None = Field(
        None, max_length=128, description="the agent the contact would go to now: the gain is measured against it")
    specialist_capacity: float | None = Field(
        None, gt=0, le=1, description="share of contacts the specialists can take now: the threshold is the score "
        "above which that share of the model's test-window contacts fall; null: the model's training capacity")


class RankedAgent(BaseModel):
    agent_id: str
    p_resolved: float


class RouteResponse(BaseModel):
    model_version: str
    contact_id: str | None
    best_agent: str
    ranking: list[RankedAgent]
    expected_gain: float | None = Field(description="resolution probability with the best agent minus with the "
                                                    "current one (null without current_agent)")
    p_repeat: float = Field(description="repeat risk with the best agent")
    threshold: float = Field(description="specialist threshold: for specialist_capacity when given, else the "
                                         "training capacity threshold")
    specialist_capacity: float | None = Field(description="the capacity the threshold is for (null: the model's)")
    route: Literal["specialist", "standard"]
    reasons: list[Reason] = Field(
        description="the strongest pushes toward a repeat, in plain words, with the best agent")


# What an extra column's value is once read (DoorMapping.extra), as the OpenAPI schema shows it.
EXTRA_TYPES = {"number": float, "flag": bool, "category": str}


def _extra_fields(door: DoorMapping, availability: tuple[str, ...]) -> dict:
    """The extra columns known by `availability`, as request fields: named `extra_<name>` (what the
    features call them), taken under the export's column name (the alias), read as ingest reads them."""
    fields = {}
    for name, x in door.extra_columns.items():
        if x.availability not in availability:
            continue
        column = x.source_column or name
        taken = {f.alias or n for n, f in CompletedContact.model_fields.items()}
        if column in taken:
            raise ValueError(f"extra column {name!r} is the export's column {column!r}, a field of the service's "
                             f"contacts already: rename it in the export or leave it out of ingest.files.extra_columns")
        read = BeforeValidator(lambda v, kind=x.kind, name=name: mapping.CURRENT.get().extra(kind, v, name))
        fields[EXTRA_PREFIX + name] = (
            Annotated[EXTRA_TYPES[x.kind] | None, read],
            Field(None, alias=column, max_length=256 if x.kind == "category" else None,
                  description=f"your column {column} (extra column {name!r}: {x.kind}, known {x.availability}); "
                              "blank or missing: unknown", json_schema_extra={"x-fcr-kind": x.kind}))
    return fields


@dataclass(frozen=True)
class RequestModels:
    """The request bodies of one app: the contacts carry the export's extra columns."""
    contact: type[Contact]
    completed: type[CompletedContact]
    score: type[ScoreRequest]
    contacts: type[ContactsRequest]
    route: type[RouteRequest]


def request_models(door: DoorMapping) -> RequestModels:
    """Contact (the extra columns known at arrival) and CompletedContact (all of them), and the
    requests that hold them; the field descriptions of the base models are kept."""
    contact = create_model("Contact", __base__=Contact, **_extra_fields(door, ("arrival",)))
    completed = create_model("CompletedContact", __base__=CompletedContact,
                             **_extra_fields(door, ("arrival", "after_contact")))

    def holding(base: type[BaseModel], field_name: str, annotation: object) -> type[BaseModel]:
        return create_model(base.__name__, __base__=base, **{field_name: (annotation, base.model_fields[field_name])})

    return RequestModels(contact, completed, holding(ScoreRequest, "contacts", list[contact]),
                         holding(ContactsRequest, "contacts", list[completed]),
                         holding(RouteRequest, "contact", contact))


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


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def _reply(send, status: int, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class _Door:
    """Pure ASGI middleware: what is checked before any body is parsed (see the module docstring)."""

    def __init__(self, app, max_body: int, body_timeout: float) -> None:
        self.app, self.max_body, self.body_timeout = app, max_body, body_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID.fullmatch(rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        if scope["path"].startswith("/v1/"):
            token = os.environ.get(TOKEN_ENV)
            given = headers.get(b"authorization", b"")
            if token and not hmac.compare_digest(given, b"Bearer " + token.encode()):
                log.info("request %s %s: 401", rid, scope["path"])
                await _reply(send_with_id, 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")])
                return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _reply(send_with_id, 413, f"body over the limit of {self.max_body} bytes")
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = bytearray()
            try:
                # one deadline for the whole body (asyncio.timeout: no task per receive, unlike wait_for)
                async with asyncio.timeout(self.body_timeout):
                    while True:
                        message = await receive()
                        if message["type"] == "http.disconnect":
                            return
                        body += message.get("body", b"")
                        if len(body) > self.max_body:
                            await _reply(send_with_id, 413, f"body over the limit of {self.max_body} bytes")
                            return
                        if not message.get("more_body"):
                            break
            except TimeoutError:
                await _reply(send_with_id, 408, f"request body not received within {self.body_timeout} s")
                return
            whole = {"type": "http.request", "body": bytes(body), "more_body": False}
            sent = False

            async def replay():
                nonlocal sent
                if not sent:
                    sent = True
                    return whole
                return await receive()

            await self.app(scope, replay, send_with_id)
            return
        await self.app(scope, receive, send_with_id)


class _StrictJSONRequest(Request):
    """JSON parsed by pydantic-core: NaN / Infinity and invalid unicode (lone surrogates) are errors,
    which FastAPI answers with 422 (a json.JSONDecodeError is its signal for that)."""

    async def json(self):
        if not hasattr(self, "_json"):
            try:
                self._json = pydantic_core.from_json(await self.body(), allow_inf_nan=False)
            except ValueError as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class _StrictRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            token = mapping.CURRENT.set(request.app.state.door_mapping)
            try:
                return await handler(_StrictJSONRequest(request.scope, request.receive))
            finally:
                mapping.CURRENT.reset(token)

        return strict


class ReloadRefused(RuntimeError):
    """A reload that did not happen (the running model stays): HTTP status and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class State:
    def __init__(self) -> None:
        self.scorer: Scorer | None = None
        self.error: str | None = None
        self.loaded_at: datetime | None = None
        self.reloading = threading.Lock()


def settle_heap() -> None:
    """Take what the service holds for good (the model, the snapshot's state) out of the garbage
    collector's sight, after each load. A full collection walks every object it tracks: 160-250 ms
    for the default snapshot's 336k, and the live load set one off every two minutes or so, stalling
    every request meanwhile (the p99 tail). The previous load's objects are let go first; objects made
    later (what the service learns) are still collected. Objects let go are still freed at once
    by their reference counts, frozen or not."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.info("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(), (time.perf_counter() - started) * 1e3)


def create_app(loader: Callable[[], Scorer], max_batch: int = 1000, max_body: int = 1_000_000,
               body_timeout: float = 10.0, door_mapping: DoorMapping | None = None,
               reload_on_sighup: bool = False) -> FastAPI:
    """`reload_on_sighup`: SIGHUP reloads as POST /v1/admin/reload does (only where the server runs in
    the process's main thread, as `fcr serve` does: signals reach no other thread)."""
    state = State()
    registry = CollectorRegistry()
    requests = Counter("fcr_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("fcr_request_seconds", "request latency", ["endpoint"], registry=registry,
                        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
    predictions = Counter("fcr_predictions_total", "scored contacts by route", ["route", "model_version"],
                          registry=registry)
    Gauge("fcr_journal_events", "events in the journal", registry=registry).set_function(
        lambda: len(state.scorer.journal) if state.scorer and state.scorer.journal is not None else 0)
    Gauge("fcr_snapshot_age_seconds", "now minus the snapshot's end", registry=registry).set_function(
        lambda: time.time() - state.scorer.snapshot_end if state.scorer else float("nan"))
    Gauge("fcr_live_contacts", "contacts learned since the snapshot", registry=registry).set_function(
        lambda: len(state.scorer.learned) if state.scorer else 0)

    def load() -> None:
        # holds the reload lock: a reload asked for meanwhile is refused, never overwritten by this load
        with state.reloading:
            try:
                scorer = loader()
                settle_heap()  # before it answers: ready means settled, and no reload is refused meanwhile
                state.scorer = scorer
                state.loaded_at = datetime.now()
                state.error = None
                log.info("model %s and snapshot loaded", state.scorer.model.source)
            except Exception as exc:  # reported by /readyz and the log; the process stays up to say why
                state.error = f"{type(exc).__name__}: {exc}"
                log.error("could not load the model or snapshot: %s", state.error)

    async def reload_scorer(trigger: str) -> dict:
        """The one reload path (POST /v1/admin/reload, SIGHUP): the loader runs in a thread while the old
        scorer answers every request; the journal's events learned meanwhile are applied to the new one,
        which then takes over between two requests. Logs the outcome; ReloadRefused when it did not happen."""
        if not state.reloading.acquire(blocking=False):
            log.warning("reload (%s) refused: a reload is already running", trigger)
            raise ReloadRefused(409, "a reload is already running")
        try:
            new = await asyncio.to_thread(loader)
        except Exception as exc:
            detail = f"reload failed, the running model stays: {type(exc).__name__}: {exc}"
            log.error("reload (%s): %s", trigger, detail)
            raise ReloadRefused(503, detail) from None
        finally:
            state.reloading.release()
        # events learned by the old state while the new one loaded: applied again (idempotent by id)
        new.replay()
        pruned = new.journal.prune(new.snapshot_end) if new.journal is not None else 0
        state.scorer, state.loaded_at, state.error = new, datetime.now(), None
        settle_heap()
        log.info("reload (%s): model %s version %s and its snapshot now answer; %d journal events pruned", trigger,
                 new.model.source, version(), pruned)
        return {"model": new.model.source, "version": version(), "pruned": pruned}

    hangups: set[asyncio.Task] = set()  # running SIGHUP reloads (a task without a reference may be collected)

    def on_sighup() -> None:
        async def run() -> None:
            try:
                await reload_scorer("SIGHUP")
            except ReloadRefused:
                pass  # logged; the running model stays

        task = asyncio.get_running_loop().create_task(run())
        hangups.add(task)
        task.add_done_callback(hangups.discard)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, on_sighup)
            log.info("SIGHUP reloads the model and snapshot (pid %d)", os.getpid())
        try:
            yield
        finally:
            if reload_on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)

    # /docs and /redoc with Swagger UI and ReDoc files from the installed fastapi-offline package, not a
    # CDN: the API docs work on machines without internet.
    app = FastAPIOffline(title="FCR scoring and routing", version="1", lifespan=lifespan,
                         description="Repeat risk of arriving contacts and agent ranking for routing systems.")
    app.router.route_class = _StrictRoute
    app.state.door_mapping = door = door_mapping or DoorMapping()
    bodies = request_models(door)
    threading.Thread(target=load, daemon=True, name="fcr-loader").start()

    async def scorer() -> Scorer:
        if state.scorer is None:
            raise HTTPException(503, state.error or "model and snapshot are still loading")
        return state.scorer

    def version() -> str:
        s = state.scorer
        return str(s.model.card.get("version")) if s else "none"

    app.add_middleware(_Measure, requests=requests, latency=latency)
    app.add_middleware(_Door, max_body=max_body, body_timeout=body_timeout)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # field, message and type only: echoing the input back could hold an infinity or a lone
        # surrogate, which no JSON encoder writes (that was a 500)
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": [str(x) if not isinstance(x, int) else x for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in exc.errors()]})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(response: Response) -> dict:
        if state.scorer is None:
            response.status_code = 503
            return {"ready": False, "error": state.error}
        warning = state.scorer.model.card.get("lineage_warning")  # (served with --any-source)
        return {"ready": True, "model": state.scorer.model.source, "version": version(),
                **({"warning": warning} if warning else {})}

    @app.get("/v1/model")
    async def model_info(s: Scorer = Depends(scorer)) -> dict:
        return {"source": s.model.source, **s.model.card, "threshold": s.threshold, "feature_spec": s.model.spec,
                "snapshot_end": datetime.fromtimestamp(s.snapshot_end).astimezone().isoformat(),
                "journal_length": len(s.journal) if s.journal is not None else 0,
                "live_contacts": len(s.learned),
                "state_age_s": None if s.last_event is None else round(time.time() - s.last_event, 3),
                "loaded_at": state.loaded_at.isoformat() if state.loaded_at else None}

    def frame(contacts: list[BaseModel]) -> list[dict]:
        return [c.model_dump() for c in contacts]

    @app.post("/v1/score", response_model=ScoreResponse,
              responses={413: {"description": "batch over the limit"}})
    async def score(body: bodies.score, request: Request, s: Scorer = Depends(scorer)) -> ScoreResponse:
        if len(body.contacts) > max_batch:
            raise HTTPException(413, f"{len(body.contacts)} contacts in one request; the limit is {max_batch}")
        rows = frame(body.contacts)
        shown = [s.named(x) for x in s.matrix(rows)] if body.features else [None] * len(rows)
        p, reasons = s.score(rows)
        learned = s.learn("arrival", rows)  # after scoring: a contact never counts itself
        routes, bands = s.route(p)
        for r in routes:
            predictions.labels(r, version()).inc()
        log.debug("request %s: %d contacts scored", request.scope["state"].get("request_id"), len(rows))
        return ScoreResponse(model_version=version(), threshold=s.threshold, results=[
            ScoreResult(contact_id=c["contact_id"], learned=new, p_repeat=float(pi), risk_band=b, route=r,
                        reasons=[Reason(**x) for x in why], features=f)
            for c, new, pi, b, r, why, f in zip(rows, learned, p, bands, routes, reasons, shown, strict=True)])

    @app.post("/v1/contacts", response_model=ContactsResponse,
              responses={413: {"description": "batch over the limit"}})
    async def contacts(body: bodies.contacts, s: Scorer = Depends(scorer)) -> ContactsResponse:
        if len(body.contacts) > max_batch:
            raise HTTPException(413, f"{len(body.contacts)} contacts in one request; the limit is {max_batch}")
        learned = s.learn("completion", frame(body.contacts))
        return ContactsResponse(accepted=len(learned), learned=sum(learned),
                                journal_length=len(s.journal) if s.journal is not None else 0)

    @app.post("/v1/route", response_model=RouteResponse)
    async def route(body: bodies.route, s: Scorer = Depends(scorer)) -> RouteResponse:
        """Agents ranked by predicted resolution, best first: the routing stage's policy `best_available_agent`
        (metrics/routing.json estimates the FCR it would reach, capacity respected)."""
        try:
            threshold = s.threshold_for(body.specialist_capacity)
        except CapacityUnknown as exc:
            raise HTTPException(422, str(exc)) from None
        agents = list(dict.fromkeys(body.agents))
        current = body.current_agent
        candidates = agents + ([current] if current is not None and current not in agents else [])
        contacts = [body.contact.model_copy(update={"agent_id": a}) for a in candidates]
        p, _ = s.score(frame(contacts), reasons=0)
        resolved = dict(zip(candidates, (1 - p).tolist(), strict=True))
        ranking = sorted(((a, resolved[a]) for a in agents), key=lambda x: -x[1])
        best = ranking[0][0]
        p_best, why = s.score(frame([body.contact.model_copy(update={"agent_id": best})]))
        routes, _ = s.route(p_best, threshold)
        return RouteResponse(model_version=version(), contact_id=body.contact.contact_id, best_agent=best,
                             ranking=[RankedAgent(agent_id=a, p_resolved=q) for a, q in ranking],
                             expected_gain=None if current is None else resolved[best] - resolved[current],
                             p_repeat=float(p_best[0]), threshold=threshold,
                             specialist_capacity=body.specialist_capacity, route=routes[0],
                             reasons=[Reason(**x) for x in why[0]])

    @app.post("/v1/admin/reload")
    async def reload() -> dict:
        """Load the model and snapshot again (a new champion, a new snapshot) while the old ones keep
        answering; the journal is replayed on the new snapshot and what it now holds is pruned. SIGHUP
        to `fcr serve` does the same."""
        try:
            return await reload_scorer("POST /v1/admin/reload")
        except ReloadRefused as exc:
            raise HTTPException(exc.status, exc.detail) from None

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.fcr = state
    return app
