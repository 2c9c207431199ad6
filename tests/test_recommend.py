"""Each example patient gives its expected answer (issue: patient graphs in, recommendations out)."""
from __future__ import annotations

import random

import pytest

from kg import queries
from kg.errors import AcrKgError
from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient, read_patient
from kg.recommend import Engine, Request
from kg.synthetic import case_turtle, random_case

JSON_KEYS = {"patient", "valid", "violations", "warnings", "applicable", "not_applicable", "conflicts",
             "node_assessments", "next_steps", "sources"}
PROCEDURE_KEYS = {"procedure", "label", "category", "median", "soe", "adult_rrl", "peds_rrl"}


def variants(answer: dict) -> list[tuple[int, int]]:
    return [(v["topic_id"], v["variant_number"]) for v in answer["applicable"]]


def procedures(answer: dict, topic: int, number: int) -> dict[str, dict]:
    variant = next(v for v in answer["applicable"] if (v["topic_id"], v["variant_number"]) == (topic, number))
    return {p["label"]: p for p in variant["procedures"]}


def step_labels(answer: dict) -> list[str]:
    return [s["label"] for s in answer["next_steps"]]


def test_seed_patient_gets_variant_7_with_its_ratings(recommend_example):
    answer = recommend_example("seed-patient.ttl")
    assert JSON_KEYS <= set(answer)
    assert answer["valid"] is True and answer["violations"] == []
    assert (235, 7) in variants(answer)
    v7 = procedures(answer, 235, 7)
    assert all(PROCEDURE_KEYS <= set(p) for p in v7.values())
    us = v7["US axilla"]
    assert (us["category"], us["median"], us["soe"], us["adult_rrl"], us["peds_rrl"]) == \
        ("Usually appropriate", 8, "Moderate", "O", "O")
    assert v7["MRI breast without and with IV contrast"]["category"] == "Usually not appropriate"
    pet = v7["FDG-PET/CT skull base to mid-thigh"]
    assert (pet["category"], pet["adult_rrl"]) == ("Usually not appropriate", "☢☢☢☢")
    # ordered by median, high to low
    medians = [p["median"] for p in next(v for v in answer["applicable"] if v["variant_number"] == 7)["procedures"]]
    assert medians == sorted(medians, reverse=True)
    matched = next(v for v in answer["applicable"] if v["variant_number"] == 7)["matched_because"]
    assert any("after completed neoadjuvant therapy" in reason for reason in matched)


def test_each_rating_is_listed_once(recommend_example):
    # regression: a rating without an adult RRL used to be joined with every radiation level
    answer = recommend_example("seed-patient.ttl")
    for topic, number, count in ((235, 7, 9), (286, 9, 10)):
        listed = procedures(answer, topic, number)
        variant = next(v for v in answer["applicable"] if (v["topic_id"], v["variant_number"]) == (topic, number))
        assert len(variant["procedures"]) == len(listed) == count


def test_seed_patient_shows_the_235_286_conflict_on_breast_mri(recommend_example):
    answer = recommend_example("seed-patient.ttl")
    assert (286, 9) in variants(answer)
    [conflict] = answer["conflicts"]
    assert conflict["label"] == "MRI breast without and with IV contrast"
    assert {(r["topic_id"], r["category"], r["median"]) for r in conflict["ratings"]} == \
        {(235, "Usually not appropriate", 3), (286, "May be appropriate", 5)}


def test_seed_patient_lists_every_downstream_branch_before_the_scan(recommend_example):
    answer = recommend_example("seed-patient.ttl")
    labels = step_labels(answer)
    for expected in ("ultrasound-guided biopsy of the suspicious node", "axillary lymph node dissection",
                     "sentinel lymph node biopsy with targeted axillary dissection",
                     "completion axillary lymph node dissection", "multidisciplinary tumour board review"):
        assert expected in labels
    assert answer["node_assessments"] == []
    assert answer["sources"] and all("source" in s for s in answer["sources"])
    assert all(step["sources"] for step in answer["next_steps"])


def test_json_ld_input_gives_the_same_answer_as_turtle(recommend_example):
    turtle = recommend_example("seed-patient.ttl")
    jsonld = recommend_example("seed-patient.jsonld")
    for answer in (turtle, jsonld):
        answer.pop("patient"), answer.pop("source")
    assert jsonld == turtle


def test_node_negative_after_therapy_is_variant_5(recommend_example):
    answer = recommend_example("node-negative-after-therapy.ttl")
    assert variants(answer) == [(235, 5)]
    assert all(p["category"] == "Usually not appropriate" for p in procedures(answer, 235, 5).values())


def test_node_positive_during_therapy_gets_no_variant_with_the_reason(recommend_example):
    answer = recommend_example("node-positive-during-therapy.ttl")
    assert answer["valid"] is True
    assert answer["applicable"] == [] and answer["next_steps"] == []
    v7 = next(v for v in answer["not_applicable"] if (v["topic_id"], v["variant_number"]) == (235, 7))
    assert any("during neoadjuvant therapy" in reason and "interim" in reason for reason in v7["reasons"])
    assert any("after completed neoadjuvant therapy" in reason for reason in v7["reasons"])


def test_initial_staging_with_a_suspicious_node_is_variant_8(recommend_example):
    answer = recommend_example("initial-staging-suspicious-node.ttl")
    assert variants(answer) == [(235, 8)]
    v8 = procedures(answer, 235, 8)
    assert v8["US-guided core biopsy axillary node"]["category"] == "Usually appropriate"


