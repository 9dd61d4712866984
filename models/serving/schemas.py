"""The service's request and response bodies (pydantic models: the OpenAPI document is generated from them).

The user's extra columns (ingest.files.extra_columns) are fields of the contacts under the export's
column names, typed by their kind (`request_models`): the request models are built per app, so the
handlers' annotations are evaluated where they are defined (no `from __future__ import annotations`,
here nor in models/serving/routes/).
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator
from pydantic import model_validator

from contract.vocabulary import CHANNELS
from features.spec import EXTRA_PREFIX
from models.serving import mapping
from models.serving.mapping import DoorMapping


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
