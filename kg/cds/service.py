"""A hook call from start to answer: the draft imaging orders, the patient's record, the engine, the
cards and the rating actions, and the log. Independent of HTTP (``kg.cds.app`` is the web layer).

Every draft ServiceRequest is an order to judge; other draft orders (medications, diets) are not ours
and get nothing. The record must be the patient's of the context: a draft order or a prefetched
resource about anyone else refuses the call, so one patient's data never changes another's answer.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kg.cds import prefetch
from kg.cds.cards import Context, OrderAnswer, answer_order
from kg.cds.feedback import FeedbackStore
from kg.cds.models import Discovery, HookRequest, HookResponse, Service
from kg.cds.settings import Settings
from kg.errors import InputError
from kg.input.fhir.systems import BY_PREFIX
from kg.recommend import Engine, Request
from kg.recommend.batcher import Batcher
from kg.validate import check_thresholds
from kg.terminology import mappings

if TYPE_CHECKING:
    from kg.input.fhir.records import Resource

# Draft order types of earlier FHIR versions: an imaging order in them is refused, not skipped.
NOT_R4 = {"ProcedureRequest": "STU3", "DiagnosticOrder": "DSTU2", "ReferralRequest": "STU3"}
# The terminologies whose exact codes go into a suggested order, with their FHIR systems (kg.input.fhir.systems).
ORDER_CODE_SYSTEMS = ("LOINC", "SNOMED", "RPID")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([^/]+)$")  # relative or absolute, no version

SERVICES = {
    "order-select": Service(
        hook="order-select", id="order-select", title="ACR imaging appropriateness (order select)",
        description="Rates a draft imaging order against the ACR Appropriateness Criteria of the acr-kg "
                    "knowledge base, explains the matched variant and suggests the usually appropriate test.",
        prefetch=prefetch.PREFETCH),
    "order-sign": Service(
        hook="order-sign", id="order-sign", title="ACR imaging appropriateness (order sign)",
        description="Rates the imaging orders about to be signed against the ACR Appropriateness Criteria "
                    "of the acr-kg knowledge base and records the rating on each order (Argonaut PAMA profile).",
        prefetch=prefetch.PREFETCH),
}


class RequestRefused(Exception):
    """A call that cannot be answered; ``status`` is the HTTP answer and the message says why."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def procedure_codings() -> dict[str, list[dict[str, str]]]:
    """{procedure IRI: FHIR codings of its exact LOINC and SNOMED CT codes} from the SSSOM mapping set."""
    mapping_set = mappings.load()
    codes: dict[str, list[dict[str, str]]] = {}
    for m in mapping_set.mappings:
        prefix, _, local = m.object_id.partition(":")
        if m.no_term_found or m.predicate_id != "skos:exactMatch" or prefix not in ORDER_CODE_SYSTEMS:
            continue
        coding = {"system": BY_PREFIX[prefix].uri, "code": local}
        if m.object_label:
            coding["display"] = m.object_label
        codes.setdefault(mapping_set.expand(m.subject_id), []).append(coding)
    return codes


