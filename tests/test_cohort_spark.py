"""Cohort runs on Spark (local mode): the same results as the single-machine run, every input once."""
from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from kg.cohort import run_cohort
from kg.synthetic import case_turtle, cohort_case

pyspark = pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")
pytestmark = pytest.mark.slow

TIMING = {"engine", "master", "workers", "seconds", "inputs_per_second"}


@pytest.fixture(scope="module")
def spark():
    from kg.cohort.spark import session

    active = session(workers=2)
    yield active
    active.stop()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """JSON Lines of patient graphs (with a broken line and a record of neither kind) and a small Bulk
    Data export (one patient's resources in two files, an unreadable line, a resource naming no patient)."""
    folder = tmp_path_factory.mktemp("spark-inputs")
    rng = random.Random(23)
    lines = [json.dumps({"id": f"g{i}", "turtle": case_turtle(cohort_case(rng), f"https://example.org/sp/{i}")})
             for i in range(60)]
    lines[10:10] = ["", "{not json", json.dumps({"id": "neither"})]
    (folder / "graphs.jsonl").write_text("\n".join(lines) + "\n")
    bulk = folder / "bulk"
    bulk.mkdir()
    patients = [{"resourceType": "Patient", "id": f"b{i}", "gender": "female", "birthDate": "1970-05-01"}
                for i in range(3)]
    conditions = [{"resourceType": "Condition", "id": "c0", "subject": {"reference": "Patient/b1"}, "onsetDateTime": "2026-03-02",
                   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]}},
                  {"resourceType": "Condition", "id": "c1", "code": {"text": "no subject"}}]
    (bulk / "Patient.000.ndjson").write_text("\n".join(map(json.dumps, patients)) + "\n")
    (bulk / "Condition.000.ndjson").write_text(json.dumps(conditions[0]) + "\nnot json at all\n"
                                               + json.dumps(conditions[1]) + "\n")
    # a Medication is no patient's: b1 gets it through its order; an Organization is neither input nor error
    (bulk / "Medication.000.ndjson").write_text(json.dumps({"resourceType": "Medication", "id": "m1", "code": {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "3639"}]}}) + "\n")
    (bulk / "MedicationRequest.000.ndjson").write_text(json.dumps({
        "resourceType": "MedicationRequest", "id": "mr1", "status": "completed", "intent": "order",
        "subject": {"reference": "Patient/b1"}, "authoredOn": "2026-03-16",
        "medicationReference": {"reference": "Medication/m1"}}) + "\n")
    (bulk / "Organization.000.ndjson").write_text(json.dumps({"resourceType": "Organization", "id": "o1"}) + "\n")
    (bulk / "log.ndjson").write_text('{"eventId": "kickoff"}\n')
    return [str(folder / "graphs.jsonl"), str(bulk)]


def _outputs(folder):
    key = lambda r: (r["source"], r["id"] or "")  # noqa: E731
    rows = sorted(pq.read_table(folder / "results.parquet").to_pylist(), key=key)

    def lines(name):
        path = folder / name
        files = sorted(path.glob("part-*")) if path.is_dir() else [path]
        return sorted((json.loads(line) for f in files for line in f.read_text().splitlines() if line),
                      key=lambda a: json.dumps(a, sort_keys=True))
    return rows, lines("answers.jsonl"), lines("errors.jsonl")


def test_spark_equals_single_machine(spark, sources, tmp_path):
    from kg.cohort.spark import run_spark

    on_spark = run_spark(sources, out=tmp_path / "spark", spark=spark)
    local = run_cohort(sources, out=tmp_path / "local", progress=False, chunk_size=25)
    assert {k: v for k, v in on_spark.items() if k not in TIMING} == {k: v for k, v in local.items() if k not in TIMING}
    rows, answers, errors = _outputs(tmp_path / "spark")
    assert (rows, answers, errors) == _outputs(tmp_path / "local")
    assert len(rows) + len(errors) == on_spark["inputs"] == 60 + 2 + 3 + 2
    assert {r["id"] for r in rows if r["source"].startswith("Patient/")} == {"b0", "b1", "b2"}
    b1 = next(a for a in answers if a["source"] == "Patient/b1")  # its order names the drug through Medication/m1
    assert any(s["node"].endswith("/course-Chemotherapy-Neoadjuvant") for s in b1["record_sources"])
    assert {e["source"].rsplit("/", 1)[-1] for e in errors} == {
        "graphs.jsonl:12", "graphs.jsonl:13", "Condition.000.ndjson:2", "Condition.000.ndjson:3"}


def test_cli_engine_spark(spark, sources, cli, tmp_path):
    (tmp_path / "results.ttl").mkdir()  # an earlier run's, with --format turtle: not this cohort's facts
    result = cli("cohort", sources[0], "--out", tmp_path, "--engine", "spark", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "results.ttl").exists()
    assert "inputs: 62  patients: 60" in result.output
    assert json.loads((tmp_path / "summary.json").read_text())["engine"] == "spark"
