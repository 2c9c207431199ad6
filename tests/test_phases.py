"""The treatment phase is read from the neoadjuvant chemotherapy courses, as topic 235's variants are
worded (acrkb:reading-phase-from-chemotherapy); therapy without chemotherapy leaves it unknown."""
from __future__ import annotations

import json

from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient

SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text()
COURSE = "acr:hasTherapyCourse ex:chemotherapy ;"


def answer(recommender, text: str) -> dict:
    return json.loads(json.dumps(recommender.recommend(parse_patient(text.encode(), "case.ttl")).as_dict()))


def applicable(found: dict) -> list[tuple[int, int]]:
    return [(v["topic_id"], v["variant_number"]) for v in found["applicable"]]


def with_course(therapy: str, status: str = "acr:CourseOngoing", text: str = SEED) -> str:
    assert COURSE in text
    return text.replace(COURSE, "acr:hasTherapyCourse ex:chemotherapy , ex:other ;") + f"""
ex:other a acr:SystemicTherapyCourse ; acr:therapyType {therapy} ;
    acr:startDate "2026-03-16"^^xsd:date ; acr:courseStatus {status} .
"""


def test_her2_targeted_therapy_continuing_after_completed_chemotherapy_is_after_neoadjuvant_therapy(recommend_example):
    found = recommend_example("her2-targeted-continuing.ttl")
    assert (235, 7) in applicable(found)


def test_endocrine_or_immune_therapy_continuing_does_not_keep_the_patient_during_therapy(recommender):
    for therapy in ("acr:EndocrineTherapy", "acr:Immunotherapy", "acr:HER2TargetedTherapy"):
        assert applicable(answer(recommender, with_course(therapy))) == [(235, 7), (286, 9)], therapy


def test_ongoing_chemotherapy_is_still_during_therapy(recommender):
    text = SEED.replace('acr:endDate "2026-09-14"^^xsd:date ;\n    acr:courseStatus acr:CourseCompleted',
                        "acr:courseStatus acr:CourseOngoing")
    found = answer(recommender, text)
    assert applicable(found) == []
    assert any("during neoadjuvant therapy" in r for v in found["not_applicable"] if v["variant_number"] == 7 for r in v["reasons"])


def test_a_second_chemotherapy_course_ongoing_is_during_therapy(recommender):
    assert applicable(answer(recommender, with_course("acr:Chemotherapy"))) == []


def test_neoadjuvant_endocrine_therapy_alone_leaves_the_phase_unknown_and_says_why(recommender):
    text = SEED.replace("acr:therapyType acr:Chemotherapy", "acr:therapyType acr:EndocrineTherapy")
    found = answer(recommender, text)
    assert applicable(found) == []
    [v7] = [v for v in found["would_apply_if"] if (v["topic_id"], v["variant_number"]) == (235, 7)]
    assert any(m.startswith("treatment phase: the neoadjuvant therapy on record has no chemotherapy course")
               and "reading-phase-without-chemotherapy" in m for m in v7["missing"])
    assert any(s["source"].endswith("source-acr-criteria-reference") for s in found["sources"])


def test_the_seed_phase_is_unchanged(recommend_example):
    assert applicable(recommend_example("seed-patient.ttl")) == [(235, 7), (286, 9)]
