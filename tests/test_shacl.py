"""The shapes compiled to SPARQL (kg.shacl) against pySHACL, the reference engine: the same results
on every example, on generated patients and on hand-made edge cases; unknown features are refused."""
from __future__ import annotations

import datetime as dt
import random

import pyoxigraph
import pyshacl
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


def test_constraints_of_one_kind_share_a_branch_across_shapes_and_keep_only_the_rows_the_data_can_use():
    shapes = """
        ex:A a sh:NodeShape ; sh:targetObjectsOf ex:hasA ; sh:class ex:CA ; sh:property [ sh:path ex:x ; sh:maxCount 1 ] .
        ex:B a sh:NodeShape ; sh:targetObjectsOf ex:hasB ; sh:class ex:CB ; sh:property [ sh:path ex:y ; sh:maxCount 1 ] ."""
    compiled = compile_shapes(rdflib.Graph().parse(data="@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> ."
                                                   + shapes, format="turtle"))
    [query] = compiled.queries()
    assert query.count("UNION") == 1  # one branch for both sh:class, one for both sh:maxCount
    # without ex:hasB no row names it; without ex:x or ex:y no sh:maxCount can fail
    [query] = compiled.queries({"urn:ex:hasA"})
    assert "urn:ex:hasB" not in query and "UNION" not in query
    data = "ex:s ex:hasA ex:a ; ex:hasB ex:b . ex:a a ex:CB ; ex:x 1 , 2 . ex:b a ex:CB ; ex:y 1 ."
    found, reference = _both_engines(shapes, data)
    assert found == reference and len(found) == 2


