"""Date and identity consistency (README, "Date and identity rules") and numbers as EHRs write them:
impossible patients are violations with a message naming the field, judged alike by both engines."""
from __future__ import annotations

import datetime as dt

import pytest

from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient
from kg.validate import validate

NOW = dt.date(2026, 11, 20)
SEED = (EXAMPLES_DIR / "seed-patient.ttl").read_text()
BIRTH = 'acr:birthDate "1978-05-10"^^xsd:date'


def edited(*edits: tuple[str, str]) -> bytes:
    text = SEED
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def messages(data: bytes, now: dt.date = NOW) -> list[str]:
    """The violation messages, after checking that pySHACL finds exactly the same violations."""
    quads = parse_patient(data, "case.ttl").quads
    compiled, reference = validate(quads, now, engine="sparql"), validate(quads, now, engine="pyshacl")
    # pySHACL's rdflib rewrites the lexical form of doubles ("NaN" as "nan"): values are compared apart
    assert [(v.message, v.focus, v.path) for v in compiled.violations] == \
        [(v.message, v.focus, v.path) for v in reference.violations]
    return [v.message for v in compiled.violations]


def test_the_seed_patient_is_valid():
    assert messages(edited()) == []


@pytest.mark.parametrize("edit, expected", [
    # a diagnosis after the order (judged as of the order date)
    (('acr:diagnosisDate "2026-03-02"', 'acr:diagnosisDate "2026-11-25"'),
     "diagnosis date 2026-11-25 is after the evaluation date 2026-11-20"),
    # a clinical examination after the order
    (('acr:examDate "2026-11-20"', 'acr:examDate "2026-12-01"'),
     "examination date 2026-12-01 is after the evaluation date 2026-11-20"),
    (('acr:studyDate "2026-03-02"', 'acr:studyDate "2027-01-02"'),
     "prior imaging study date 2027-01-02 is after the evaluation date 2026-11-20"),
    # a birth date in 1871: a derived age of 155 is refused like a stated one
    ((BIRTH, 'acr:birthDate "1871-05-10"^^xsd:date'),
     "birth date 1871-05-10 gives an age of 155 years on the evaluation date 2026-11-20: ages from 0 to 120 are accepted"),
    # born after her own diagnosis and therapy start
    ((BIRTH, 'acr:birthDate "2026-07-10"^^xsd:date'), "diagnosis date 2026-03-02 is before the birth date 2026-07-10"),
    ((BIRTH, 'acr:birthDate "2026-07-10"^^xsd:date'), "therapy start date 2026-03-16 is before the birth date 2026-07-10"),
    # neoadjuvant therapy starts after the diagnosis
    (('acr:startDate "2026-03-16"', 'acr:startDate "2026-02-16"'),
     "therapy start date 2026-02-16 is before the diagnosis date 2026-03-02"),
    (('acr:orderDate "2026-11-20"', 'acr:orderDate "2026-11-21"'),
     "order date 2026-11-21 is after the evaluation date 2026-11-20"),
])
def test_impossible_dates_are_violations_naming_the_field(edit, expected):
    assert expected in messages(edited(edit))


@pytest.mark.parametrize("year", ["1066", "0000", "-0010", "10000", "1899"])
def test_implausible_years_are_violations_on_both_engines(year):
    found = messages(edited((BIRTH, f'acr:birthDate "{year}-05-10"^^xsd:date')))
    assert f"birth date {year}-05-10 is not a plausible date: write one xsd:date (YYYY-MM-DD) with a year from 1900 on" in found


@pytest.mark.parametrize("value", ['"2026-02-30"^^xsd:date', '"2026-3-2"^^xsd:date', '"2026-03-02"'])
def test_ill_formed_clinical_dates_are_violations_on_both_engines(value):
    found = messages(edited(('acr:diagnosisDate "2026-03-02"^^xsd:date', f"acr:diagnosisDate {value}")))
    assert any(m.startswith("diagnosis date 2026-") and "is not a plausible date" in m for m in found)


def test_a_leap_day_is_a_date():
    assert messages(edited(('acr:diagnosisDate "2026-03-02"', 'acr:diagnosisDate "2024-02-29"'))) == []


def test_an_ongoing_course_may_end_after_the_evaluation_date():
    data = edited(('acr:endDate "2026-09-14"^^xsd:date ;\n    acr:courseStatus acr:CourseCompleted',
                   'acr:endDate "2027-01-14"^^xsd:date ;\n    acr:courseStatus acr:CourseOngoing'))
    assert messages(data) == []


def test_a_completed_course_may_not_end_after_the_evaluation_date():
    found = messages(edited(('acr:endDate "2026-09-14"', 'acr:endDate "2026-12-14"')))
    assert "therapy end date 2026-12-14 is after the evaluation date 2026-11-20" in found


def test_what_may_follow_the_order_date_and_what_may_not():
    """Judged after the order: the post-therapy ultrasound may be the ordered study, and a course may end
    after the order was placed; an examination after the order may not (the order is decided on what was
    known then). Each limit is reported on its own, with its own words."""
    later = dt.date(2026, 12, 20)
    text = (EXAMPLES_DIR / "after-therapy-normal-us.ttl").read_text()
    for old, new in (('acr:studyDate "2026-11-20"', 'acr:studyDate "2026-12-01"'),
                     ('acr:endDate "2026-09-14"', 'acr:endDate "2026-12-01"')):
        assert old in text
        assert messages(text.replace(old, new).encode(), later) == []
    found = messages(text.replace('acr:examDate "2026-11-20"', 'acr:examDate "2026-12-21"').encode(), later)
    assert found == ["examination date 2026-12-21 is after the evaluation date 2026-12-20",
                     "examination date 2026-12-21 is after the order date 2026-11-20: the order is decided on "
                     "what was known when it was placed"]


