"""The answer for a FHIR record shows which resources each fact of the patient graph came from."""
from __future__ import annotations

import datetime as dt

import pytest

from kg.input import read_patients
from locations import FIXTURES

TRIPLE_NEGATIVE = FIXTURES / "synthea-r4" / "triple_negative.json"
pytestmark = pytest.mark.skipif(not TRIPLE_NEGATIVE.exists(), reason=f"third-party fixtures absent ({FIXTURES})")


def test_each_fact_names_the_resources_it_came_from(recommender):
    # After the last neoadjuvant cycle and before surgery, with a US axilla order given on the command line.
    [record] = read_patients(TRIPLE_NEGATIVE, None, now=dt.date(1972, 1, 5), order="LOINC:80852-7")
    answer = recommender.recommend(record).as_dict()
    by_node = {entry["node"].rsplit("/", 1)[-1]: entry["derived_from"] for entry in answer["record_sources"]}
    assert any(r.startswith("urn:fhir:Condition/") for r in by_node["breast-cancer"])
    assert any(r.startswith("urn:fhir:Patient/") for r in by_node["patient"])
    course = next(resources for node, resources in by_node.items() if node.startswith("course-Chemotherapy"))
    assert len(course) >= 8  # the course is built from its dated doses


def test_a_turtle_patient_has_no_record_sources(recommend_example):
    assert recommend_example("seed-patient.ttl")["record_sources"] == []


def test_validate_of_a_bulk_export_is_one_json_report_per_patient(cli):
    import json

    folder = FIXTURES / "bulk-fhir-10-patients"
    result = cli("validate", folder, "--format", "json")
    reports = json.loads(result.stdout)
    assert isinstance(reports, list) and len(reports) == len({r["source"] for r in reports}) > 1
    assert all(r["source"].startswith(str(folder)) and "#Patient/" in r["source"] for r in reports)


def test_a_record_read_again_is_mapped_the_same_and_named_per_call():
    # The reader keeps recent mappings by content (an EHR sends one chart for order-select and order-sign):
    # the second reading must be the same graph, with the warnings naming the second record.
    import json

    from kg.input.fhir import patients_from_resources

    bundle = json.loads(TRIPLE_NEGATIVE.read_text())
    resources = [entry["resource"] for entry in bundle["entry"]]
    first = patients_from_resources(resources, "first-call", now=dt.date(1972, 1, 5), order="LOINC:80852-7")[0]
    again = patients_from_resources(resources, "second-call", now=dt.date(1972, 1, 5), order="LOINC:80852-7")[0]
    assert sorted(map(str, first.quads)) == sorted(map(str, again.quads))
    assert [w.message.replace("first-call", "second-call") for w in first.warnings] == [w.message for w in again.warnings]
    later = patients_from_resources(resources, "later", now=dt.date(1973, 1, 5), order="LOINC:80852-7")[0]
    assert sorted(map(str, later.quads)) != sorted(map(str, first.quads))  # another date, another graph


def test_receptor_status_from_the_mcode_tumour_markers():
    # Jenny M's tumour-marker observations: ER positive (LA6576-8), PR negative (LA6577-6), HER2 negative.
    jenny = FIXTURES / "mcode-stu4" / "Bundle-mcode-patient-bundle-jenny-m.json"
    [record] = read_patients(jenny, None, now=dt.date(2018, 6, 1), order="LOINC:80852-7")
    status = {q.predicate.value.rsplit("/", 1)[-1]: q.object.value.rsplit("/", 1)[-1]
              for q in record.quads if q.predicate.value.endswith(("ReceptorStatus", "her2Status"))}
    assert status == {"estrogenReceptorStatus": "ReceptorPositive", "progesteroneReceptorStatus": "ReceptorNegative",
                      "her2Status": "ReceptorNegative"}
    assert not any("progesterone" in w.message for w in record.warnings)


def test_a_record_without_a_service_request_has_no_order():
    # Regression: with no ServiceRequest, the "latest order" aggregate gave an unbound row and every dated
    # resource of the record became an order, each with its own date.
    for record in read_patients(FIXTURES / "bulk-fhir-10-patients", None):
        orders = [q for q in record.quads if q.predicate.value.endswith("hasCurrentOrder")]
        assert orders == [], record.source
        assert any("no draft or active ServiceRequest" in w.message for w in record.warnings)


