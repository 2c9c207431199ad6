"""Value-set shapes, generated from the ontology: the allowed values of each coded patient property.

A coded property of the patient vocabulary (histology, N category, therapy type, modality, ...) has an
rdfs:range whose members are named individuals of the ontology or knowledge base. Writing those members
into SHACL by hand would keep two lists; `acr-kg build` writes shapes/value-sets.ttl from the ontology
instead (plain sh:in, which pySHACL checks quickly), and `acr-kg build --check` keeps it current.
"""
from __future__ import annotations

import rdflib
from rdflib.namespace import OWL, RDF, RDFS

from kg.resources import ontology_dir
from kg.terms import ACR

HEADER = """\
# GENERATED FILE: do not edit. `acr-kg build` writes it from the ontology: for each coded property of
# the patient vocabulary (ontology/patient.ttl), the members of its rdfs:range. A standard terminology
# code in such a property is mapped to these members, or reported by name, before validation (kg/coding.py).
@prefix acr:   <https://w3id.org/acr-kg/ontology/> .
@prefix acrkb: <https://w3id.org/acr-kg/kb/> .
@prefix acrsh: <https://w3id.org/acr-kg/shapes/> .
@prefix sh:    <http://www.w3.org/ns/shacl#> .
"""


def _curie(iri: str) -> str:
    for prefix, namespace in (("acr", ACR), ("acrkb", "https://w3id.org/acr-kg/kb/")):
        if iri.startswith(namespace):
            return f"{prefix}:{iri[len(namespace):]}"
    return f"<{iri}>"


def value_set_shapes(graph: rdflib.Graph) -> str:
    """Turtle: one node shape per coded property of the patient vocabulary, its values as sh:in."""
    patient = rdflib.Graph().parse(ontology_dir() / "patient.ttl", format="turtle")
    blocks = [HEADER]
    for prop in sorted(set(patient.subjects(RDF.type, OWL.ObjectProperty))):
        value_set = graph.value(prop, RDFS.range)
        members = sorted(str(m) for m in graph.subjects(RDF.type, value_set) if isinstance(m, rdflib.URIRef))
        if value_set is None or not members:
            continue  # a structural link (to a cancer, a course, a study), not a coded value
        name = str(prop)[len(ACR):]
        label = graph.value(prop, RDFS.label) or name
        set_label = graph.value(value_set, RDFS.label) or str(value_set)
        values = " ".join(_curie(m) for m in members)
        blocks.append(
            f"acrsh:{name}-values a sh:NodeShape ;\n"
            f"    sh:targetSubjectsOf {_curie(str(prop))} ;\n"
            f"    sh:property [\n"
            f"        sh:path {_curie(str(prop))} ;\n"
            f"        sh:in ( {values} ) ;\n"
            f"        sh:message \"not a valid {label}: use one of the {set_label} values of the ontology, "
            f"or a mapped code\" ] .\n")
    return "\n".join(blocks)
