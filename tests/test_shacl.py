"""The shapes compiled to SPARQL (kg.shacl) against pySHACL, the reference engine: the same results
on every example, on generated patients and on hand-made edge cases; unknown features are refused."""
from __future__ import annotations

import datetime as dt
import random

import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib.namespace import SH

from kg.errors import AcrKgError
from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient
from kg.validate.compiled import UnsupportedShape, compile_shapes
from kg.synthetic import case_turtle, random_case
from kg.validate import validate

NOW = dt.date(2026, 11, 20)


def assert_same_results(data: bytes, name: str = "case.ttl"):
    quads = parse_patient(data, name).quads
    compiled, reference = validate(quads, NOW, engine="sparql"), validate(quads, NOW, engine="pyshacl")
    assert compiled.violations == reference.violations
    assert compiled.warnings == reference.warnings
    conforms = lambda report: report.value(next(report.subjects(rdflib.RDF.type, SH.ValidationReport)), SH.conforms)  # noqa: E731
    assert conforms(compiled.report) == conforms(reference.report)
    assert len(set(compiled.report.subjects(SH.resultSeverity, None))) == len(set(reference.report.subjects(SH.resultSeverity, None)))
    return compiled


def _readable_examples():
    for path in sorted(EXAMPLES_DIR.rglob("*")):
        if path.suffix in (".ttl", ".jsonld"):
            try:
                parse_patient(path.read_bytes(), path.name)
            except AcrKgError:
                continue  # unreadable input never reaches validation
            yield path


@pytest.mark.parametrize("path", list(_readable_examples()), ids=lambda p: p.relative_to(EXAMPLES_DIR).as_posix())
def test_every_example_gets_the_same_results_from_both_engines(path):
    assert_same_results(path.read_bytes(), path.name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_generated_patients_get_the_same_results_from_both_engines(seed):
    assert_same_results(case_turtle(random_case(random.Random(seed)), "https://example.org/p/1").encode())


SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text()


@pytest.mark.parametrize("old, new", [
    ('acr:birthDate "1978-05-10"^^xsd:date', 'acr:birthDate "14 May 1976"^^xsd:date'),  # ill-formed date
    ('acr:birthDate "1978-05-10"^^xsd:date', 'acr:birthDate "1978-05-10"'),  # wrong datatype
    ('acr:birthDate "1978-05-10"^^xsd:date', 'acr:ageInYears 50 ; acr:birthDate "1978-05-10"^^xsd:date'),  # xone: both
    ('acr:birthDate "1978-05-10"^^xsd:date ;', ''),  # xone: neither
    ('acr:recordedSex acr:Female', 'acr:recordedSex acr:Female , acr:Male'),  # maxCount
    ('acr:recordedSex acr:Female', 'acr:recordedSex "female"'),  # sh:in with a literal
    ('acr:tumourSizeMm 32.0', 'acr:tumourSizeMm 0.0'),  # sh:minExclusive
    ('acr:tumourSizeMm 32.0', 'acr:tumourSizeMm "large"'),  # a string against a numeric range
    ('acr:hasBreastCancer ex:cancer', 'acr:hasBreastCancer "the cancer"'),  # sh:class on a literal
])
def test_edge_cases_get_the_same_results_from_both_engines(old, new):
    assert old in SEED, old
    assert assert_same_results(SEED.replace(old, new).encode()).violations


def test_a_shape_with_an_unknown_constraint_is_refused_by_name():
    shapes = rdflib.Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        <urn:s> a sh:NodeShape ; sh:targetClass <urn:C> ;
            sh:property [ sh:path <urn:p> ; sh:pattern "^a" ] .""", format="turtle")
    with pytest.raises(UnsupportedShape, match="shacl#pattern"):
        compile_shapes(shapes)


def test_a_shape_without_targets_is_not_validated_on_its_own():
    shapes = rdflib.Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        <urn:unused> a sh:NodeShape ; sh:class <urn:C> .
        <urn:used> a sh:NodeShape ; sh:targetSubjectsOf <urn:p> ; sh:class <urn:C> .""", format="turtle")
    compiled = compile_shapes(shapes)
    assert [b.shape for b in compiled.branches] == [rdflib.URIRef("urn:used")]
    # its only branch can have focus nodes only where urn:p is used
    assert compiled.queries({"urn:q"}) == [] and len(compiled.queries({"urn:p"})) == 1


def test_every_constraint_of_the_patient_shapes_has_its_own_message():
    # Messages then never depend on the engine's defaults. Members of sh:xone report through their parent.
    from kg.validate import shapes_graph

    shapes = shapes_graph()
    parameters = {SH["class"], SH.datatype, SH.nodeKind, SH["in"], SH.minCount, SH.maxCount, SH.minInclusive,
                  SH.maxInclusive, SH.minExclusive, SH.maxExclusive, SH.xone}
    members = {m for lst in shapes.objects(None, SH.xone) for m in rdflib.collection.Collection(shapes, lst)}
    silent = [str(s) for s in set(shapes.subjects()) - members
              if any((s, p, None) in shapes for p in parameters) and (s, SH.message, None) not in shapes]
    assert silent == []