def test_suspicious_ultrasound_leads_to_biopsy_then_alnd(recommend_example):
    answer = recommend_example("after-therapy-suspicious-us.ttl")
    assert (235, 7) in variants(answer)
    [node] = answer["node_assessments"]
    assert (node["assessment"], node["result"]) == ("suspicious node", "suspicious")
    assert step_labels(answer) == ["ultrasound-guided biopsy of the suspicious node", "axillary lymph node dissection"]


def test_normal_ultrasound_leads_to_slnb_with_tad(recommend_example):
    answer = recommend_example("after-therapy-normal-us.ttl")
    [node] = answer["node_assessments"]
    assert node["assessment"] == "normal-appearing node"
    assert step_labels(answer) == ["sentinel lymph node biopsy with targeted axillary dissection",
                                   "completion axillary lymph node dissection"]
    assert "microscopic" in answer["next_steps"][0]["note"]


@pytest.mark.parametrize("thresholds, assessment, first_step", [
    ("seed", "suspicious node", "ultrasound-guided biopsy of the suspicious node"),
    ("acr", "normal-appearing node", "sentinel lymph node biopsy with targeted axillary dissection"),
])
def test_threshold_source_is_a_choice_and_is_reported(recommend_example, thresholds, assessment, first_step):
    answer = recommend_example("after-therapy-borderline-us.ttl", thresholds=thresholds)
    [node] = answer["node_assessments"]
    assert node["assessment"] == assessment and node["threshold_set"] == thresholds
    expected_source = {"seed": "source-seed-article", "acr": "source-acr-narrative-235"}[thresholds]
    assert any(s.endswith(expected_source) for s in node["sources"])
    assert step_labels(answer)[0] == first_step


def test_palpable_node_with_normal_ultrasound_escalates_to_tumour_board(recommend_example):
    answer = recommend_example("palpable-node-normal-us.ttl")
    pitfalls = {w.get("pitfall") for w in answer["warnings"]}
    assert "https://w3id.org/acr-kg/kb/pitfall-palpable-normal-us" in pitfalls
    assert "https://w3id.org/acr-kg/kb/pitfall-clip-not-found" in pitfalls
    assert answer["node_assessments"][0]["result"] == "technically limited or discordant"
    assert step_labels(answer) == ["multidisciplinary tumour board review"]


def test_unknown_threshold_set_is_a_usage_error(recommender):
    from kg.errors import UsageError
    from locations import EXAMPLES_DIR
    from kg.input.reader import read_patient

    with pytest.raises(UsageError, match="unknown threshold set 'z1071'.*acr, seed"):
        recommender.recommend(read_patient(EXAMPLES_DIR / "seed-patient.ttl"), thresholds="z1071")


def _batch_inputs() -> list:
    """Every readable example, generated patients (some sharing IRIs, so they cannot share a store),
    two copies of the seed whose cancer is the same labelled blank node, a literal cancer, and a graph
    that states a fact about a term of our vocabulary."""
    inputs = []
    for path in sorted(EXAMPLES_DIR.rglob("*")):
        if path.suffix in (".ttl", ".jsonld"):
            try:
                inputs.append(parse_patient(path.read_bytes(), path.name))
            except AcrKgError:
                pass
    rng = random.Random(11)
    inputs += [parse_patient(case_turtle(random_case(rng), f"https://example.org/batch/{i % 30}").encode(), "b.ttl")
               for i in range(80)]
    seed = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace("ex:cancer", "_:cancer")
    inputs += [parse_patient(seed.encode(), "a.ttl"), parse_patient(seed.replace("ex:patient", "ex:twin").encode(), "b.ttl")]
    # a literal where a node is expected: a focus node no graph owns as a node
    literal = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace("acr:hasBreastCancer ex:cancer", 'acr:hasBreastCancer "x"')
    inputs.append(parse_patient(literal.replace("patients/seed/", "patients/literal/").encode(), "c.ttl"))
    # a statement about a term of our vocabulary, which other patients mention too
    about_vocabulary = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace("patients/seed/", "patients/odd/")
    inputs.append(parse_patient((about_vocabulary + "\nacr:Female acr:hasCurrentOrder ex:order .\n").encode(), "d.ttl"))
    return inputs


def test_a_batch_gives_each_patient_the_answer_it_gets_alone(recommender):
    inputs = _batch_inputs()
    together = recommender.recommend_many(inputs)
    alone = [recommender.recommend(data) for data in inputs]
    assert [r.as_dict() for r in together] == [r.as_dict() for r in alone]
    assert [sorted(r.derived) for r in together] == [sorted(r.derived) for r in alone]
    outcomes = {(r.valid, bool(r.applicable)) for r in together}
    assert outcomes == {(False, False), (True, False), (True, True)}  # invalid, no criteria apply, in scope


@pytest.mark.parametrize("name", [q.name for q in queries.catalogue().values() if q.needs])
def test_a_query_that_needs_a_predicate_has_no_answer_without_it(name):
    # The recommender skips such a query for patients without the predicate: the claim must hold.
    import pyoxigraph as ox

    query = queries.get(name)
    answered_with = answered_without = 0
    engine = Engine()
    for path in ["seed-patient.ttl", "after-therapy-suspicious-us.ttl", "palpable-node-normal-us.ttl",
                 "node-negative-after-therapy.ttl", "initial-staging-suspicious-node.ttl",
                 "order-mri-breast.ttl"]:
        with engine.loaded(Request(read_patient(EXAMPLES_DIR / path))) as (loaded, store):
            assert loaded.valid
            run = store.construct if query.form == "CONSTRUCT" else store.select
            answered_with += len(run(query.text))
            for predicate in query.needs:
                for quad in list(store.store.quads_for_pattern(None, ox.NamedNode(predicate), None)):
                    store.store.remove(quad)
            answered_without += len(run(query.text))
    assert answered_with > 0  # the examples exercise the query at all
    assert answered_without == 0
