"""FHIR R4 / mCODE input (kg.input.fhir): real records from ../shared/fixtures, read as of a chosen date.

Each test names the evaluation date (--now) and order it uses and why. Skipped when the fixtures are absent.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from kg.errors import InputError
from kg.input import parse_patient, read_patients
from kg.input.fhir import parse_fhir, patients_from_resources, read_fhir
from kg.recommend import Engine
from kg.terms import ACR
from locations import EXAMPLES_DIR, FIXTURES, ROOT

pytestmark = pytest.mark.skipif(not (FIXTURES / "synthea-r4").is_dir(), reason="../shared/fixtures (FHIR records) is absent")

SYNTHEA = FIXTURES / "synthea-r4"
JENNY = FIXTURES / "mcode-stu4" / "Bundle-mcode-patient-bundle-jenny-m.json"
US_AXILLA = "LOINC:80852-7"
# triple_negative.json: cN1 at diagnosis 1971-07-23, paclitaxel cycles 1971-07-28 .. 1971-12-16,
# lumpectomy and axillary excision 1972-01-13: 1972-01-05 lies between the last cycle and surgery.
BETWEEN_CHEMO_AND_SURGERY = dt.date(1972, 1, 5)


@pytest.fixture(scope="module")
def engine():
    return Engine()


def _facts(data, predicate: str) -> list[str]:
    return [q.object.value for q in data.quads if q.predicate.value == ACR + predicate]


def _variants(answer) -> set[tuple[int, int]]:
    return {(a["topic_id"], a["variant_number"]) for a in answer.as_dict()["applicable"]}


def test_jenny_m_is_cn0_with_surgery_before_chemotherapy_so_no_variant_7(engine):
    # mCODE STU4 example: surgery 2018-04-01, chemotherapy ordered from 2018-04-12. Judged on 2018-06-01
    # (during the adjuvant chemotherapy) for a US axilla order.
    [data] = read_fhir(JENNY, now=dt.date(2018, 6, 1), order=US_AXILLA)
    assert _facts(data, "clinicalNCategory") == [ACR + "cN0"]
    assert _facts(data, "definitiveSurgeryDone") == ["true"]
    assert _facts(data, "surgeryType") == [ACR + "BreastConservingSurgery"]  # SNOMED CT 64368001
    courses = {q.subject.value for q in data.quads if q.predicate.value == ACR + "therapyType"}
    assert courses and all("Adjuvant" in c and "Neoadjuvant" not in c for c in courses)  # after surgery: adjuvant
    answer = engine.recommend(data)
    assert answer.valid
    assert (235, 7) not in _variants(answer)
    reasons = next(v["reasons"] for v in answer.as_dict()["not_applicable"] if v["topic_id"] == 235 and v["variant_number"] == 7)
    assert any("node-positive" in r or "surgery" in r or "treatment phase" in r for r in reasons), reasons


def test_triple_negative_between_last_cycle_and_surgery_is_neoadjuvant_and_names_the_missing_fact(engine):
    [data] = read_fhir(SYNTHEA / "triple_negative.json", now=BETWEEN_CHEMO_AND_SURGERY, order=US_AXILLA)
    assert _facts(data, "clinicalNCategory") == [ACR + "cN1"]
    assert _facts(data, "definitiveSurgeryDone") == ["false"]
    assert _facts(data, "nodalStatusEstablishedBy") == [ACR + "ByImaging"]
    assert _facts(data, "axillaEvaluated") == ["true"]  # the variant's wording: node positivity shown on imaging
    [course] = {q.subject.value for q in data.quads if q.predicate.value == ACR + "therapyType"}
    assert course.endswith("course-Chemotherapy-Neoadjuvant")
    assert _facts(data, "startDate") == ["1971-07-28"]
    # every dose the course came from is named (PROV), and the later events are counted, not used
    derived = {q.object.value for q in data.quads if q.subject.value == course and q.predicate.value.endswith("wasDerivedFrom")}
    assert len([d for d in derived if "MedicationRequest" in d]) == 8
    assert any("dated after the evaluation date 1972-01-05 left out" in w.message for w in data.warnings)
    answer = engine.recommend(data).as_dict()
    assert answer["valid"]
    if (235, 7) not in {(a["topic_id"], a["variant_number"]) for a in answer["applicable"]}:
        # the record never states that the course was completed: the exact missing fact is named
        [missing] = [w["missing"] for w in answer["would_apply_if"] if (w["topic_id"], w["variant_number"]) == (235, 7)]
        assert any("course" in m and "status" in m for m in missing), missing
    assert any("courseStatus" in (w.path or "") for w in data.warnings)


def test_triple_negative_with_a_stated_end_of_the_course_matches_variant_7(engine):
    # The same record with a MedicationStatement saying the paclitaxel course was completed on 1971-12-16:
    # completion now comes from the record, and variant 7 applies.
    bundle = json.loads((SYNTHEA / "triple_negative.json").read_bytes())
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    cancer = next(r for r in resources if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] == "254837009")
    resources.append({"resourceType": "MedicationStatement", "id": "course-summary", "status": "completed",
                      "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "583214"}]},
                      "subject": {"reference": f"urn:uuid:{patient['id']}"},
                      "reasonReference": [{"reference": f"urn:uuid:{cancer['id']}"}],
                      "effectivePeriod": {"start": "1971-07-28", "end": "1971-12-16"}})
    [data] = patients_from_resources([dict(bundle, entry=bundle["entry"] + [{"fullUrl": "urn:uuid:course-summary", "resource": resources[-1]}])],
                                     "triple_negative+statement", now=BETWEEN_CHEMO_AND_SURGERY, order=US_AXILLA)
    assert _facts(data, "courseStatus") == [ACR + "CourseCompleted"]
    assert _facts(data, "endDate") == ["1971-12-16"]
    fhir = engine.recommend(data).as_dict()
    assert (235, 7) in {(a["topic_id"], a["variant_number"]) for a in fhir["applicable"]}
    # and its Turtle twin, given the same completion, answers the same
    twin = (EXAMPLES_DIR / "fhir-twin-triple-negative.ttl").read_text().replace(
        'acr:startDate "1971-07-28"^^xsd:date .',
        'acr:startDate "1971-07-28"^^xsd:date ; acr:endDate "1971-12-16"^^xsd:date ; acr:courseStatus acr:CourseCompleted .')
    turtle = engine.recommend(parse_patient(twin.encode(), "twin.ttl")).as_dict()
    _assert_same_answer(fhir, turtle)


def _assert_same_answer(fhir: dict, turtle: dict) -> None:
    def ratings(answer):
        return [(a["topic_id"], a["variant_number"], [(p["procedure"], p["category"], p["median"]) for p in a["procedures"]])
                for a in answer["applicable"]]
    assert ratings(fhir) == ratings(turtle)
    assert [s for s in fhir["next_steps"]] == [s for s in turtle["next_steps"]]
    assert sorted((v["topic_id"], v["variant_number"]) for v in fhir["not_applicable"]) == \
        sorted((v["topic_id"], v["variant_number"]) for v in turtle["not_applicable"])
    assert [(w["topic_id"], w["variant_number"]) for w in fhir["would_apply_if"]] == \
        [(w["topic_id"], w["variant_number"]) for w in turtle["would_apply_if"]]


def test_fhir_record_and_its_turtle_twin_give_the_same_answer(engine):
    [data] = read_fhir(SYNTHEA / "triple_negative.json", now=BETWEEN_CHEMO_AND_SURGERY, order=US_AXILLA)
    twin = parse_patient((EXAMPLES_DIR / "fhir-twin-triple-negative.ttl").read_bytes(), "fhir-twin-triple-negative.ttl")
    _assert_same_answer(engine.recommend(data).as_dict(), engine.recommend(twin).as_dict())


def test_t1_patient_had_no_chemotherapy_before_surgery_so_no_variant_7(engine):
    # lumpectomy 2005-01-18, tamoxifen from 2005-03-11; judged on 2005-06-01 for a US axilla order
    [data] = read_fhir(SYNTHEA / "T1_patient.json", now=dt.date(2005, 6, 1), order=US_AXILLA)
    assert _facts(data, "clinicalNCategory") == [ACR + "cN0"]
    assert _facts(data, "definitiveSurgeryDone") == ["true"]
    assert not [c for c in _facts(data, "therapyType") if c == ACR + "Chemotherapy"]
    assert not any("Neoadjuvant" in q.subject.value for q in data.quads)
    assert (235, 7) not in _variants(engine.recommend(data))


def test_t0_patient_axillary_excision_only_ends_the_neoadjuvant_window():
    # doxorubicin 2014-11-17 .. 2015-04-07, axillary excision (SNOMED CT 234262008, extent unstated) 2015-04-21
    [data] = read_fhir(SYNTHEA / "T0_patient.json", now=dt.date(2015, 5, 1), order=US_AXILLA)
    assert _facts(data, "definitiveSurgeryDone") == ["true"]
    assert _facts(data, "clinicalNCategory") == [ACR + "cN2"]
    assert any(q.subject.value.endswith("course-Chemotherapy-Neoadjuvant") for q in data.quads)
    assert not _facts(data, "surgeryType")  # an excision of unstated extent has no surgery type of ours


def test_bulk_export_every_patient_accounted_for_and_lung_paclitaxel_does_not_count():
    folder = FIXTURES / "bulk-fhir-10-patients"
    patients = [json.loads(line)["id"] for line in (folder / "Patient.000.ndjson").read_text().splitlines() if line.strip()]
    # judged on the export's day, 2024-08-06 (log.ndjson), for a US axilla order
    data = read_fhir(folder, now=dt.date(2024, 8, 6), order=US_AXILLA)
    assert sorted(d.source.split("#Patient/")[1] for d in data) == sorted(patients)
    with_breast_cancer = [d for d in data if _facts(d, "hasBreastCancer")]
    assert len(with_breast_cancer) == 1
    [breast] = with_breast_cancer
    # paclitaxel and cisplatin 1984-1989 were for a lung cancer, before the breast cancer (1989-04-10)
    assert not _facts(breast, "hasTherapyCourse")


def test_regional_nodes_of_another_patient_or_cancer_are_not_the_breast_cancer_s():
    # mCODE's cN3 example belongs to a lung-cancer patient: read with Jenny's record it stays his, and
    # Jenny keeps her own cN0
    jenny = json.loads(JENNY.read_bytes())
    n3 = json.loads((FIXTURES / "mcode-stu4" / "Observation-tnm-clinical-regional-nodes-category-cN3.json").read_bytes())
    data = patients_from_resources([jenny, n3], "jenny+cN3", now=dt.date(2018, 6, 1), order=US_AXILLA)
    assert len(data) == 2
    nodes = {d.source.split("#")[1]: _facts(d, "clinicalNCategory") for d in data}
    assert nodes == {"Patient/cancer-patient-jenny-m": [ACR + "cN0"], "Patient/cancer-patient-john-anyperson": []}


def test_as_of_an_earlier_date_later_events_are_left_out_and_counted():
    # 1971-07-25: after the diagnosis, before the first paclitaxel cycle
    [data] = read_fhir(SYNTHEA / "triple_negative.json", now=dt.date(1971, 7, 25), order=US_AXILLA)
    assert not _facts(data, "hasTherapyCourse")
    assert _facts(data, "orderDate") == ["1971-07-25"]
    [counted] = [w for w in data.warnings if "left out of the patient graph" in w.message]
    assert "MedicationRequest 19" in counted.message


def test_codes_the_mapping_does_not_know_are_named():
    [data] = read_fhir(SYNTHEA / "triple_negative.json", now=BETWEEN_CHEMO_AND_SURGERY, order="CPT:76882")
    messages = " ".join(w.message for w in data.warnings)
    assert "SNOMED CT 434363004" in messages  # the HER2 FISH procedure, done for the breast cancer
    assert "CPT 76882" in messages and not _facts(data, "orderedProcedure")


def test_order_as_our_iri_and_as_a_cds_hooks_service_request():
    [by_iri] = read_fhir(SYNTHEA / "triple_negative.json", now=BETWEEN_CHEMO_AND_SURGERY, order="acrkb:proc-us-axilla")
    request = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
               "code": {"coding": [{"system": "http://loinc.org", "code": "80852-7"}]}}
    bundle = json.loads((SYNTHEA / "triple_negative.json").read_bytes())
    [by_request] = patients_from_resources([bundle], "t", now=BETWEEN_CHEMO_AND_SURGERY, order=request)
    for data in (by_iri, by_request):
        assert _facts(data, "orderedProcedure") == ["https://w3id.org/acr-kg/kb/proc-us-axilla"]
        assert _facts(data, "askedQuestion") == [ACR + "AxillaQuestion"]


def test_dstu2_record_is_refused_with_what_was_found():
    maureen = FIXTURES / "mcode-legacy" / "Maureen.json"
    with pytest.raises(InputError, match="not a valid FHIR R4|not a FHIR R4 resource type"):
        read_patients(maureen)
    run = subprocess.run([sys.executable, "-m", "kg", "recommend", str(maureen)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Maureen.json" in run.stderr and ("R4" in run.stderr)


def test_malformed_resources_name_the_resource_and_field():
    with pytest.raises(InputError, match=r"Condition/x\).*code"):
        parse_fhir(b'{"resourceType": "Condition", "id": "x", "subject": {"reference": "Patient/p"}, "code": "C50.9"}', "bad.json")
    with pytest.raises(InputError, match="bad.ndjson:2: not valid NDJSON"):
        parse_fhir(b'{"resourceType": "Patient", "id": "p"}\n{"resourceType": \n', "bad.ndjson")


def test_cli_reads_fhir_by_content_and_takes_order():
    run = subprocess.run([sys.executable, "-m", "kg", "recommend", str(SYNTHEA / "triple_negative.json"), "--now", "1972-01-05",
                          "--order", US_AXILLA, "--format", "json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    answer = answer[0] if isinstance(answer, list) else answer
    assert answer["order"]["procedure"] == "https://w3id.org/acr-kg/kb/proc-us-axilla"


def _seed_entries() -> list[dict]:
    """The seed patient's record (the CDS prefetch of tests/data/cds) as Bundle entries, each a copy."""
    prefetch = json.loads((ROOT / "tests" / "data" / "cds" / "seed-patient-prefetch.json").read_text())["prefetch"]
    return [json.loads(json.dumps(entry)) for value in prefetch.values() if value
            for entry in (value.get("entry", []) if value["resourceType"] == "Bundle" else [{"resource": value}])]


