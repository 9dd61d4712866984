"""What the service checks at the door, before a handler runs.

`Door` (pure ASGI middleware), before any body is parsed: the request id (X-Request-ID, accepted or
made, echoed and logged), the bearer token (constant-time compare), the body size (413 as soon as it
is over) and a deadline for the body (408 for a client that trickles it). `Measure` counts requests
and their latency for /metrics. `StrictRoute`, the route class of every router: JSON is strict (NaN,
Infinity, numbers out of range and invalid unicode give 422) and the app's door mapping is current
while the body is read. `invalid_request`: the 422 answer, naming the field.
"""

import asyncio
import hmac
import json
import logging
import os
import re
import time
import uuid

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import Counter, Histogram

from models.serving import mapping

log = logging.getLogger("models.serving.app")  # the service's log lines keep the name they have always had
TOKEN_ENV = "FCR_API_TOKEN"


class Measure:
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


class Door:
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


class StrictRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            token = mapping.CURRENT.set(request.app.state.door_mapping)
            try:
                return await handler(_StrictJSONRequest(request.scope, request.receive))
            finally:
                mapping.CURRENT.reset(token)

        return strict



async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # field, message and type only: echoing the input back could hold an infinity or a lone
    # surrogate, which no JSON encoder writes (that was a 500)
    return JSONResponse(status_code=422, content={"detail": [
        {"loc": [str(x) if not isinstance(x, int) else x for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))} for e in exc.errors()]})
