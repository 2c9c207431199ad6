"""CDS Hooks 2.0 wire models: what an EHR sends and what it gets back, apart from the domain.

Requests allow fields we do not know (the specification reserves ``extension`` and EHRs add their own),
so a conforming client is never refused for being newer; what we do read is typed and checked here.
Responses are built by ``kg.cds.cards`` and serialised without empty fields.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"  # FHIR R4 id datatype: safe to put in a URL as it is


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -------------------------------------------------------------------------------------

class FhirAuthorization(_Open):
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str


class OrderContext(_Open):
    """The context of order-select and order-sign (R4): the draft orders as a FHIR Bundle."""

    userId: str = Field(min_length=1)
    patientId: str = Field(pattern=FHIR_ID)
    encounterId: str | None = Field(default=None, pattern=FHIR_ID)
    selections: list[str] | None = None  # order-select only
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle (resourceType 'Bundle')")
        entries = value.get("entry", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("resource"), dict)
                                                   for e in entries):
            raise ValueError("draftOrders.entry must be a list of entries, each with a resource object")
        return value

    def draft_resources(self) -> list[dict[str, Any]]:
        return [entry["resource"] for entry in self.draftOrders.get("entry", [])]


class HookRequest(_Open):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: HttpUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: OrderContext
    prefetch: dict[str, dict[str, Any] | None] | None = None


# --- responses ------------------------------------------------------------------------------------

class Coding(_Open):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class Source(_Closed):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Closed):
    type: Literal["create", "update", "delete"]
    description: str | None = None  # required by the specification; its own examples leave it out
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Closed):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] = []


class Link(_Closed):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(_Closed):
    uuid: str | None = None
    summary: str = Field(max_length=139)  # "<140 characters"
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None


class HookResponse(_Closed):
    cards: list[Card]
    systemActions: list[Action] | None = None
    extension: dict[str, Any] | None = None


# --- discovery ------------------------------------------------------------------------------------

class Service(_Closed):
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Closed):
    services: list[Service]


# --- feedback -------------------------------------------------------------------------------------

class AcceptedSuggestion(_Open):
    id: str = Field(min_length=1)


class OverrideReason(_Open):
    reason: Coding | None = None
    userComment: str | None = None


class FeedbackItem(_Open):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime

    @field_validator("acceptedSuggestions")
    @classmethod
    def _not_empty(cls, value):
        if value is not None and not value:
            raise ValueError("acceptedSuggestions, when given, lists at least one suggestion")
        return value

    @model_validator(mode="after")
    def _accepted_names_suggestions(self):
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted outcome must name its acceptedSuggestions")
        return self


class FeedbackRequest(_Open):
    feedback: list[FeedbackItem] = Field(min_length=1)
