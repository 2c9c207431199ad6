"""SHACL validation of patient graphs (shapes/patient.ttl, value-sets.ttl and pitfalls.ttl), with the
shapes compiled to SPARQL (kg.shacl) or, as the reference, with pySHACL.

The data graph is the patient plus an evaluation context: the evaluation date and the chosen threshold
set, copied from the knowledge base. Date checks and the palpable-node warning read it, so a result
depends on these parameters and never on the day the check runs.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import pyoxigraph as ox
import pyshacl
import rdflib
from rdflib.namespace import RDF, RDFS, SH

from kg.input.coding import code_namespaces
from kg.errors import UsageError
from kg.issues import Issue
from kg.resources import ontology_dir, shapes_dir
from kg.terms import ACR, RDF_TYPE
from kg.validate.compiled import CompiledShapes, ShapeResult, compile_shapes
from kg.store import XSD, EmbeddedStore, to_oxigraph

PATIENT_SHAPES = ("patient.ttl", "value-sets.ttl", "pitfalls.ttl")
CONTEXT = "urn:acr-kg:evaluation-context"
OWN_NAMESPACE = "https://w3id.org/acr-kg/"


@dataclass
class ValidationResult:
    violations: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    shape_results: list[ShapeResult] = field(default_factory=list)  # from the compiled shapes
    pyshacl_report: rdflib.Graph | None = None  # from pySHACL
    graph_issues: list[Issue] = field(default_factory=list)  # whole-graph checks, outside SHACL

    @property
    def valid(self) -> bool:
        return not self.violations

    @property
    def report(self) -> rdflib.Graph:
        """The result as a standard sh:ValidationReport graph (conforms: no violations; warnings allowed)."""
        if self.pyshacl_report is not None:
            report = rdflib.Graph()
            report += self.pyshacl_report
        else:
            report = _report_graph(self.shape_results)
        for issue in self.graph_issues:
            _report_issue(report, issue)
        return report


@lru_cache(maxsize=None)
def shapes_graph(names: tuple[str, ...] = PATIENT_SHAPES) -> rdflib.Graph:
    graph = rdflib.Graph()
    for name in names:
        graph.parse(shapes_dir() / name, format="turtle")
    return graph


@lru_cache(maxsize=None)
def _knowledge_base_context(key: str) -> tuple[tuple, ...]:
    """The few knowledge-base facts that shapes read: the chosen threshold set and its thresholds, and
    the nodal status each N category implies. Read once per threshold set."""
    rows = EmbeddedStore().construct(f"""
        PREFIX acr: <{ACR}>
        CONSTRUCT {{ ?set acr:selectorKey ?key . ?t acr:inThresholdSet ?set ; acr:onFeature ?f ;
                     acr:thresholdValue ?v ; acr:comparator ?c . ?n acr:nodalStatus ?status . }}
        WHERE {{
          {{ ?set acr:selectorKey ?key . FILTER(STR(?key) = $key)
             ?t acr:inThresholdSet ?set ; acr:onFeature ?f ; acr:thresholdValue ?v ; acr:comparator ?c . }}
          UNION
          {{ ?n a acr:ClinicalNCategory ; acr:nodalStatus ?status . }}
        }}""", {"key": key})
    return tuple(rows)


def threshold_set_keys() -> list[str]:
    rows = EmbeddedStore().select(f"PREFIX acr: <{ACR}> SELECT DISTINCT ?key WHERE {{ ?s acr:selectorKey ?key }} ORDER BY ?key")
    return [r["key"] for r in rows]


def data_graph(quads, now: dt.date, thresholds: str) -> ox.Store:
    """The graph pySHACL validates: the patient, plus the evaluation context and its threshold set.

    It is a pyoxigraph store: pySHACL then runs the SPARQL-based constraints on Oxigraph, about ten
    times faster than on an rdflib graph, whose SPARQL parser dominates the cost.
    """
    store = ox.Store()
    # A code still here had no usable mapping: the reader reported it and it counts as unknown, so the
    # shapes see the value as absent rather than as a wrong value of ours.
    codes = code_namespaces()
    store.extend(q for q in quads if not (isinstance(q.object, ox.NamedNode) and q.object.value.startswith(codes)))
    context = ox.NamedNode(CONTEXT)
    store.add(ox.Quad(context, ox.NamedNode(RDF_TYPE), ox.NamedNode(ACR + "EvaluationContext")))
    store.add(ox.Quad(context, ox.NamedNode(ACR + "evaluationDate"), ox.Literal(now.isoformat(), datatype=ox.NamedNode(XSD + "date"))))
    for s, p, o in _knowledge_base_context(thresholds):
        store.add(ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)))
        if p == ACR + "selectorKey":
            store.add(ox.Quad(context, ox.NamedNode(ACR + "usesThresholdSet"), to_oxigraph(s)))
    return store


_SEVERITY = {SH.Violation: "violation", SH.Warning: "warning", SH.Info: "info"}


def _short(term) -> str | None:
    """A term as text: an IRI or a literal's lexical form, a blank node as _:label."""
    if term is None or isinstance(term, str) and not isinstance(term, rdflib.term.Node):
        return term
    if isinstance(term, (rdflib.BNode, ox.BlankNode)):
        return f"_:{term}" if isinstance(term, rdflib.BNode) else f"_:{term.value}"
    return term.value if isinstance(term, (ox.NamedNode, ox.Literal)) else str(term)


