"""Population classes: one OWL class per variant, generated from its applicability criteria.

A variant's criteria are data (acr:InclusionCriterion / acr:ExclusionCriterion individuals) so that one
generic SPARQL query can match them. The same criteria, written as an OWL class equivalent to
``Patient and (aspect value a or aspect value b) and not (aspect value x) ...``, let a DL reasoner
classify a patient into the variants that cover them without any SPARQL.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import rdflib
from rdflib.namespace import RDF, RDFS

from kg.errors import InputError
from kg.terms import ACR, ACRKB

_ACR = rdflib.Namespace(ACR)

PREFIXES = {
    "acr": ACR,
    "acrkb": ACRKB,
    "owl": "http://www.w3.org/2002/07/owl#",
    "prov": "http://www.w3.org/ns/prov#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
}

HEADER = """\
# GENERATED FILE: do not edit. `acr-kg build` writes it from the applicability criteria of the
# variants (acr:hasApplicabilityCriterion in ontology/kb/*.ttl); change the criteria and run
# `acr-kg build` again. `acr-kg build --check` fails while this file is out of date.
"""


@dataclass(frozen=True)
class Criterion:
    iri: str
    label: str
    aspect: str
    values: tuple[str, ...]
    exclusion: bool


@dataclass(frozen=True)
class VariantCriteria:
    variant: str
    topic_id: int
    number: int
    criteria: tuple[Criterion, ...]

    @property
    def population(self) -> str:
        return population_iri(self.topic_id, self.number)


def population_iri(topic_id: int, number: int) -> str:
    return f"{ACRKB}Population-{topic_id}-{number}"


def _label(graph: rdflib.Graph, node) -> str | None:
    # English first, then untagged; sorted so that the choice is stable between runs.
    labels = sorted(graph.objects(node, RDFS.label), key=lambda lit: (getattr(lit, "language", None) != "en", str(lit)))
    return str(labels[0]) if labels else None


def read_criteria(graph: rdflib.Graph) -> list[VariantCriteria]:
    """Every variant with its criteria, ordered by topic and variant number."""
    variants = []
    for variant in set(graph.subjects(RDF.type, _ACR.Variant)):
        number = graph.value(variant, _ACR.variantNumber)
        topic_id = graph.value(graph.value(variant, _ACR.ofTopic), _ACR.topicId)
        if number is None or topic_id is None:
            raise InputError(f"variant {variant} has no acr:variantNumber or no acr:ofTopic with an acr:topicId")
        criteria = []
        for node in graph.objects(variant, _ACR.hasApplicabilityCriterion):
            types = set(graph.objects(node, RDF.type))
            exclusion = _ACR.ExclusionCriterion in types
            if exclusion == (_ACR.InclusionCriterion in types):
                raise InputError(f"criterion {node} must be exactly one of acr:InclusionCriterion, acr:ExclusionCriterion")
            aspect = graph.value(node, _ACR.criterionAspect)
            values = graph.objects(node, _ACR.excludedValue if exclusion else _ACR.acceptedValue)
            values = tuple(sorted(str(v) for v in values))
            label = _label(graph, node)
            if aspect is None or not values or label is None:
                raise InputError(f"criterion {node} needs an rdfs:label, an acr:criterionAspect and at least one "
                                 f"{'acr:excludedValue' if exclusion else 'acr:acceptedValue'}")
            criteria.append(Criterion(str(node), label, str(aspect), values, exclusion))
        if not criteria:
            # An empty intersection would be acr:Patient itself and capture every patient.
            raise InputError(f"variant {variant} has no applicability criteria, so no population class can be generated")
        criteria.sort(key=lambda c: (c.exclusion, c.aspect, c.iri))
        variants.append(VariantCriteria(str(variant), int(topic_id), int(number), tuple(criteria)))
    return sorted(variants, key=lambda v: (v.topic_id, v.number))


# --- writing Turtle by hand: the output must be byte-stable, which rdflib's serialisers don't promise
#     for nested blank nodes -----------------------------------------------------------------------

def _name(iri: str) -> str:
    for prefix, namespace in PREFIXES.items():
        local = iri[len(namespace):]
        if iri.startswith(namespace) and local and all(ch.isalnum() or ch in "-_" for ch in local) and local[0].isalpha():
            return f"{prefix}:{local}"
    return f"<{iri}>"


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) + "@en"  # a JSON string is a valid Turtle string


def _has_value(aspect: str, value: str) -> str:
    return f"[ a owl:Restriction ; owl:onProperty {_name(aspect)} ; owl:hasValue {_name(value)} ]"


def _condition(criterion: Criterion, indent: str) -> str:
    restrictions = [_has_value(criterion.aspect, v) for v in criterion.values]
    if len(restrictions) == 1:
        expression = restrictions[0]
    else:
        inner = "".join(f"\n{indent}        {r}" for r in restrictions)
        expression = f"[ a owl:Class ; owl:unionOf ({inner}\n{indent}    ) ]"
    if criterion.exclusion:
        expression = f"[ a owl:Class ; owl:complementOf {expression} ]"
    comment = " ".join(criterion.label.split())  # one line, whatever the label holds
    return f"{indent}# {comment} ({_name(criterion.iri)})\n{indent}{expression}"


def _definition(v: VariantCriteria) -> str:
    conditions = "; ".join(c.label for c in v.criteria)
    return (f"The patients to whom variant {v.number} of ACR topic {v.topic_id} applies: those who meet every one "
            f"of its applicability criteria ({conditions}). Generated from those criteria.")


def _class_block(v: VariantCriteria) -> str:
    indent = " " * 12
    conditions = "\n".join(_condition(c, indent) for c in v.criteria)
    return (
        f"{_name(v.population)} a owl:Class ;\n"
        f"    rdfs:label {_string(f'patients covered by topic {v.topic_id} variant {v.number}')} ;\n"
        f"    skos:definition {_string(_definition(v))} ;\n"
        f"    prov:wasDerivedFrom {_name(v.variant)} ;\n"
        f"    owl:equivalentClass [ a owl:Class ;\n"
        f"        owl:intersectionOf (\n"
        f"{indent}acr:Patient\n"
        f"{conditions}\n"
        f"        ) ] .\n"
        f"\n"
        f"{_name(v.variant)} acr:populationClass {_name(v.population)} .\n"
    )


def populations_turtle(graph: rdflib.Graph) -> str:
    """The Turtle text of the population classes for every variant in ``graph``."""
    prefixes = "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in PREFIXES.items())
    blocks = "\n".join(_class_block(v) for v in read_criteria(graph))
    return f"{HEADER}\n{prefixes}\n{blocks}"
