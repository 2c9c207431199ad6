"""Answers for programs: JSON (an object, or an array for several patients), JSON Lines (one answer a
line, written as each arrives) and the derived facts as Turtle."""
from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import orjson

from kg.output.rows import triples_turtle
from kg.recommend import Recommendation
from kg.recommend.results import validation_dict


def to_json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def validations_json(recs: list[Recommendation]) -> str:
    """One patient: its report; several (a FHIR record of many patients): an array, in input order."""
    reports = [validation_dict(r.validation, r.source, r.evaluation, r.knowledge_base, r.notes) for r in recs]
    return to_json(reports[0] if len(reports) == 1 else reports)


def validations_turtle(recs: list[Recommendation]) -> str:
    """The sh:ValidationReport graph of each patient, one after another."""
    return "\n".join(rec.validation.report.serialize(format="turtle") for rec in recs)


def recommendations_json(recs: list[Recommendation]) -> str:
    """One patient: its object; several: an array of their objects, in input order."""
    return to_json(recs[0].as_dict() if len(recs) == 1 else [rec.as_dict() for rec in recs])


def recommendation_jsonl(rec: Recommendation) -> str:
    return answer_line(rec.fields()).decode() + "\n"


def answer_line(fields: dict) -> bytes:
    """One answer as a line of JSON Lines (no newline), from ``Recommendation.fields()``: orjson writes
    dates as ISO text itself, and writes the shared values without the copy ``as_dict`` makes."""
    return orjson.dumps(fields, default=_decimal)


def _decimal(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def recommendations_jsonl(recs: Iterable[Recommendation]) -> str:
    return "".join(map(recommendation_jsonl, recs))


def recommendations_turtle(recs: list[Recommendation]) -> str:
    """The patients' derived facts (case aspects, matched variants, node readings) as RDF; each
    patient's facts are about its own nodes, so one graph holds them all."""
    return triples_turtle(triple for rec in recs for triple in rec.derived)
