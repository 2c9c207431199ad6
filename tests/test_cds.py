"""The CDS Hooks service over real HTTP: uvicorn on 127.0.0.1 (a fresh port per server), httpx as the
EHR, a small FHIR server on 127.0.0.1 serving the seed patient, EC keys made here for the JWTs, SQLite."""
from __future__ import annotations

import base64
import dataclasses
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from kg.cds.app import create_app
from kg.cds.models import Card, FeedbackRequest, HookResponse, OrderContext
from kg.cds.prefetch import PREFETCH
from kg.cds.service import HookService
from kg.cds.settings import Settings
from kg.cli import main
from kg.errors import UsageError
from locations import FIXTURES

DATA = Path(__file__).parent / "data" / "cds"
SPEC = FIXTURES / "cds-hooks"
PAMA = "http://fhir.org/argonaut/Extension/pama-rating"
ISSUER = "https://ehr.example.org"
FHIR_TOKEN = "opaque-fhir-token"

needs_fhir_reader = pytest.mark.skipif(
    not (Path(__file__).parents[1] / "kg" / "input" / "fhir" / "__init__.py").exists(),
    reason="the FHIR reader (kg/input/fhir) is not in the tree yet")


# --- servers --------------------------------------------------------------------------------------

def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Uvicorn:
    """The app under uvicorn in a thread, on a port of its own; ``make_app`` gets the server's URL (the
    public URL JWT audiences are checked against)."""

    def __init__(self, make_app: Callable[[str], Any]):
        self.sock = _free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.app = make_app(self.url)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _seed_resources() -> dict[str, dict | None]:
    record = json.loads((DATA / "seed-patient-prefetch.json").read_text())["prefetch"]
    record.setdefault("medicationStatements", None)  # the file predates the key; the seed states no medication
    return record


def _stated() -> dict[str, Any]:
    return json.loads((DATA / "seed-patient-medication-statements.json").read_text())


def _stated_record(*, include_medications: bool) -> dict[str, dict | None]:
    """The seed record with its chemotherapy told only as MedicationStatements (no administrations, no
    orders); with ``include_medications``, the referenced Medication comes along, as some EHRs send it."""
    stated = _stated()
    statements = stated["medicationStatements"]
    if include_medications:
        statements["entry"] += [{"resource": m, "search": {"mode": "include"}} for m in stated["medications"].values()]
    return _seed_resources() | {"medicationAdministrations": None, "medicationRequests": None,
                                "medicationStatements": statements}


EMPTY_SEARCH = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}


class FhirHandler(BaseHTTPRequestHandler):
    """A read-only FHIR server of the seed patient: Patient/seed, Medication reads and type searches by
    patient, the observations in two pages; 401 without the bearer token. Under /fhir the seed record,
    under /fhir-stated the record of _stated_record (its Medication only to be read by id)."""

    requests: list[tuple[str, str]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        FhirHandler.requests.append((self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != f"Bearer {FHIR_TOKEN}":
            return self._send(401, {"resourceType": "OperationOutcome"})
        parts = urlsplit(self.path)
        root, _, path = parts.path.strip("/").partition("/")
        query = parse_qs(parts.query)
        records = {"fhir": _seed_resources, "fhir-stated": lambda: _stated_record(include_medications=False)}
        if root not in records:
            return self._send(404, {"resourceType": "OperationOutcome"})
        record = records[root]()
        if path == "Patient/seed":
            return self._send(200, record["patient"])
        if path.startswith("Medication/") and path.removeprefix("Medication/") in _stated()["medications"]:
            return self._send(200, _stated()["medications"][path.removeprefix("Medication/")])
        key = next((k for k, template in PREFETCH.items() if template.split("?")[0] == path), None)
        if key is None or query.get("patient") != ["seed"]:
            return self._send(404, {"resourceType": "OperationOutcome"})
        bundle = record[key] or EMPTY_SEARCH
        if key == "observations":  # two pages, joined by a "next" link
            page = int(query.get("page", ["1"])[0])
            entries = bundle["entry"][:2] if page == 1 else bundle["entry"][2:]
            bundle = dict(bundle, entry=entries)
            if page == 1:
                next_page = f"{self.server.origin}/{root}/Observation?patient=seed&page=2"
                bundle["link"] = [{"relation": "next", "url": next_page}]
        return self._send(200, bundle)

    def _send(self, status: int, document: dict):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def fhir_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FhirHandler)
    server.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{server.origin}/fhir"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def keys():
    """The EHR's signing key and its JWK set, and a key of nobody's."""
    private = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return private, {"keys": [public | {"kid": "ehr-1", "alg": "ES384", "use": "sig"}]}, ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def secure(tmp_path_factory, keys):
    database = tmp_path_factory.mktemp("cds") / "log.sqlite3"
    settings = Settings(issuers={ISSUER: keys[1]}, database=database)
    with Uvicorn(lambda url: create_app(dataclasses.replace(settings, public_url=url))) as server:
        yield server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """JWT checks off (the development switch), PAMA actions also under `extension`, a G-code, a small body limit."""
    settings = Settings(verify_jwt=False, database=tmp_path_factory.mktemp("cds") / "log.sqlite3",
                        extension_system_actions=True, gcode="G1234", max_body_bytes=256 * 1024)
    with Uvicorn(lambda url: create_app(settings)) as server:
        yield server


def token(private, url: str, **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())} | changes
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, private, algorithm="ES384", headers={"kid": "ehr-1", "typ": "JWT"})


