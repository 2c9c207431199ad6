"""The compiled SHACL engine on the W3C SHACL test suite (core and SPARQL, every sht:Validate case).

Each case either gives the manifest's expected report (the same conformance and the same set of
results, compared on focus node, path, value, source shape, component and severity) or is refused
by name at compile time (UnsupportedShape) and listed in REFUSED with the reason. A third outcome,
a report that differs from the manifest, is a silently wrong validator: never allowed. pySHACL runs
on every case too, so that a disagreement between the manifest and the reference engine shows.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox
import pyshacl
import pytest
import rdflib
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH

from kg.store.reference import to_rdflib
from kg.validate.compiled import UnsupportedShape, compile_shapes
from locations import FIXTURES

SUITE = FIXTURES / "w3c-shacl-tests"
pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason=f"the W3C SHACL test suite is not at {SUITE}")

MF = rdflib.Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
SHT = rdflib.Namespace("http://www.w3.org/ns/shacl-test#")

# Cases the compiler refuses, with the part of the refusal that names why (as pySHACL's harness keeps
# a list of allowed failures). A case that moves in or out of this list fails its test.
_UNIMPLEMENTED_CORE = {  # core constraint components our shapes do not use
    "core/complex/personexample": "closed", "core/complex/shacl-shacl": "or", "core/node/and-001": "and",
    "core/node/and-002": "and", "core/node/closed-001": "closed", "core/node/closed-002": "closed",
    "core/node/disjoint-001": "disjoint", "core/node/equals-001": "equals", "core/node/hasValue-001": "hasValue",
    "core/node/languageIn-001": "languageIn", "core/node/maxLength-001": "maxLength",
    "core/node/minLength-001": "minLength", "core/node/node-001": "node", "core/node/not-001": "not",
    "core/node/not-002": "not", "core/node/or-001": "or", "core/node/pattern-001": "pattern",
    "core/node/pattern-002": "flags", "core/node/qualified-001": "qualifiedMaxCount",
    "core/path/path-complex-001": "hasValue", "core/property/and-001": "and", "core/property/datatype-003": "or",
    "core/property/disjoint-001": "disjoint", "core/property/equals-001": "equals",
    "core/property/hasValue-001": "hasValue", "core/property/languageIn-001": "languageIn",
    "core/property/lessThan-001": "lessThan", "core/property/lessThan-002": "lessThan",
    "core/property/lessThanOrEquals-001": "lessThanOrEquals", "core/property/maxLength-001": "maxLength",
    "core/property/minLength-001": "minLength", "core/property/node-001": "node", "core/property/node-002": "node",
    "core/property/not-001": "not", "core/property/or-001": "or", "core/property/or-datatypes-001": "or",
    "core/property/pattern-001": "pattern", "core/property/pattern-002": "flags",
    "core/property/qualifiedMinCountDisjoint-001": "qualifiedMaxCount",
    "core/property/qualifiedValueShape-001": "qualifiedMaxCount",
    "core/property/qualifiedValueShapesDisjoint-001": "qualifiedMaxCount",
    "core/property/uniqueLang-001": "uniqueLang", "core/property/uniqueLang-002": "uniqueLang",
}
REFUSED: dict[str, str] = {
    **{name: f"constraint parameter http://www.w3.org/ns/shacl#{parameter}"
       for name, parameter in _UNIMPLEMENTED_CORE.items()},
    "core/node/xone-001": "shacl#property inside a logical constraint",
    # Oxigraph stores "5"^^xsd:byte as "5"^^xsd:integer: the datatype is gone before the query runs.
    "core/property/datatype-ill-formed": "stores these values as xsd:integer",
    "sparql/component/optional-001": "SPARQL-based constraint component",
    "sparql/component/propertyValidator-select-001": "SPARQL-based constraint component",
    "sparql/component/validator-001": "SPARQL-based constraint component",
    "sparql/pre-binding/unsupported-sparql-006": "SPARQL-based constraint component",
    "sparql/pre-binding/shapesGraph-001": "$shapesGraph in a SPARQL constraint",
    # The manifest expects these to fail: SHACL forbids the construct (5.3.1.1).
    "sparql/pre-binding/pre-binding-006": "a subquery that does not project every pre-bound variable",
    "sparql/pre-binding/unsupported-sparql-001": "MINUS in a SPARQL constraint",
    "sparql/pre-binding/unsupported-sparql-002": "VALUES in a SPARQL constraint",
    "sparql/pre-binding/unsupported-sparql-003": "SERVICE in a SPARQL constraint",
    "sparql/pre-binding/unsupported-sparql-004": "a subquery that does not project every pre-bound variable",
    "sparql/pre-binding/unsupported-sparql-005": "assigns the pre-bound variable $this",
}


@dataclass(frozen=True)
class Case:
    name: str  # the entry's file and name, relative to the suite
    manifest: Path
    entry: rdflib.URIRef
    data: Path
    shapes: Path


@lru_cache(maxsize=None)
def _graph(path: Path) -> rdflib.Graph:
    # One parse per file, so that a blank node of a file is the same term in data, shapes and report.
    return rdflib.Graph().parse(path, format="turtle")


def _file(uri) -> Path:
    return Path(rdflib.URIRef(uri).removeprefix("file://"))


def _cases(manifest: Path):
    graph = _graph(manifest)
    for root in graph.subjects(RDF.type, MF.Manifest):
        for included in graph.objects(root, MF.include):
            yield from _cases(_file(included))
        for entries in graph.objects(root, MF.entries):
            for entry in Collection(graph, entries):
                if (entry, RDF.type, SHT.Validate) not in graph:
                    continue
                action = graph.value(entry, MF.action)
                name = f"{manifest.parent.relative_to(SUITE).as_posix()}/{entry.split('/')[-1]}"
                yield Case(name, manifest, entry, _file(graph.value(action, SHT.dataGraph)),
                           _file(graph.value(action, SHT.shapesGraph)))


CASES = sorted({c.name: c for part in ("core", "sparql") for c in _cases(SUITE / part / "manifest.ttl")}.values(),
               key=lambda c: c.name) if SUITE.is_dir() else []


def _structure(graph: rdflib.Graph, node, depth: int = 4):
    """A term, with a blank node replaced by what the graph says about it: paths and shapes written as
    blank nodes then compare by their content, wherever the report copied them from."""
    if isinstance(node, rdflib.Literal):
        # Numbers by value when well-formed: Oxigraph stores 4.0 as "4"^^xsd:decimal.
        datatype = None if node.language else node.datatype or rdflib.XSD.string
        numeric = isinstance(node.value, (int, float, Decimal)) and not node.ill_typed
        return ("literal", node.value if numeric else str(node), datatype, node.language)
    if not isinstance(node, rdflib.BNode):
        return node
    if depth == 0:
        return "_"
    if (node, RDF.first, None) in graph:
        return ("list", tuple(_structure(graph, m, depth - 1) for m in Collection(graph, node)))
    return ("_", frozenset((p, _structure(graph, o, depth - 1)) for p, o in graph.predicate_objects(node)))


def _key(report: rdflib.Graph, result, shapes: rdflib.Graph, same_data: bool):
    """What a result says, as pySHACL's harness compares it plus shape, component and severity. A blank
    focus node or value is compared as such when the report is not in the data graph's own file."""
    def node(term):
        if isinstance(term, rdflib.BNode):  # the engines keep the data graph's blank node labels
            return term if same_data else "_"
        return _structure(report, term)
    shape = report.value(result, SH.sourceShape)
    return (node(report.value(result, SH.focusNode)), _structure(report, report.value(result, SH.resultPath)),
            node(report.value(result, SH.value)),
            _structure(shapes if (shape, None, None) in shapes else report, shape),
            report.value(result, SH.sourceConstraintComponent), report.value(result, SH.resultSeverity))