def _path_text(shapes: rdflib.Graph, path) -> str | None:
    if isinstance(path, rdflib.BNode):  # complex path: show its Turtle form
        return shapes.cbd(path).serialize(format="turtle").strip()
    return None if path is None else str(path)


def _rdflib_term(term):
    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return rdflib.BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return rdflib.Literal(term.value, lang=term.language)
        return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))
    return term


def _report_graph(found: list[ShapeResult]) -> rdflib.Graph:
    """Write compiled-shape results as an sh:ValidationReport, as pySHACL would."""
    report = rdflib.Graph()
    report.bind("sh", SH)
    validation_report = rdflib.BNode()
    report.add((validation_report, RDF.type, SH.ValidationReport))
    report.add((validation_report, SH.conforms, rdflib.Literal(not any(r.severity == SH.Violation for r in found))))
    shapes = shapes_graph()
    for r in found:
        node = rdflib.BNode()
        report.add((validation_report, SH.result, node))
        report.add((node, RDF.type, SH.ValidationResult))
        report.add((node, SH.focusNode, _rdflib_term(r.focus)))
        report.add((node, SH.resultSeverity, r.severity))
        report.add((node, SH.resultMessage, rdflib.Literal(r.message)))
        report.add((node, SH.sourceShape, r.shape))
        report.add((node, SH.sourceConstraintComponent, r.component))
        if r.value is not None:
            report.add((node, SH.value, _rdflib_term(r.value)))
        if r.path is not None:
            report.add((node, SH.resultPath, r.path))
            if isinstance(r.path, rdflib.BNode):
                report += shapes.cbd(r.path)
    return report


def patients_in(quads) -> list[str]:
    """The nodes typed acr:Patient."""
    return sorted({q.subject.value for q in quads if q.predicate.value == RDF_TYPE and q.object.value == ACR + "Patient"})


@lru_cache(maxsize=1)
def input_vocabulary() -> tuple[frozenset, frozenset]:
    """(properties, classes) a patient graph may use from our namespace: those of ontology/patient.ttl.

    Everything else of ours is knowledge base or derived (case aspects, matched variants, node readings):
    stating it in the input would bypass the derivation or change the criteria.
    """
    store = ox.Store()
    store.load(path=str(ontology_dir() / "patient.ttl"), format=ox.RdfFormat.TURTLE)

    def declared(kinds: str) -> frozenset:
        query = f"SELECT DISTINCT ?s WHERE {{ ?s a ?k VALUES ?k {{ {kinds} }} FILTER(isIRI(?s)) }}"
        return frozenset(solution[0].value for solution in store.query(query))

    owl = "http://www.w3.org/2002/07/owl#"
    return declared(f"<{owl}ObjectProperty> <{owl}DatatypeProperty>"), declared(f"<{owl}Class>")


