"""FHIR resources -> patient graphs in our vocabulary, by the rules of queries/fhir/*.rq.

The resources of one patient are read as RDF (the FHIR JSON as JSON-LD, every element a fhir: term, each
resource named urn:fhir:Type/id, each resolvable reference given a fhir:link to its target), together with
the value sets of ontology/kb/fhir-value-sets.ttl and the procedures of the knowledge base. The SPARQL
rules then run in order, each adding its facts for the next; the patient graph is what they state about
the patient's nodes, every node with prov:wasDerivedFrom the resources it came from.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import threading
from collections import Counter, OrderedDict, defaultdict
from functools import cache
from urllib.parse import quote

import pyoxigraph as ox

from kg import queries
from kg.errors import InputError
from kg.input.fhir.records import FHIR, MAPPED, SHARED, Resource, drug_reference, named_iris, read_elements
from kg.input.fhir.systems import system_name
from kg.issues import Issue
from kg.resources import kb_dir, ontology_dir
from kg.store.terms import IRI, bind
from kg.terms import ACR

FX = "urn:acr-kg:fhir:"
CONTEXT = {"@vocab": FHIR, "resourceType": "@type", "link": {"@type": "@id"}}
# The rules, in the order they run: internal facts first (classification, chronology, findings), then the
# patient graph (rules that state acr: terms), each reading what the earlier ones added.
RULES = ("codings", "classify", "breast-cancer-condition", "chronology-surgery", "chronology-therapy", "findings",
         "patient", "breast-cancer", "therapy-courses", "surgery", "imaging", "order")
KB = "https://w3id.org/acr-kg/kb/"
PROV_DERIVED = "http://www.w3.org/ns/prov#wasDerivedFrom"
IMAGING_BY_MODALITY = ("mammography", "mri-breast")  # value sets whose subject is a modality, not a procedure


@cache
def _knowledge() -> tuple:
    """The value sets, the procedures with their codes, and the N categories' nodal status: the facts whose
    predicate the mapping's queries name (labels, definitions and sources are no rule's input)."""
    named = named_iris()
    return tuple(q for q in knowledge_quads() if q.predicate.value in named)


def knowledge_quads() -> list:
    """Every fact of the knowledge-base files the mapping reads."""
    files = (kb_dir() / "fhir-value-sets.ttl", kb_dir() / "procedures.ttl", kb_dir() / "mappings.ttl", ontology_dir() / "patient.ttl")
    return [q for path in files for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)]


def _linked(value, targets: dict[str, str], elements: frozenset[str] | None):
    """A copy of a resource's JSON with only the ``elements`` (None: all), in which every resolvable
    reference also carries link: its target's IRI."""
    if isinstance(value, list):
        return [_linked(item, targets, elements) for item in value]
    if not isinstance(value, dict):
        return value
    copy = {key: _linked(item, targets, elements) for key, item in value.items()
            if key not in ("text", "contained") and (elements is None or key in elements or key == "resourceType")}
    if isinstance(value.get("reference"), str) and (target := resolve(value["reference"], targets)):
        copy["link"] = target
    return copy


def _contained(resource: Resource) -> dict[str, tuple[str, dict]]:
    """{local id: (IRI, JSON)} of the resources a resource contains that belong to no patient (a Medication).
    A contained Patient or Condition is never read: it would add another person's facts to the patient."""
    found = {}
    for item in resource.data.get("contained") or []:
        if isinstance(item, dict) and item.get("resourceType") in SHARED and isinstance(item.get("id"), str):
            found[item["id"]] = (f"{resource.iri}#{quote(item['id'], safe='-.')}", item)
    return found


def resolve(reference: str, targets: dict[str, str]) -> str | None:
    """The IRI a reference points to: a fullUrl of the input, Type/id, or an absolute URL ending in Type/id."""
    if reference in targets:
        return targets[reference]
    tail = "/".join(reference.rstrip("/").split("/")[-2:])
    return targets.get(tail)


