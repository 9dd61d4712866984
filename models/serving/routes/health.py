"""GET /healthz (the process answers) and /readyz (the model and snapshot are loaded, or why not)."""

from fastapi import APIRouter, Response

from models.serving.door import StrictRoute
from models.serving.service import Service


def health_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)

    @router.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict:
        if service.scorer is None:
            response.status_code = 503
            return {"ready": False, "error": service.error}
        warning = service.scorer.model.card.get("lineage_warning")  # (served with --any-source)
        return {"ready": True, "model": service.scorer.model.source, "version": service.version(),
                **({"warning": warning} if warning else {})}

    return router
