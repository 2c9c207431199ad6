"""Which patient graphs can be evaluated together, and which graph owns each node.

A batch puts several patients in one store so that each query runs once for all of them. That is only
sound when no node is shared: a node two graphs both describe would mix their facts. Results and
derived facts are then handed back to the graph that owns their subject.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyoxigraph as ox

from kg.input.coding import code_namespaces
from kg.terms import ACR, OWN_NAMESPACE, RDF_TYPE

BATCH_SIZE = 500  # patients per store; larger batches gain little and hold more memory


def patients_in(quads) -> list[str]:
    """The nodes typed acr:Patient."""
    return sorted({q.subject.value for q in quads
                   if q.predicate.value == RDF_TYPE and q.object.value == ACR + "Patient"})


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


def node_owners(graphs: Sequence) -> dict:
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


def batches(graphs: Sequence, size: int = BATCH_SIZE) -> Iterator[list[int]]:
    """Indexes of graphs that can share a store: no node in common, at most ``size`` per batch.

    Evaluation dates and threshold sets may differ within a batch: they are facts of each patient's
    own evaluation context, not parameters of the queries.
    """
    open_batches: list[tuple[list[int], set]] = []
    for index, quads in enumerate(graphs):
        nodes = own_nodes(quads)
        for members, taken in open_batches:
            if len(members) < size and taken.isdisjoint(nodes):
                members.append(index)
                taken |= nodes
                break
        else:
            open_batches.append(([index], nodes))
    for members, _ in open_batches:
        yield members