def reference_targets(resources: list[Resource]) -> dict[str, str]:
    targets = {}
    for resource in resources:
        if resource.data.get("id"):
            targets[f"{resource.type}/{resource.data['id']}"] = resource.iri
        if resource.full_url:
            targets[resource.full_url] = resource.iri
    return targets


def _view(resources: list[Resource], targets: dict[str, str]) -> list:
    """The resources as RDF, with the elements the mapping's queries name."""
    elements = read_elements()
    graph = []
    for r in resources:
        if r.type in MAPPED:
            contained = _contained(r)
            # a reference "#id" inside a resource names one of its contained resources (a Medication, say)
            local = dict(targets, **{f"#{key}": iri for key, (iri, _) in contained.items()}) if contained else targets
            graph.append(dict(_linked(r.data, local, elements), **{"@id": r.iri}))
            graph += [dict(_linked(data, local, elements), **{"@id": iri}) for iri, data in contained.values()]
    if not graph:
        return []
    return list(ox.parse(json.dumps({"@context": CONTEXT, "@graph": graph}).encode(), format=ox.RdfFormat.JSON_LD))


def _day(term) -> dt.date:
    return dt.date.fromisoformat(term.value)


def _run(store: ox.Store, name: str, params: dict | None = None):
    return store.query(bind(queries.get(f"fhir/{name}").text, params))


def _run_internal(store: ox.Store, name: str, params: dict | None = None):
    """A query the reader asks for its own notes (queries/internal/fhir/), not a mapping rule."""
    return store.query(bind(queries.internal(f"fhir/{name}").text, params))


_MAPPED_RECORDS: OrderedDict[str, tuple[tuple, tuple]] = OrderedDict()
_MAPPED_LOCK = threading.Lock()
MAPPED_RECORDS_KEPT = 256
_LABEL = "\x00record\x00"  # stands for the record's name in kept warnings


def map_patient(resources: list[Resource], targets: dict[str, str], base: str, now: dt.date,
                label: str, *, order: str | None = None) -> tuple[list, list[Issue]]:
    """The patient graph of one patient's resources as of ``now``, and what the reader has to say about it.
    ``order``: the IRI of the ServiceRequest that is the order judged (None: the latest draft or active one).

    The mapping is a function of its inputs alone, so the answers for the last few records are kept by
    their content: an EHR sends the same chart for order-select and again for order-sign."""
    key = hashlib.sha256(json.dumps([[(r.iri, r.full_url, r.data) for r in resources], sorted(targets.items()),
                                     base, now.isoformat(), order], sort_keys=True, default=str).encode()).hexdigest()
    with _MAPPED_LOCK:
        kept = _MAPPED_RECORDS.get(key)
        if kept is not None:
            _MAPPED_RECORDS.move_to_end(key)
    if kept is None:
        try:
            quads, warnings = _map_patient(resources, targets, base, now, _LABEL, order)
        except _Unreadable as exc:
            raise InputError(str(exc), label) from None
        kept = (tuple(quads), tuple(warnings))
        with _MAPPED_LOCK:
            _MAPPED_RECORDS[key] = kept
            while len(_MAPPED_RECORDS) > MAPPED_RECORDS_KEPT:
                _MAPPED_RECORDS.popitem(last=False)
    # the record's name is not part of the mapping: it is written into the warnings of each call
    return list(kept[0]), [dataclasses.replace(w, message=w.message.replace(_LABEL, label)) for w in kept[1]]