# --- requests -------------------------------------------------------------------------------------

def orders(*names: str) -> dict:
    drafts = json.loads((DATA / "seed-patient-draft-orders.json").read_text())["orders"]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": drafts[n]} for n in names]}


def hook_request(*names: str, hook: str = "order-select", prefetch: dict | None = None, **fields) -> dict:
    request = {"hook": hook, "hookInstance": str(uuid.uuid4()),
               "context": {"userId": "Practitioner/example", "patientId": "seed", "draftOrders": orders(*names)},
               "prefetch": _seed_resources() if prefetch is None else prefetch}
    if hook == "order-select":
        request["context"]["selections"] = [f"ServiceRequest/{e['resource']['id']}" for e in request["context"]["draftOrders"]["entry"]]
    return request | fields


def post(server, path: str, document, **kwargs) -> httpx.Response:
    content = document if isinstance(document, (bytes, str)) else json.dumps(document)
    return httpx.post(server.url + path, content=content, headers={"Content-Type": "application/json"} | kwargs.pop("headers", {}),
                      timeout=60, **kwargs)


def rating_of(resource: dict) -> list[dict]:
    return next(e["valueCodeableConcept"]["coding"] for e in resource["extension"] if e["url"] == PAMA)


def extension(resource: dict, name: str):
    found = [e for e in resource.get("extension", []) if e["url"] == f"http://fhir.org/argonaut/Extension/{name}"]
    return next(v for k, v in found[0].items() if k != "url") if found else None


# --- discovery ------------------------------------------------------------------------------------

