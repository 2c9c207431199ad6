"""The patient shapes, compiled once, and the whole-graph checks no shape can express."""
from __future__ import annotations

from functools import lru_cache

import pyoxigraph as ox
import rdflib

from kg import queries
from kg.input.batches import patients_in
from kg.issues import Issue
from kg.resources import ontology_dir, shapes_dir
from kg.terms import OWL, OWN_NAMESPACE, RDF_TYPE
from kg.validate.compiled import CompiledShapes, compile_shapes

PATIENT_SHAPES = ("patient.ttl", "value-sets.ttl", "pitfalls.ttl")


@lru_cache(maxsize=None)
def shapes_graph(names: tuple[str, ...] = PATIENT_SHAPES) -> rdflib.Graph:
    graph = rdflib.Graph()
    for name in names:
        graph.parse(shapes_dir() / name, format="turtle")
    return graph


@lru_cache(maxsize=None)
def compiled_shapes(names: tuple[str, ...] = PATIENT_SHAPES) -> CompiledShapes:
    return compile_shapes(shapes_graph(names))


@lru_cache(maxsize=1)
def input_vocabulary() -> tuple[frozenset, frozenset]:
    """(properties, classes) a patient graph may use from our namespace: those of ontology/patient.ttl.

    Everything else of ours is knowledge base or derived (case aspects, matched variants, node readings,
    evaluation contexts): stating it in the input would bypass the derivation or change the criteria.
    """
    store = ox.Store()
    store.load(path=str(ontology_dir() / "patient.ttl"), format=ox.RdfFormat.TURTLE)
    terms = [(solution["term"].value, solution["kind"].value)
             for solution in store.query(queries.internal("patient-vocabulary").text)]
    return (frozenset(term for term, kind in terms if kind != OWL + "Class"),
            frozenset(term for term, kind in terms if kind == OWL + "Class"))


def graph_violations(quads) -> list[Issue]:
    """Checks on the graph as a whole: one patient per graph, no statements about the ontology's or
    knowledge base's own terms, and only the patient vocabulary from our namespace."""
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