def test_a_bundle_whose_resource_type_comes_late_is_read_as_fhir(tmp_path):
    """FHIR is told from JSON-LD by content. Written with sorted keys, a Bundle puts its entries before its
    resourceType and each resource its extensions before its own: past the first 4 KB, such a record was read
    as JSON-LD holding no triples."""
    from kg.input.fhir.records import looks_like_fhir
    entries = _seed_entries()
    entries.sort(key=lambda entry: entry["resource"]["resourceType"] != "Patient")
    entries[0]["resource"]["extension"] = [{"url": f"https://example.org/fhir/note-{i}", "valueString": "x" * 80}
                                           for i in range(60)]
    late, early = tmp_path / "late.json", tmp_path / "early.json"
    late.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}, sort_keys=True))
    early.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    assert late.read_bytes().find(b'"resourceType"') > 4096 and looks_like_fhir(late.read_bytes())
    assert not looks_like_fhir(json.dumps({"@graph": [{"a": "x" * 5000}], "@context": {}}).encode())
    now = dt.date(2026, 11, 20)
    read_late, read_early = (read_patients(path, now=now, order=US_AXILLA)[0] for path in (late, early))
    assert sorted(map(str, read_late.quads)) == sorted(map(str, read_early.quads)) and read_late.quads


_PATIENT = {"resourceType": "Patient", "id": "p"}