def test_discovery_lists_both_order_hooks_with_prefetch_templates(open_server):
    response = httpx.get(open_server.url + "/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"order-select", "order-sign"}
    for service in services.values():
        assert service["description"]
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        kinds = {template.split("?")[0].split("/")[0] for template in service["prefetch"].values()}
        assert {"Patient", "Condition", "Observation", "Procedure", "MedicationAdministration", "MedicationStatement",
                "MedicationRequest", "ImagingStudy"} <= kinds


def test_development_switch_is_loud(open_server):
    assert "disabled" in httpx.get(open_server.url + "/cds-services").headers["X-Acr-Kg-Warning"]


def test_cors_preflight_for_browser_based_ehrs(open_server):
    response = httpx.options(open_server.url + "/cds-services/order-select", headers={
        "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://ehr.example.org")
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


# --- the CDS Hooks examples -----------------------------------------------------------------------

@pytest.mark.skipif(not SPEC.is_dir(), reason="shared CDS Hooks fixtures are absent")
@pytest.mark.parametrize("name", ["spec-order-select-example-r4.json", "spec-order-sign-example-r4.json",
                                  "spec-order-select-example-stu3.json", "spec-order-sign-example-stu3.json",
                                  "pama-scenario-01-outbound-request.json", "pama-scenario-02-outbound-request.json"])
def test_spec_request_contexts_parse(name):
    context = OrderContext.model_validate(json.loads((SPEC / name).read_text())["context"])
    assert context.draft_resources()


@pytest.mark.skipif(not SPEC.is_dir(), reason="shared CDS Hooks fixtures are absent")
@pytest.mark.parametrize("name", ["spec-response-example-cards.json", "spec-response-systemActions.json",
                                  "pama-scenario-01-rating-response.json", "pama-scenario-02-suggestion-response.json",
                                  "pama-scenario-03-app-launch-response.json"])
def test_spec_responses_parse_as_our_response_model(name):
    HookResponse.model_validate(json.loads((SPEC / name).read_text()))


@pytest.mark.skipif(not SPEC.is_dir(), reason="shared CDS Hooks fixtures are absent")
@pytest.mark.parametrize("name,hook", [("spec-order-select-example-r4.json", "order-select"),
                                       ("spec-order-sign-example-r4.json", "order-sign")])
def test_spec_examples_without_imaging_orders_get_no_cards(open_server, name, hook):
    """The specification's examples order a diet and a medication: nothing of ours to rate."""
    request = {"hook": hook, "hookInstance": str(uuid.uuid4())} | json.loads((SPEC / name).read_text())
    response = post(open_server, f"/cds-services/{hook}", request)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


# --- the seed patient as FHIR ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_answers(open_server):
    """One call with three draft orders of the seed patient."""
    response = post(open_server, "/cds-services/order-select", hook_request("us-axilla", "mri-breast", "axillary-biopsy"))
    assert response.status_code == 200, response.text
    return response.json()


@needs_fhir_reader
def test_seed_us_axilla_is_appropriate_without_suggestion(seed_answers):
    card = seed_answers["cards"][0]
    Card.model_validate(card)
    assert card["indicator"] == "info" and len(card["summary"]) < 140
    assert "suggestions" not in card
    assert "235" in card["detail"] and "286" in card["detail"]
    assert "ACR" in card["source"]["label"] and card["source"]["url"].startswith("https://w3id.org/acr-kg/")
    action = next(a for a in seed_answers["systemActions"] if a["resource"]["id"] == "seed-us-axilla")
    codes = rating_of(action["resource"])
    assert codes[0] == {"system": "http://fhir.org/argonaut/CodeSystem/pama-rating", "code": "appropriate"}
    assert {"code": "UsuallyAppropriate"}.items() <= codes[1].items() and codes[2]["code"] == "8"
    assert extension(action["resource"], "pama-rating-consult-id").startswith("urn:uuid:")
    assert extension(action["resource"], "pama-rating-auc-applied").startswith("https://w3id.org/acr-kg/kb/variant-")
    assert extension(action["resource"], "pama-rating-qcdsm-consulted") == "G1234"


@needs_fhir_reader
def test_seed_breast_mri_is_not_appropriate_and_suggests_us_axilla(seed_answers):
    card = seed_answers["cards"][1]
    assert card["indicator"] == "warning" and len(card["summary"]) < 140
    assert "Conflict between topics" in card["detail"]
    assert "topic 235 variant 7" in card["detail"] and "topic 286 variant 9" in card["detail"]
    assert "Sources" in card["detail"] and card["overrideReasons"]
    assert all(reason["display"] for reason in card["overrideReasons"])
    [suggestion] = card["suggestions"]
    assert card["selectionBehavior"] == "at-most-one"
    [action] = suggestion["actions"]
    assert action["type"] == "update" and action["resource"]["id"] == "seed-mri-breast"
    assert {"system": "http://loinc.org", "code": "80852-7", "display": "US Axilla"} in action["resource"]["code"]["coding"]
    assert rating_of(action["resource"])[0]["code"] == "appropriate"
    rated = next(a for a in seed_answers["systemActions"] if a["resource"]["id"] == "seed-mri-breast")
    assert rating_of(rated["resource"])[0]["code"] == "not-appropriate"
    assert extension(rated["resource"], "pama-rating-auc-applied") == "https://w3id.org/acr-kg/kb/variant-235-7"
    # The rating changes nothing else on the order.
    draft = orders("mri-breast")["entry"][0]["resource"]
    assert {k: v for k, v in rated["resource"].items() if k != "extension"} == draft


@needs_fhir_reader
def test_pama_actions_also_under_extension_when_asked(seed_answers):
    assert seed_answers["extension"]["systemActions"] == seed_answers["systemActions"]


@needs_fhir_reader
def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_token(open_server, fhir_server):
    FhirHandler.requests.clear()
    partial = {k: v for k, v in _seed_resources().items() if k in ("patient", "conditions")}
    request = hook_request("us-axilla", prefetch=partial, fhirServer=fhir_server, fhirAuthorization={
        "access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "acr-kg"})
    response = post(open_server, "/cds-services/order-select", request)
    assert response.status_code == 200, response.text
    assert rating_of(response.json()["systemActions"][0]["resource"])[0]["code"] == "appropriate"
    paths = [path for path, _ in FhirHandler.requests]
    assert "/fhir/Observation?patient=seed&page=2" in paths  # followed the next link
    assert not any(path.startswith(("/fhir/Patient", "/fhir/Condition")) for path in paths)  # prefetched
    assert {auth for _, auth in FhirHandler.requests} == {f"Bearer {FHIR_TOKEN}"}


def test_missing_prefetch_without_fhir_server_is_412(open_server):
    partial = {k: v for k, v in _seed_resources().items() if k != "observations"}
    response = post(open_server, "/cds-services/order-select", hook_request("us-axilla", prefetch=partial))
    assert response.status_code == 412
    assert "observations" in response.json()["error"]["message"]


def _rating(server, record: dict, **fields) -> tuple:
    """What an order-sign call for the US axilla puts on the order: the rating codes, the variant applied,
    and the card's summary."""
    response = post(server, "/cds-services/order-sign", hook_request("us-axilla", hook="order-sign", prefetch=record, **fields))
    assert response.status_code == 200, response.text
    [action], [card] = response.json()["systemActions"], response.json()["cards"]
    return rating_of(action["resource"]), extension(action["resource"], "pama-rating-auc-applied"), card["summary"]


@needs_fhir_reader
def test_chemotherapy_as_medication_statements_rates_as_the_administrations_do(open_server):
    """The FHIR mapping reads MedicationStatement; a prefetch without it had the chemotherapy vanish and
    wrote no-criteria-apply on the order."""
    seed = _rating(open_server, _seed_resources())
    assert seed[0][0]["code"] == "appropriate" and "235 V7" in seed[2] and "286 V9" in seed[2]
    assert _rating(open_server, _stated_record(include_medications=True)) == seed


@needs_fhir_reader
def test_missing_medication_statements_are_fetched_with_the_medications_they_reference(open_server, fhir_server):
    FhirHandler.requests.clear()
    stated = fhir_server.rsplit("/", 1)[0] + "/fhir-stated"
    record = {k: v for k, v in _stated_record(include_medications=False).items() if k != "medicationStatements"}
    authorization = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read",
                     "subject": "acr-kg"}
    assert _rating(open_server, record, fhirServer=stated, fhirAuthorization=authorization) == \
        _rating(open_server, _seed_resources())
    paths = [path for path, _ in FhirHandler.requests]
    assert paths == ["/fhir-stated/MedicationStatement?patient=seed", "/fhir-stated/Medication/seed-paclitaxel"]


def test_a_referenced_medication_neither_prefetched_nor_fetchable_is_412(open_server):
    response = post(open_server, "/cds-services/order-select",
                    hook_request("us-axilla", prefetch=_stated_record(include_medications=False)))
    assert response.status_code == 412, response.text
    message = response.json()["error"]["message"]
    assert "Medication/seed-paclitaxel" in message and "prefetch.medicationStatements.entry[2]" in message


def test_a_drug_on_another_server_is_not_read_from_the_calls_fhir_server(open_server, fhir_server):
    """An absolute reference to a Medication elsewhere is not read by id from fhirServer, where the same id
    may be another drug: 412, and no read is made."""
    FhirHandler.requests.clear()
    record = _stated_record(include_medications=False)
    statement = record["medicationStatements"]["entry"][2]["resource"]
    statement["medicationReference"] = {"reference": "https://other-ehr.example/fhir/Medication/seed-paclitaxel"}
    authorization = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read",
                     "subject": "acr-kg"}
    response = post(open_server, "/cds-services/order-select", hook_request(
        "us-axilla", prefetch=record, fhirServer=fhir_server.rsplit("/", 1)[0] + "/fhir-stated",
        fhirAuthorization=authorization))
    assert response.status_code == 412, response.text
    assert "another server" in response.json()["error"]["message"] and not FhirHandler.requests


def test_fhir_server_refusing_the_token_is_no_answer(open_server, fhir_server):
    request = hook_request("us-axilla", prefetch={}, fhirServer=fhir_server, fhirAuthorization={
        "access_token": "wrong", "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read", "subject": "acr-kg"})
    response = post(open_server, "/cds-services/order-select", request)
    assert response.status_code == 502
    assert "401" in response.json()["error"]["message"]


@needs_fhir_reader
def test_a_record_without_criteria_gets_no_rating(open_server):
    """Without the therapy orders the record does not say the chemotherapy is over: the treatment phase
    is unknown, so no variant applies yet. The rating is undetermined, so none goes on the order (not even
    no-criteria-apply, which would claim that none could), and the card says which fact is missing."""
    record = _seed_resources()
    record["medicationRequests"] = dict(record["medicationRequests"], entry=[])
    response = post(open_server, "/cds-services/order-sign", hook_request("us-axilla", hook="order-sign", prefetch=record))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning" and "suggestions" not in card
    assert card["summary"].startswith("Cannot rate US axilla yet")
    assert "treatment phase" in card["detail"] and "topic 235, variant 7" in card["detail"]
    assert "systemActions" not in response.json()


@needs_fhir_reader
def test_no_criteria_card_says_why_each_variant_does_not_apply(open_server):
    """Every fact known, no chemotherapy recorded: no variant applies, and the card says for each the first
    criterion the patient does not meet, from the engine's answer."""
    record = _seed_resources() | {"medicationAdministrations": None, "medicationRequests": None}
    response = post(open_server, "/cds-services/order-sign", hook_request("us-axilla", hook="order-sign", prefetch=record))
    assert response.status_code == 200, response.text
    [card], [action] = response.json()["cards"], response.json()["systemActions"]
    assert rating_of(action["resource"])[0]["code"] == "no-criteria-apply"
    assert "Why no variant applies" in card["detail"]
    phase = "treatment phase is after completed neoadjuvant therapy (patient: before neoadjuvant therapy)"
    assert "- ACR topic 235, variant 7 (" in card["detail"] and "- ACR topic 286, variant 9 (" in card["detail"]
    assert card["detail"].count(phase) == 2


@needs_fhir_reader
def test_invalid_record_gets_one_card_listing_the_problems_and_no_rating(open_server):
    record = _seed_resources()
    record["patient"] = dict(record["patient"], birthDate="2027-01-01")  # born after the diagnosis and the order
    response = post(open_server, "/cds-services/order-select", hook_request("us-axilla", prefetch=record))
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning" and "systemActions" not in response.json()
    assert card["summary"].startswith("Cannot rate US axilla") and "\n- " in card["detail"]
    assert "suggestions" not in card


# --- one patient only -----------------------------------------------------------------------------

def test_draft_order_for_another_patient_is_refused(open_server):
    request = hook_request("us-axilla")
    request["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {"reference": "Patient/other"}
    response = post(open_server, "/cds-services/order-select", request)
    assert response.status_code == 400 and "Patient/other" in response.json()["error"]["message"]


def test_prefetch_about_another_patient_is_refused(open_server):
    record = _seed_resources()
    record["observations"]["entry"][0]["resource"]["subject"] = {"reference": "Patient/other"}
    response = post(open_server, "/cds-services/order-select", hook_request("us-axilla", prefetch=record))
    assert response.status_code == 400 and "Patient/other" in response.json()["error"]["message"]


def test_a_malformed_search_entry_in_the_prefetch_is_400_not_500(open_server):
    record = _seed_resources()
    record["observations"]["entry"][0]["search"] = "match"  # must be an object
    response = post(open_server, "/cds-services/order-select", hook_request("us-axilla", prefetch=record))
    assert response.status_code == 400 and "search is not an object" in response.json()["error"]["message"]


def _patient_twice(request: dict) -> None:
    record = request["prefetch"]
    record["conditions"]["entry"].append({"resource": dict(record["patient"], gender="male")})


def _observation_not_r4(request: dict) -> None:
    request["prefetch"]["observations"]["entry"][1]["resource"]["status"] = 5  # a code is a string


def _draft_not_r4(request: dict) -> None:
    request["context"]["draftOrders"]["entry"][0]["resource"]["intent"] = 5


@needs_fhir_reader
@pytest.mark.parametrize("spoil,where", [
    (_patient_twice, "prefetch.patient and prefetch.conditions.entry[1] are both Patient/seed"),
    (_observation_not_r4, "prefetch.observations.entry[1]: resource (Observation/seed-tumor-size): status"),
    (_draft_not_r4, "draftOrders.entry[0]: resource (ServiceRequest/seed-us-axilla): intent"),
])
def test_reader_errors_name_where_in_the_call_the_resource_is(open_server, spoil, where):
    """Each resource used to reach the reader as a list of one, so every message said [0]."""
    request = hook_request("us-axilla")
    spoil(request)
    response = post(open_server, "/cds-services/order-select", request)
    assert response.status_code == 422, response.text
    assert where in response.json()["error"]["message"]


# --- robustness: 4xx with a JSON error, never a rating ---------------------------------------------

def _stu3_order() -> dict:
    request = hook_request("us-axilla")
    resource = request["context"]["draftOrders"]["entry"][0]["resource"]
    resource["resourceType"] = "ProcedureRequest"
    return request


def _deep() -> bytes:
    return b'{"hook": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400),
    (b"[]", 400),
    (_deep(), 400),
    (json.dumps({"hook": "order-select"}), 400),                                   # no context
    (json.dumps(hook_request("us-axilla", hook="patient-view")), 400),              # wrong hook
    (json.dumps(hook_request("us-axilla") | {"context": {"patientId": "seed"}}), 400),
    (json.dumps(hook_request("us-axilla", prefetch=_seed_resources() | {"patient": {"name": "x"}})), 400),
    (json.dumps(_stu3_order()), 422),                                              # not R4
    (b" " * (300 * 1024), 413),                                                    # over the size limit
])
def test_bad_calls_get_a_json_4xx(open_server, body, status):
    response = post(open_server, "/cds-services/order-select", body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


def test_unknown_service_is_404_json(open_server):
    response = post(open_server, "/cds-services/patient-view", hook_request())
    assert response.status_code == 404 and "order-select" in response.json()["error"]["message"]


def test_declared_length_over_the_limit_is_refused_before_reading(open_server):
    with socket.create_connection(("127.0.0.1", int(open_server.url.rsplit(":", 1)[1]))) as conn:
        conn.sendall(b"POST /cds-services/order-select HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999\r\n\r\n{")
        assert b" 413 " in conn.recv(4096).split(b"\r\n")[0] + b" "


# --- trust: the EHR's JWT -------------------------------------------------------------------------

def _call(server, authorization: str | None, path: str = "/cds-services/order-select", headers: dict | None = None):
    headers = (headers or {}) | ({"Authorization": authorization} if authorization else {})
    request = {"hook": "order-select", "hookInstance": str(uuid.uuid4()),
               "context": {"userId": "Practitioner/1", "patientId": "seed",
                           "draftOrders": {"resourceType": "Bundle", "entry": []}}}
    return post(server, path, request, headers=headers)


def test_signed_token_for_this_endpoint_is_accepted(secure, keys):
    url = secure.url + "/cds-services/order-select"
    assert _call(secure, f"Bearer {token(keys[0], url)}").status_code == 200
    assert httpx.get(secure.url + "/cds-services",
                     headers={"Authorization": f"Bearer {token(keys[0], secure.url + '/cds-services')}"}).status_code == 200


def test_audience_may_be_a_list(secure, keys):
    url = secure.url + "/cds-services/order-select"
    assert _call(secure, f"Bearer {token(keys[0], [url])}").status_code == 200


@pytest.mark.parametrize("case", ["missing", "garbage", "unsigned", "hmac", "expired", "wrong-audience",
                                  "other-key", "unknown-issuer", "no-jti", "too-long-lived"])
def test_untrusted_calls_get_401(secure, keys, case):
    private, _, stranger = keys
    url = secure.url + "/cds-services/order-select"
    now = int(time.time())
    authorization = {
        "missing": None,
        "garbage": "Bearer not-a-jwt",
        "unsigned": "Bearer " + jwt.encode({"iss": ISSUER, "aud": url, "iat": now, "exp": now + 60, "jti": "u"},
                                           None, algorithm="none", headers={"kid": "ehr-1"}),
        "hmac": "Bearer " + jwt.encode({"iss": ISSUER, "aud": url, "iat": now, "exp": now + 60, "jti": "h"},
                                       "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "ehr-1"}),
        "expired": f"Bearer {token(private, url, iat=now - 600, exp=now - 300)}",
        "wrong-audience": f"Bearer {token(private, secure.url + '/cds-services/order-sign')}",
        "other-key": f"Bearer {token(stranger, url)}",
        "unknown-issuer": f"Bearer {token(private, url, iss='https://evil.example.org')}",
        "no-jti": f"Bearer {token(private, url, jti=None)}",
        "too-long-lived": f"Bearer {token(private, url, exp=now + 3600)}",
    }[case]
    response = _call(secure, authorization)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_replayed_token_gets_401(secure, keys):
    authorization = f"Bearer {token(keys[0], secure.url + '/cds-services/order-select')}"
    assert _call(secure, authorization).status_code == 200
    response = _call(secure, authorization)
    assert response.status_code == 401 and "replay" in response.json()["error"]["message"]


def test_discovery_needs_a_token_too(secure):
    assert httpx.get(secure.url + "/cds-services").status_code == 401


def test_a_token_for_another_service_with_its_host_header_gets_401(secure, keys):
    """The audience is the configured public URL, never one built from the Host header the caller sends."""
    other = "http://other-cds.example/cds-services/order-select"
    response = _call(secure, f"Bearer {token(keys[0], other)}", headers={"Host": "other-cds.example"})
    assert response.status_code == 401 and "audience" in response.json()["error"]["message"].lower()


def test_jwt_checks_without_a_public_url_refuse_to_start(keys, tmp_path):
    with pytest.raises(UsageError, match="public URL"):
        create_app(Settings(issuers={ISSUER: keys[1]}, database=tmp_path / "log.sqlite3"))


def test_serve_defaults_the_public_url_to_its_address_and_refuses_a_wildcard(keys, tmp_path):
    from kg.cli.serve import bound_url

    assert bound_url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert bound_url("::1", 8080) == "http://[::1]:8080"
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"issuers": {ISSUER: keys[1]}}))
    result = CliRunner().invoke(main, ["serve", "--trust", str(trust), "--host", "0.0.0.0",
                                       "--database", str(tmp_path / "log.sqlite3")])
    assert result.exit_code == 2 and "--public-url" in result.output


