"""The engine: from patient graphs to the applicable ACR variants, their ratings and the next steps.

Data flow, one direction: parsed patient -> SHACL validation -> store with the knowledge base ->
named queries (derive the case, match variants, read nodes, explain) -> a ``Recommendation``.
Nothing is recommended for a patient graph that violates the shapes.

An ``Engine`` is immutable once built: the knowledge base, the compiled shapes, the variant labels and
the source catalogue are read once. Each call borrows a working store of its own from a pool and gives
it back empty, so threads can share one engine and no call sees another's patients.
"""
from __future__ import annotations

import datetime as dt
import itertools
import queue
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from kg import queries
from kg.input import PatientData, batches, evaluation_date, node_owners, patients_in
from kg.store import PatientStore, open_patient_store, to_oxigraph
from kg.validate import ENGINES, Evaluation, KnowledgeContext, check_thresholds, context_quads, validate_many
from kg.validate.shapes import compiled_shapes
from kg.recommend.explain import EXPLANATION, explain
from kg.recommend.results import Recommendation

PROV_DERIVED_FROM = "http://www.w3.org/ns/prov#wasDerivedFrom"
# Enrichment queries, in order: each one's triples are added to the patient data before the next runs.
DERIVATION = ("derive-case", "match-variants", "assess-nodes", "ultrasound-result")


@dataclass(frozen=True)
class Request:
    """One patient to evaluate, with its own evaluation date (default: its order date, else today)
    and threshold set."""

    data: PatientData
    now: dt.date | None = None
    thresholds: str = "seed"

    def evaluation(self) -> Evaluation:
        return Evaluation(evaluation_date(self.data, self.now), self.thresholds)