@pytest.mark.parametrize("document, message", [
    ({"resourceType": "Bundle", "type": ["collection"], "entry": [{"resource": _PATIENT}]}, "is not an R4 bundle type"),
    ({"resourceType": "Bundle", "type": "collection", "entry": 5}, "Bundle.entry: must be a JSON array"),
    ({"resourceType": "MedicationOrder", "meta": [1]}, "is not a FHIR R4 resource type"),
    ({"resourceType": "MedicationOrder", "meta": {"profile": 5}}, "is not a FHIR R4 resource type"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": [1], "resource": _PATIENT}]}, "fullUrl: must be a string"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": 5, "resource": _PATIENT}]}, "fullUrl: must be a string"),
], ids=["type-list", "entry-number", "meta-list", "profile-number", "fullurl-list", "fullurl-number"])
def test_malformed_bundles_are_input_errors_not_crashes(document, message):
    with pytest.raises(InputError, match=message):
        parse_fhir(json.dumps(document).encode(), "odd.json")


def test_a_resource_without_an_id_is_read_by_its_place_in_the_bundle():
    """A Bundle entry may be known by its fullUrl alone; its resource, without an id, was named by its place
    with brackets, which no IRI has, and dropped from the record without a word."""
    entries = _seed_entries()
    for entry in entries:
        if entry["resource"]["resourceType"] == "Condition":
            entry["resource"] = {k: v for k, v in entry["resource"].items() if k != "id"}
            entry["fullUrl"] = "urn:uuid:5d1a7c2e-8f3b-4c6d-9e0a-1b2c3d4e5f60"
    bundle = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
    data = parse_fhir(bundle, "no-id.json", now=dt.date(2026, 11, 20), order=US_AXILLA)[0]
    cancer = [q for q in data.quads if q.predicate.value == ACR + "hasBreastCancer"]
    assert cancer, [w.message for w in data.warnings]
    assert not any("no Condition in the breast-cancer value set" in w.message for w in data.warnings)


