"""The main job: from a patient graph to the applicable ACR variants, their ratings and the next steps.

Data flow, one direction: parsed patient -> SHACL validation -> store with the knowledge base ->
named queries (derive the case, match variants, read nodes, explain) -> a ``Recommendation``.
Nothing is recommended for a patient graph that violates the shapes.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from kg import queries
from kg.errors import UsageError
from kg.issues import Issue
from kg.terms import ACR
from kg.input.reader import PatientData
from kg.store import Backend, EmbeddedStore, to_oxigraph
from kg.validate import ValidationResult, node_owners, own_nodes, threshold_set_keys, validate_many

# Enrichment queries, in order: each one's triples are added to the patient graph before the next runs.
DERIVATION = ("derive-case", "match-variants", "assess-nodes", "ultrasound-result")
BATCH_SIZE = 500  # patients per store in recommend_many; larger batches gain little and hold more memory


@dataclass
class Recommendation:
    patient: str | None
    validation: ValidationResult
    now: dt.date
    thresholds: str
    applicable: list[dict] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    node_assessments: list[dict] = field(default_factory=list)
    next_steps: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)  # what the reader noticed (e.g. unmapped codes)
    derived: list = field(default_factory=list)  # triples the queries added, for RDF output

    @property
    def valid(self) -> bool:
        return self.validation.valid

    def as_dict(self) -> dict:
        return {
            "patient": self.patient,
            "valid": self.valid,
            "evaluation_date": self.now.isoformat(),
            "thresholds": self.thresholds,
            "violations": [v.as_dict() for v in self.validation.violations],
            "warnings": [w.as_dict() for w in self.notes + self.validation.warnings],
            "applicable": self.applicable,
            "not_applicable": self.not_applicable,
            "conflicts": self.conflicts,
            "node_assessments": self.node_assessments,
            "next_steps": self.next_steps,
            "sources": self.sources,
        }


def evaluation_date(data: PatientData, now: dt.date | None) -> dt.date:
    """The date the case is judged at: given, else the order date, else today."""
    if now is not None:
        return now
    for date in sorted((q.object.value for q in data.quads if q.predicate.value == ACR + "orderDate"), reverse=True):
        try:
            return dt.date.fromisoformat(date)
        except ValueError:
            continue  # not a date: the shapes report it
    return dt.date.today()


class Recommender:
    """Holds a backend with the knowledge base loaded once; evaluates one patient at a time."""

    def __init__(self, backend: Backend | None = None):
        self.backend = backend or EmbeddedStore()
        self._threshold_keys = None
        self._sources = None
        self._labels = None
        self._predicates: set[str] = set()  # predicates of the patient data in the store, derived ones included

    def _check_thresholds(self, key: str) -> None:
        if self._threshold_keys is None:
            self._threshold_keys = threshold_set_keys()
        if key not in self._threshold_keys:
            raise UsageError(f"unknown threshold set {key!r}; the knowledge base has: {', '.join(self._threshold_keys)}")

    def load(self, data: PatientData, now: dt.date | None = None, thresholds: str = "seed") -> Recommendation:
        """Validate the patient and, only if valid, put it in the store with its derived facts.

        Returns a Recommendation holding the validation result and the derived triples, not yet explained.
        """
        self._check_thresholds(thresholds)
        return self._load_batch([data], evaluation_date(data, now), thresholds)[0]

    def recommend(self, data: PatientData, now: dt.date | None = None, thresholds: str = "seed") -> Recommendation:
        return self.recommend_many([data], now, thresholds)[0]

    def recommend_many(self, patients: Sequence[PatientData], now: dt.date | None = None,
                       thresholds: str = "seed") -> list[Recommendation]:
        """Validate and recommend many patient graphs, one batch at a time, in input order.

        Each query runs once per batch rather than once per patient: for one small patient, Oxigraph
        spends longer planning a query than answering it. A batch holds patients judged on the same
        date whose graphs share no node, so every answer row belongs to exactly one patient.
        """
        self._check_thresholds(thresholds)
        results: list[Recommendation | None] = [None] * len(patients)
        for date, indexes in _batches(patients, now):
            loaded = self._load_batch([patients[i] for i in indexes], date, thresholds)
            self._explain([r for r in loaded if r.valid])
            for index, result in zip(indexes, loaded):
                results[index] = result
        return results

    def _load_batch(self, batch: list[PatientData], now: dt.date, thresholds: str) -> list[Recommendation]:
        graphs = [data.quads for data in batch]
        owners = node_owners(graphs)  # who holds each node: for validation results and derived facts
        validations = validate_many(graphs, now, thresholds, owners=owners)
        results = []
        for data, validation in zip(batch, validations):
            patients = data.patients
            result = Recommendation(patients[0] if len(patients) == 1 else None, validation, now, thresholds)
            result.notes = list(data.warnings)
            results.append(result)
        valid = [(data, result) for data, result in zip(batch, results) if result.valid]
        self.backend.set_patient(None)
        self._predicates = set()
        if not valid:
            return results  # fail safe: invalid data never reach the store
        self.backend.set_patient(itertools.chain.from_iterable(data.quads for data, _ in valid))
        self._predicates = {q.predicate.value for data, _ in valid for q in data.quads}
        params = {"derive-case": {"now": now}, "assess-nodes": {"thresholds": thresholds}}
        for name in DERIVATION:
            triples = self._run(name, **params.get(name, {}))
            self.backend.add_patient_triples(triples)
            self._predicates.update(str(triple[1]) for triple in triples)
            for triple in triples:
                for index in owners.get(to_oxigraph(triple[0]), ()):
                    results[index].derived.append(triple)
        return results

    def _run(self, name: str, **params):
        query = queries.get(name)
        if not self._predicates.issuperset(query.needs):
            return []  # the query declares it has no answer without these predicates (see kg.queries)
        runner = self.backend.construct if query.form == "CONSTRUCT" else self.backend.select
        return runner(query.text, params)

    def _rows_by_patient(self, name: str, **params) -> dict[str, list]:
        grouped: dict[str, list] = {}
        for row in self._run(name, **params):
            grouped.setdefault(row["patient"], []).append(row)
        return grouped

    def _explain(self, results: list[Recommendation]) -> None:
        """Fill in the explanation of every (valid, loaded) result: each query once for the batch."""
        if not results:
            return
        thresholds = results[0].thresholds
        rows = {"criteria": self._rows_by_patient("criteria-status"),
                "ratings": self._rows_by_patient("variant-ratings"),
                "conflicts": self._rows_by_patient("rating-conflicts"),
                "nodes": self._rows_by_patient("node-assessments", thresholds=thresholds),
                "steps": self._rows_by_patient("next-steps")}
        for result in results:
            self._explain_one(result, {key: grouped.get(result.patient, []) for key, grouped in rows.items()})

    def _explain_one(self, result: Recommendation, rows: dict[str, list]) -> None:
        thresholds = result.thresholds
        used_sources: set[str] = set()

        by_variant: dict[str, dict] = {}
        for row in rows["criteria"]:
            entry = by_variant.setdefault(row["variant"], {
                "variant": row["variant"], "topic_id": row["topicId"], "variant_number": row["variantNumber"],
                "matched": row["matched"], "met": [], "unmet": []})
            text = _criterion_text(row)
            entry["met" if row["met"] else "unmet"].append(text)
            used_sources.update((row["sources"] or "").split())

        ratings = rows["ratings"]
        labels = self._variant_labels()
        for variant, entry in sorted(by_variant.items(), key=lambda kv: (kv[1]["topic_id"], kv[1]["variant_number"])):
            if entry["matched"]:
                procedures = [_procedure(r) for r in ratings if r["variant"] == variant]
                for r in ratings:
                    if r["variant"] == variant:
                        used_sources.update((r["sources"] or "").split())
                result.applicable.append({
                    "topic_id": entry["topic_id"], "variant_number": entry["variant_number"], "variant": variant,
                    "label": labels.get(variant, ""), "matched_because": entry["met"], "procedures": procedures})
            else:
                result.not_applicable.append({
                    "variant": variant, "topic_id": entry["topic_id"], "variant_number": entry["variant_number"],
                    "label": labels.get(variant, ""), "reasons": entry["unmet"]})

        for row in rows["conflicts"]:
            result.conflicts.append({
                "procedure": row["procedure"], "label": row["procedureLabel"],
                "ratings": [
                    {"topic_id": row["topicA"], "variant_number": row["numberA"], "variant": row["variantA"],
                     "rating": row["ratingA"], "category": row["categoryLabelA"], "median": row["medianA"]},
                    {"topic_id": row["topicB"], "variant_number": row["numberB"], "variant": row["variantB"],
                     "rating": row["ratingB"], "category": row["categoryLabelB"], "median": row["medianB"]}],
                "message": (f"{row['procedureLabel']}: topic {row['topicA']} variant {row['numberA']} rates it "
                            f"{row['categoryLabelA']} ({row['medianA']}), topic {row['topicB']} variant "
                            f"{row['numberB']} rates it {row['categoryLabelB']} ({row['medianB']})")})

        for row in rows["nodes"]:
            used_sources.update((row["sources"] or "").split())
            result.node_assessments.append({
                "study": row["study"], "result": row["resultLabel"], "finding": row["finding"],
                "assessment": row["assessmentLabel"], "cortex_mm": _number(row["cortex"]),
                "fatty_hilum": row["hilumLabel"], "shape": row["shapeLabel"], "clipped_node": row["clipped"],
                "threshold": row["threshold"], "threshold_rule": f"cortex {row['comparatorSymbol']} {row['limit']} mm",
                "threshold_set": thresholds, "sources": sorted(set((row["sources"] or "").split()))})

        for row in rows["steps"]:
            used_sources.update((row["sources"] or "").split())
            result.next_steps.append({
                "variant": row["variant"], "when_result": row["resultLabel"], "order": row["order"],
                "after_step": row["afterStepLabel"], "when_outcome": row["outcomeLabel"],
                "step": row["step"], "label": row["stepLabel"], "note": row["note"],
                "sources": sorted(set((row["sources"] or "").split()))})

        catalogue = self._source_catalogue()
        result.sources = [catalogue.get(s, {"source": s}) for s in sorted(used_sources)]

    def _variant_labels(self) -> dict[str, str]:
        if self._labels is None:  # the knowledge base does not change while a Recommender lives
            rows = self.backend.select(
                "PREFIX acr: <https://w3id.org/acr-kg/ontology/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
                "SELECT ?v ?label WHERE { ?v a acr:Variant ; rdfs:label ?label }")
            self._labels = {r["v"]: r["label"] for r in rows}
        return self._labels

    def _source_catalogue(self) -> dict[str, dict]:
        """Every source with its fields; a source may have several locators, kept sorted."""
        if self._sources is None:
            self._sources = {}
            for row in self._run("sources"):
                entry = self._sources.setdefault(row["source"], {"source": row["source"], "locators": []})
                for key, value in row.items():
                    if key == "locator":
                        if value is not None and value not in entry["locators"]:
                            entry["locators"] = sorted(entry["locators"] + [value])
                    elif value is not None:
                        entry[key] = value
        return self._sources


def _batches(patients: Sequence[PatientData], now: dt.date | None) -> Iterator[tuple[dt.date, list[int]]]:
    """Indexes of patients that can share a store: the same evaluation date and no node in common."""
    by_date: dict[dt.date, list[int]] = {}
    for index, data in enumerate(patients):
        by_date.setdefault(evaluation_date(data, now), []).append(index)
    for date, indexes in by_date.items():
        batches: list[tuple[list[int], set]] = []
        for index in indexes:
            nodes = own_nodes(patients[index].quads)
            for members, taken in batches:
                if len(members) < BATCH_SIZE and taken.isdisjoint(nodes):
                    members.append(index)
                    taken |= nodes
                    break
            else:
                batches.append(([index], nodes))
        for members, _ in batches:
            yield date, members


def _criterion_text(row) -> str:
    return f"{row['criterionLabel']} (patient: {row['patientValueLabel'] or 'unknown'})"


def _number(value):
    return float(value) if value is not None else None


def _procedure(row) -> dict:
    return {
        "procedure": row["procedure"], "label": row["label"], "rating": row["rating"],
        "category": row["categoryLabel"], "median": row["median"], "soe": row["soeLabel"],
        "adult_rrl": row["adultSymbol"], "peds_rrl": row["pedsSymbol"], "rationale": row["rationale"],
        "sources": sorted(set((row["sources"] or "").split()))}
