"""FHIR code systems: an order coded in RadLex Playbook under the URI HL7 Terminology gives RadLex
(http://radlex.org, kg.input.fhir.systems) is read as our procedure, and a suggested order carries that code.

The seed patient's record is the CDS prefetch of tests/data/cds (no third-party fixture needed).
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from kg.cds.service import procedure_codings
from kg.input.fhir import patients_from_resources
from kg.input.fhir.systems import BY_PREFIX, CODE_SYSTEMS, system_name
from kg.terms import ACR, ACRKB
from locations import ROOT

NOW = dt.date(2026, 11, 20)
MRI_BREAST = ACRKB + "proc-mri-breast-wo-w"  # skos:exactMatch Playbook RPID572 (ontology/kb/mappings.ttl)


def _record() -> list[dict]:
    prefetch = json.loads((ROOT / "tests" / "data" / "cds" / "seed-patient-prefetch.json").read_text())["prefetch"]
    return [value for value in prefetch.values() if value]


def _ordered(order) -> list[str]:
    [data] = patients_from_resources(_record(), "seed.json", now=NOW, order=order)
    return [q.object.value for q in data.quads if q.predicate.value == ACR + "orderedProcedure"]


def test_a_service_request_coded_in_radlex_playbook_is_our_procedure():
    request = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "authoredOn": NOW.isoformat(),
               "code": {"coding": [{"system": "http://radlex.org", "code": "RPID572"}]}}
    assert _ordered(request) == [MRI_BREAST]


@pytest.mark.parametrize("order", ["RPID:RPID572", "RPID572", "rpid:RPID572"])
def test_a_playbook_order_on_the_command_line_is_our_procedure(order):
    assert _ordered(order) == [MRI_BREAST]


def test_an_unknown_system_is_named_by_its_uri_and_a_known_one_by_its_name():
    assert system_name("http://radlex.org") == "RadLex Playbook"
    assert system_name("urn:oid:1.2.3") == "urn:oid:1.2.3"


def test_one_entry_per_prefix_and_per_uri():
    assert len({s.prefix for s in CODE_SYSTEMS}) == len({s.uri for s in CODE_SYSTEMS}) == len(CODE_SYSTEMS)


def test_a_suggested_order_carries_the_exact_playbook_code():
    assert {"system": BY_PREFIX["RPID"].uri, "code": "RPID572"} in [
        {k: v for k, v in coding.items() if k != "display"} for coding in procedure_codings()[MRI_BREAST]]