def test_a_contained_medication_is_read_as_the_drug_of_its_order(engine):
    """A MedicationAdministration may name its drug by a Medication it contains ("#id"). Left out, the
    chemotherapy went unseen and the patient was judged as one before therapy."""
    resources = [entry["resource"] for entry in _seed_entries()]
    contained = []
    for resource in resources:
        if "medicationCodeableConcept" in resource:
            resource = dict(resource, contained=[{"resourceType": "Medication", "id": "drug",
                                                  "code": resource["medicationCodeableConcept"]}],
                            medicationReference={"reference": "#drug"})
            del resource["medicationCodeableConcept"]
        contained.append(resource)
    now = dt.date(2026, 11, 20)
    as_codes, as_contained = (engine.recommend(patients_from_resources(record, "seed.json", now=now, order=US_AXILLA)[0], now=now)
                              for record in (resources, contained))
    assert [a["variant"] for a in as_contained.applicable] == [a["variant"] for a in as_codes.applicable] != []


def test_a_contained_patient_is_never_read_as_the_patient():
    """Only resources of no patient are read from `contained`: a Patient inside a Condition (a relative, say)
    gave the record the birth date it lacks, and a recommendation followed."""
    entries = _seed_entries()
    for entry in entries:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            del resource["birthDate"]
        if resource["resourceType"] == "Condition":
            resource["contained"] = [{"resourceType": "Patient", "id": "mother", "birthDate": "1940-01-01"}]
    bundle = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()
    data = parse_fhir(bundle, "contained-patient.json", now=dt.date(2026, 11, 20), order=US_AXILLA)[0]
    assert not [q for q in data.quads if q.predicate.value in (ACR + "birthDate", ACR + "ageInYears")]
    assert not Engine().recommend(data, now=dt.date(2026, 11, 20)).valid


