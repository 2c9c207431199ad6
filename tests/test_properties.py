"""Property-based tests (hypothesis) over random patients, against a plain-Python statement of variant 7."""
from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kg.input.reader import parse_patient
from kg.synthetic import FAULTS, case_turtle, random_case, variant_7_applies

NOW = dt.date(2026, 11, 20)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def answer(recommender, case) -> dict:
    return recommender.recommend(parse_patient(case_turtle(case).encode(), "synthetic.ttl")).as_dict()


def matched(result: dict, topic: int, number: int) -> bool:
    return any((v["topic_id"], v["variant_number"]) == (topic, number) for v in result["applicable"])


@SETTINGS
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_variant_7_matches_exactly_when_its_criteria_hold(recommender, seed):
    case = random_case(random.Random(seed), NOW, invalid_rate=0.0)
    result = answer(recommender, case)
    assert result["valid"], result["violations"]
    assert matched(result, 235, 7) == variant_7_applies(case)
    if not matched(result, 235, 7):
        v7 = next(v for v in result["not_applicable"] if v["variant"].endswith("variant-235-7"))
        assert v7["reasons"], "an unmatched variant always says why"


@SETTINGS
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), fault=st.sampled_from(FAULTS))
def test_an_invalid_patient_never_gets_a_recommendation(recommender, seed, fault):
    case = random_case(random.Random(seed), NOW, invalid_rate=0.0)
    case.fault = fault
    assume(case.courses or fault not in ("end-before-start", "start-after-now"))  # these faults break a course
    assume(case.findings or fault != "cortex-out-of-range")
    result = answer(recommender, case)
    assert result["valid"] is False and result["violations"]
    assert result["applicable"] == [] and result["next_steps"] == [] and result["conflicts"] == []
    assert result["node_assessments"] == []
