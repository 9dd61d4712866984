"""POST /v1/route: the available agents ranked by predicted resolution of a contact, and its route."""

from fastapi import APIRouter, Depends, HTTPException

from models.serving.door import StrictRoute
from models.serving.routes.scoring import frame
from models.serving.schemas import RankedAgent, Reason, RouteResponse
from models.serving.scorer import CapacityUnknown, Scorer
from models.serving.service import Service


def routing_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)
    version = service.version

    @router.post("/v1/route", response_model=RouteResponse)
    async def route(body: service.bodies.route, s: Scorer = Depends(service.current_scorer)) -> RouteResponse:
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

    return router
