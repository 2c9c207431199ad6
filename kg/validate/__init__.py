"""SHACL validation of patient graphs (shapes/patient.ttl, value-sets.ttl and pitfalls.ttl), with the
shapes compiled to SPARQL (kg.validate.compiled, the default) or, as the reference, with pySHACL.

The data graph holds the patients, each with its own evaluation context (kg.validate.context: the date
it is judged at and its threshold set), plus the few knowledge-base facts the shapes read. A result
therefore depends on each patient's own context, never on the day the check runs or on its neighbours.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pyoxigraph as ox

from kg.errors import UsageError
from kg.input.batches import node_owners
from kg.input.coding import code_namespaces
from kg.store import from_oxigraph
from kg.store.parallel import SideBySide
from kg.terms import OWN_NAMESPACE
from kg.validate.compiled import ShapeResult
from kg.validate.context import (Evaluation, KnowledgeContext, check_thresholds, context_node, context_quads,
                                project_knowledge, threshold_sets)
from kg.validate.report import ValidationResult, compiled_result
from kg.validate.shapes import compiled_shapes, graph_violations, shapes_graph

__all__ = ["ENGINES", "Evaluation", "KnowledgeContext", "ValidationResult", "check_thresholds", "data_graph", "shapes_graph",
           "threshold_sets", "validate", "validate_many"]

ENGINES = ("sparql", "pyshacl")


def data_graph(graphs: Sequence, evaluations: Sequence[Evaluation], knowledge: KnowledgeContext | None = None) -> ox.Store:
    """The store the shapes run on: the patient graphs, each with its context, and the knowledge-base facts.

    A code still in a graph had no usable mapping: the reader reported it and it counts as unknown, so the
    shapes see the value as absent rather than as a wrong value of ours.
    """
    codes = code_namespaces()
    store = ox.Store()
    for index, (quads, evaluation) in enumerate(zip(graphs, evaluations)):
        store.extend(q for q in quads if not (isinstance(q.object, ox.NamedNode) and q.object.value.startswith(codes)))
        store.extend(context_quads(index, quads, evaluation, knowledge))
    store.extend((knowledge or project_knowledge()).facts)
    return store


def validate(quads, now: dt.date, thresholds: str = "seed", *, engine: str = "sparql") -> ValidationResult:
    """Validate one patient graph judged as of ``now``; violations block a recommendation, warnings
    travel with it."""
    return validate_many([quads], [Evaluation(now, thresholds)], engine=engine)[0]


def validate_many(graphs: Sequence, evaluations: Sequence[Evaluation], *, engine: str = "sparql",
                  owners: dict | None = None, knowledge: KnowledgeContext | None = None,
                  side: SideBySide | None = None) -> list[ValidationResult]:
    """Validate several patient graphs that share no node (see kg.input.batches), in one pass.

    Each result goes to the graph that owns its focus node (``owners``: ``node_owners(graphs)``, if the
    caller has it already). ``side``: how the shape queries may run side by side.
    """
    if engine == "pyshacl":
        from kg.validate.reference import validate_with_pyshacl

        results = [validate_with_pyshacl(data_graph([quads], [evaluation], knowledge))
                   for quads, evaluation in zip(graphs, evaluations)]
    elif engine == "sparql":
        found = compiled_shapes().run(data_graph(graphs, evaluations, knowledge), side=side)
        owners = node_owners(graphs) if owners is None else owners
        # each graph's evaluation context is its own, so a result about it goes to that graph alone
        owners = owners | {context_node(index): [index] for index in range(len(graphs))}
        shares: list[list[ShapeResult]] = [[] for _ in graphs]
        for r in found:
            for index in _holders(r, owners, graphs):
                shares[index].append(r)
        results = [compiled_result(share) for share in shares]
    else:
        raise UsageError(f"unknown validation engine {engine!r}: use {' or '.join(ENGINES)}")
    for quads, result in zip(graphs, results):
        for found_issue in graph_violations(quads):
            result.violations.append(found_issue)
            result.graph_issues.append(found_issue)
        # One property shape may fail several of its constraints with the same message: report it once.
        key = lambda i: (i.focus or "", i.path or "", i.message, i.value or "")  # noqa: E731
        result.violations = sorted(set(result.violations), key=key)
        result.warnings = sorted(set(result.warnings), key=key)
    return results


def _holders(result: ShapeResult, owners: dict, graphs: Sequence):
    """The graphs a result belongs to: those holding its focus node. A focus that no patient owns (a
    literal where a node was expected, or a shared term such as acr:Female or a code) belongs to the
    graphs that put it there: those stating it as the object of one of the shape's targeted predicates.
    One patient's mistake is never reported to the others that merely use the same term."""
    focus = result.focus
    if isinstance(focus, ox.Literal) or (isinstance(focus, ox.NamedNode) and focus.value.startswith(_shared_namespaces())):
        # Compared as values: the store keeps literals in canonical form ("24.0" comes back as "24").
        value = from_oxigraph(focus)
        stating = [index for index, quads in enumerate(graphs)
                   if any(q.predicate.value in result.object_targets and type(q.object) is type(focus)
                          and from_oxigraph(q.object) == value for q in quads)]
        if stating:
            return stating
    return owners.get(focus) or range(len(graphs))  # held by none: every graph, so no violation is ever lost


def _shared_namespaces() -> tuple[str, ...]:
    return (OWN_NAMESPACE, *code_namespaces())
