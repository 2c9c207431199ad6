"""The patient's record for a hook call: the prefetch the EHR sent, and what is missing from it fetched
from the EHR's FHIR server (``fhirServer`` with the bearer token of ``fhirAuthorization``).

The EHR leaves out a prefetch key it chose not to or could not satisfy, and sends null for one that
has no data (CDS Hooks 2.0). A key that is missing must be fetched; without a FHIR server to fetch it
from, the call fails with 412, as the specification says, rather than being answered on part of the record.
Fetches have a timeout, a size limit per response and a page limit per search, follow no redirects and
stay on the FHIR server's origin.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from kg.cds.models import HookRequest
from kg.cds.settings import Settings

# What the FHIR mapping reads (kg.input.fhir): the patient, the cancer, staging and receptor
# observations, therapy (given and ordered), surgery and other procedures, and earlier imaging.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "imagingStudies": "ImagingStudy?patient={{context.patientId}}",
    "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}",
}
_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


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


def resources_of(value: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    """The resources of one prefetch value: a resource, a Bundle's entries, or nothing (null)."""
    if value is None:
        return []
    if not isinstance(value.get("resourceType"), str):
        raise PrefetchError(400, f"prefetch.{key} is not a FHIR resource (no resourceType)")
    if value["resourceType"] != "Bundle":
        return [value]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise PrefetchError(400, f"prefetch.{key}.entry is not a list")
    found = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise PrefetchError(400, f"prefetch.{key}.entry[{index}] has no resource")
        search = entry.get("search")
        if search is not None and not isinstance(search, dict):
            raise PrefetchError(400, f"prefetch.{key}.entry[{index}].search is not an object")
        if (search or {}).get("mode") != "outcome":  # an OperationOutcome about the search
            found.append(resource)
    return found


def gather(request: HookRequest, settings: Settings) -> list[dict[str, Any]]:
    """Every resource of the patient's record named by our prefetch templates, fetched where missing."""
    prefetch = request.prefetch or {}
    missing = [key for key in PREFETCH if key not in prefetch]
    if missing and request.fhirServer is None:
        raise PrefetchError(412, f"prefetch lacks {', '.join(missing)} and the request names no fhirServer "
                                 "to fetch them from")
    resources = []
    for key in PREFETCH:
        if key in prefetch:
            resources += resources_of(prefetch[key], key)
    if missing:
        context = request.context.model_dump()
        with _client(request, settings) as client:
            for key in missing:
                resources += _fetch(client, render(PREFETCH[key], context), key, settings)
    return resources


def _client(request: HookRequest, settings: Settings) -> httpx.Client:
    headers = {"Accept": "application/fhir+json, application/json"}
    if request.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"
    base = str(request.fhirServer).rstrip("/") + "/"
    return httpx.Client(base_url=base, headers=headers, timeout=settings.fhir_timeout, follow_redirects=False)


def _fetch(client: httpx.Client, path: str, key: str, settings: Settings) -> list[dict[str, Any]]:
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
        if document.get("resourceType") == "Bundle":
            links = document.get("link") or []
            url = next((link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "next"),
                       None) if isinstance(links, list) else None
            if url is not None and not isinstance(url, str):
                raise PrefetchError(502, f"the FHIR server answered {key} with a next link that is not a URL")
        else:
            url = None
        resources += resources_of(document, key)
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