def test_a_drug_named_by_a_medication_the_record_lacks_refuses_the_record():
    """Read without its drug, the chemotherapy would be missing and the patient judged as one who had none."""
    resources = [entry["resource"] for entry in _seed_entries()]
    for resource in resources:
        if "medicationCodeableConcept" in resource:
            del resource["medicationCodeableConcept"]
            resource["medicationReference"] = {"reference": "Medication/not-in-the-record"}
    with pytest.raises(InputError, match=r"names its drug by Medication/not-in-the-record, which the record does not hold"):
        patients_from_resources(resources, "seed.json", now=dt.date(2026, 11, 20), order=US_AXILLA)


def test_resources_without_ids_are_told_apart_in_a_list_and_in_an_export(tmp_path):
    """Each id-less resource is named by its own place: a list gave each one [0], and the files of an export
    each had a "line 2", so two of them collided as one resource with different content."""
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1970-01-01"}
    weights = [{"resourceType": "Observation", "status": "final", "code": {"text": "Body weight"},
                "subject": {"reference": "Patient/p"}, "valueQuantity": {"value": 60 + i, "unit": "kg"}} for i in range(2)]
    assert len(patients_from_resources([patient, *weights], "list.json", now=dt.date(2026, 1, 1))) == 1
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Patient.000.ndjson").write_text(json.dumps(patient) + "\n" + json.dumps(weights[0]) + "\n")
    (folder / "Observation.000.ndjson").write_text(json.dumps(dict(patient, id="q")) + "\n" + json.dumps(weights[1]) + "\n")
    assert len(read_fhir(folder, now=dt.date(2026, 1, 1))) == 2


