"""The scoring and routing HTTP service (FastAPI), for routing systems.

In: a loader that returns a `Scorer` (models/serving/scorer.py), called once in a background thread at
start-up (and again on POST /v1/admin/reload or, with `reload_on_sighup`, on SIGHUP: one reload path,
the old scorer answering until the new one is ready: models/serving/service.py), and the service
settings. Out: a FastAPI app with /v1/score, /v1/route, /v1/contacts (completed contacts), /v1/model,
/v1/admin/reload, /healthz, /readyz and /metrics (Prometheus), one router per resource
(models/serving/routes/). Requests and responses are pydantic models (models/serving/schemas.py), so
the OpenAPI document is generated and bad input gets a 422 naming the field; a batch over the limit
gets 413. At the door, before any body is parsed (models/serving/door.py `Door`): the request id
(X-Request-ID, accepted or made, echoed and logged), the bearer token (constant-time compare), the body
size (413 as soon as it is over) and a deadline for the body (408 for a client that trickles it). JSON
is strict: NaN, Infinity, numbers out of range and invalid unicode give 422.
The user's extra columns (ingest.files.extra_columns) are fields of the contacts under the export's
column names, typed by their kind (`request_models`): the request models are built per app.
"""

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline

from models.serving.door import TOKEN_ENV, Door, Measure, StrictRoute, invalid_request
from models.serving.mapping import DoorMapping
from models.serving.routes.contacts import contacts_router
from models.serving.routes.health import health_router
from models.serving.routes.metrics import metrics_router
from models.serving.routes.model import admin_router, model_router
from models.serving.routes.routing import routing_router
from models.serving.routes.scoring import scoring_router
from models.serving.schemas import request_models
from models.serving.scorer import Scorer
from models.serving.service import Service

log = logging.getLogger(__name__)
__all__ = ["TOKEN_ENV", "create_app"]


def create_app(loader: Callable[[], Scorer], max_batch: int = 1000, max_body: int = 1_000_000,
               body_timeout: float = 10.0, door_mapping: DoorMapping | None = None,
               reload_on_sighup: bool = False) -> FastAPI:
    """`reload_on_sighup`: SIGHUP reloads as POST /v1/admin/reload does (only where the server runs in
    the process's main thread, as `fcr serve` does: signals reach no other thread)."""
    door = door_mapping or DoorMapping()
    service = Service(loader, max_batch, request_models(door))
    # /docs and /redoc with Swagger UI and ReDoc files from the installed fastapi-offline package, not a
    # CDN: the API docs work on machines without internet.
    app = FastAPIOffline(title="FCR scoring and routing", version="1", lifespan=_lifespan(service, reload_on_sighup),
                         description="Repeat risk of arriving contacts and agent ranking for routing systems.")
    app.router.route_class = StrictRoute
    app.state.door_mapping = door
    service.start()
    app.add_middleware(Measure, requests=service.requests, latency=service.latency)
    app.add_middleware(Door, max_body=max_body, body_timeout=body_timeout)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for router in (health_router, model_router, scoring_router, contacts_router, routing_router, admin_router,
                   metrics_router):  # (in this order in the OpenAPI document)
        app.include_router(router(service))
    app.state.fcr = service
    return app


def _lifespan(service: Service, reload_on_sighup: bool):
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if reload_on_sighup:
            loop.add_signal_handler(signal.SIGHUP, service.on_sighup)
            log.info("SIGHUP reloads the model and snapshot (pid %d)", os.getpid())
        try:
            yield
        finally:
            if reload_on_sighup:
                loop.remove_signal_handler(signal.SIGHUP)

    return lifespan
