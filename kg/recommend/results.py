"""What the engine answers: one ``Recommendation`` per patient graph, with a JSON form whose shape is
fixed by the shipped JSON Schema (kg/output/schemas/)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from kg.issues import Issue
from kg.validate import Evaluation, ValidationResult

SCHEMA_VERSION = "1.0"
RECOMMENDATION_SCHEMA = "https://w3id.org/acr-kg/schemas/recommendation/1.0"
VALIDATION_SCHEMA = "https://w3id.org/acr-kg/schemas/validation/1.0"


_PLAIN = (str, int, float, type(None))  # bool is an int; IRI and LangString are str


def json_safe(value):
    """Dates as ISO text, decimals as numbers, recursively: ``json.dumps`` takes the result as it is."""
    if isinstance(value, _PLAIN):  # most values of an answer: tested first
        return value
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def validation_dict(validation: ValidationResult, source: str, evaluation: Evaluation,
                    knowledge_base: str, notes: list[Issue] = ()) -> dict:
    return {
        "schema": VALIDATION_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "knowledge_base": knowledge_base,
        "source": source,
        "valid": validation.valid,
        "evaluation_date": evaluation.date.isoformat(),
        "thresholds": evaluation.thresholds,
        "violations": [v.as_dict() for v in validation.violations],
        "warnings": [w.as_dict() for w in [*notes, *validation.warnings]],
    }


@dataclass
class Recommendation:
    patient: str | None
    source: str
    validation: ValidationResult
    evaluation: Evaluation
    knowledge_base: str  # the owl:versionIRI of the knowledge base that answered
    applicable: list[dict] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    node_assessments: list[dict] = field(default_factory=list)
    next_steps: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    # the current order's procedure and its ratings (see explain.order_rating); None: no order evaluated
    order: dict | None = None
    would_apply_if: list[dict] = field(default_factory=list)  # variants that unknown facts keep from applying
    # variants of imported topics, whose population is stated in words only: never matched, so named
    not_evaluated: list[dict] = field(default_factory=list)
    # for a record read from FHIR: each node of the patient graph and the resources it was derived from
    record_sources: list[dict] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)  # what the reader noticed (e.g. unmapped codes)
    derived: list = field(default_factory=list)  # triples the queries added, for RDF output

    @property
    def valid(self) -> bool:
        return self.validation.valid

    @property
    def now(self) -> dt.date:
        return self.evaluation.date

    @property
    def thresholds(self) -> str:
        return self.evaluation.thresholds

    def as_dict(self) -> dict:
        """The answer as JSON-ready values (see kg/output/schemas/recommendation.schema.json): a copy of
        its own, which the caller may change."""
        return json_safe(self.fields())

    def fields(self) -> dict:
        """The answer's fields as they are, for writers: dates and decimals not yet converted, and values
        that answers explained alike share (kg.recommend.signatures), so read them, never change them."""
        answer = validation_dict(self.validation, self.source, self.evaluation, self.knowledge_base, self.notes)
        answer["schema"] = RECOMMENDATION_SCHEMA
        answer["patient"] = self.patient
        return answer | {
            "applicable": self.applicable,
            "not_applicable": self.not_applicable,
            "conflicts": self.conflicts,
            "node_assessments": self.node_assessments,
            "next_steps": self.next_steps,
            "sources": self.sources,
            "order": self.order,
            "would_apply_if": self.would_apply_if,
            "not_evaluated": self.not_evaluated,
            "record_sources": self.record_sources,
        }