@dataclass
class HookService:
    settings: Settings
    engine: Engine
    store: FeedbackStore
    codes: dict[str, list[dict[str, str]]]
    batcher: Batcher  # calls that arrive together are evaluated as one batch


    @classmethod
    def create(cls, settings: Settings) -> "HookService":
        from kg.input.fhir.records import load_r4_models

        engine = Engine(backend=settings.backend, threads=settings.query_threads)
        load_r4_models()
        check_thresholds(settings.thresholds, engine.knowledge)  # a bad set is a usage error at start, not a 500 per call
        return cls(settings, engine, FeedbackStore(settings.database), procedure_codings(), Batcher(engine))

    def close(self) -> None:
        self.batcher.close()
        self.store.close()

    def discovery(self) -> Discovery:
        return Discovery(services=list(SERVICES.values()))

    def answer(self, service_id: str, request: HookRequest) -> HookResponse:
        service = SERVICES[service_id]
        if request.hook != service.hook:
            raise RequestRefused(400, f"service {service_id!r} answers the {service.hook!r} hook, not {request.hook!r}")
        orders = self._imaging_orders(request)
        if not orders:
            return HookResponse(cards=[])
        try:
            found = prefetch.gather(request, self.settings)
        except prefetch.PrefetchError as exc:
            raise RequestRefused(exc.status, str(exc)) from None
        _check_one_patient(found, request.context.patientId)
        record = [resource for item in found for resource in _read(item, _call(request))]
        requests = [self._engine_request(request, order, record) for order in orders]
        answers = [r.as_dict() for r in self.batcher.evaluate(requests)]
        ctx = Context(service_id, request.hookInstance, self.engine.knowledge_base, self.settings.gcode, self.codes)
        results = [answer_order(order, answer, ctx) for order, answer in zip(orders, answers)]
        self.store.record([r.consultation for r in results], [r.issued for r in results])
        return _response(results, self.settings)

    def _imaging_orders(self, request: HookRequest) -> list[dict[str, Any]]:
        orders = []
        patient = f"Patient/{request.context.patientId}"
        for index, resource in enumerate(request.context.draft_resources()):
            kind = resource.get("resourceType")
            if kind in NOT_R4:
                raise RequestRefused(422, f"draftOrders.entry[{index}] is a {kind}, a FHIR {NOT_R4[kind]} resource; "
                                          "this service reads FHIR R4 (ServiceRequest)")
            if kind != "ServiceRequest":
                continue
            if not isinstance(resource.get("id"), str) or not resource["id"]:
                raise RequestRefused(400, f"draftOrders.entry[{index}]: a ServiceRequest needs an id to be rated")
            _read(prefetch.Found(f"draftOrders.entry[{index}]", resource), _call(request))  # FHIR R4, or refused here
            subject = _patient_of(resource, "subject")
            if subject != request.context.patientId:
                raise RequestRefused(400, f"draftOrders.entry[{index}] (ServiceRequest/{resource['id']}) is for "
                                          f"{'Patient/' + subject if subject else 'no patient'}, not {patient} of the context")
            orders.append(resource)
        return orders

    def _engine_request(self, request: HookRequest, order: dict[str, Any], record: list[Resource]) -> Request:
        from kg.input.fhir import patients_from_resources_checked

        now = _order_date(order)
        name = f"{_call(request)}/ServiceRequest/{order['id']}"
        try:
            patients = patients_from_resources_checked(record, name, now=now, order=order)
        except InputError as exc:
            raise RequestRefused(422, str(exc)) from None
        if len(patients) != 1:
            raise RequestRefused(422, f"{name}: the record holds {len(patients)} patients; expected the one of the context")
        return Request(patients[0], now, self.settings.thresholds)


def _order_date(order: dict[str, Any]) -> dt.date:
    """The day the order is judged at: its authoredOn date, else today."""
    authored = order.get("authoredOn")
    match = _DATE.match(authored) if isinstance(authored, str) else None
    if match:
        try:
            return dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise RequestRefused(400, f"ServiceRequest/{order['id']}.authoredOn {authored!r} is not a date") from None
    if authored is not None:
        raise RequestRefused(400, f"ServiceRequest/{order['id']}.authoredOn {authored!r} is not a date")
    return dt.date.today()


def _call(request: HookRequest) -> str:
    return f"{request.hook}/{request.hookInstance}"


def _read(item: prefetch.Found, call: str) -> list[Resource]:
    """The reader's resources of one item (checked as FHIR R4), named by where the call put it."""
    from kg.input.fhir.records import resources_from_json

    try:
        return resources_from_json(item.resource, f"{call}, {item.where}", place=item.where)
    except InputError as exc:
        raise RequestRefused(422, str(exc)) from None


def _check_one_patient(found: list[prefetch.Found], patient_id: str) -> None:
    expected = f"Patient/{patient_id}"
    for item in found:
        resource, kind = item.resource, item.resource.get("resourceType")
        if kind == "Patient":
            if resource.get("id") != patient_id:
                raise RequestRefused(400, f"{item.where} is Patient/{resource.get('id')}, not {expected} of the context")
            continue
        for field in ("subject", "patient"):
            target = _patient_of(resource, field)
            if target is not None and target != patient_id:
                raise RequestRefused(400, f"{item.where} ({kind}/{resource.get('id')}) is about Patient/{target}, "
                                          f"not {expected} of the context")


def _patient_of(resource: dict, field: str) -> str | None:
    """The id of the Patient a reference field points to, or None."""
    reference = resource.get(field)
    target = reference.get("reference") if isinstance(reference, dict) else None
    match = _PATIENT_REFERENCE.search(target) if isinstance(target, str) else None
    return match.group(1) if match else None


def _response(results: list[OrderAnswer], settings: Settings) -> HookResponse:
    actions = [r.rating_action for r in results if r.rating_action is not None]
    extension = {"systemActions": [a.model_dump(exclude_none=True) for a in actions]} \
        if settings.extension_system_actions and actions else None
    return HookResponse(cards=[r.card for r in results], systemActions=actions or None, extension=extension)

