"""The patient's record for a hook call: the prefetch the EHR sent, and what is missing from it fetched
from the EHR's FHIR server (``fhirServer`` with the bearer token of ``fhirAuthorization``).

The EHR leaves out a prefetch key it chose not to or could not satisfy, and sends null for one that
has no data (CDS Hooks 2.0). A key that is missing must be fetched; without a FHIR server to fetch it
from, the call fails with 412, as the specification says, rather than being answered on part of the record.
Fetches have a timeout, a size limit per response and a page limit per search, follow no redirects and
stay on the FHIR server's origin.

A medication given, ordered or stated may name its drug through a Medication resource
(``medicationReference``). The templates stay within what the specification expects EHRs to support (no
``_include``), so a referenced Medication that the record lacks is read by id from the FHIR server; without
one, the call fails with 412 like a missing key: unread, the drug would be unknown and the therapy unseen.

Every resource keeps where the call put it (``prefetch.KEY.entry[i]``, or the fetch), so that an error
about it names that place.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from kg.cds.models import HookRequest
from kg.cds.settings import Settings
from kg.input.fhir.records import drug_reference

# What the FHIR mapping reads (kg.input.fhir.records.MAPPED but the ServiceRequest, which is the draft
# order, and Medication, read by reference): the patient, the cancer, staging and receptor observations,
# therapy (given, stated and ordered), surgery and other procedures, and earlier imaging.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "imagingStudies": "ImagingStudy?patient={{context.patientId}}",
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
}
_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")
MAX_MEDICATION_READS = 50  # Medications read by id in one call, each one request to the FHIR server
# Medication/id at the end of a reference, relative or absolute (the reader resolves either by Type/id); the
# id as FHIR defines it, so it goes into a read path as it is.
_MEDICATION = re.compile(r"(?:^|/)Medication/([A-Za-z0-9.-]{1,64})$")


@dataclass(frozen=True)
class Found:
    """A resource of the record and where the call put it, for messages about it."""

    where: str
    resource: dict[str, Any]


class PrefetchError(Exception):
    """The record cannot be had; ``status`` is the HTTP answer (412: nowhere to fetch it from, 502: the
    FHIR server failed, 400: it sent something that is not FHIR JSON)."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


def render(template: str, context: dict[str, Any]) -> str:
    """The FHIR query of a template; context values are FHIR ids (checked in kg.cds.models), so they
    go into a path or query as they are."""
    def value(match: re.Match) -> str:
        field = context.get(match.group(1))
        if not isinstance(field, str) or not field:
            raise PrefetchError(400, f"prefetch template {template!r} needs context.{match.group(1)}")
        return field
    return _TOKEN.sub(value, template)


def resources_of(value: dict[str, Any] | None, where: str) -> list[Found]:
    """The resources of one prefetch value or fetched page (``where``): a resource, a Bundle's entries, or
    nothing (null)."""
    if value is None:
        return []
    if not isinstance(value.get("resourceType"), str):
        raise PrefetchError(400, f"{where} is not a FHIR resource (no resourceType)")
    if value["resourceType"] != "Bundle":
        return [Found(where, value)]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise PrefetchError(400, f"{where}.entry is not a list")
    found = []
    for index, entry in enumerate(entries):
        at = f"{where}.entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise PrefetchError(400, f"{at} has no resource")
        search = entry.get("search")
        if search is not None and not isinstance(search, dict):
            raise PrefetchError(400, f"{at}.search is not an object")
        if (search or {}).get("mode") != "outcome":  # an OperationOutcome about the search
            found.append(Found(at, resource))
    return found


