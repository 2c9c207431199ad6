"""pySHACL, the reference engine the compiled shapes are tested against (``--engine pyshacl``).

Imported only when asked for: pySHACL is slow to import.
"""
from __future__ import annotations

import pyoxigraph as ox
import pyshacl
import rdflib
from rdflib.namespace import RDF, SH

from kg.store.reference import to_rdflib
from kg.validate.report import ValidationResult, issue
from kg.validate.shapes import shapes_graph


def validate_with_pyshacl(store: ox.Store) -> ValidationResult:
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
            data.add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
        report = run(data)
    result = ValidationResult(pyshacl_report=report)
    for node in report.subjects(RDF.type, SH.ValidationResult):
        path = report.value(node, SH.resultPath)
        if isinstance(path, rdflib.BNode):  # a complex path: read it from the report, not the shapes
            path = report.cbd(path).serialize(format="turtle").strip()
        result.add(issue(report.value(node, SH.resultSeverity),
                         str(report.value(node, SH.resultMessage) or "constraint not met"),
                         report.value(node, SH.focusNode), path, report.value(node, SH.value),
                         report.value(node, SH.sourceShape)))
    return result
