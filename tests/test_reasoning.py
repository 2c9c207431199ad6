"""HermiT on the merged ontology: consistency, and classification of patients into the population
classes generated from the variants' criteria, by reasoning alone (no SPARQL matching)."""
from __future__ import annotations

import shutil

import pytest

from kg.errors import UsageError
from locations import KB_DIR, ONTOLOGY_DIR
from kg.terms import ACR, ACRKB
from kg.resources import ontology_files
from kg.kb.reasoning import InconsistentOntology, Reasoner

SEED_SCENARIO = {
    ACR + "ageGroup": ACR + "Adult",
    ACR + "breastCancerStatus": ACR + "KnownBreastCancer",
    ACR + "nodalStatusAtDiagnosis": ACR + "NodePositive",
    ACR + "treatmentPhase": ACR + "AfterNST",
    ACR + "clinicalQuestion": ACR + "AxillaQuestion",
    ACR + "priorAxillaryEvaluation": ACR + "AxillaEvaluatedBefore",
}


@pytest.fixture(scope="module")
def reasoner():
    # Loading is cheap, HermiT is not: one World for the module, each patient in a scratch ontology.
    return Reasoner()


def test_ontology_is_consistent_and_every_class_satisfiable(reasoner):
    result = reasoner.check_consistency()
    assert result.consistent
    assert result.unsatisfiable == ()
    assert result.seconds < 60


def test_seed_patient_is_classified_into_variant_235_7(reasoner):
    populations = reasoner.classify(SEED_SCENARIO)
    assert ACRKB + "Population-235-7" in populations
    assert ACRKB + "Population-235-5" not in populations


def test_node_negative_patient_is_not_in_variant_235_7(reasoner):
    populations = reasoner.classify({**SEED_SCENARIO, ACR + "nodalStatusAtDiagnosis": ACR + "NodeNegative"})
    assert ACRKB + "Population-235-7" not in populations


def test_patient_fitting_two_topics_is_in_both(reasoner):
    # Topic 286 variant 9 covers the same moment of care for women with a tumour larger than 2 cm.
    populations = reasoner.classify({**SEED_SCENARIO, ACR + "recordedSex": ACR + "Female",
                                     ACR + "primaryTumourSize": ACR + "TumourLargerThan2cm"})
    assert populations == [ACRKB + "Population-235-7", ACRKB + "Population-286-9"]


def test_classification_is_the_same_on_every_run(reasoner):
    # Regression: through owlready2, HermiT also classified the data properties, answered with
    # unsound subsumptions that change from run to run, and owlready2 crashed on the cycles in
    # roughly one run in five. Six runs in a row catch that most of the time.
    scenario = {**SEED_SCENARIO, ACR + "recordedSex": ACR + "Female", ACR + "primaryTumourSize": ACR + "TumourLargerThan2cm"}
    answers = {tuple(reasoner.classify(scenario)) for _ in range(6)}
    assert answers == {(ACRKB + "Population-235-7", ACRKB + "Population-286-9")}


def test_unknown_aspect_is_a_usage_error(reasoner):
    with pytest.raises(UsageError, match="rdf-schema#label"):
        reasoner.classify({"http://www.w3.org/2000/01/rdf-schema#label": ACR + "Adult"})


def test_inconsistency_raises_with_an_explanation_naming_the_nodes(tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(KB_DIR, kb)
    with open(kb / "topic-235.ttl", "a", encoding="utf-8") as handle:
        handle.write(f"\n<{ACRKB}rating-235-7-us-axilla> <{ACR}category> <{ACR}UsuallyNotAppropriate> .\n")
    files = [p for p in ontology_files() if p.parent == ONTOLOGY_DIR] + sorted(kb.glob("*.ttl"))
    with pytest.raises(InconsistentOntology) as caught:
        Reasoner(files).check_consistency()
    explanation = caught.value.explanation
    assert f"{ACRKB}rating-235-7-us-axilla" in explanation
    assert f"{ACR}UsuallyNotAppropriate" in explanation and f"{ACR}UsuallyAppropriate" in explanation
    assert caught.value.exit_code == 1