def test_in_a_record_of_several_patients_an_unowned_fact_is_nobodys():
    import copy
    import json

    from kg.input.fhir import patients_from_resources

    resources = [entry["resource"] for entry in json.loads(TRIPLE_NEGATIVE.read_text())["entry"]]
    other = {"resourceType": "Patient", "id": "someone-else", "birthDate": "1950-01-01", "gender": "female"}
    staging = next(r for r in resources if r["resourceType"] == "Observation" and r.get("id")
                   and any(c.get("code") == "21906-3" for c in r.get("code", {}).get("coding", [])))
    orphan = copy.deepcopy(staging)
    orphan["id"], _ = "orphan-staging", orphan.pop("subject", None)
    patients = patients_from_resources([*resources, other, orphan], "two-patients", now=dt.date(1972, 1, 5),
                                       order="LOINC:80852-7")
    assert len(patients) == 2
    for record in patients:
        derived_from = {q.object.value for q in record.quads if q.predicate.value.endswith("wasDerivedFrom")}
        assert "urn:fhir:Observation/orphan-staging" not in derived_from
        assert any("name no patient" in w.message for w in record.warnings)


def test_a_refuted_breast_cancer_is_no_diagnosis(recommender):
    import json

    from kg.input.fhir import patients_from_resources

    resources = [entry["resource"] for entry in json.loads(TRIPLE_NEGATIVE.read_text())["entry"]]
    for resource in resources:
        if resource["resourceType"] == "Condition":
            resource["verificationStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "refuted"}]}
    [record] = patients_from_resources(resources, "refuted", now=dt.date(1972, 1, 5), order="LOINC:80852-7")
    assert not any(q.predicate.value.endswith("hasBreastCancer") for q in record.quads)
    answer = recommender.recommend(record)
    assert not answer.applicable


def test_query_takes_a_fhir_record_as_the_patient(cli):
    # The record is read as FHIR (it used to be parsed as JSON-LD: "holds no triples"); it has no order,
    # so it is validated and refused for that, naming the field.
    result = cli("query", "derive-case", "--patient", TRIPLE_NEGATIVE, "--now", "1972-01-05")
    assert result.exit_code == 1 and "no triples" not in result.stderr
    assert "current imaging order" in result.stdout


def test_two_versions_of_one_resource_are_refused():
    import copy
    import json

    from kg.errors import InputError
    from kg.input.fhir import patients_from_resources

    resources = [entry["resource"] for entry in json.loads(TRIPLE_NEGATIVE.read_text())["entry"]]
    observation = next(r for r in resources if r["resourceType"] == "Observation" and r.get("id"))
    corrected = copy.deepcopy(observation)
    corrected["status"] = "amended"
    with pytest.raises(InputError, match="different content"):
        patients_from_resources([*resources, corrected], "versions", now=dt.date(1972, 1, 5))
    # the same resource twice (a search that also includes it) is read once
    assert patients_from_resources([*resources, copy.deepcopy(observation)], "repeat", now=dt.date(1972, 1, 5))


def test_a_second_breast_cancer_condition_is_named_in_a_warning():
    import copy
    import json

    from kg.input.fhir import patients_from_resources

    bundle = json.loads(TRIPLE_NEGATIVE.read_text())  # its entries' fullUrls resolve the urn:uuid references
    cancer = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"
                  and any(c.get("code") == "254837009" for c in e["resource"].get("code", {}).get("coding", [])))
    second = copy.deepcopy(cancer)
    second["resource"]["id"] = "second-primary"
    second["fullUrl"] = "urn:uuid:6f1e2d3c-0000-4000-8000-00000000a002"
    bundle["entry"].append(second)
    [record] = patients_from_resources([bundle], "two-cancers", now=dt.date(1972, 1, 5), order="LOINC:80852-7")
    assert any("2 breast-cancer Conditions" in w.message and "second-primary" in w.message for w in record.warnings)
