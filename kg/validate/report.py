"""Validation results in plain terms (``Issue``) and as a standard sh:ValidationReport graph."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import pyoxigraph as ox
import rdflib
from rdflib.namespace import RDF, RDFS, SH

from kg.issues import Issue
from kg.store.reference import to_rdflib
from kg.validate.compiled import ShapeResult
from kg.validate.shapes import shapes_graph

_SEVERITY = {SH.Violation: "violation", SH.Warning: "warning", SH.Info: "info"}


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

    def add(self, issue: Issue) -> None:
        (self.violations if issue.severity == "violation" else self.warnings).append(issue)


def text(term) -> str | None:
    """A term as text: an IRI or a literal's lexical form, a blank node as _:label."""
    if term is None or isinstance(term, str) and not isinstance(term, rdflib.term.Node):
        return term
    if isinstance(term, rdflib.BNode):
        return f"_:{term}"
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return term.value if isinstance(term, (ox.NamedNode, ox.Literal)) else str(term)


def _path_text(path) -> str | None:
    if isinstance(path, rdflib.BNode):  # a complex path of the shapes: show its Turtle form
        return shapes_graph().cbd(path).serialize(format="turtle").strip()
    return None if path is None else str(path)  # an IRI, or a complex path already written out


def issue(severity, message, focus, path, value, shape) -> Issue:
    return Issue(severity=_SEVERITY.get(severity, "violation"), message=message, focus=text(focus),
                 path=_path_text(path), value=text(value), pitfall=_pitfall(shape))


@lru_cache(maxsize=None)
def _pitfall(shape) -> str | None:
    """The pitfall a shape documents (rdfs:seeAlso), looked up once per shape."""
    return text(shapes_graph().value(shape, RDFS.seeAlso)) if shape is not None else None


def compiled_result(found: list[ShapeResult]) -> ValidationResult:
    result = ValidationResult(shape_results=found)
    for r in found:
        result.add(issue(r.severity, r.message, r.focus, r.path, r.value, r.shape))
    return result


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
        report.add((node, SH.focusNode, to_rdflib(r.focus)))
        report.add((node, SH.resultSeverity, r.severity))
        report.add((node, SH.resultMessage, rdflib.Literal(r.message)))
        report.add((node, SH.sourceShape, r.shape))
        report.add((node, SH.sourceConstraintComponent, r.component))
        if r.value is not None:
            report.add((node, SH.value, to_rdflib(r.value)))
        if r.path is not None:
            report.add((node, SH.resultPath, r.path))
            if isinstance(r.path, rdflib.BNode):
                report += shapes.cbd(r.path)
    return report


def _report_issue(report: rdflib.Graph, found: Issue) -> None:
    """Add a graph-level violation to the sh:ValidationReport, so the report stays complete."""
    node = rdflib.BNode()
    validation_report = next(report.subjects(RDF.type, SH.ValidationReport))
    report.set((validation_report, SH.conforms, rdflib.Literal(False)))
    report.add((validation_report, SH.result, node))
    report.add((node, RDF.type, SH.ValidationResult))
    report.add((node, SH.resultSeverity, SH.Violation))
    report.add((node, SH.resultMessage, rdflib.Literal(found.message)))
    if found.focus:
        report.add((node, SH.focusNode, rdflib.URIRef(found.focus)))
