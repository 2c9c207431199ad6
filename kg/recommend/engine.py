"""The engine: from patient graphs to the applicable ACR variants, their ratings and the next steps.

Data flow, one direction: parsed patient -> SHACL validation -> store with the knowledge base ->
named queries (derive the case, match variants, read nodes, explain) -> a ``Recommendation``.
Nothing is recommended for a patient graph that violates the shapes.

An ``Engine`` is immutable once built: the knowledge base, the compiled shapes, the variant labels, the
source catalogue and the answers of the queries' knowledge-base parts are read once. Each call borrows a
working store of its own from a pool and gives it back empty, so threads can share one engine and no call
sees another's patients; within a call, the queries that read none of each other's answers run side by
side (kg.store.parallel).
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
from kg.store.parallel import INTERRUPTS, ONE_AT_A_TIME, available_cores, side_by_side
from kg.validate import ENGINES, Evaluation, KnowledgeContext, check_thresholds, context_quads, validate_many
from kg.validate.shapes import compiled_shapes
from kg.recommend.explain import EXPLANATION, explain
from kg.recommend.results import Recommendation

PROV_DERIVED_FROM = "http://www.w3.org/ns/prov#wasDerivedFrom"
# Enrichment queries, in stages: each stage's triples are added to the patient data before the next runs.
# The queries of one stage read none of each other's answers (a test checks it), so they run side by side:
# the case aspects then the variants they match; the node assessments then the ultrasound result.
DERIVATION = (("derive-case", "assess-nodes"), ("match-variants", "ultrasound-result"))


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
                 validation: str = "sparql", threads: int | None = None):
        """``threads``: how many threads one call may use for its independent queries (default: one per
        core, at most 4; 1 when the caller already runs a process per core)."""
        if validation not in ENGINES:
            from kg.errors import UsageError

            raise UsageError(f"unknown validation engine {validation!r}: use {' or '.join(ENGINES)}")
        self.backend = backend
        self.validation = validation
        self._kb_files = tuple(kb_files) if kb_files else None
        self._pool: queue.SimpleQueue[PatientStore] = queue.SimpleQueue()
        if threads is not None and threads < 1:
            from kg.errors import UsageError

            raise UsageError(f"threads per call must be at least 1, not {threads}")
        self.side = side_by_side(threads or min(available_cores(), 4))
        compiled_shapes()
        with self.store() as store:
            self.knowledge = KnowledgeContext.read(store)  # thresholds and the facts the shapes read
            self.labels = {r["variant"]: r["label"] for r in store.select(queries.internal("variant-labels").text)}
            self.sources = _source_catalogue(store.select(queries.get("sources").text))
            version = store.select(queries.internal("knowledge-base-version").text).rows
            self.knowledge_base = version[0]["versionIRI"] if version else ""
            # the queries as the engine sends them: knowledge-base parts answered once (kg.queries)
            self.texts = {name: _answered(store, queries.get(name)) for name in (*EXPLANATION.values(), *itertools.chain(*DERIVATION))}
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
                loaded, _, rows = self._load(store, batch, EXPLANATION)
                self._explain([r for r in loaded if r.valid], rows)
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

    def _validate(self, batch: Sequence[Request], owners: dict | None = None,
                  evaluations: Sequence[Evaluation] | None = None) -> tuple[list[Recommendation], dict]:
        graphs = [request.data.quads for request in batch]
        if evaluations is None:
            evaluations = [request.evaluation() for request in batch]
        if owners is None:
            owners = node_owners(graphs)  # who holds each node: for validation results and derived facts
        validations = validate_many(graphs, evaluations, engine=self.validation, owners=owners, knowledge=self.knowledge,
                                    side=self.side)
        results = []
        for request, evaluation, validation in zip(batch, evaluations, validations):
            patients = patients_in(request.data.quads)
            result = Recommendation(patients[0] if len(patients) == 1 else None, request.data.source,
                                    validation, evaluation, self.knowledge_base)
            result.notes = list(request.data.warnings)
            result.record_sources = _record_sources(request.data.quads)
            results.append(result)
        return results, owners

    def _load(self, store: PatientStore, batch: Sequence[Request], explanation: dict[str, str] | None = None
              ) -> tuple[list[Recommendation], set[str], dict[str, dict[str, list]]]:
        """Validate the batch and put the valid patients, with their contexts, in the store with their
        derived facts. Also returns the predicates now in the patient data, which decide the queries
        worth running (see ``# @needs``), and the rows of the ``explanation`` queries (key -> patient ->
        rows; key -> query name asked).

        In a batch, invalid data never reach the store: they could change the other patients' answers.
        A patient alone is derived and explained while it is validated, side by side, and what was
        found is dropped, with the store emptied, unless it proves valid.
        """
        owners = node_owners([request.data.quads for request in batch])
        evaluations = [request.evaluation() for request in batch]  # once: "today" may turn meanwhile

        def loading(indexes: Sequence[int]) -> tuple[list, set[str], dict]:
            derived, predicates = self._derive(store, batch, evaluations, indexes)
            return derived, predicates, self.rows_by_patient(store, explanation, predicates) if explanation and indexes else {}

        if len(batch) == 1 and store.concurrent and self.side.threads > 1:
            (results, _), found = self.side.map(lambda step: step(), [
                lambda: self._validate(batch, owners, evaluations), lambda: _attempt(loading, [0])])
            valid = [0] if results[0].valid else []
            if valid and isinstance(found, BaseException):
                raise found  # a failure on invalid data is no news: the violations say what is wrong
        else:
            results, _ = self._validate(batch, owners, evaluations)
            valid = [index for index, result in enumerate(results) if result.valid]
            found = loading(valid)
        if not valid:
            store.set_patients(None)
            return results, set(), {}
        derived, predicates, rows = found
        for triple in derived:
            for index in owners.get(to_oxigraph(triple[0]), ()):
                results[index].derived.append(triple)
        return results, predicates, rows

    def _derive(self, store: PatientStore, batch: Sequence[Request], evaluations: Sequence[Evaluation],
                indexes: Sequence[int]) -> tuple[list, set[str]]:
        """Put these patients of the batch in the store, each with its evaluation context, and add what
        the derivation queries find: (the derived triples, the predicates now in the patient data)."""
        quads = [list(itertools.chain(batch[index].data.quads, context_quads(index, batch[index].data.quads,
                                                                             evaluations[index], self.knowledge)))
                 for index in indexes]
        store.set_patients(list(itertools.chain.from_iterable(quads)))
        if not quads:
            return [], set()
        predicates = {q.predicate.value for graph in quads for q in graph}
        derived = []
        for stage in DERIVATION:
            for triples in self._side(store).map(lambda name: self._run(store, name, predicates), stage):
                store.add_patient_triples(triples)
                predicates.update(str(triple[1]) for triple in triples)
                derived += triples
        return derived, predicates

    def _explain(self, results: list[Recommendation], rows: dict[str, dict[str, list]]) -> None:
        """Fill in the explanation of every valid, loaded result from the rows of the explanation
        queries, each run once for the batch."""
        for result in results:
            explain(result, {key: grouped.get(result.patient, []) for key, grouped in rows.items()},
                    self.labels, self.sources)
            result.not_evaluated = [dict(variant) for variant in self.not_evaluated]  # each answer its own


    def rows_by_patient(self, store: PatientStore, names: dict[str, str], predicates: set[str]) -> dict[str, dict[str, list]]:
        """Key -> patient -> rows of the named query, for each of ``names`` (key -> query name), the
        queries side by side when the store can answer several at once."""
        found = self._side(store).map(lambda name: self._rows_by_patient(store, name, predicates), list(names.values()))
        return dict(zip(names, found))

    def _side(self, store: PatientStore):
        """How this store's queries may run: side by side only where the store gains by it."""
        return self.side if store.concurrent else ONE_AT_A_TIME

    def _run(self, store: PatientStore, name: str, predicates: set[str]):
        if not predicates.issuperset(queries.get(name).needs):
            return []  # the query declares it has no answer without these predicates (see kg.queries)
        query = self.texts[name]
        return store.construct(query.text) if query.form == "CONSTRUCT" else query.complete(store.select(query.text))

    def _rows_by_patient(self, store: PatientStore, name: str, predicates: set[str]) -> dict[str, list]:
        grouped: dict[str, list] = {}
        for row in self._run(store, name, predicates):
            grouped.setdefault(row["patient"], []).append(row)
        return grouped


def _answered(store: PatientStore, query: queries.NamedQuery) -> queries.Answered:
    """The query with its knowledge-base parts answered from this store (the knowledge base alone); as
    written when a part has a blank node in its answer, which a VALUES table cannot hold."""
    if not query.knowledge_base_parts or not store.values_tables:
        return queries.Answered(query.form, query.text)
    try:
        return query.with_knowledge_base_answered(store.term_rows)
    except ValueError:  # a blank node in the answer, which a VALUES table cannot hold
        return queries.Answered(query.form, query.text)


def _attempt(step, *args):
    """The step's answer, or the exception it raised (a panic of the engine included)."""
    try:
        return step(*args)
    except INTERRUPTS:
        raise
    except BaseException as exc:  # noqa: BLE001 - judged by the caller once validation has ended
        return exc


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