def test_a_sparql_constraint_is_left_out_where_the_data_lacks_a_predicate_its_pattern_needs():
    compiled = compile_shapes(rdflib.Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        <urn:s> a sh:NodeShape ; sh:targetNode <urn:a> ;
            sh:sparql [ sh:select "SELECT $this WHERE { $this <urn:p>/<urn:q> ?v . OPTIONAL { $this <urn:r> ?w } }" ] .""",
                                                   format="turtle"))
    assert compiled.queries({"urn:p", "urn:r"}) == [] and len(compiled.queries({"urn:p", "urn:q"})) == 1


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


def _prior_study_without_modality() -> str:
    # A second prior study with a date but no modality, procedure or axilla flag, beside the baseline
    # study, which has them all: each SPARQL constraint must be judged at this study alone.
    return SEED.replace("acr:hasPriorImaging ex:baseline-us ;", "acr:hasPriorImaging ex:baseline-us , ex:second-us ;") + """
ex:second-us a acr:ImagingStudy ; acr:studyDate "2026-04-01"^^xsd:date .
"""


def test_a_missing_property_is_found_even_when_another_node_has_it():
    compiled = assert_same_results(_prior_study_without_modality().encode())
    assert [v.message.split(" (")[0] for v in compiled.violations if v.focus.endswith("second-us")] == [
        "a prior imaging study must say whether it evaluated the axilla", "a prior imaging study needs a modality"]


def test_a_triple_term_in_the_data_is_refused_by_name():
    data = SEED.replace("acr:recordedSex acr:Female", "acr:recordedSex <<( ex:a ex:b ex:c )>>")
    with pytest.raises(AcrKgError, match="triple terms"):
        validate(parse_patient(data.encode(), "case.ttl").quads, NOW, engine="sparql")


def test_not_a_number_as_a_decimal_measurement_is_a_violation():
    data = SEED.replace("acr:tumourSizeMm 32.0", 'acr:tumourSizeMm "NaN"^^xsd:decimal')
    found = validate(parse_patient(data.encode(), "case.ttl").quads, NOW, engine="sparql")
    assert [(v.path, v.value) for v in found.violations] == [("https://w3id.org/acr-kg/ontology/tumourSizeMm", "NaN")]


def _both_engines(shapes_ttl: str, data_ttl: str):
    """(compiled, pySHACL) results as (focus, value, shape, component) on a small shapes and data graph."""
    prefixes = "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> .\n" \
               "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    shapes = rdflib.Graph().parse(data=prefixes + shapes_ttl, format="turtle")
    data = rdflib.Graph().parse(data=prefixes + data_ttl, format="turtle")
    store = pyoxigraph.Store()
    store.load(data.serialize(format="nt").encode(), format=pyoxigraph.RdfFormat.N_TRIPLES)
    compiled = {(r.focus.value, r.value and r.value.value, r.shape, r.component) for r in compile_shapes(shapes).run(store)}
    report = pyshacl.validate(data, shacl_graph=shapes)[1]
    reference = {(str(report.value(r, SH.focusNode)), report.value(r, SH.value) and str(report.value(r, SH.value)),
                  report.value(r, SH.sourceShape), report.value(r, SH.sourceConstraintComponent))
                 for r in report.objects(None, SH.result)}
    return compiled, reference


def test_a_shape_that_is_a_class_targets_its_instances():
    compiled, reference = _both_engines("ex:Person a rdfs:Class , sh:NodeShape ; sh:property [ sh:path ex:name ; sh:minCount 1 ] .",
                                        "ex:ann a ex:Person .")
    assert compiled == reference and len(compiled) == 1


def test_a_property_shape_inside_a_property_shape_checks_the_values():
    compiled, reference = _both_engines("""
        ex:S a sh:NodeShape ; sh:targetNode ex:ann ;
            sh:property [ sh:path ex:address ; sh:property [ sh:path ex:city ; sh:minCount 1 ] ] .""",
                                        "ex:ann ex:city ex:Paris ; ex:address ex:home .")
    assert compiled == reference and {focus for focus, *_ in compiled} == {"urn:ex:home"}


def test_this_used_only_in_a_filter_is_the_focus_node():
    compiled, reference = _both_engines("""
        ex:S a sh:NodeShape ; sh:targetNode ex:a , ex:b ;
            sh:sparql [ sh:select "SELECT $this WHERE { FILTER($this = <urn:ex:a>) BIND($this AS ?seen) }" ] .""",
                                        "ex:a ex:p 1 .")
    assert compiled == reference and {focus for focus, *_ in compiled} == {"urn:ex:a"}


def test_a_sparql_based_constraint_component_is_refused_by_name():
    shapes = rdflib.Graph().parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> .
        ex:Component a sh:ConstraintComponent ; sh:parameter [ sh:path ex:limit ] ;
            sh:validator [ a sh:SPARQLAskValidator ; sh:ask "ASK { FILTER(?value < $limit) }" ] .
        ex:S a sh:NodeShape ; sh:targetNode ex:a ; ex:limit 3 .""", format="turtle")
    with pytest.raises(UnsupportedShape, match="SPARQL-based constraint component urn:ex:Component"):
        compile_shapes(shapes)


# --- rows the data cannot violate (kg.validate.compiled.compiler.Check) -----------------------------

CHECKED_SHAPES = """
    ex:S a sh:NodeShape ; sh:targetClass ex:C ;
        sh:property [ sh:path ex:one ; sh:maxCount 1 ] ;
        sh:property [ sh:path ex:two ; sh:maxCount 2 ] ;
        sh:property [ sh:path ex:listed ; sh:in ( ex:a "01"^^xsd:integer "x"@en ) ] ;
        sh:property [ sh:path ex:flag ; sh:datatype xsd:boolean ] ;
        sh:property [ sh:path ex:day ; sh:datatype xsd:date ] ;
        sh:property [ sh:path ex:label ; sh:datatype rdf:langString ] ;
        sh:property [ sh:path ex:note ; sh:datatype xsd:string ] ."""


