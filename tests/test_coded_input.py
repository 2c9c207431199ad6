"""Coded patient input: SNOMED CT, ICD-10-CM, LOINC and NCIt codes give the same answer as our IRIs."""
from __future__ import annotations

import json

from locations import EXAMPLES_DIR
from kg.input.reader import parse_patient


def recommend_text(recommender, text: str) -> dict:
    return recommender.recommend(parse_patient(text.encode(), "coded.ttl")).as_dict()


def test_seed_patient_written_with_codes_gets_identical_json(cli):
    plain = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", "--format", "json")
    coded = cli("recommend", EXAMPLES_DIR / "seed-patient-coded.ttl", "--format", "json")
    assert plain.exit_code == coded.exit_code == 0
    answers = [json.loads(result.stdout) for result in (plain, coded)]
    assert [a.pop("source") for a in answers] == [str(EXAMPLES_DIR / name) for name in ("seed-patient.ttl", "seed-patient-coded.ttl")]
    assert answers[0] == answers[1]


def test_codes_are_read_as_our_concepts(recommender):
    result = recommender.recommend(parse_patient((EXAMPLES_DIR / "seed-patient-coded.ttl").read_bytes(), "coded.ttl"))
    assert result.valid and result.notes == []
    derived = {(p.rsplit("/", 1)[-1], o.rsplit("/", 1)[-1]) for _s, p, o in result.derived}
    assert ("nodalStatusAtDiagnosis", "NodePositive") in derived      # SNOMED 1229973008 = cN1
    assert ("priorAxillaryEvaluation", "AxillaEvaluatedBefore") in derived  # LOINC 80852-7 = US axilla
    assert ("breastCancerStatus", "KnownBreastCancer") in derived     # ICD-10-CM C50.912


def test_cnx_code_is_not_cn1(recommender):
    # 1229966003 is cNX; a mislabelled value set in the wild calls it cN1
    text = (EXAMPLES_DIR / "seed-patient-coded.ttl").read_text()
    text = text.replace("sct:1229973008", "sct:1229966003").replace("    acr:clinicalNodalStatus icd:C77.3 ;", "")
    answer = recommend_text(recommender, text)
    assert answer["valid"] and answer["warnings"] == []
    assert not any(v["variant_number"] == 7 for v in answer["applicable"])
    v7 = next(v for v in answer["not_applicable"] if v["variant"].endswith("variant-235-7"))
    assert any("positive at diagnosis (patient: unknown)" in reason for reason in v7["reasons"])


def test_c77_3_alone_gives_node_positive(recommender):
    text = (EXAMPLES_DIR / "seed-patient-coded.ttl").read_text().replace("    acr:clinicalNCategory sct:1229973008 ;", "")
    answer = recommend_text(recommender, text)
    assert any(v["variant_number"] == 7 for v in answer["applicable"])


def test_unmapped_code_is_a_warning_that_names_it_never_a_silent_miss(recommender):
    text = (EXAMPLES_DIR / "seed-patient-coded.ttl").read_text()
    text = text.replace("sct:1229973008", "sct:1000000001").replace("    acr:clinicalNodalStatus icd:C77.3 ;", "")
    answer = recommend_text(recommender, text)
    assert answer["valid"]
    [warning] = answer["warnings"]
    assert warning["value"] == "http://snomed.info/id/1000000001"
    assert "SNOMED:1000000001 (SNOMED CT) has no usable mapping" in warning["message"]
    assert warning["path"].endswith("/clinicalNCategory")
    assert not any(v["variant_number"] == 7 for v in answer["applicable"])


def test_a_broader_code_is_not_read_as_our_narrower_concept(recommender):
    # SNOMED 241615005 "MRI of breast" is broader than any MRI procedure we rate: it must not map
    text = (EXAMPLES_DIR / "seed-patient-coded.ttl").read_text().replace("loinc:80852-7", "sct:241615005")
    answer = recommend_text(recommender, text)
    assert any(w.get("value") == "http://snomed.info/id/241615005" for w in answer["warnings"])
    assert not any(v["variant_number"] == 7 for v in answer["applicable"])  # no axillary baseline is known


def test_conflicting_n_category_and_stated_status_is_a_violation(recommender):
    text = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace(
        "    acr:clinicalNCategory acr:cN1 ;", "    acr:clinicalNCategory acr:cN0 ;\n    acr:clinicalNodalStatus acr:NodePositive ;")
    answer = recommend_text(recommender, text)
    assert not answer["valid"]
    assert any("N category https://w3id.org/acr-kg/ontology/cN0 and the stated nodal status disagree" in v["message"]
               for v in answer["violations"])