def _oxigraph_term(term):
    if isinstance(term, rdflib.URIRef):
        return ox.NamedNode(term)
    if isinstance(term, rdflib.BNode):
        return ox.BlankNode(term)
    if term.language:
        return ox.Literal(str(term), language=term.language)
    return ox.Literal(str(term), datatype=ox.NamedNode(term.datatype or rdflib.XSD.string))


def expected(case: Case):
    """(conforms, result keys) of the manifest's report, or None when the engine must fail."""
    graph = _graph(case.manifest)
    report = graph.value(case.entry, MF.result)
    if report == SHT.Failure:
        return None
    same_data = case.data == case.manifest
    return (bool(graph.value(report, SH.conforms).toPython()),
            Counter(_key(graph, r, _graph(case.shapes), same_data) for r in graph.objects(report, SH.result)))


def compiled(case: Case):
    """(conforms, result keys) from the compiled shapes on Oxigraph."""
    compiled_shapes = compile_shapes(_graph(case.shapes))
    store = ox.Store()
    store.extend(ox.Quad(*map(_oxigraph_term, triple)) for triple in _graph(case.data))
    report = rdflib.Graph()
    for result in compiled_shapes.run(store):
        node = rdflib.BNode()
        report.add((node, SH.focusNode, to_rdflib(result.focus)))
        if result.value is not None:
            report.add((node, SH.value, to_rdflib(result.value)))
        if result.path is not None:
            report.add((node, SH.resultPath, result.path))
            report += _graph(case.shapes).cbd(result.path) if isinstance(result.path, rdflib.BNode) else []
        report.add((node, SH.sourceShape, result.shape))
        report.add((node, SH.sourceConstraintComponent, result.component))
        report.add((node, SH.resultSeverity, result.severity))
    results = set(report.subjects(SH.focusNode, None))
    return not results, Counter(_key(report, r, _graph(case.shapes), True) for r in results)


