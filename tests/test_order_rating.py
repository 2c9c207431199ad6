"""The ordered procedure is rated: each applicable variant's rating of it, the better-rated alternatives
when it is not usually appropriate, and "no criteria apply" (never a rating) when no variant applies."""
from __future__ import annotations

import json

from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient
from kg.output.data import recommendations_turtle
from kg.output.text import recommendation_text

KB = "https://w3id.org/acr-kg/kb/"
SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text()
CLIP = "acr:orderMentionsClip true ."


def answer(recommender, text: str):
    rec = recommender.recommend(parse_patient(text.encode(), "case.ttl"))
    return rec, json.loads(json.dumps(rec.as_dict()))


def ordering(procedure: str, text: str = SEED) -> str:
    assert CLIP in text
    return text.replace(CLIP, f"acr:orderMentionsClip true ;\n    acr:orderedProcedure {procedure} .")


def test_an_order_without_a_procedure_says_so(recommender):
    _, found = answer(recommender, SEED)
    assert found["order"] == {"procedure": None, "label": None, "status": "no-procedure",
                              "reason": "the order names no procedure", "ratings": []}


def test_ordering_mri_breast_changes_the_answer_with_its_rating_and_the_better_alternative(recommender):
    rec, found = answer(recommender, (EXAMPLES_DIR / "order-mri-breast.ttl").read_text())
    order = found["order"]
    assert order["status"] == "rated" and order["procedure"] == KB + "proc-mri-breast-wo-w"
    assert [(r["topic_id"], r["variant_number"], r["category_label"], r["median"], r["usually_appropriate"])
            for r in order["ratings"]] == [(235, 7, "Usually not appropriate", 3, False), (286, 9, "May be appropriate", 5, False)]
    assert all([b["label"] for b in r["better"]] == ["US axilla"] for r in order["ratings"])
    assert order["ratings"][0]["rating"] == KB + "rating-235-7-mri-breast-wo-w"
    text = recommendation_text(rec)
    assert "Ordered procedure: MRI breast without and with IV contrast" in text
    assert "topic 235 variant 7: Usually not appropriate (3)" in text and "rated higher: US axilla (Usually appropriate, 8)" in text
    turtle = recommendations_turtle([rec])
    assert "acr:orderRatedAs" in turtle and "rating-235-7-mri-breast-wo-w" in turtle and "rating-286-9-mri-breast-wo-w" in turtle


def test_a_usually_appropriate_order_lists_no_alternative(recommender):
    _, found = answer(recommender, ordering("acrkb:proc-us-axilla"))
    assert [(r["median"], r["usually_appropriate"], r["better"]) for r in found["order"]["ratings"]] == [(8, True, []), (8, True, [])]


def test_an_order_coded_in_loinc_is_rated_through_the_mappings(recommender):
    _, found = answer(recommender, ordering("<https://loinc.org/rdf/36277-2>"))
    assert found["order"]["procedure"] == KB + "proc-mri-breast-wo-w" and found["order"]["status"] == "rated"


def test_an_unmapped_code_is_no_procedure(recommender):
    _, found = answer(recommender, ordering("<https://loinc.org/rdf/11111-1>"))
    assert found["order"]["status"] == "no-procedure" and found["order"]["ratings"] == []
    assert "no mapping" in found["order"]["reason"]


def test_when_no_variant_applies_the_order_gets_no_criteria_apply_never_a_rating(recommender):
    text = ordering("acrkb:proc-us-axilla").replace("acr:definitiveSurgeryDone false", "acr:definitiveSurgeryDone true")
    rec, found = answer(recommender, text)
    assert found["valid"] and found["applicable"] == []
    assert found["order"]["status"] == "no-criteria-apply" and found["order"]["ratings"] == []
    assert found["order"]["reason"] == "no ACR variant applies to this patient"
    assert "Ordered procedure: US axilla: no criteria apply (no ACR variant applies to this patient)" in recommendation_text(rec)
    assert "orderRatedAs" not in recommendations_turtle([rec])


def test_a_procedure_the_applicable_variants_do_not_rate_gets_no_criteria_apply(recommender):
    _, found = answer(recommender, ordering("acrkb:proc-bone-scan-whole-body"))
    assert found["applicable"] and found["order"]["status"] == "no-criteria-apply"
    assert found["order"]["reason"] == "the applicable variants do not rate this procedure"


def test_an_invalid_patient_has_no_order_answer(recommender):
    _, found = answer(recommender, ordering("acrkb:proc-us-axilla").replace("acr:tumourSizeMm 32.0", "acr:tumourSizeMm 0"))
    assert not found["valid"] and found["order"] is None