def graph_violations(quads) -> list[Issue]:
    """Checks on the graph as a whole, which no shape can target: one patient per graph, no statements
    about the ontology's or knowledge base's own terms, and only the patient vocabulary from our namespace."""
    issues = []
    properties, classes = input_vocabulary()
    for quad in quads:
        predicate, value = quad.predicate.value, quad.object.value
        if predicate.startswith(OWN_NAMESPACE) and predicate not in properties:
            issues.append(Issue("violation", f"{predicate} is not part of the patient vocabulary (it is derived or "
                                             "belongs to the knowledge base); patient data may not state it",
                                quad.subject.value, predicate))
        elif predicate == RDF_TYPE and value.startswith(OWN_NAMESPACE) and value not in classes:
            issues.append(Issue("violation", f"{value} is not a class of the patient vocabulary; patient data may not "
                                             "declare knowledge-base entities", quad.subject.value, predicate, value))
    patients = patients_in(quads)
    if len(patients) != 1:
        issues.append(Issue("violation", f"exactly one acr:Patient is required per graph; found {', '.join(patients) or 'none'}", None))
    for subject in sorted({q.subject.value for q in quads if q.subject.value.startswith(OWN_NAMESPACE)}):
        issues.append(Issue("violation", "patient data may not state facts about the ontology's or the knowledge "
                                         f"base's own term {subject}", subject))
    return issues


def _report_issue(report: rdflib.Graph, issue: Issue) -> None:
    """Add a graph-level violation to the sh:ValidationReport, so the report stays complete."""
    node = rdflib.BNode()
    validation_report = next(report.subjects(RDF.type, SH.ValidationReport))
    report.set((validation_report, SH.conforms, rdflib.Literal(False)))
    report.add((validation_report, SH.result, node))
    report.add((node, RDF.type, SH.ValidationResult))
    report.add((node, SH.resultSeverity, SH.Violation))
    report.add((node, SH.resultMessage, rdflib.Literal(issue.message)))
    if issue.focus:
        report.add((node, SH.focusNode, rdflib.URIRef(issue.focus)))


ENGINES = ("sparql", "pyshacl")


@lru_cache(maxsize=None)
def compiled_shapes(names: tuple[str, ...] = PATIENT_SHAPES) -> CompiledShapes:
    return compile_shapes(shapes_graph(names))


def validate(quads, now: dt.date, thresholds: str = "seed", engine: str = "sparql") -> ValidationResult:
    """Validate one patient graph; violations block a recommendation, warnings travel with it.

    ``engine`` "sparql" runs the shapes compiled to SPARQL (kg.shacl, the fast default); "pyshacl"
    runs pySHACL, the reference the compiled shapes are tested against.
    """
    return validate_many([quads], now, thresholds, engine)[0]


def validate_many(graphs: list, now: dt.date, thresholds: str = "seed", engine: str = "sparql",
                  owners: dict | None = None) -> list[ValidationResult]:
    """Validate several patient graphs judged on the same date, in one pass of the compiled shapes.

    The graphs must not share nodes: each result is handed to the graph that holds its focus node
    (``owners``: the caller's ``node_owners(graphs)``, if it has them already).
    """
    if engine == "pyshacl":
        results = [_pyshacl_result(data_graph(quads, now, thresholds)) for quads in graphs]
    elif engine == "sparql":
        found = compiled_shapes().run(data_graph(itertools.chain.from_iterable(graphs), now, thresholds))
        owners = node_owners(graphs) if owners is None else owners
        shares: list[list[ShapeResult]] = [[] for _ in graphs]
        for r in found:
            for index in _holders(r, owners, graphs):
                shares[index].append(r)
        results = [_compiled_result(share) for share in shares]
    else:
        raise UsageError(f"unknown validation engine {engine!r}: use {' or '.join(ENGINES)}")
    for quads, result in zip(graphs, results):
        for issue in graph_violations(quads):
            result.violations.append(issue)
            result.graph_issues.append(issue)
        # One property shape may fail several of its constraints with the same message: report it once.
        key = lambda i: (i.focus or "", i.path or "", i.message, i.value or "")  # noqa: E731
        result.violations = sorted(set(result.violations), key=key)
        result.warnings = sorted(set(result.warnings), key=key)
    return results


