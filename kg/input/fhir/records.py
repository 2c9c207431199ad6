"""FHIR R4 records as lists of resources: a Bundle, a JSON array, one resource, or Bulk Data NDJSON.

What is not FHIR R4 is refused with what was found, never guessed at: a resource type that R4 does not
have (DSTU2's MedicationOrder, say), or a resource the mapping reads whose elements (those a query reads,
and those R4 requires) do not fit the R4 model. The models are fhir.resources' R4B ones: the package
ships none for R4 itself, R4B is a minor revision of R4, and every R4 record among the fixtures (Synthea, mCODE STU4, Bulk Data) passes them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from urllib.parse import quote

from kg import queries
from kg.errors import InputError

FHIR = "http://hl7.org/fhir/"

# The resource types the mapping reads (queries/fhir/*.rq); only they are checked against the R4 model,
# which keeps a 3 MB record of claims and encounters fast to read.
MAPPED = frozenset({"Patient", "Condition", "Observation", "Procedure", "MedicationRequest", "MedicationAdministration",
                    "MedicationStatement", "Medication", "ImagingStudy", "DiagnosticReport", "ServiceRequest"})
# Resources that belong to no patient and that the mapping reads (by reference: contained, or shared by many
# patients' orders in a Bulk Data export), and the resources that name a drug by one.
SHARED = frozenset({"Medication"})
MEDICATION_USES = frozenset({"MedicationRequest", "MedicationAdministration", "MedicationStatement"})
BUNDLE_TYPES = frozenset({"collection", "transaction", "searchset", "document", "batch", "history",
                          "transaction-response", "batch-response", "message"})


@dataclass(frozen=True)
class Resource:
    """One resource, with where it was found (for messages) and the keys references to it may use."""

    data: dict
    where: str
    full_url: str | None = None

    @property
    def type(self) -> str:
        return self.data["resourceType"]

    @property
    def iri(self) -> str:
        # A resource without an id (a Bundle entry known by its fullUrl) is named by its place, written so
        # that the name is an IRI: one with brackets or spaces would be dropped from the RDF view unseen.
        return f"urn:fhir:{self.type}/{self.data.get('id') or _place(self.where)}"


def _place(where: str) -> str:
    return quote(where.replace("[", "(").replace("]", ")"), safe="()/.-_~:@!$&'*+,;=")


def drug_reference(resource: dict) -> str | None:
    """The reference by which a medication given, ordered or stated names its drug (medicationReference)."""
    if resource.get("resourceType") not in MEDICATION_USES:
        return None
    reference = resource.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    return target if isinstance(target, str) else None


@cache
def named_iris() -> frozenset[str]:
    """Every IRI the mapping's queries (queries/fhir/, queries/internal/fhir/) write. None of them reads
    through a variable predicate or a negated path (tests/test_fhir_view.py checks it), so a fact whose
    predicate is not among these could change no answer."""
    return frozenset().union(*(queries.written_iris(q.text) for folder in ("fhir", "internal/fhir") for q in queries.in_folder(folder)))


@cache
def read_elements() -> frozenset[str]:
    """The FHIR element names the mapping's queries write as fhir: terms (``named_iris``): the other
    elements of a record are left out of its RDF view, which halves a Synthea record's view (a store takes
    some 2 us a quad)."""
    return frozenset(iri.removeprefix(FHIR) for iri in named_iris() if iri.startswith(FHIR))


def _check_r4(resource: Resource, source: str) -> None:
    kind = resource.type
    if not isinstance(kind, str) or not _is_resource_type(kind):
        raise InputError(f"{resource.where}: resourceType {kind!r} is not a FHIR R4 resource type; the record looks like "
                         f"another FHIR version{_profile_hint(resource.data)} and is refused, not guessed at", source)
    if kind not in MAPPED:
        return
    problem = _r4_problem(json.dumps(_checked_part(resource.data), sort_keys=True, separators=(",", ":")))
    if problem:
        raise InputError(f"{resource.where} ({kind}/{resource.data.get('id', '?')}): {problem}; not a valid FHIR R4 "
                         f"{kind}{_profile_hint(resource.data)}", source)


def _checked_part(data: dict) -> dict:
    """The resource with the elements the R4 model is asked about: those the mapping reads, those the
    model requires, and the resources it contains (a drug may be one). An element no query reads cannot
    change an answer, and checking a resource costs in proportion to its content: a Synthea record's
    narrative, meta, encounter and location links doubled the time to read it."""
    kept = read_elements() | _required_elements(data["resourceType"])
    return {key: value for key, value in data.items() if key.removeprefix("_") in kept}


@cache
def _required_elements(kind: str) -> frozenset[str]:
    """The JSON names of the elements the R4 model of this type requires (one of a choice such as
    medication[x] keeps all its forms), with resourceType, id and contained."""
    from fhir.resources.R4B import get_fhir_model_class

    fields = get_fhir_model_class(kind).model_fields
    extra = {name: field.json_schema_extra or {} for name, field in fields.items()}
    choices = {info["one_of_many"] for info in extra.values() if info.get("one_of_many_required")}
    return frozenset({"resourceType", "id", "contained"} | {
        field.alias or name for name, field in fields.items()
        if field.is_required() or extra[name].get("element_required") or extra[name].get("one_of_many") in choices})


@lru_cache(maxsize=8192)
def _r4_problem(text: str) -> str | None:
    """The first problem the R4 model finds in a resource, or None. Kept by content: an EHR sends the same
    resources again and again (order-select, then order-sign; each prefetch of one chart), and checking a
    resource against its pydantic model costs far more than writing it as JSON."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    data = json.loads(text)
    try:
        get_fhir_model_class(data["resourceType"]).model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return f"{field}: {first['msg']} ({exc.error_count()} problem{'s' if exc.error_count() != 1 else ''} in all)"
    return None