def _signed(private, header: dict, claims: dict) -> str:
    """A JWT signed as given, header and claims unchecked (PyJWT's encoder refuses malformed ones)."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384).sign(signing_input.encode(), private)
    return f"{signing_input}.{part(signature)}"


@pytest.mark.parametrize("header,claims", [
    ({}, {"iss": [ISSUER]}),
    ({}, {"iss": {"url": ISSUER}}),
    ({}, {"exp": str(int(time.time()) + 60)}),
    ({}, {"jti": {"id": "x"}}),
    ({}, {"aud": {"url": "x"}}),
    ({"kid": ["ehr-1"]}, {}),
    ({"alg": ["ES384"]}, {}),
    ({}, {"jti": 12345}),
    ({}, {}),
], ids=["iss-array", "iss-object", "exp-string", "jti-object", "aud-object", "kid-array", "alg-array", "jti-number",
        "all-well-typed"])
def test_a_claim_of_the_wrong_json_type_gets_401_not_500(secure, keys, header, claims):
    now = int(time.time())
    url = secure.url + "/cds-services/order-select"
    good = {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    authorization = f"Bearer {_signed(keys[0], {'alg': 'ES384', 'typ': 'JWT', 'kid': 'ehr-1'} | header, good | claims)}"
    response = _call(secure, authorization)
    if not header and not claims:  # the same token built by hand, every claim of its type: accepted
        assert response.status_code != 401, response.text
        return
    assert response.status_code == 401, response.text
    assert response.json()["error"]["message"]


# --- feedback -------------------------------------------------------------------------------------

@needs_fhir_reader
def test_feedback_is_stored_and_read_back(open_server, seed_answers):
    store = open_server.app.state.service.store
    biopsy = seed_answers["cards"][2]
    us = seed_answers["cards"][0]
    feedback = {"feedback": [
        {"card": biopsy["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": biopsy["suggestions"][0]["uuid"]}],
         "outcomeTimestamp": "2026-11-20T10:00:00Z"},
        {"card": us["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:01:00Z",
         "overrideReason": {"reason": {"system": "https://w3id.org/acr-kg/cds/override-reason",
                                       "code": "patient-factors", "display": "Patient factors not captured in the record"},
                            "userComment": "Patient prefers to wait."}}]}
    FeedbackRequest.model_validate(feedback)
    response = post(open_server, "/cds-services/order-select/feedback", feedback)
    assert response.status_code == 200, response.text
    stored = {row["card"]: row for row in store.feedback(service="order-select")}
    accepted, overridden = stored[biopsy["uuid"]], stored[us["uuid"]]
    assert accepted["outcome"] == "accepted" and accepted["rating"] == "not-appropriate"
    assert accepted["accepted_suggestions"] == [{"id": biopsy["suggestions"][0]["uuid"], "label": "Order US axilla instead"}]
    assert accepted["variant"] == "https://w3id.org/acr-kg/kb/variant-235-7"
    assert overridden["reason_code"] == "patient-factors" and overridden["user_comment"] == "Patient prefers to wait."
    consult = extension(seed_answers["systemActions"][2]["resource"], "pama-rating-consult-id")
    assert consult in {row["consult_id"] for row in store.consultations()}


@needs_fhir_reader
@pytest.mark.parametrize("item,status", [
    ({"card": "never-issued", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}, 400),
    ({"card": "x", "outcome": "accepted", "outcomeTimestamp": "2026-11-20T10:00:00Z"}, 400),  # no suggestion named
    ({"card": "x", "outcome": "ignored", "outcomeTimestamp": "2026-11-20T10:00:00Z"}, 400),
    ({"card": "x", "outcome": "overridden"}, 400),  # no timestamp
])
def test_bad_feedback_is_refused_and_nothing_stored(open_server, seed_answers, item, status):
    store = open_server.app.state.service.store
    before = len(store.feedback())
    good = {"card": seed_answers["cards"][0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    response = post(open_server, "/cds-services/order-select/feedback", {"feedback": [good, item]})
    assert response.status_code == status and response.json()["error"]["message"]
    assert len(store.feedback()) == before


@needs_fhir_reader
def test_feedback_for_a_card_of_the_other_service_is_refused(open_server, seed_answers):
    item = {"card": seed_answers["cards"][0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    assert post(open_server, "/cds-services/order-sign/feedback", {"feedback": [item]}).status_code == 400


def test_summary_limit_is_part_of_the_card_model():
    with pytest.raises(ValueError):
        Card.model_validate({"summary": "x" * 140, "indicator": "info", "source": {"label": "s"}})



@needs_fhir_reader
def test_calls_beyond_the_concurrency_limit_wait_their_turn_and_get_the_same_answers(tmp_path):
    settings = Settings(verify_jwt=False, database=tmp_path / "log.sqlite3", concurrent_calls=1)
    with Uvicorn(lambda url: create_app(settings)) as server:
        alone = post(server, "/cds-services/order-select", hook_request("us-axilla", "mri-breast")).json()
        with ThreadPoolExecutor(max_workers=6) as pool:
            together = list(pool.map(lambda _: post(server, "/cds-services/order-select",
                                                    hook_request("us-axilla", "mri-breast")), range(6)))
    assert [r.status_code for r in together] == [200] * 6
    seen = [[(c["indicator"], c["summary"]) for c in r.json()["cards"]] for r in together]
    assert seen == [[(c["indicator"], c["summary"]) for c in alone["cards"]]] * 6


class SlowFhirHandler(FhirHandler):
    """The FHIR server of the seed patient, answering only once the test lets it."""

    entered = threading.Event()
    release = threading.Event()

    def do_GET(self):
        SlowFhirHandler.entered.set()
        SlowFhirHandler.release.wait(30)
        super().do_GET()


@needs_fhir_reader
def test_calls_beyond_the_waiting_bound_get_503_at_once_and_the_service_recovers(tmp_path):
    """Under overload a call is refused with 503 and Retry-After rather than queued until its caller gives up.
    The first call holds the only slot while it fetches from a FHIR server that waits for the test."""
    fhir = ThreadingHTTPServer(("127.0.0.1", 0), SlowFhirHandler)
    fhir.origin = f"http://127.0.0.1:{fhir.server_address[1]}"
    threading.Thread(target=fhir.serve_forever, daemon=True).start()
    authorization = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "user/*.read",
                     "subject": "acr-kg"}
    fetching = hook_request("us-axilla", prefetch={k: v for k, v in _seed_resources().items() if k != "observations"},
                            fhirServer=f"{fhir.origin}/fhir", fhirAuthorization=authorization)
    settings = Settings(verify_jwt=False, database=tmp_path / "log.sqlite3", concurrent_calls=1, max_waiting_calls=0)
    try:
        with Uvicorn(lambda url: create_app(settings)) as server, ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post, server, "/cds-services/order-select", fetching)
            assert SlowFhirHandler.entered.wait(30)  # the first call now holds the slot
            refused = post(server, "/cds-services/order-select", hook_request("us-axilla"))
            SlowFhirHandler.release.set()
            answered, after = first.result(), post(server, "/cds-services/order-select", hook_request("us-axilla"))
    finally:
        SlowFhirHandler.release.set()
        fhir.shutdown()
        fhir.server_close()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert "busy" in refused.json()["error"]["message"] and "cards" not in refused.json()
    assert answered.status_code == after.status_code == 200
    cards = [[(c["indicator"], c["summary"]) for c in r.json()["cards"]] for r in (answered, after)]
    assert cards[0] == cards[1] and cards[0][0][0] == "info"  # US axilla: usually appropriate, as alone


def test_a_concurrency_limit_below_one_is_a_usage_error():
    with pytest.raises(UsageError, match="concurrent calls"):
        Settings(concurrent_calls=0)
    with pytest.raises(UsageError, match="query threads"):
        Settings(query_threads=0)


def test_the_service_engine_uses_the_query_threads_it_is_given(tmp_path):
    for threads in (1, 2):
        service = HookService.create(Settings(verify_jwt=False, database=tmp_path / f"{threads}.sqlite3", query_threads=threads))
        try:
            assert service.engine.side.threads == threads
        finally:
            service.close()