def reference(case: Case):
    """(conforms, result keys) from pySHACL."""
    conforms, report, _text = pyshacl.validate(_graph(case.data), shacl_graph=_graph(case.shapes), inference="none",
                                               advanced=True)
    results = report.objects(report.value(predicate=RDF.type, object=SH.ValidationReport), SH.result)  # not sh:detail
    return conforms, Counter(_key(report, r, _graph(case.shapes), True) for r in results)


def _same(found, wanted) -> bool:
    # Results are compared as sets: the compiled engine reports a result once, where the manifest
    # may list the same result twice because two parent shapes reach one property shape.
    return found[0] == wanted[0] and set(found[1]) == set(wanted[1])


def outcome(case: Case) -> str:
    """"agree", "refused" (UnsupportedShape at compile time) or "wrong"."""
    try:
        found = compiled(case)
    except UnsupportedShape:
        return "refused"
    wanted = expected(case)
    return "agree" if wanted is not None and _same(found, wanted) else "wrong"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_agrees_with_the_manifest_or_is_refused_by_name(case):
    if case.name in REFUSED:
        with pytest.raises(UnsupportedShape, match=re.escape(REFUSED[case.name])):
            compile_shapes(_graph(case.shapes))
        return
    wanted = expected(case)
    assert wanted is not None, "the manifest expects a failure, but the compiler accepted the shapes"
    found = compiled(case)
    assert found[0] == wanted[0], "conformance differs"
    assert set(found[1]) == set(wanted[1])


# Where pySHACL 0.40 itself is not a reference (the compiler refuses both cases).
PYSHACL_DIFFERS = {
    "core/property/uniqueLang-002": "pySHACL reports sh:uniqueLang false as a violation",
    "sparql/pre-binding/shapesGraph-001": "pySHACL's $shapesGraph result depends on the cases run before",
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pyshacl_agrees_with_the_manifest(case):
    wanted = expected(case)
    if wanted is None:
        pytest.skip("the manifest expects a failure")
    if case.name in PYSHACL_DIFFERS:
        pytest.skip(PYSHACL_DIFFERS[case.name])
    assert _same(reference(case), wanted)


def test_summary():
    counts = Counter(outcome(case) for case in CASES)
    print(f"\nW3C SHACL suite, compiled engine: {counts['agree']} agree, {counts['refused']} refused, "
          f"{counts['wrong']} wrong, of {len(CASES)}")
    assert counts["wrong"] == 0
    assert counts["refused"] == len(REFUSED)
