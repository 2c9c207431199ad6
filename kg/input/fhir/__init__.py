"""Reading FHIR R4 records (with or without the mCODE profiles) as patient graphs in our vocabulary.

A record comes as a Bundle, a JSON array of resources, one resource, or Bulk Data NDJSON (a file, or a
folder of Type.*.ndjson files); its resources are grouped by patient, and each patient is read as of the
evaluation date: later events are left out and counted. The rules that map FHIR elements to our terms
are data (queries/fhir/*.rq, ontology/kb/fhir-value-sets.ttl, ontology/kb/chronology.ttl).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

from kg.errors import InputError
from kg.input.fhir.mapping import map_patient, reference_targets, resolve
from kg.input.fhir.records import Resource, looks_like_fhir, resources_from_json, resources_from_ndjson
from kg.input.fhir.systems import BY_PREFIX
from kg.input.reader import PatientData
from kg.issues import Issue

__all__ = ["looks_like_fhir", "parse_fhir", "patients_from_resources", "read_fhir"]

_LOINC = re.compile(r"^\d{1,7}-\d$")
_OUR_KB = "https://w3id.org/acr-kg/kb/"
ORDER_SYSTEMS = ("LOINC", "RPID", "CPT", "SNOMED")  # the terminologies an order may be given in (--order PREFIX:CODE)


def read_fhir(source: str | Path, *, now: dt.date | None = None, order: str | None = None) -> list[PatientData]:
    """Read a FHIR record from a file, a folder of Bulk Data NDJSON files, or stdin ('-')."""
    name = "<stdin>" if str(source) == "-" else str(source)
    path = Path(source)
    if name != "<stdin>" and path.is_dir():
        files = sorted(p for p in path.glob("*.ndjson") if "." in p.name[:-len(".ndjson")])
        if not files:
            raise InputError("the folder holds no Bulk Data files (Type.*.ndjson)", name)
        resources = []
        for file in files:
            resources += resources_from_ndjson(_read(file, str(file)).decode("utf-8", "replace"), str(file))
        return patients_from_resources_checked(resources, name, now=now, order=order)
    data = sys.stdin.buffer.read() if name == "<stdin>" else _read(path, name)
    return parse_fhir(data, name, now=now, order=order)


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", name) from None


def parse_fhir(data: bytes, name: str, *, now: dt.date | None = None, order: str | dict | None = None) -> list[PatientData]:
    """FHIR JSON or NDJSON bytes -> one PatientData per patient of the record."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8: {exc}", name) from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise InputError(f"JSON nested more than {sys.getrecursionlimit()} levels deep; refused", name) from None
    except ValueError as exc:
        if text.lstrip().startswith("{") and "\n" in text.strip():
            return patients_from_resources_checked(resources_from_ndjson(text, name), name, now=now, order=order)
        raise InputError(f"not valid JSON: {exc}", name, getattr(exc, "lineno", None)) from None
    return patients_from_resources_checked(resources_from_json(document, name), name, now=now, order=order)


def patients_from_resources(resources: list[dict], name: str, *, now: dt.date | None = None,
                            order: str | dict | None = None) -> list[PatientData]:
    """FHIR resources (JSON objects, already parsed: a CDS Hooks prefetch, say) -> one PatientData per patient.

    ``order`` is the order being decided: a code (LOINC:80852-7, 80852-7, RPID:RPID1933, CPT:76882), our IRI
    (acrkb:proc-us-axilla or in full), or a ServiceRequest (a CDS Hooks draft order). Without one, the latest
    draft or active ServiceRequest of the record is the order.
    """
    # read as one JSON array: each resource is named by its own place ([3], [5].entry[2]), unique in the list
    return patients_from_resources_checked(resources_from_json(list(resources), name), name, now=now, order=order)


def patients_from_resources_checked(resources: list[Resource], name: str, *, now: dt.date | None,
                                    order: str | dict | None) -> list[PatientData]:
    resources = _distinct(resources, name)
    targets = reference_targets(resources)
    groups: dict[str, list[Resource]] = {}
    shared, foreign = [], []
    for resource in resources:
        owner = _owner(resource, targets)
        (foreign if owner is FOREIGN else groups.setdefault(owner, []) if owner else shared).append(resource)
    if not groups:
        raise InputError("the record holds no patient: no Patient resource and no resource with a subject or patient", name)
    # In a record of several patients, a clinical resource that names none of them belongs to none: it is
    # left out, never given to all. Resources without a patient of their own (a Medication) stay shared.
    orphans = [r for r in shared if r.type in PATIENT_FACTS] if len(groups) > 1 else []
    shared = [r for r in shared if r not in orphans]
    answers = []
    for owner, own in groups.items():
        notes = []
        if foreign:
            notes.append(f"{len(foreign)} resource{'s' if len(foreign) != 1 else ''} of this record name{'s' if len(foreign) == 1 else ''} "
                         f"a subject that is no Patient of the record ({_listed(foreign)}): left out, as "
                         f"{'they' if len(foreign) != 1 else 'it'} may be another person's")
        if orphans:
            notes.append(f"{len(orphans)} resource{'s' if len(orphans) != 1 else ''} of this record name no patient "
                         f"({_listed(orphans)}): left out, as they may be any patient's")
        given = None
        if order is not None:
            # The order given is the one judged. The record's other ServiceRequests stay what they are: an
            # order or plan for a therapy says that more of it may follow, one for an operation that it is
            # still to come (they were dropped, and a planned course read as completed).
            given = _order_request(order, owner, now, name)
            own = [r for r in own if r.iri != given.iri]
            requests = [r for r in own if r.type == "ServiceRequest"]
            if requests:
                notes.append(f"the order given is the one judged; the record's {len(requests)} ServiceRequest"
                             f"{'s' if len(requests) != 1 else ''} ({_listed(requests)}) "
                             f"{'are' if len(requests) != 1 else 'is'} read with the rest of the record, not as the order")
            own = own + [given]
            targets = dict(targets, **{f"ServiceRequest/{given.data['id']}": given.iri})
        when = now or _order_day([given] if given else own) or dt.date.today()
        patient_id = owner.removeprefix("urn:fhir:Patient/")
        source = name if len(groups) == 1 else f"{name}#Patient/{patient_id}"
        base = f"urn:acr-kg:fhir-patient:{quote(patient_id, safe='')}/"
        quads, warnings = map_patient(own + shared, targets, base, when, source, order=given.iri if given else None)
        warnings = [Issue("warning", note, base + "order") for note in notes] + warnings
        answers.append(PatientData(source, quads, warnings))
    return answers


