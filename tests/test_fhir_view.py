"""The RDF view of a FHIR record holds only the elements the mapping's queries name (kg.input.fhir.mapping.
read_elements), and the knowledge beside it only the facts whose predicate they name. That is safe because
no query reads through a variable predicate or a negated path; and on every record at hand the patient
graph and the warnings are those of the whole view and the whole knowledge."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from rdflib.paths import AlternativePath, InvPath, MulPath, NegatedPath, SequencePath
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Variable

import kg.input.fhir.mapping as mapping
from kg import queries
from kg.input.fhir import patients_from_resources, read_fhir
from locations import FIXTURES, ROOT

FOLDERS = ("fhir", "internal/fhir")
NOW = dt.date(2026, 11, 20)


def _open_predicates(node, found: list) -> None:
    """Triple patterns whose predicate may be any term: a variable, or a path with a negated set."""
    if isinstance(node, CompValue):
        for key, value in node.items():
            if key == "template":  # what a CONSTRUCT writes is no read
                continue
            if key == "triples" and isinstance(value, list):
                found += [t for t in value if len(t) == 3 and (isinstance(t[1], Variable) or _negated(t[1]))]
            _open_predicates(value, found)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _open_predicates(item, found)


def _negated(path) -> bool:
    if isinstance(path, NegatedPath):
        return True
    if isinstance(path, (SequencePath, AlternativePath)):
        return any(map(_negated, path.args))
    if isinstance(path, MulPath):
        return _negated(path.path)
    if isinstance(path, InvPath):
        return _negated(path.arg)
    return False


def _algebra(text: str):
    bound = text.replace("$base", '"urn:x:"').replace("$now", '"2020-01-01"^^<http://www.w3.org/2001/XMLSchema#date>')
    return prepareQuery(bound).algebra


@pytest.mark.parametrize("query", [q for folder in FOLDERS for q in queries.in_folder(folder)], ids=lambda q: q.name)
def test_no_mapping_query_reads_a_predicate_it_does_not_name(query):
    found: list = []
    _open_predicates(_algebra(query.text), found)
    assert found == []


def test_a_folder_holds_its_own_queries_only():
    assert {q.name for q in queries.in_folder("fhir")} >= {"fhir/order", "fhir/codings"}
    assert all(q.name.count("/") == 1 for q in queries.in_folder("fhir"))  # not internal/fhir's
    assert queries.in_folder("derive-case") == []  # a top-level query is in no folder


def test_the_check_sees_a_variable_or_a_negated_predicate():
    for text in ("SELECT * WHERE { ?s ?p ?o }", "ASK { FILTER EXISTS { ?s <urn:a>/!<urn:b> ?o } }",
                 "SELECT * WHERE { { SELECT ?s WHERE { ?s ?p 1 } } }"):
        found: list = []
        _open_predicates(_algebra(text), found)
        assert found, text
    found = []
    _open_predicates(_algebra("CONSTRUCT { ?s ?p ?o } WHERE { ?s <urn:a> ?o BIND(<urn:b> AS ?p) }"), found)
    assert found == []


def test_elements_named_by_the_queries_are_kept_and_others_left_out():
    elements = mapping.read_elements()
    assert {"code", "coding", "system", "effectiveDateTime", "valueCodeableConcept", "reasonReference"} <= elements
    assert not {"meta", "identifier", "name", "address", "telecom"} & elements  # no query reads them
    predicates = {q.predicate.value for q in mapping._knowledge()}
    assert "http://www.w3.org/2004/02/skos/core#notation" in predicates
    assert not {"http://purl.org/dc/terms/source", "http://www.w3.org/2004/02/skos/core#definition"} & predicates


def _whole_and_projected(monkeypatch, read) -> tuple[list, list]:
    """The patients ``read()`` gives (their quads and warnings) from the whole view and from the projected one."""
    mapping._MAPPED_RECORDS.clear()  # kept mappings would answer the second read
    with monkeypatch.context() as patched:
        patched.setattr(mapping, "read_elements", lambda: None)  # the whole record
        patched.setattr(mapping, "_knowledge", lambda: tuple(mapping.knowledge_quads()))  # and all the knowledge
        whole = read()
    mapping._MAPPED_RECORDS.clear()
    projected = read()
    return tuple([(sorted(map(str, d.quads)), [w.message for w in d.warnings]) for d in found] for found in (whole, projected))


def _seed_record() -> list[dict]:
    prefetch = json.loads((ROOT / "tests" / "data" / "cds" / "seed-patient-prefetch.json").read_text())["prefetch"]
    return [value for value in prefetch.values() if value]


def test_the_seed_record_maps_alike_from_the_projected_view(monkeypatch):
    whole, projected = _whole_and_projected(
        monkeypatch, lambda: patients_from_resources(_seed_record(), "seed.json", now=NOW, order="LOINC:80852-7"))
    assert projected == whole and whole[0][0]


RECORDS = [FIXTURES / "synthea-r4" / name for name in ("T0_patient.json", "T1_patient.json", "triple_negative.json")] + [
    FIXTURES / "mcode-stu4" / "Bundle-mcode-patient-bundle-jenny-m.json", FIXTURES / "bulk-fhir-10-patients"]


@pytest.mark.slow
@pytest.mark.parametrize("record", RECORDS, ids=lambda p: p.name)
def test_fixture_records_map_alike_from_the_projected_view(monkeypatch, record):
    if not record.exists():
        pytest.skip(f"third-party fixture absent: {record}")
    whole, projected = _whole_and_projected(monkeypatch, lambda: read_fhir(record, order="LOINC:80852-7"))
    assert projected == whole and whole