def load_r4_models() -> None:
    """Import the R4 models of the resource types the mapping reads, ahead of the first record (a
    service calls this at start, so that its first calls do not wait a quarter of a second for them)."""
    from fhir.resources.R4B import get_fhir_model_class

    for kind in sorted(MAPPED):
        get_fhir_model_class(kind)


@cache
def _is_resource_type(kind: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource as Base

    try:
        return issubclass(get_fhir_model_class(kind), Base)
    except (ValueError, KeyError):
        return False


def _profile_hint(data: dict) -> str:
    meta = data.get("meta")
    listed = meta.get("profile") if isinstance(meta, dict) else None
    profiles = [p for p in listed if isinstance(p, str)] if isinstance(listed, list) else []
    older = [p for p in profiles if any(tag in p for tag in ("DSTU2", "STU3", "/DSTU", "dstu2", "stu3"))]
    return f" (meta.profile {older[0]})" if older else ""


def _resource(item, where: str, source: str, full_url: str | None = None) -> Resource:
    if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
        raise InputError(f"{where}: not a FHIR resource (a JSON object with a resourceType)", source)
    resource = Resource(item, where, full_url)
    _check_r4(resource, source)
    return resource


def _entries(bundle: dict, where: str, source: str) -> list[Resource]:
    kind = bundle.get("type")
    if not isinstance(kind, str) or kind not in BUNDLE_TYPES:
        raise InputError(f"{where}: Bundle.type {kind!r} is not an R4 bundle type", source)
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InputError(f"{where}.entry: must be a JSON array of entries, not {type(entries).__name__}", source)
    found = []
    for index, entry in enumerate(entries):
        at = f"{where}.entry[{index}]"
        if not isinstance(entry, dict):
            raise InputError(f"{at}: a Bundle entry must be a JSON object", source)
        if not isinstance(entry.get("fullUrl", ""), str):
            raise InputError(f"{at}.fullUrl: must be a string (a URI), not {type(entry['fullUrl']).__name__}", source)
        if "resource" not in entry:
            continue  # a transaction-response entry, or a deletion in a history
        item = entry["resource"]
        if isinstance(item, dict) and item.get("resourceType") == "Bundle":
            found += _entries(item, f"{at}.resource", source)
        else:
            found.append(_resource(item, f"{at}.resource", source, entry.get("fullUrl")))
    return found


def resources_from_json(document, source: str, *, place: str | None = None) -> list[Resource]:
    """The resources of one JSON document: a Bundle, an array of resources, or one resource, each named by
    its place in the document. With ``place``, where the document sits in a larger whole (a prefetch key of
    a hook call, a line of an export), the names start with it, as names are unique only within a document;
    messages of the checks still say where in the document (``source`` says where the document is)."""
    found = _document(document, source)
    if place is None:
        return found
    return [replace(r, where=place if r.where == "resource" else f"{place}.{r.where}") for r in found]


def _document(document, source: str) -> list[Resource]:
    if isinstance(document, list):
        found = []
        for index, item in enumerate(document):
            if isinstance(item, dict) and item.get("resourceType") == "Bundle":
                found += _entries(item, f"[{index}]", source)
            else:
                found.append(_resource(item, f"[{index}]", source))
        return found
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        return _entries(document, "Bundle", source)
    return [_resource(document, "resource", source)]


def resources_from_ndjson(text: str, source: str) -> list[Resource]:
    """Bulk Data NDJSON: one resource a line (blank lines allowed)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise InputError(f"not valid NDJSON: {exc}", source, number) from None
        # the file's name in the place: the files of one export each have a line 2
        found.append(_resource(item, f"{Path(source).name} line {number}", f"{source}:{number}"))
    return found


def looks_like_fhir(data: bytes) -> bool:
    """JSON whose first object has a resourceType (one resource, a Bundle, an array of them, NDJSON)."""
    text = data.lstrip()
    head = text[:4096]
    if head[:1] not in (b"{", b"["):
        return False
    if b'"@context"' in head:
        return False
    if b'"resourceType"' in head:
        return True
    # JSON whose keys come in another order (a Bundle with its entries first, say): read it to decide
    try:
        document = json.loads(text)
    except RecursionError:
        return False  # the JSON-LD reader refuses it with the reason
    except ValueError:
        try:
            document = json.loads(text.split(b"\n", 1)[0])  # NDJSON: its first line
        except (ValueError, RecursionError):
            return False
    first = document[0] if isinstance(document, list) and document else document
    return isinstance(first, dict) and "resourceType" in first and "@context" not in first