def test_a_post_therapy_ultrasound_follows_the_diagnosis_and_the_therapy():
    text = (EXAMPLES_DIR / "after-therapy-normal-us.ttl").read_text()
    old = 'acr:hasPostTherapyUltrasound ex:post-us'
    assert old in text
    study = text[text.index("ex:post-us a"):]
    date = study[study.index('acr:studyDate "') + 15:][:10]
    found = messages(text.replace(f'acr:studyDate "{date}"', 'acr:studyDate "2026-03-10"').encode())
    assert "post-therapy ultrasound date 2026-03-10 is before any therapy course started" in found
    found = messages(text.replace(f'acr:studyDate "{date}"', 'acr:studyDate "2026-02-10"').encode())
    assert "post-therapy ultrasound date 2026-02-10 is before the diagnosis date 2026-03-02" in found


def test_biopsy_dates_are_checked():
    data = edited(("acr:biopsyMalignant true .", 'acr:biopsyMalignant true ;\n    acr:biopsyDate "2027-01-01"^^xsd:date .'))
    assert "biopsy date 2027-01-01 is after the evaluation date 2026-11-20" in messages(data)
    data = edited(("acr:biopsyMalignant true .", 'acr:biopsyMalignant true ;\n    acr:biopsyDate "1970-01-01"^^xsd:date .'))
    assert "biopsy date 1970-01-01 is before the birth date 1978-05-10" in messages(data)
    data = edited(("acr:biopsyMalignant true .", 'acr:biopsyMalignant true ;\n    acr:biopsyDate "2026-02-25"^^xsd:date .'))
    assert messages(data) == []


# -- identity: stated age and birth date ------------------------------------------------------------

def test_a_stated_age_that_agrees_with_the_birth_date_is_accepted():
    assert messages(edited((BIRTH, BIRTH + " ; acr:ageInYears 48"))) == []


def test_a_stated_age_that_disagrees_with_the_birth_date_is_a_violation():
    found = messages(edited((BIRTH, BIRTH + " ; acr:ageInYears 50")))
    assert found == ["stated age in years 50 disagrees with the birth date 1978-05-10, which gives 48 on 2026-11-20"]


def test_a_patient_needs_a_birth_date_or_an_age():
    found = messages(edited((BIRTH + " ;", "")))
    assert found == ["the patient needs a birth date (acr:birthDate) or an age in years (acr:ageInYears)"]


@pytest.mark.parametrize("age, valid", [("48", True), ("48.0", True), ('"48"^^xsd:double', True), ("4.8E1", True),
                                        ("48.5", False), ("121", False), ("-1", False), ('"NaN"^^xsd:double', False),
                                        ('"INF"^^xsd:double', False), ('"forty"', False)])
def test_stated_ages_are_whole_numbers_from_0_to_120_however_written(age, valid):
    found = messages(edited((BIRTH, f"acr:ageInYears {age}")))
    assert (found == []) is valid, found
    if not valid:
        assert found == ["age in years must be one integer from 0 to 120 (an integer, decimal or double literal with no fraction)"]


# -- measurements as numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("size", ["29", "29.0", "2.9E1", '"29"^^xsd:double', '"29"^^xsd:float'])
def test_tumour_size_is_accepted_as_any_numeric_literal(size):
    assert messages(edited(("acr:tumourSizeMm 32.0", f"acr:tumourSizeMm {size}"))) == []


@pytest.mark.parametrize("size", ['"NaN"^^xsd:double', '"NaN"^^xsd:decimal', '"INF"^^xsd:double', '"-INF"^^xsd:double',
                                  "0", "301", "3.01E2", '"29"', '"29mm"^^xsd:decimal'])
def test_out_of_range_or_not_a_number_sizes_are_violations_not_crashes(size):
    assert messages(edited(("acr:tumourSizeMm 32.0", f"acr:tumourSizeMm {size}"))) == [
        "tumour size must be one number in millimetres, above 0 and at most 300"]


@pytest.mark.parametrize("cortex, valid", [("2", True), ('"2.6"^^xsd:double', True), ("0", True), ("21", False),
                                           ('"NaN"^^xsd:double', False)])
def test_cortex_thickness_is_read_by_value(cortex, valid):
    text = (EXAMPLES_DIR / "after-therapy-normal-us.ttl").read_text()
    assert "acr:cortexThicknessMm 1.4" in text
    found = messages(text.replace("acr:cortexThicknessMm 1.4", f"acr:cortexThicknessMm {cortex}").encode())
    assert (found == []) is valid, found


def test_an_integer_tumour_size_gets_the_same_answer_as_a_decimal(recommender):
    as_decimal = recommender.recommend(parse_patient(SEED.encode(), "seed.ttl")).as_dict()
    as_integer = recommender.recommend(parse_patient(edited(("acr:tumourSizeMm 32.0", "acr:tumourSizeMm 32")), "seed.ttl")).as_dict()
    assert as_integer["valid"] and as_integer["applicable"] == as_decimal["applicable"]


def test_a_date_after_the_order_is_refused_even_when_judged_later(recommender):
    # Judged a month after the order, a diagnosis dated after the order must still be refused: the
    # order is decided on what was known when it was placed.
    from kg.input import parse_patient
    from locations import EXAMPLES_DIR
    import datetime as dt

    text = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace('acr:examDate "2026-11-20"', 'acr:examDate "2026-12-01"')
    answer = recommender.recommend(parse_patient(text.encode(), "late-exam.ttl"), now=dt.date(2026, 12, 20))
    assert not answer.valid and not answer.applicable
    assert any("after the order date 2026-11-20" in v.message for v in answer.validation.violations)