def test_a_planned_operation_is_not_one_done_and_a_completed_order_without_its_procedure_leaves_it_unknown(engine):
    """A ServiceRequest for a mastectomy is a plan. Read as the operation itself, it made the seed patient
    one after surgery, and variant 7 no longer applied. A completed one says that an operation was done
    which no Procedure describes: whether surgery was done is then unknown, and nothing is recommended."""
    # (before the fix, every status gave definitiveSurgeryDone true and no variant)
    now = dt.date(2026, 11, 20)
    record = [entry["resource"] for entry in _seed_entries()]
    imaging = {"resourceType": "ServiceRequest", "id": "us-axilla", "status": "draft", "intent": "order",
               "code": {"coding": [{"system": "http://loinc.org", "code": "80852-7"}]},
               "subject": {"reference": "Patient/seed"}, "authoredOn": "2026-11-10"}

    def mastectomy(status: str) -> dict:  # SNOMED CT 64368001, a member of acrkb:fhir-vs-breast-conserving-surgery
        return {"resourceType": "ServiceRequest", "id": "mastectomy", "status": status, "intent": "order",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "64368001"}]},
                "subject": {"reference": "Patient/seed"}, "authoredOn": "2026-11-01"}

    for status in ("draft", "active", "on-hold"):
        data = patients_from_resources(record + [mastectomy(status), imaging], "seed.json", now=now)[0]
        assert _facts(data, "definitiveSurgeryDone") == ["false"], status
        assert (235, 7) in _variants(engine.recommend(data, now=now)), status
    data = patients_from_resources(record + [mastectomy("completed"), imaging], "seed.json", now=now)[0]
    answer = engine.recommend(data, now=now)
    # the patient graph must say whether surgery was done: unsaid, it is invalid, and the reader says why
    assert _facts(data, "definitiveSurgeryDone") == [] and not answer.valid and not answer.applicable
    assert any("definitive surgery done" in v.message for v in answer.validation.violations)
    assert any("a completed surgery order that no Procedure describes" in w.message for w in data.warnings)


def test_the_r4_check_asks_about_what_the_mapping_reads_and_what_r4_requires():
    """Elements no query reads are left out of the R4 check: a Synthea record's narrative, meta and links
    doubled the time to read it. A read element that does not fit R4, or a required one missing, still
    refuses the record, naming the resource and the element."""
    def record(change) -> bytes:
        entries = _seed_entries()
        [biopsy] = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Procedure"]
        change(biopsy)
        return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()

    now = dt.date(2026, 11, 20)
    read = parse_fhir(record(lambda p: p.update(location=5, performer="nobody")), "unread.json", now=now, order=US_AXILLA)
    assert read and read[0].quads
    with pytest.raises(InputError, match=r"Procedure/seed-node-biopsy\).*performedDateTime"):
        parse_fhir(record(lambda p: p.update(performedDateTime="yesterday")), "read.json", now=now, order=US_AXILLA)
    with pytest.raises(InputError, match=r"Procedure/seed-node-biopsy\).*status"):
        parse_fhir(record(lambda p: p.pop("status")), "required.json", now=now, order=US_AXILLA)


# --- what a status, an intent or a subject says (each failed before its fix) --------------------------

_NOW = dt.date(2026, 11, 20)
_VERIFIED = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _answer(engine, resources, order=US_AXILLA):
    data = patients_from_resources(resources, "seed.json", now=_NOW, order=order)[0]
    return data, engine.recommend(data, now=_NOW)


def _condition(cid: str, system: str, code: str, verification: str, day: str = "2026-03-02") -> dict:
    # dated on the seed's diagnosis day: before its first treatment, when staging counts
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/seed"}, "recordedDate": day,
            "code": {"coding": [{"system": system, "code": code}]},
            "verificationStatus": {"coding": [{"system": _VERIFIED, "code": verification}]}}


def test_a_refuted_or_mistaken_nodal_metastasis_is_none(engine):
    """Without its cN observation the seed's nodal status is unknown: variant 7 only would apply. A C77.3
    Condition refuted, entered in error or not confirmed made the patient node-positive, and variant 7 applied."""
    record = [entry["resource"] for entry in _seed_entries() if entry["resource"].get("id") != "seed-cn1"]
    for resource in record:
        resource.pop("stage", None)
    for verification in ("refuted", "entered-in-error", "provisional"):
        data, answer = _answer(engine, record + [_condition("nodes", "http://hl7.org/fhir/sid/icd-10-cm", "C77.3", verification)])
        assert _facts(data, "clinicalNodalStatus") == [] and not answer.applicable, verification
    data, answer = _answer(engine, record + [_condition("nodes", "http://hl7.org/fhir/sid/icd-10-cm", "C77.3", "confirmed")])
    assert _facts(data, "clinicalNodalStatus") == [ACR + "NodePositive"] and (235, 7) in _variants(answer)


