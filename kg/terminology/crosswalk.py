"""The crosswalk between terminology codes and our concepts, behind ``acr-kg map``.

From a code (a CURIE such as ``LOINC:80852-7``, a bare RadLex or Playbook id such as ``RPID572``, or a
full IRI): every concept of ours it is mapped to, with the SKOS predicate and the confidence, and the
ACR ratings of each concept. From one of our concepts: its codes in every terminology, including the
searches that found none. Mapping rows come from the SSSOM file (it alone holds confidence and comments);
labels and ratings come from the knowledge base by SPARQL.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from kg.errors import UsageError
from kg.terminology.mappings import MATCH_PREDICATES, TERMINOLOGIES, Mapping, MappingSet, load
from kg.resources import data_root
from kg.terms import ACR, ACRKB
from kg import queries
from kg.store import IRI, Backend, EmbeddedStore, to_oxigraph

# The bare identifiers people paste from RadLex and the Playbook.
_BARE_IDS = {"RPID": "RPID", "RID": "RADLEX"}
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


@dataclass(frozen=True)
class Rating:
    rating: str
    topic: int
    variant: int
    category: str
    category_label: str | None
    median: int | None
    revision: str | None


@dataclass(frozen=True)
class Concept:
    iri: str
    curie: str
    label: str | None
    ratings: list[Rating]


@dataclass(frozen=True)
class Link:
    """One mapping row: ``subject predicate object`` where the object is a code, or None if none was found."""

    subject: str
    subject_curie: str
    predicate: str
    object: str | None
    object_curie: str | None
    object_label: str | None
    terminology: str | None
    confidence: float | None
    comment: str
    no_term_found: bool


@dataclass(frozen=True)
class Answer:
    query: str
    kind: str  # "code" or "concept"
    iri: str
    curie: str
    concepts: list[Concept] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve(text: str, mapping_set: MappingSet) -> tuple[str, str]:
    """(IRI, CURIE) of what the user typed; UsageError for a malformed CURIE or an unknown prefix."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    if _IRI.fullmatch(text):
        to_oxigraph(IRI(text))  # a usage error unless it is a well-formed IRI
        return text, mapping_set.contract(text) or text
    bare = re.fullmatch(r"(RPID|RID)(\d+)", text, re.IGNORECASE)
    if bare:
        text = f"{_BARE_IDS[bare.group(1).upper()]}:{text}"
    prefix, sep, local = text.partition(":")
    if not sep or not prefix or not local:
        raise UsageError(f"{text!r} is neither a CURIE (PREFIX:CODE, e.g. LOINC:80852-7) nor a full IRI")
    canonical = {p.lower(): p for p in mapping_set.curie_map}.get(prefix.lower())
    if canonical is None:
        known = ", ".join(sorted(mapping_set.curie_map))
        raise UsageError(f"unknown prefix {prefix!r} in {text!r}; the mapping set declares: {known}")
    if canonical in ("RADLEX", "RPID"):
        local = local.upper()
        stem = "RID" if canonical == "RADLEX" else "RPID"
        local = stem + local if local.isdigit() else local
    terminology = TERMINOLOGIES.get(canonical)
    if terminology and not terminology.pattern.fullmatch(local):
        raise UsageError(f"{local!r} is not a well-formed {terminology.name} code "
                         f"(prefix {canonical}, pattern {terminology.pattern.pattern})")
    curie = f"{canonical}:{local}"
    iri = mapping_set.expand(curie)
    to_oxigraph(IRI(iri))
    return iri, curie


def _link(mapping_set: MappingSet, m: Mapping) -> Link:
    terminology = mapping_set.terminology(m)
    code = None if m.no_term_found else mapping_set.expand(m.object_id)
    return Link(
        subject=mapping_set.expand(m.subject_id), subject_curie=m.subject_id, predicate=m.predicate_id,
        object=code, object_curie=None if m.no_term_found else m.object_id, object_label=m.object_label or None,
        terminology=terminology.name if terminology else None, confidence=m.confidence, comment=m.comment,
        no_term_found=m.no_term_found)


def _predicate_rank(link: Link) -> int:
    return MATCH_PREDICATES.index(link.predicate) if link.predicate in MATCH_PREDICATES else len(MATCH_PREDICATES)


def _by_terminology(link: Link):
    """A concept's codes: by terminology, codes before 'none found', exact before close, broad, narrow."""
    return (link.terminology or "~", link.no_term_found, _predicate_rank(link), link.object_curie or "")


def _by_concept(link: Link):
    """A code's concepts: the one code_index picks first (exact, then the patient vocabulary)."""
    return (_predicate_rank(link), not link.subject.startswith(ACR), link.subject)


def _concept(backend: Backend, iri: str, curie: str, fallback_label: str | None) -> Concept:
    labels = backend.select(queries.internal("concept-label").text, {"concept": IRI(iri)})
    label = labels.rows[0]["label"] if labels.rows else fallback_label
    ratings = [Rating(rating=r["rating"], topic=r["topicId"], variant=r["variantNumber"], category=r["category"],
                      category_label=r["categoryLabel"], median=r["median"], revision=r["revision"])
               for r in backend.select(queries.internal("concept-ratings").text, {"concept": IRI(iri)})]
    return Concept(iri, curie, label, ratings)


def lookup(text: str, mapping_set: MappingSet | None = None, backend: Backend | None = None) -> Answer:
    """Answer one ``acr-kg map`` question; UsageError when the code or concept is unknown."""
    mapping_set = mapping_set or load()
    iri, curie = resolve(text, mapping_set)
    backend = backend or EmbeddedStore()
    where = mapping_set.path.relative_to(data_root()) if mapping_set.path.is_relative_to(data_root()) else mapping_set.path

    if iri.startswith((ACR, ACRKB)):
        rows = [m for m in mapping_set.mappings if mapping_set.expand(m.subject_id) == iri]
        if not rows and not backend.ask(queries.internal("concept-declared").text, {"concept": IRI(iri)}):
            raise UsageError(f"{curie} is neither declared in the ontology nor a subject of the mapping set {where}")
        links = sorted((_link(mapping_set, m) for m in rows), key=_by_terminology)
        fallback = rows[0].subject_label if rows else None
        return Answer(text, "concept", iri, curie, [_concept(backend, iri, curie, fallback)], links)

    rows = [m for m in mapping_set.mappings if not m.no_term_found and mapping_set.expand(m.object_id) == iri]
    if not rows:
        raise UsageError(f"{curie} is not in the mapping set {where}: no concept of acr-kg is linked to it")
    links = sorted((_link(mapping_set, m) for m in rows), key=_by_concept)
    labels = {mapping_set.expand(m.subject_id): m.subject_label for m in rows}
    concepts = {}
    for link in links:
        if link.subject not in concepts:
            concepts[link.subject] = _concept(backend, link.subject, link.subject_curie, labels[link.subject] or None)
    return Answer(text, "code", iri, curie, list(concepts.values()), links)
