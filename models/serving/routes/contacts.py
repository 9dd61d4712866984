"""POST /v1/contacts: completed contacts, learned into the live state (journaled first)."""

from fastapi import APIRouter, Depends, HTTPException

from models.serving.door import StrictRoute
from models.serving.routes.scoring import frame
from models.serving.schemas import ContactsResponse
from models.serving.scorer import Scorer
from models.serving.service import Service


def contacts_router(service: Service) -> APIRouter:
    router = APIRouter(route_class=StrictRoute)
    max_batch = service.max_batch

    @router.post("/v1/contacts", response_model=ContactsResponse,
                 responses={413: {"description": "batch over the limit"}})
    async def contacts(body: service.bodies.contacts, s: Scorer = Depends(service.current_scorer)) -> ContactsResponse:
        if len(body.contacts) > max_batch:
            raise HTTPException(413, f"{len(body.contacts)} contacts in one request; the limit is {max_batch}")
        learned = s.learn("completion", frame(body.contacts))
        return ContactsResponse(accepted=len(learned), learned=sum(learned),
                                journal_length=len(s.journal) if s.journal is not None else 0)

    return router