def _map_patient(resources: list[Resource], targets: dict[str, str], base: str, now: dt.date,
                 label: str, order: str | None = None) -> tuple[list, list[Issue]]:
    warnings: list[Issue] = []
    view = _view(resources, targets)
    store = ox.Store()
    store.extend(view)
    days = list(_run(store, "event-days"))
    later = {t.subject for t in days if t.predicate.value == FX + "day" and _day(t.object) > now}
    undated = sorted({t.subject.value for t in days if t.predicate.value == FX + "dated"}
                     - {t.subject.value for t in days if t.predicate.value == FX + "day"})
    if later:
        kinds = Counter(r.type for r in resources if ox.NamedNode(r.iri) in later)
        warnings.append(Issue("warning", f"{len(later)} resource{'s' if len(later) != 1 else ''} dated after the evaluation date "
                              f"{now.isoformat()} left out of the patient graph ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})",
                              None, None, str(len(later))))
        kept = [r for r in resources if ox.NamedNode(r.iri) not in later]
    else:
        kept = resources
    _check_drugs(kept, targets)
    if later:
        store = ox.Store()
        store.extend(_view(kept, targets))
        days = [t for t in days if t.subject not in later]
    for iri in undated:
        warnings.append(Issue("warning", f"{_name(iri)} is dated less precisely than a day; the rules that need its day leave it out", iri))
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in days)
    store.extend(_knowledge())
    params = {"base": base, "now": now, "order": IRI(order or FX + "latest")}
    stated: dict[ox.Quad, None] = {}  # what the rules state, once each: the patient graph is part of it
    for rule in RULES:
        declared = {p.name for p in queries.get(f"fhir/{rule}").params}
        # materialised before inserting: a store extended while one of its own answers is read is very slow
        facts = [ox.Quad(t.subject, t.predicate, t.object) for t in _run(store, rule, {k: v for k, v in params.items() if k in declared})]
        store.extend(facts)
        stated.update(dict.fromkeys(facts))
    # only the rules name nodes under the base (the record's resources are urn:fhir: IRIs)
    quads = [q for q in stated if q.subject.value.startswith(base) and not q.predicate.value.startswith(FX)]
    warnings += _notes(store, quads, base, now, label)
    return quads, warnings


class _Unreadable(Exception):
    """What the record states cannot be read; map_patient names the record."""


def _check_drugs(resources: list[Resource], targets: dict[str, str]) -> None:
    """A medication given, ordered or stated by a Medication the record does not hold is a drug unseen:
    read without it, the therapy would be missing and the patient judged as one who had none."""
    for r in resources:
        if (target := drug_reference(r.data)) is not None:
            local = {f"#{key}": iri for key, (iri, _) in _contained(r).items()}
            if resolve(target, dict(targets, **local)) is None:
                raise _Unreadable(f"{_name(r.iri)} names its drug by {target}, which the record does not hold: its "
                                  "therapy cannot be read, so the record is not judged; include that Medication")


def _name(iri: str) -> str:
    return iri.removeprefix("urn:fhir:")


