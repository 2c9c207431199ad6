"""The evaluation context of each patient: the date it is judged at and the threshold set used to read
its ultrasound, as triples beside the patient (never as query parameters), so one batch can mix
patients judged on different dates or with different thresholds and give each the answer it gets alone.

The context node ``urn:acr-kg:context:N`` says ``acr:evaluates`` the patient, with ``acr:evaluationDate``
and ``acr:usesThresholdSet``. Shapes and derivation queries reach it from the patient.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import pyoxigraph as ox

from kg import queries
from kg.errors import UsageError
from kg.input.batches import patients_in
from kg.store import EmbeddedStore, to_oxigraph
from kg.terms import ACR, RDF_TYPE, XSD

_TYPE = ox.NamedNode(RDF_TYPE)


@dataclass(frozen=True)
class Evaluation:
    """How one patient is judged: as of which date, with which threshold set (its selector key)."""

    date: dt.date
    thresholds: str = "seed"


@dataclass(frozen=True)
class KnowledgeContext:
    """What validation reads of a knowledge base: its threshold sets (selector key -> IRI) and the few
    facts the shapes use (every threshold set with its thresholds, the nodal status each N category
    implies). An engine reads it once from its own store, so an imported knowledge base is used whole."""

    threshold_sets: dict[str, str]
    facts: tuple[ox.Quad, ...]

    @classmethod
    def read(cls, store) -> KnowledgeContext:
        rows = store.select(queries.internal("threshold-sets").text)
        facts = store.construct(queries.internal("validation-context").text)
        return cls({row["key"]: row["set"] for row in rows},
                   tuple(ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)) for s, p, o in facts))


@lru_cache(maxsize=1)
def project_knowledge() -> KnowledgeContext:
    """The knowledge context of the project's own knowledge base, for calls made without an engine."""
    return KnowledgeContext.read(EmbeddedStore())


def threshold_sets(knowledge: KnowledgeContext | None = None) -> dict[str, str]:
    return (knowledge or project_knowledge()).threshold_sets


def check_thresholds(key: str, knowledge: KnowledgeContext | None = None) -> None:
    known = threshold_sets(knowledge)
    if key not in known:
        raise UsageError(f"unknown threshold set {key!r}; the knowledge base has: {', '.join(sorted(known))}")


def context_node(index: int) -> ox.NamedNode:
    """The evaluation context of graph number ``index`` in a batch."""
    return ox.NamedNode(f"urn:acr-kg:context:{index}")


def context_quads(index: int, quads, evaluation: Evaluation, knowledge: KnowledgeContext | None = None) -> list[ox.Quad]:
    """The context triples of graph number ``index`` in a batch (for each patient it holds)."""
    check_thresholds(evaluation.thresholds, knowledge)
    node = context_node(index)
    facts = [ox.Quad(node, _TYPE, ox.NamedNode(ACR + "EvaluationContext")),
             ox.Quad(node, ox.NamedNode(ACR + "evaluationDate"),
                     ox.Literal(evaluation.date.isoformat(), datatype=ox.NamedNode(XSD + "date"))),
             ox.Quad(node, ox.NamedNode(ACR + "usesThresholdSet"),
                     ox.NamedNode(threshold_sets(knowledge)[evaluation.thresholds]))]
    facts += [ox.Quad(node, ox.NamedNode(ACR + "evaluates"), ox.NamedNode(p)) for p in patients_in(quads)]
    return facts