def _holders(result: ShapeResult, owners: dict, graphs: list):
    """The graphs a result belongs to: those holding its focus node. A literal focus (an object where a
    node was expected) belongs to the graphs that state it as the object of a targeted predicate."""
    if isinstance(result.focus, ox.Literal):
        holders = [index for index, quads in enumerate(graphs)
                   if any(q.object == result.focus and q.predicate.value in result.object_targets for q in quads)]
    else:
        holders = owners.get(result.focus)
    return holders or range(len(graphs))  # held by none (e.g. the evaluation context): every graph


def node_owners(graphs: list) -> dict:
    """Each node (IRI or blank node) of the graphs -> the indexes of the graphs that hold it: those that
    state facts about it, else those that point to it. A graph that states something about a shared
    term (acr:Female, say) then holds it alone, not the others that only use it as a value."""
    subjects: dict = {}
    objects: dict = {}
    for index, quads in enumerate(graphs):
        for quad in quads:
            for term, holders in ((quad.subject, subjects), (quad.object, objects)):
                if not isinstance(term, ox.Literal):
                    indexes = holders.setdefault(term, [])
                    if not indexes or indexes[-1] != index:
                        indexes.append(index)
    return objects | subjects


def own_nodes(quads) -> set:
    """The nodes a patient graph describes or points to, leaving out our vocabulary, standard codes and
    classes: two graphs that share one of these cannot be evaluated in the same store."""
    shared = (OWN_NAMESPACE, *code_namespaces())
    nodes = set()
    for quad in quads:
        nodes.add(quad.subject)
        value = quad.object
        if isinstance(value, ox.BlankNode) or (isinstance(value, ox.NamedNode) and quad.predicate.value != RDF_TYPE
                                               and not value.value.startswith(shared)):
            nodes.add(value)
    return nodes


def _issue(severity, message, focus, path, value, shape) -> Issue:
    shapes = shapes_graph()
    pitfall = shapes.value(shape, RDFS.seeAlso) if shape is not None else None
    return Issue(severity=_SEVERITY.get(severity, "violation"), message=message, focus=_short(focus),
                 path=_path_text(shapes, path), value=_short(value), pitfall=_short(pitfall))


def _sort_into(result: ValidationResult, issue: Issue) -> None:
    (result.violations if issue.severity == "violation" else result.warnings).append(issue)


def _pyshacl_result(store: ox.Store) -> ValidationResult:
    def run(data):
        return pyshacl.validate(data, shacl_graph=shapes_graph(), inference="none", allow_warnings=True,
                                advanced=True, abort_on_first=False)[1]
    try:
        # On the Oxigraph store, pySHACL's SPARQL constraints get standard SPARQL semantics (rdflib's
        # engine orders a string against a date, where the standard gives an error).
        report = run(store)
    except TypeError:
        # pySHACL asks Oxigraph for the triples of a literal focus node, which Oxigraph refuses; such
        # a graph is invalid anyway, and an rdflib copy lets pySHACL say why.
        data = rdflib.Graph()
        for quad in store:
            data.add((_rdflib_term(quad.subject), _rdflib_term(quad.predicate), _rdflib_term(quad.object)))
        report = run(data)
    result = ValidationResult(pyshacl_report=report)
    for node in report.subjects(RDF.type, SH.ValidationResult):
        path = report.value(node, SH.resultPath)
        if isinstance(path, rdflib.BNode):  # a complex path: read it from the report, not the shapes
            path = report.cbd(path).serialize(format="turtle").strip()
        _sort_into(result, _issue(report.value(node, SH.resultSeverity),
                                  str(report.value(node, SH.resultMessage) or "constraint not met"),
                                  report.value(node, SH.focusNode), path, report.value(node, SH.value),
                                  report.value(node, SH.sourceShape)))
    return result


def _compiled_result(found: list[ShapeResult]) -> ValidationResult:
    result = ValidationResult(shape_results=found)
    for r in found:
        _sort_into(result, _issue(r.severity, r.message, r.focus, r.path, r.value, r.shape))
    return result
