"""GET /metrics: the Prometheus metrics of the service (requests, latency, predictions, live state)."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.serving.door import StrictRoute
from models.serving.service import Service


def metrics_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    return router