def test_a_refuted_or_mistaken_other_cancer_is_none(engine):
    """Doses and staging that name no reason count for the breast cancer when the record holds no other
    cancer. A lung cancer refuted or entered in error (SNOMED CT 254637007, in acrkb:fhir-vs-other-cancer)
    made them all unread: no therapy, no N category, and variant 7 was lost."""
    record = [entry["resource"] for entry in _seed_entries()]
    for resource in record:
        resource.pop("reasonReference", None), resource.pop("focus", None)
        if resource["resourceType"] == "Condition":
            resource.pop("stage", None)
    assert (235, 7) in _variants(_answer(engine, record)[1])
    for verification in ("refuted", "entered-in-error"):
        lung = _condition("lung", "http://snomed.info/sct", "254637007", verification)
        assert (235, 7) in _variants(_answer(engine, record + [lung])[1]), verification
    assert (235, 7) not in _variants(_answer(engine, record + [_condition("lung", "http://snomed.info/sct", "254637007", "confirmed")])[1])


def test_a_dose_only_planned_leaves_the_course_unknown(engine):
    """An order for chemotherapy (ServiceRequest), a MedicationRequest that is a plan, a drug intended and a
    chemotherapy procedure in preparation are doses not given yet: more therapy may follow, or none. Read
    as doses given, they made the course ongoing ("during therapy"), or were not read and left it completed.
    The course's status is now unknown, the reader says why, and nothing is recommended. A revoked order is
    no dose at all."""
    patient = {"reference": "Patient/seed"}
    # the imaging order in the record; and given apart, when the record's ServiceRequests are read all the same
    record = [entry["resource"] for entry in _seed_entries()] + [
        {"resourceType": "ServiceRequest", "id": "us-axilla", "status": "draft", "intent": "order", "subject": patient,
         "code": {"coding": [{"system": "http://loinc.org", "code": "80852-7"}]}, "authoredOn": "2026-11-12"}]
    chemotherapy = {"coding": [{"system": "http://snomed.info/sct", "code": "367336001"}]}  # in acrkb:fhir-vs-chemotherapy
    carboplatin = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "597195"}]}
    order = {"resourceType": "ServiceRequest", "id": "more-chemo", "status": "active", "intent": "order", "code": chemotherapy,
             "subject": patient, "authoredOn": "2026-11-05"}
    planned = [
        order,
        {"resourceType": "MedicationRequest", "id": "regimen", "status": "active", "intent": "plan",
         "medicationCodeableConcept": carboplatin, "subject": patient, "authoredOn": "2026-11-06"},
        {"resourceType": "MedicationStatement", "id": "intended", "status": "intended", "medicationCodeableConcept": carboplatin,
         "subject": patient, "dateAsserted": "2026-11-10"},
        {"resourceType": "Procedure", "id": "prepared", "status": "preparation", "code": chemotherapy, "subject": patient,
         "performedDateTime": "2026-11-19"},
    ]
    assert (235, 7) in _variants(_answer(engine, record, order=None)[1])
    for resource in planned:
        for given in (None, US_AXILLA):
            data, answer = _answer(engine, record + [resource], order=given)
            assert _facts(data, "courseStatus") == [] and answer.valid and not answer.applicable, (resource["id"], given)
            assert any("only planned" in w.message for w in data.warnings), resource["id"]
            assert _facts(data, "orderedProcedure") == ["https://w3id.org/acr-kg/kb/proc-us-axilla"]
    data, answer = _answer(engine, record + [dict(order, status="revoked")], order=None)
    assert _facts(data, "courseStatus") == [ACR + "CourseCompleted"] and (235, 7) in _variants(answer)


def test_an_operation_on_hold_or_of_unknown_status_leaves_surgery_unknown(engine):
    """A lumpectomy (SNOMED CT 392021009) whose status is on hold or unknown was counted as done."""
    record = [entry["resource"] for entry in _seed_entries()]
    for status in ("on-hold", "unknown"):
        lumpectomy = {"resourceType": "Procedure", "id": "lumpectomy", "status": status,
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "392021009"}]},
                      "subject": {"reference": "Patient/seed"}, "performedDateTime": "2026-11-02",
                      "reasonReference": [{"reference": "Condition/seed-breast-cancer"}]}
        data, answer = _answer(engine, record + [lumpectomy])
        assert _facts(data, "definitiveSurgeryDone") == [] and not answer.valid and not answer.applicable, status


