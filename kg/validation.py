"""SHACL validation of patient graphs with pySHACL (shapes in shapes/patient.ttl and shapes/pitfalls.ttl).

The data graph is the patient plus an evaluation context: the evaluation date and the chosen threshold
set, copied from the knowledge base. Date checks and the palpable-node warning read it, so a result
depends on these parameters and never on the day the check runs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import pyoxigraph as ox
import pyshacl
import rdflib
from rdflib.namespace import RDF, RDFS, SH

from kg.coding import code_namespaces
from kg.issues import Issue
from kg.paths import ACR, ONTOLOGY_DIR, RDF_TYPE, SHAPES_DIR
from kg.store import XSD, EmbeddedStore, to_oxigraph

PATIENT_SHAPES = ("patient.ttl", "value-sets.ttl", "pitfalls.ttl")
CONTEXT = "urn:acr-kg:evaluation-context"
OWN_NAMESPACE = "https://w3id.org/acr-kg/"


@dataclass
class ValidationResult:
    violations: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    report: rdflib.Graph | None = None

    @property
    def valid(self) -> bool:
        return not self.violations


@lru_cache(maxsize=None)
def shapes_graph(names: tuple[str, ...] = PATIENT_SHAPES) -> rdflib.Graph:
    graph = rdflib.Graph()
    for name in names:
        graph.parse(SHAPES_DIR / name, format="turtle")
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
    if term is None:
        return None
    if isinstance(term, rdflib.Literal):
        return str(term)
    if isinstance(term, rdflib.BNode):
        return f"_:{term}"
    return str(term)


def _path_text(report: rdflib.Graph, path) -> str | None:
    if path is None:
        return None
    if isinstance(path, rdflib.BNode):  # complex path: show its Turtle form
        return report.cbd(path).serialize(format="turtle").strip()
    return str(path)


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
    store.load(path=str(ONTOLOGY_DIR / "patient.ttl"), format=ox.RdfFormat.TURTLE)

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


def validate(quads, now: dt.date, thresholds: str = "seed") -> ValidationResult:
    """Validate one patient graph; violations block a recommendation, warnings travel with it."""
    shapes = shapes_graph()
    conforms, report, _text = pyshacl.validate(
        data_graph(quads, now, thresholds), shacl_graph=shapes, inference="none",
        allow_warnings=True, advanced=True, abort_on_first=False)
    result = ValidationResult(report=report)
    for issue in graph_violations(quads):
        _report_issue(report, issue)
    for node in report.subjects(RDF.type, SH.ValidationResult):
        severity = _SEVERITY.get(report.value(node, SH.resultSeverity), "violation")
        source_shape = report.value(node, SH.sourceShape)
        pitfall = shapes.value(source_shape, RDFS.seeAlso) if source_shape is not None else None
        issue = Issue(
            severity=severity,
            message=str(report.value(node, SH.resultMessage) or "constraint not met"),
            focus=_short(report.value(node, SH.focusNode)),
            path=_path_text(report, report.value(node, SH.resultPath)),
            value=_short(report.value(node, SH.value)),
            pitfall=_short(pitfall),
        )
        (result.violations if severity == "violation" else result.warnings).append(issue)
    # One property shape may fail several of its constraints with the same message: report it once.
    key = lambda i: (i.focus or "", i.path or "", i.message, i.value or "")
    result.violations = sorted(set(result.violations), key=key)
    result.warnings = sorted(set(result.warnings), key=key)
    return result