class Engine:
    """Validates and recommends; safe to share between threads."""

    def __init__(self, *, backend: str = "oxigraph", kb_files: Sequence | None = None,
                 validation: str = "sparql"):
        if validation not in ENGINES:
            from kg.errors import UsageError

            raise UsageError(f"unknown validation engine {validation!r}: use {' or '.join(ENGINES)}")
        self.backend = backend
        self.validation = validation
        self._kb_files = tuple(kb_files) if kb_files else None
        self._pool: queue.SimpleQueue[PatientStore] = queue.SimpleQueue()
        compiled_shapes()
        with self.store() as store:
            self.knowledge = KnowledgeContext.read(store)  # thresholds and the facts the shapes read
            self.labels = {r["variant"]: r["label"] for r in store.select(queries.internal("variant-labels").text)}
            self.sources = _source_catalogue(store.select(queries.get("sources").text))
            version = store.select(queries.internal("knowledge-base-version").text).rows
            self.knowledge_base = version[0]["versionIRI"] if version else ""
            self.not_evaluated = [
                {"topic_id": r["topicId"], "variant_number": r["variantNumber"], "variant": r["variant"],
                 "label": r["label"], "reason": "its population is stated in words only (an imported rating "
                                               f"table{', ' + r['table'] if r['table'] else ''}): no program can check it"}
                for r in store.select(queries.get("imported-variants").text)]

    @contextmanager
    def store(self) -> Iterator[PatientStore]:
        """A working store of this call's own: the knowledge base, and no patient data."""
        try:
            store = self._pool.get_nowait()
        except queue.Empty:
            store = open_patient_store(self.backend, self._kb_files)
        try:
            yield store
        finally:
            store.set_patients(None)
            self._pool.put(store)

    # --- the public calls ------------------------------------------------------------------------

    def recommend(self, data: PatientData, *, now: dt.date | None = None, thresholds: str = "seed") -> Recommendation:
        return self.evaluate([Request(data, now, thresholds)])[0]

    def recommend_many(self, patients: Sequence[PatientData], *, now: dt.date | None = None,
                       thresholds: str = "seed") -> list[Recommendation]:
        return self.evaluate([Request(data, now, thresholds) for data in patients])

    def evaluate(self, requests: Sequence[Request]) -> list[Recommendation]:
        """Validate and recommend many patients, in batches, answered in input order.

        Each query runs once per batch rather than once per patient: for one small patient, Oxigraph
        spends longer planning a query than answering it. A batch holds patients whose graphs share no
        node, so every answer row belongs to exactly one patient; their dates and threshold sets may
        differ, as these are facts of each patient's own evaluation context.
        """
        for request in requests:
            check_thresholds(request.thresholds, self.knowledge)
        results: list[Recommendation | None] = [None] * len(requests)
        with self.store() as store:
            for indexes in batches([r.data.quads for r in requests]):
                batch = [requests[i] for i in indexes]
                loaded, predicates = self._load(store, batch)
                self._explain(store, [r for r in loaded if r.valid], predicates)
                for index, result in zip(indexes, loaded):
                    results[index] = result
        return results

    def validate(self, requests: Sequence[Request]) -> list[Recommendation]:
        """Validation only: the results carry no explanation (recommendation fields stay empty)."""
        results: list[Recommendation | None] = [None] * len(requests)
        for request in requests:
            check_thresholds(request.thresholds, self.knowledge)
        for indexes in batches([r.data.quads for r in requests]):
            batch = [requests[i] for i in indexes]
            for index, result in zip(indexes, self._validate(batch)[0]):
                results[index] = result
        return results

    @contextmanager
    def loaded(self, request: Request) -> Iterator[tuple[Recommendation, PatientStore]]:
        """A store holding the patient with its derived facts (when valid), for a query of the caller's."""
        with self.store() as store:
            yield self._load(store, [request])[0][0], store

    # --- the steps -------------------------------------------------------------------------------

    def _validate(self, batch: Sequence[Request]) -> tuple[list[Recommendation], dict]:
        graphs = [request.data.quads for request in batch]
        evaluations = [request.evaluation() for request in batch]
        owners = node_owners(graphs)  # who holds each node: for validation results and derived facts
        validations = validate_many(graphs, evaluations, engine=self.validation, owners=owners, knowledge=self.knowledge)
        results = []
        for request, evaluation, validation in zip(batch, evaluations, validations):
            patients = patients_in(request.data.quads)
            result = Recommendation(patients[0] if len(patients) == 1 else None, request.data.source,
                                    validation, evaluation, self.knowledge_base)
            result.notes = list(request.data.warnings)
            result.record_sources = _record_sources(request.data.quads)
            results.append(result)
        return results, owners

    def _load(self, store: PatientStore, batch: Sequence[Request]) -> tuple[list[Recommendation], set[str]]:
        """Validate the batch and put the valid patients, with their contexts, in the store with their
        derived facts. Invalid data never reach the store. Also returns the predicates now in the
        patient data, which decide the queries worth running (see ``# @needs``)."""
        results, owners = self._validate(batch)
        valid = [(index, request) for index, (request, result) in enumerate(zip(batch, results)) if result.valid]
        store.set_patients(None)
        if not valid:
            return results, set()
        quads = [list(itertools.chain(request.data.quads, context_quads(index, request.data.quads, results[index].evaluation, self.knowledge)))
                 for index, request in valid]
        store.set_patients(list(itertools.chain.from_iterable(quads)))
        predicates = {q.predicate.value for graph in quads for q in graph}
        for name in DERIVATION:
            triples = _run(store, name, predicates)
            store.add_patient_triples(triples)
            predicates.update(str(triple[1]) for triple in triples)
            for triple in triples:
                for index in owners.get(to_oxigraph(triple[0]), ()):
                    results[index].derived.append(triple)
        return results, predicates

    def _explain(self, store: PatientStore, results: list[Recommendation], predicates: set[str]) -> None:
        """Fill in the explanation of every valid, loaded result: each query once for the batch."""
        if not results:
            return
        rows = {key: _rows_by_patient(store, name, predicates) for key, name in EXPLANATION.items()}
        for result in results:
            explain(result, {key: grouped.get(result.patient, []) for key, grouped in rows.items()},
                    self.labels, self.sources)
            result.not_evaluated = [dict(variant) for variant in self.not_evaluated]  # each answer its own


def _run(store: PatientStore, name: str, predicates: set[str]):
    query = queries.get(name)
    if not predicates.issuperset(query.needs):
        return []  # the query declares it has no answer without these predicates (see kg.queries)
    return (store.construct if query.form == "CONSTRUCT" else store.select)(query.text)


def _rows_by_patient(store: PatientStore, name: str, predicates: set[str]) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for row in _run(store, name, predicates):
        grouped.setdefault(row["patient"], []).append(row)
    return grouped


def _record_sources(quads) -> list[dict]:
    """The PROV links of a patient graph (a FHIR record's: each node -> the resources it came from)."""
    derived: dict[str, list[str]] = {}
    for quad in quads:
        if quad.predicate.value == PROV_DERIVED_FROM:
            derived.setdefault(quad.subject.value, []).append(quad.object.value)
    return [{"node": node, "derived_from": sorted(set(resources))} for node, resources in sorted(derived.items())]


def _source_catalogue(rows) -> dict[str, dict]:
    """Every source with its fields; a source may have several locators, kept sorted."""
    catalogue: dict[str, dict] = {}
    for row in rows:
        entry = catalogue.setdefault(row["source"], {"source": row["source"], "locators": []})
        for key, value in row.items():
            if key == "locator":
                if value is not None and value not in entry["locators"]:
                    entry["locators"] = sorted(entry["locators"] + [value])
            elif value is not None:
                entry[key] = value
    return catalogue
