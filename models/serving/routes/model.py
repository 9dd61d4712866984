"""The served model: GET /v1/model (its card, threshold, feature spec and live state) and
POST /v1/admin/reload (load it again while the old one answers). Two routers: the page order of the
OpenAPI document puts scoring, contacts and routing between them."""

import time
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException

from models.serving.door import StrictRoute
from models.serving.scorer import Scorer
from models.serving.service import ReloadRefused, Service


def model_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)

    @router.get("/v1/model")
    async def model_info(s: Scorer = Depends(service.current_scorer)) -> dict:
        return {"source": s.model.source, **s.model.card, "threshold": s.threshold, "feature_spec": s.model.spec,
                "snapshot_end": datetime.fromtimestamp(s.snapshot_end).astimezone().isoformat(),
                "journal_length": len(s.journal) if s.journal is not None else 0,
                "live_contacts": len(s.learned),
                "state_age_s": None if s.last_event is None else round(time.time() - s.last_event, 3),
                "loaded_at": service.loaded_at.isoformat() if service.loaded_at else None}

    return router


def admin_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)

    @router.post("/v1/admin/reload")
    async def reload() -> dict:
        """Load the model and snapshot again (a new champion, a new snapshot) while the old ones keep
        answering; the journal is replayed on the new snapshot and what it now holds is pruned. SIGHUP
        to `fcr serve` does the same."""
        try:
            return await service.reload("POST /v1/admin/reload")
        except ReloadRefused as exc:
            raise HTTPException(exc.status, exc.detail) from None

    return router
