"""Unknown is not "no": a variant no known value contradicts, but which an unknown aspect keeps from
applying, is listed with what is missing, and nothing is recommended from it."""
from __future__ import annotations

import json

from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient
from kg.output.text import recommendation_text

SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text()
COMPLETED = 'acr:endDate "2026-09-14"^^xsd:date ;\n    acr:courseStatus acr:CourseCompleted'


def answer(recommender, text: str):
    rec = recommender.recommend(parse_patient(text.encode(), "case.ttl"))
    return rec, json.loads(json.dumps(rec.as_dict()))


def missing(found: dict) -> dict[tuple[int, int], list[str]]:
    return {(v["topic_id"], v["variant_number"]): v["missing"] for v in found["would_apply_if"]}


def test_a_settled_record_has_nothing_that_would_apply(recommend_example):
    assert recommend_example("seed-patient.ttl")["would_apply_if"] == []


def test_a_chemotherapy_course_without_status_leaves_the_phase_unknown(recommender):
    assert COMPLETED in SEED
    rec, found = answer(recommender, SEED.replace(COMPLETED, "acr:therapyType acr:Chemotherapy"))
    assert found["valid"] and found["applicable"] == []
    assert missing(found)[(235, 7)] == ["treatment phase: the neoadjuvant chemotherapy course has no status or stop date "
                                        "(https://example.org/patients/seed/chemotherapy)"]
    assert (286, 9) in missing(found)
    text = recommendation_text(rec)
    assert "Would apply if the record settled" in text and "unknown: treatment phase" in text


def test_an_unknown_nodal_status_is_not_node_negative(recommender):
    _, found = answer(recommender, SEED.replace("    acr:clinicalNCategory acr:cN1 ;\n", ""))
    assert found["applicable"] == []
    assert missing(found)[(235, 7)] == [
        "nodal status at diagnosis: the cancer has no clinical N category (acr:clinicalNCategory) or nodal status "
        "(acr:clinicalNodalStatus) (https://example.org/patients/seed/cancer)"]
    # 235-5 needs node-negative nodes and no earlier axillary imaging: the baseline study contradicts it
    assert (235, 5) not in missing(found)


def test_a_contradicted_variant_is_never_listed(recommender):
    _, found = answer(recommender, SEED.replace("    acr:tumourSizeMm 32.0 ;\n", ""))
    assert [(v["topic_id"], v["variant_number"]) for v in found["applicable"]] == [(235, 7)]
    assert list(missing(found)) == [(286, 9)]
    assert missing(found)[(286, 9)] == ["primary tumour size group: no tumour size (acr:tumourSizeMm) is recorded "
                                        "(https://example.org/patients/seed/cancer)"]
