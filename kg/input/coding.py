"""Coded patient input: standard terminology codes in a patient graph become our concepts.

EHR data name things in SNOMED CT, LOINC, ICD-10-CM and friends. Before validation, each code that the
mapping set links to one of our concepts (kg.mappings.code_index) is replaced by that concept, so that
validation and matching give the same answer as with our IRIs. An rdf:type code is added to, not
replacing, the node's types. A code that has no usable mapping stays as it is and is reported by name:
the reader never drops or guesses a value.
"""
from __future__ import annotations

from functools import lru_cache

import pyoxigraph as ox

from kg import queries
from kg.issues import Issue
from kg.terminology.mappings import code_index, load, terminology_namespaces
from kg.terms import RDF_TYPE
from kg.store import EmbeddedStore


@lru_cache(maxsize=1)
def _lookup():
    mapping_set = load()
    classes = {r["class"] for r in EmbeddedStore().select(queries.internal("classes").text)}
    return code_index(mapping_set), terminology_namespaces(mapping_set), mapping_set, classes


def code_namespaces() -> tuple[str, ...]:
    """The namespace IRIs of the terminologies whose codes the reader recognises."""
    return tuple(_lookup()[1])


def _terminology(iri: str, namespaces: dict[str, str]) -> str | None:
    return next((name for ns, name in namespaces.items() if iri.startswith(ns)), None)


def normalize_codes(quads: list) -> tuple[list, list[Issue]]:
    """Replace mapped codes by our concepts; warn, naming the code, about codes without a mapping."""
    index, namespaces, mapping_set, classes = _lookup()
    coded = tuple(namespaces)  # one C-level test first: most values are the toolkit's own IRIs or literals
    result, warnings = [], []
    for quad in quads:
        code = quad.object.value if isinstance(quad.object, ox.NamedNode) else None
        terminology = _terminology(code, namespaces) if code and code.startswith(coded) else None
        if terminology is None:
            result.append(quad)
            continue
        typing = quad.predicate.value == RDF_TYPE
        concept = next((c for c in index.get(code, ()) if (c in classes) == typing), None)
        if concept is None:
            result.append(quad)
            curie = mapping_set.contract(code) or code
            warnings.append(Issue(
                "warning", f"{curie} ({terminology}) has no usable mapping to a concept of this toolkit: "
                           "the value is treated as unknown", quad.subject.value, quad.predicate.value, code))
            continue
        if typing:
            result.append(quad)
        result.append(ox.Quad(quad.subject, quad.predicate, ox.NamedNode(concept), quad.graph_name))
    return list(dict.fromkeys(result)), warnings  # a code and our IRI may both have been given