def _checked(data_ttl: str) -> tuple[list, list, int, int]:
    """(results as run, results of every row as written, branches sent, branches written) on the data."""
    prefixes = "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:ex:> . " \
               "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> . @prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .\n"
    compiled = compile_shapes(rdflib.Graph().parse(data=prefixes + CHECKED_SHAPES, format="turtle"))
    store = pyoxigraph.Store()
    store.load(input=prefixes + data_ttl, format=pyoxigraph.RdfFormat.TURTLE)
    key = lambda r: (str(r.focus), str(r.value), str(r.shape), str(r.component))  # noqa: E731
    sent: list[str] = []
    query = store.query
    store_query = lambda text: sent.append(text) or query(text)  # noqa: E731
    spy = type("Spy", (), {"query": staticmethod(store_query), "__iter__": lambda self: iter(store)})()
    found = sorted(map(key, compiled.run(spy)))
    predicates = {q.predicate.value for q in store}
    written = compiled.queries(predicates)
    every = sorted(key(r) for text in written for r in compiled._results(query(text)))
    return found, every, sum(t.count("BIND(") + t.count("?branch) {") for t in sent), \
        sum(t.count("BIND(") + t.count("?branch) {") for t in written)


def test_rows_that_the_data_cannot_violate_are_not_sent_and_the_results_stay_those_of_every_row():
    # Each value conforms: one value where one is allowed, listed terms in any lexical form of the same
    # stored term ("1" is "01"^^xsd:integer), well-formed literals of the datatype.
    conforming = """ex:n a ex:C ; ex:one 1 ; ex:two 1 , 2 ; ex:listed ex:a , 1 , "x"@en ; ex:flag true , "0"^^xsd:boolean ;
                    ex:day "2024-02-29"^^xsd:date ; ex:label "y"@en ; ex:note "z" ."""
    found, every, sent, written = _checked(conforming)
    assert found == every == [] and sent < written
    # Each of these violates one constraint, and its row is still sent
    for wrong in ("ex:one 1 , 2", "ex:two 1 , 2 , 3", "ex:listed ex:b", 'ex:listed "x"@fr', 'ex:listed "01"',
                  'ex:flag "yes"^^xsd:boolean', 'ex:flag "true"', 'ex:day "2025-02-29"^^xsd:date', 'ex:day "2025-02-28T00:00:00"^^xsd:date',
                  'ex:label "y"', 'ex:note "z"@en', "ex:note ex:a"):
        found, every, _, _ = _checked(f"ex:n a ex:C ; {wrong} .")
        assert found == every and len(found) == 1, wrong


def test_a_value_is_called_surely_of_its_datatype_only_when_the_query_agrees():
    from rdflib.namespace import XSD

    from kg.validate.compiled.core import datatype_violated, surely_of_datatype

    forms = ["0", "12", "+5", "-9223372036854775808", "9223372036854775807", "9223372036854775808", "123456789012345678",
             "1234567890123456789", "1.5", ".5", "5.", "1.123456789012345678", "1.1234567890123456789", "1e3", "NaN",
             "true", "false", "1", "TRUE", "2024-02-29", "2025-02-29", "0000-01-01", "0001-01-01", "2025-1-01",
             "2025-01-01Z", "2025-01-01T00:00:00", " 12", "abc", ""]
    store, sure = pyoxigraph.Store(), 0
    for datatype in (XSD.integer, XSD.decimal, XSD.boolean, XSD.date, XSD.dateTime, XSD.double):
        for form in forms:
            stored = pyoxigraph.Store()
            stored.add(pyoxigraph.Quad(pyoxigraph.NamedNode("urn:s"), pyoxigraph.NamedNode("urn:p"),
                                       pyoxigraph.Literal(form, datatype=pyoxigraph.NamedNode(str(datatype)))))
            value = next(iter(stored)).object  # as a store holds it
            if surely_of_datatype(value, datatype):
                sure += 1
                violated = store.query(f"ASK {{ VALUES ?v {{ {value} }} FILTER({datatype_violated('?v', datatype, None)}) }}")
                assert not violated, (form, datatype)
    assert sure >= 15  # the plain forms of integers, decimals, booleans and dates
