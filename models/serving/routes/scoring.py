"""POST /v1/score: the repeat risk of arriving contacts, their route and reasons (and, asked, the features)."""

import logging

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from models.serving.door import StrictRoute
from models.serving.schemas import Reason, ScoreResponse, ScoreResult
from models.serving.scorer import Scorer
from models.serving.service import Service

log = logging.getLogger("models.serving.app")  # the service's log lines keep the name they have always had


def frame(contacts: list[BaseModel]) -> list[dict]:
    return [c.model_dump() for c in contacts]


def scoring_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)
    max_batch, version = service.max_batch, service.version

    @router.post("/v1/score", response_model=ScoreResponse,
                 responses={413: {"description": "batch over the limit"}})
    async def score(body: service.bodies.score, request: Request,
                    s: Scorer = Depends(service.current_scorer)) -> ScoreResponse:
        if len(body.contacts) > max_batch:
            raise HTTPException(413, f"{len(body.contacts)} contacts in one request; the limit is {max_batch}")
        rows = frame(body.contacts)
        shown = [s.named(x) for x in s.matrix(rows)] if body.features else [None] * len(rows)
        p, reasons = s.score(rows)
        learned = s.learn("arrival", rows)  # after scoring: a contact never counts itself
        routes, bands = s.route(p)
        for r in routes:
            service.predictions.labels(r, version()).inc()
        log.debug("request %s: %d contacts scored", request.scope["state"].get("request_id"), len(rows))
        return ScoreResponse(model_version=version(), threshold=s.threshold, results=[
            ScoreResult(contact_id=c["contact_id"], learned=new, p_repeat=float(pi), risk_band=b, route=r,
                        reasons=[Reason(**x) for x in why], features=f)
            for c, new, pi, b, r, why, f in zip(rows, learned, p, bands, routes, reasons, shown, strict=True)])

    return router
