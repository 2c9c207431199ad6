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


@lru_cache(maxsize=1)
def threshold_sets() -> dict[str, str]:
    """Selector key -> threshold set IRI, as the knowledge base defines them."""
    rows = EmbeddedStore().select(queries.internal("threshold-sets").text)
    return {row["key"]: row["set"] for row in rows}


def check_thresholds(key: str) -> None:
    if key not in threshold_sets():
        raise UsageError(f"unknown threshold set {key!r}; the knowledge base has: {', '.join(sorted(threshold_sets()))}")


@lru_cache(maxsize=1)
def knowledge_base_context() -> tuple[ox.Quad, ...]:
    """The few knowledge-base facts the shapes read (every threshold set and its thresholds, the nodal
    status each N category implies), read once."""
    return tuple(ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o))
                 for s, p, o in EmbeddedStore().construct(queries.internal("validation-context").text))


def context_quads(index: int, quads, evaluation: Evaluation) -> list[ox.Quad]:
    """The context triples of graph number ``index`` in a batch (for each patient it holds)."""
    check_thresholds(evaluation.thresholds)
    node = ox.NamedNode(f"urn:acr-kg:context:{index}")
    facts = [ox.Quad(node, _TYPE, ox.NamedNode(ACR + "EvaluationContext")),
             ox.Quad(node, ox.NamedNode(ACR + "evaluationDate"),
                     ox.Literal(evaluation.date.isoformat(), datatype=ox.NamedNode(XSD + "date"))),
             ox.Quad(node, ox.NamedNode(ACR + "usesThresholdSet"), ox.NamedNode(threshold_sets()[evaluation.thresholds]))]
    facts += [ox.Quad(node, ox.NamedNode(ACR + "evaluates"), ox.NamedNode(p)) for p in patients_in(quads)]
    return facts