def gather(request: HookRequest, settings: Settings) -> list[Found]:
    """Every resource of the patient's record named by our prefetch templates, and the Medications they
    reference, fetched where missing."""
    prefetch = request.prefetch or {}
    missing = [key for key in PREFETCH if key not in prefetch]
    if missing and request.fhirServer is None:
        raise PrefetchError(412, f"prefetch lacks {', '.join(missing)} and the request names no fhirServer "
                                 "to fetch them from")
    found = [item for key in PREFETCH if key in prefetch for item in resources_of(prefetch[key], f"prefetch.{key}")]
    if missing:
        context = request.context.model_dump()
        with _client(request, settings) as client:
            for key in missing:
                found += _fetch(client, render(PREFETCH[key], context), key, settings)
    unread = _unread_medications(found, str(request.fhirServer) if request.fhirServer else None)
    if unread and request.fhirServer is None:
        named = ", ".join(f"{path} ({where})" for path, where in unread.items())
        raise PrefetchError(412, f"the record references {named}, which the prefetch lacks, and the request names "
                                 "no fhirServer to read it from")
    if unread:
        with _client(request, settings) as client:
            for path in unread:
                read = _fetch(client, path, path, settings)
                if [(item.resource.get("resourceType"), item.resource.get("id")) for item in read] != \
                        [tuple(path.split("/"))]:  # anything else would leave the reference unresolved
                    raise PrefetchError(502, f"the FHIR server answered the read of {path} with another resource")
                found += read
    return found


def _unread_medications(found: list[Found], server: str | None) -> dict[str, str]:
    """{Medication/id: where the first reference to it is} for the Medications that medications of the
    record reference and the record lacks (a contained one, ``#id``, is not a read). A reference to another
    server than the call's FHIR server is not read from this one (the same id may be another drug there)."""
    have = {item.resource.get("id") for item in found if item.resource.get("resourceType") == "Medication"}
    unread: dict[str, str] = {}
    for item in found:
        target = drug_reference(item.resource)
        match = _MEDICATION.search(target) if target else None
        if not match or match.group(1) in have:
            continue
        if "://" in target and not (server and target.startswith(server.rstrip("/") + "/")):
            raise PrefetchError(412, f"{item.where} names its drug by {target}, on another server than the call's "
                                     "fhirServer, and the prefetch lacks it: include that Medication in the prefetch")
        unread.setdefault(f"Medication/{match.group(1)}", item.where)
    if len(unread) > MAX_MEDICATION_READS:
        raise PrefetchError(412, f"the record references {len(unread)} Medications that the prefetch lacks; more than "
                                 f"{MAX_MEDICATION_READS} are not read one by one: include them in the prefetch")
    return unread


def _client(request: HookRequest, settings: Settings) -> httpx.Client:
    headers = {"Accept": "application/fhir+json, application/json"}
    if request.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"
    base = str(request.fhirServer).rstrip("/") + "/"
    return httpx.Client(base_url=base, headers=headers, timeout=settings.fhir_timeout, follow_redirects=False)


def _fetch(client: httpx.Client, path: str, key: str, settings: Settings) -> list[Found]:
    origin = urlsplit(str(client.base_url))[:2]
    url: str | None = urljoin(str(client.base_url), path)
    resources, pages = [], 0
    while url is not None:
        if urlsplit(url)[:2] != origin:
            raise PrefetchError(502, f"the FHIR server pointed {key} to another origin ({url}); not followed")
        pages += 1
        if pages > settings.fhir_max_pages:
            raise PrefetchError(502, f"{key}: more than {settings.fhir_max_pages} pages of results")
        document = _get_json(client, url, settings)
        resources += resources_of(document, f"{key} (GET {url})")
        if document.get("resourceType") == "Bundle":
            links = document.get("link") or []
            url = next((link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"),
                       None) if isinstance(links, list) else None
            if url is not None and not isinstance(url, str):
                raise PrefetchError(502, f"the FHIR server answered {key} with a next link that is not a URL")
        else:
            url = None
    return resources


def _get_json(client: httpx.Client, url: str, settings: Settings) -> dict[str, Any]:
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise PrefetchError(502, f"the FHIR server answered {response.status_code} for {url}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > settings.fhir_max_bytes:
                    raise PrefetchError(502, f"the FHIR server's answer for {url} exceeds {settings.fhir_max_bytes} bytes")
    except httpx.HTTPError as exc:
        raise PrefetchError(502, f"the FHIR server could not be read at {url}: {exc}") from None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PrefetchError(502, f"the FHIR server's answer for {url} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PrefetchError(502, f"the FHIR server's answer for {url} is not a FHIR resource")
    return document