def _distinct(resources: list[Resource], name: str) -> list[Resource]:
    """One resource per Type/id. A repeat with the same content (a search that also includes it) is
    dropped; two versions that differ (a history bundle, say) are refused: merged, they would state old
    and corrected values of one observation at once."""
    seen: dict[str, Resource] = {}
    for resource in resources:
        first = seen.setdefault(resource.iri, resource)
        if first is not resource and first.data != resource.data:
            raise InputError(f"{first.where} and {resource.where} are both {resource.iri.removeprefix('urn:fhir:')} "
                             "with different content; give one version of each resource", name)
    return list(seen.values())


# Resource types that state facts about one patient: without a patient reference, they are nobody's.
PATIENT_FACTS = frozenset({"Condition", "Observation", "Procedure", "DiagnosticReport", "ImagingStudy", "ServiceRequest",
                           "MedicationAdministration", "MedicationStatement", "MedicationRequest"})


# Stands for the owner of a resource whose subject or patient is no Patient the record can name.
FOREIGN = "\x00foreign\x00"
_PATIENT_TAIL = re.compile(r"(?:^|/)(Patient/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$")


def _owner(resource: Resource, targets: dict[str, str]) -> str | None:
    """The IRI of the Patient the resource is about (one the record holds, or named Patient/id, relative
    or absolute); None when it names no patient (a Medication); FOREIGN when its subject or patient
    reference points elsewhere: a Group, or a resource the record does not hold (an urn:uuid of another
    bundle). Given to this record's patient, such a resource may state another person's facts (another
    patient's mastectomy made the seed patient one after surgery)."""
    if resource.type == "Patient":
        return resource.iri
    named = False
    for key in ("subject", "patient"):
        reference = (resource.data.get(key) or {}).get("reference") if isinstance(resource.data.get(key), dict) else None
        if isinstance(reference, str):
            named = True
            target = resolve(reference, targets)
            if target is None and (tail := _PATIENT_TAIL.search(reference)):
                target = f"urn:fhir:{tail.group(1)}"
            if target and target.startswith("urn:fhir:Patient/"):
                return target
    return FOREIGN if named else None


def _listed(resources: list[Resource]) -> str:
    names = sorted(r.iri.removeprefix("urn:fhir:") for r in resources)
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _order_day(resources: list[Resource]) -> dt.date | None:
    """The day of the latest draft or active ServiceRequest: the default evaluation date, as for Turtle input."""
    days = []
    for r in resources:
        if r.type == "ServiceRequest" and r.data.get("status") in ("draft", "active"):
            when = str(r.data.get("authoredOn") or r.data.get("occurrenceDateTime") or "")
            try:
                days.append(dt.date.fromisoformat(when[:10]))
            except ValueError:
                continue
    return max(days, default=None)


def _order_request(order: str | dict, owner: str, now: dt.date | None, name: str) -> Resource:
    """The order given on the command line or by a CDS Hooks call, as a draft ServiceRequest of the patient."""
    if isinstance(order, dict):
        data = dict(order)
        if data.get("resourceType") != "ServiceRequest":
            raise InputError(f"the order must be a ServiceRequest, not {data.get('resourceType')!r}", name)
        data.setdefault("id", "given-order")
        data.setdefault("status", "draft")
        if now and "authoredOn" not in data:
            data["authoredOn"] = now.isoformat()
    else:
        system, code = _order_code(order, name)
        data = {"resourceType": "ServiceRequest", "id": "given-order", "status": "draft", "intent": "order",
                "code": {"coding": [{"system": system, "code": code}]}, "authoredOn": (now or dt.date.today()).isoformat()}
    data["subject"] = {"reference": owner.removeprefix("urn:fhir:")}
    resources = resources_from_json(data, f"{name} (order)")
    return resources[0]


def _order_code(order: str, name: str) -> tuple[str, str]:
    text = order.strip()
    if text.startswith(_OUR_KB):
        return _OUR_KB, text.removeprefix(_OUR_KB)
    prefix, _, rest = text.partition(":")
    if rest and prefix.upper() == "ACRKB":
        return _OUR_KB, rest
    if rest and prefix.upper() in ORDER_SYSTEMS:
        return BY_PREFIX[prefix.upper()].uri, rest
    if _LOINC.match(text):
        return BY_PREFIX["LOINC"].uri, text
    if re.fullmatch(r"RPID\d+", text, re.IGNORECASE):
        return BY_PREFIX["RPID"].uri, text.upper()
    if re.fullmatch(r"\d{5}", text):
        return BY_PREFIX["CPT"].uri, text
    raise InputError(f"--order {order!r} is not a code this reader knows: give LOINC:CODE (or a bare LOINC code), "
                     "RPID:RPIDnnnn, CPT:nnnnn, SNOMED:CODE, or our IRI (acrkb:proc-... or in full)", name)