def test_a_resource_about_someone_the_record_does_not_hold_is_left_out(engine):
    """Another patient's mastectomy, named by an absolute URL or by an urn:uuid the record does not hold, was
    given to the record's only patient: surgery done, and variant 7 lost."""
    record = [entry["resource"] for entry in _seed_entries()]
    mastectomy = {"resourceType": "Procedure", "id": "elsewhere", "status": "completed", "performedDateTime": "2026-10-01",
                  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "64368001"}]}}
    for subject in ("https://ehr.example.org/fhir/Patient/someone-else", "urn:uuid:7f0c2d1e-0000-4000-8000-000000000001",
                    "Group/ward-3", "Patient/someone-else"):
        data, answer = _answer(engine, record + [dict(mastectomy, subject={"reference": subject})])
        assert data.source == "seed.json" or data.source.endswith("#Patient/seed"), subject
        assert _facts(data, "definitiveSurgeryDone") == ["false"] and (235, 7) in _variants(answer), subject
    data, _ = _answer(engine, record + [dict(mastectomy, subject={"reference": "urn:uuid:7f0c2d1e-0000-4000-8000-000000000001"})])
    assert any("Procedure/elsewhere" in w.message and "no Patient of the record" in w.message for w in data.warnings)


def test_the_order_given_is_judged_whatever_the_record_orders_later(engine):
    """A given order used to replace the record's ServiceRequests; they are now read as the rest of the
    record, and a later draft order of the record (a breast MRI) must not take the given one's place."""
    mri = {"resourceType": "ServiceRequest", "id": "mri-later", "status": "draft", "intent": "order",
           "subject": {"reference": "Patient/seed"}, "authoredOn": "2026-11-20",  # the day judged, as the given order
           "code": {"coding": [{"system": "https://w3id.org/acr-kg/kb/", "code": "proc-mri-breast-wo-w"}]}}
    record = [entry["resource"] for entry in _seed_entries()] + [mri]
    alone, _ = _answer(engine, record, order=None)
    assert _facts(alone, "orderedProcedure") == ["https://w3id.org/acr-kg/kb/proc-mri-breast-wo-w"]
    given, answer = _answer(engine, record, order=US_AXILLA)
    assert _facts(given, "orderedProcedure") == ["https://w3id.org/acr-kg/kb/proc-us-axilla"]
    assert any("ServiceRequest/mri-later" in w.message and "not as the order" in w.message for w in given.warnings)
    assert answer.order["status"] != "no-procedure" and (235, 7) in _variants(answer)


def test_one_infusion_stopped_and_given_again_does_not_stop_the_course(engine):
    """An administration stopped is one infusion halted (for a reaction, say). Within a course that went
    on, it made the whole course stopped early, and variant 7 was lost; as the course's last dose, it still
    says the course was stopped."""
    record = [entry["resource"] for entry in _seed_entries()]
    halted = {"resourceType": "MedicationAdministration", "id": "halted", "status": "stopped",
              "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "56946"}]},
              "subject": {"reference": "Patient/seed"}, "reasonReference": [{"reference": "Condition/seed-breast-cancer"}]}
    data, answer = _answer(engine, record + [dict(halted, effectiveDateTime="2026-06-08")])  # the paclitaxel ran to 2026-09-14
    assert _facts(data, "courseStatus") == [ACR + "CourseCompleted"] and (235, 7) in _variants(answer)
    data, _ = _answer(engine, record + [dict(halted, effectiveDateTime="2026-09-20")])
    assert _facts(data, "courseStatus") == [ACR + "CourseStopped"]


def test_icd10_cm_cancers_of_other_primary_sites_are_other_cancers_and_secondary_sites_are_not(engine):
    """The other-cancer value set's pattern was applied to the code system of its members (SNOMED CT), so
    no ICD-10-CM code was ever read as another cancer: chemotherapy naming no reason counted for the breast
    cancer even beside a lung cancer coded C34.90. A secondary site (C79.51, bone) is the breast cancer's
    own spread, and C50 the breast cancer itself: neither is another cancer."""
    record = [entry["resource"] for entry in _seed_entries()]
    for resource in record:
        resource.pop("reasonReference", None), resource.pop("focus", None)
        if resource["resourceType"] == "Condition":
            resource.pop("stage", None)
    icd10 = "http://hl7.org/fhir/sid/icd-10-cm"
    for code, other in (("C34.90", True), ("C91.00", True), ("C79.51", False), ("C77.3", False), ("C50.912", False)):
        data, answer = _answer(engine, record + [_condition("second", icd10, code, "confirmed")])
        assert ((235, 7) not in _variants(answer)) is other, code
        assert bool(_facts(data, "hasTherapyCourse")) is not other, code