def _notes(store: ox.Store, quads: list, base: str, now: dt.date, label: str) -> list[Issue]:
    """Warnings about what the record leaves unsettled, each naming the resources or codes concerned."""
    notes = []
    by_subject = defaultdict(dict)
    for q in quads:
        by_subject[q.subject.value].setdefault(q.predicate.value, []).append(q.object)
    patient = by_subject.get(base + "patient", {})
    cancer = next(iter(_run_internal(store, "breast-cancer")), None)
    conditions = [row["condition"].value for row in _run_internal(store, "breast-cancer-conditions")]
    if len(conditions) > 1:
        notes.append(Issue("warning", f"the record holds {len(conditions)} breast-cancer Conditions "
                           f"({', '.join(_name(c) for c in conditions)}): the earliest is taken as the cancer the criteria "
                           "are applied to, and staging and therapy without a focus count for it; check that the others "
                           "are not a recurrence or a second primary", base + "breast-cancer"))
    if cancer is None:
        notes.append(Issue("warning", f"{label}: no Condition in the breast-cancer value set with a usable date: the record "
                           "is read without a breast cancer, so no variant of the criteria can apply", base + "patient"))
    elif patient.get(ACR + "definitiveSurgeryDone", [None])[0] == ox.Literal(False):
        notes.append(Issue("warning", f"no definitive breast or axillary surgery for the breast cancer is recorded up to "
                           f"{now.isoformat()}: acr:definitiveSurgeryDone is stated false from the record", base + "patient",
                           ACR + "definitiveSurgeryDone"))
    elif ACR + "definitiveSurgeryDone" not in patient:
        notes.append(Issue("warning", f"whether definitive breast or axillary surgery was done by {now.isoformat()} is unknown: "
                           "the record holds an operation that cannot be counted (no day, or a reason that points "
                           "elsewhere) or a completed surgery order that no Procedure describes; the treatment phase "
                           "is left unknown, not assumed", base + "patient", ACR + "definitiveSurgeryDone"))
    for subject, facts in sorted(by_subject.items()):
        if ox.NamedNode(ACR + "SystemicTherapyCourse") in facts.get("http://www.w3.org/1999/02/22-rdf-syntax-ns#type", []) \
                and ACR + "courseStatus" not in facts:
            kind = facts[ACR + "therapyType"][0].value.removeprefix(ACR)
            start = facts[ACR + "startDate"][0].value
            sources = ", ".join(sorted(_name(o.value) for o in facts.get("http://www.w3.org/ns/prov#wasDerivedFrom", [])))
            notes.append(Issue("warning", f"the {kind} course from {start} ({sources}): the record does not say whether it was "
                               f"completed, is ongoing or was stopped as of {now.isoformat()} (no active or stopped order, no "
                               "stated end, or a dose of it only planned: an order, a plan, a drug intended); its status and "
                               "end date are unknown, not assumed", subject, ACR + "courseStatus"))
    order = by_subject.get(base + "order")
    if order is None:
        notes.append(Issue("warning", "no draft or active ServiceRequest in the record and no --order: the patient has no "
                           "current order, so no clinical question", base + "patient", ACR + "hasCurrentOrder"))
    elif ACR + "orderedProcedure" not in order:
        request = IRI(order[PROV_DERIVED][0].value)
        codes = [f"{system_name(r['system'].value)} {r['code'].value}"
                 for r in _run_internal(store, "order-codes", {"request": request})]
        notes.append(Issue("warning", f"the order's code ({', '.join(codes) or 'none'}) is not one of our imaging procedures: "
                           "the ordered procedure and the clinical question are unknown", base + "order", ACR + "orderedProcedure"))
    derived = {o.value for q in quads if q.predicate.value == PROV_DERIVED for o in (q.object,)}
    left_out = sorted(t.subject.value for t in store.quads_for_pattern(None, ox.NamedNode(FX + "codeIn"), None)
                      if t.object.value.startswith(KB + "fhir-vs-") and t.object.value.removeprefix(KB + "fhir-vs-") in IMAGING_BY_MODALITY
                      and t.subject.value not in derived and not t.subject.value.startswith("urn:fhir:ServiceRequest/"))
    if left_out:
        notes.append(Issue("warning", f"{len(left_out)} prior imaging stud{'ies' if len(left_out) != 1 else 'y'} known only by modality "
                           f"({', '.join(_name(i) for i in left_out[:5])}{', ...' if len(left_out) > 5 else ''}) left out: the record does "
                           "not say whether they evaluated the axilla", base + "patient", ACR + "hasPriorImaging"))
    unknown = defaultdict(list)
    for row in _run(store, "unknown-codes"):
        key = (row["system"].value, row["code"].value, row["display"].value if row["display"] else "")
        unknown[key].append(_name(row["resource"].value))
    for (system, code, display), where in sorted(unknown.items()):
        more = f" and {len(where) - 1} more" if len(where) > 1 else ""
        named = f" ({display})" if display else ""
        notes.append(Issue("warning", f"{system_name(system)} {code}{named} in {where[0]}{more} is in no value set of the "
                           "FHIR mapping (ontology/kb/fhir-value-sets.ttl): left out", f"urn:fhir:{where[0]}", None, code))
    return notes
