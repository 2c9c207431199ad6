"""Cohort runs: answers identical to one-by-one runs, every input accounted for, resume."""
from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from kg.cohort import run_cohort
from kg.input import parse_patient
from kg.recommend import Request
from kg.recommend.signatures import SharedExplanations
from kg.synthetic import case_turtle, cohort_case, random_case


def test_shared_explanations_equal_one_by_one(recommender):
    rng = random.Random(11)
    cases = [cohort_case(rng) for _ in range(150)] + [random_case(rng) for _ in range(50)]
    requests = [Request(parse_patient(case_turtle(c, f"https://example.org/t/{i}").encode(), f"{i}.ttl"),
                        thresholds=rng.choice(("seed", "acr"))) for i, c in enumerate(cases)]
    shared = SharedExplanations(recommender)
    together = shared.evaluate(requests)
    assert shared.reused > 0
    for request, answer in zip(requests, together):
        alone = recommender.evaluate([request])[0]
        assert answer.as_dict() == alone.as_dict()
        assert sorted(answer.derived) == sorted(alone.derived)


@pytest.mark.slow
def test_shared_explanations_equal_one_by_one_randomized(recommender):
    """Many random cases (in and out of scope, invalid), evaluation dates and threshold sets, evaluated
    together through the memory of signatures in several calls; each answer equals the one-by-one answer."""
    import datetime as dt

    rng = random.Random(20261)
    cases = []
    for i in range(700):
        now = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(700))
        case = cohort_case(rng, start=now, days=30) if i % 2 else random_case(rng, now=now, invalid_rate=0.15)
        if rng.random() < 0.3:
            case.ordered_procedure = rng.choice(("proc-us-axilla", "proc-mri-breast-wo-w", "proc-unknown-thing"))
        cases.append(case)
    requests = [Request(parse_patient(case_turtle(c, f"https://example.org/r/{i}").encode(), f"r{i}.ttl"),
                        now=rng.choice((None, None, c.now)), thresholds=rng.choice(("seed", "acr")))
                for i, c in enumerate(cases)]
    shared = SharedExplanations(recommender)
    together = [answer for start in range(0, len(requests), 250) for answer in shared.evaluate(requests[start:start + 250])]
    assert shared.reused > 100
    for request, answer in zip(requests, together):
        alone = recommender.evaluate([request])[0]
        assert answer.as_dict() == alone.as_dict(), request.data.source
        assert sorted(answer.derived) == sorted(alone.derived)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = random.Random(5)
    path = tmp_path_factory.mktemp("patients")
    for i in range(198):
        (path / f"p{i:03d}.ttl").write_text(case_turtle(cohort_case(rng), f"https://example.org/f/{i}"))
    (path / "broken-1.ttl").write_text("<a> <b> ")
    (path / "broken-2.jsonld").write_text("{not json")
    return path


def test_every_input_accounted_for_once(folder, tmp_path):
    summary = run_cohort([str(folder)], out=tmp_path, chunk_size=64, progress=False, formats=("parquet", "turtle"))
    table = pq.read_table(tmp_path / "results.parquet").to_pylist()
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    answers = (tmp_path / "answers.jsonl").read_text().splitlines()
    assert len(table) + len(errors) == 200 == summary["inputs"]
    assert len(answers) == len(table)
    assert sorted(e["source"].rsplit("/", 1)[-1] for e in errors) == ["broken-1.ttl", "broken-2.jsonld"]
    assert len({r["source"] for r in table} | {e["source"] for e in errors}) == 200


def test_resume_skips_written_chunks(folder, tmp_path):
    run_cohort([str(folder)], out=tmp_path, chunk_size=64, progress=False)
    first = (tmp_path / "answers.jsonl").read_bytes()
    (tmp_path / "chunks" / "part-00001.summary.json").unlink()
    stamp = (tmp_path / "chunks" / "part-00000.parquet").stat().st_mtime_ns
    run_cohort([str(folder)], out=tmp_path, chunk_size=64, progress=False, resume=True)
    assert (tmp_path / "chunks" / "part-00000.parquet").stat().st_mtime_ns == stamp
    assert (tmp_path / "answers.jsonl").read_bytes() == first


@pytest.mark.parametrize("inputs, workers, largest", [(10_000, 2, 2_000), (100_000, 2, 2_000), (4_001, 2, 2_000),
                                                     (7, 2, 2_000), (1, 2, 2_000), (130, 1, 64), (130, 3, 64)])
def test_chunks_are_even_and_a_multiple_of_the_workers(inputs, workers, largest):
    from kg.cohort import _chunk_size

    size = _chunk_size(inputs, workers, largest)
    count = -(-inputs // size)
    assert size <= largest
    assert count % workers == 0 or count < workers  # else one worker evaluates a chunk more while the other waits
    assert inputs - (count - 1) * size >= size - count  # the last chunk is not much smaller than the others


def test_bulk_fhir_export_every_patient_once(cli, tmp_path):
    from locations import FIXTURES

    export = FIXTURES / "bulk-fhir-10-patients"
    if not export.is_dir():
        pytest.skip(f"fixture absent: {export}")
    ids = [json.loads(line)["id"] for line in (export / "Patient.000.ndjson").read_text().splitlines() if line.strip()]
    result = cli("cohort", export, "--out", tmp_path, "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()
    errors = (tmp_path / "errors.jsonl").read_text().splitlines()
    assert sorted(r["id"] for r in rows) == sorted(ids) and not errors
    assert sorted(r["source"] for r in rows) == sorted(f"Patient/{i}" for i in ids)


def _small_export(folder):
    folder.mkdir()
    (folder / "Patient.000.ndjson").write_text(
        "".join(json.dumps({"resourceType": "Patient", "id": f"p{i}", "gender": "female", "birthDate": f"197{i}-01-01"}) + "\n"
                for i in range(2)))
    (folder / "Observation.000.ndjson").write_text("".join(json.dumps(
        {"resourceType": "Observation", "id": f"o{i}", "status": "final", "code": {"text": "Body weight"},
         "subject": {"reference": f"Patient/p{i}"}, "effectiveDateTime": f"2026-01-0{i + 1}",
         "valueQuantity": {"value": 60 + i, "unit": "kg"}}) + "\n" for i in range(2)))
    return folder


def test_a_bulk_export_is_listed_by_where_each_patient_lines_are_and_read_in_the_worker(tmp_path):
    from kg.cohort.inputs import items, read

    listed = list(items([str(_small_export(tmp_path / "export"))]))
    assert [(i.kind, i.id) for i in listed] == [("fhir-lines", "p0"), ("fhir-lines", "p1")]
    [(_, data)] = read(listed[1])
    assert data.patients == ["urn:acr-kg:fhir-patient:p1/patient"]
    assert {q.object.value for q in data.quads if q.predicate.value.endswith("birthDate")} == {"1971-01-01"}


def test_a_bulk_file_changed_after_listing_is_an_error_naming_it(tmp_path):
    from kg.cohort.inputs import items, read
    from kg.errors import InputError

    export = _small_export(tmp_path / "export")
    listed = list(items([str(export)]))
    (export / "Observation.000.ndjson").write_text("{}\n")
    with pytest.raises(InputError, match="changed after the export was listed") as caught:
        read(listed[1])
    assert caught.value.source.endswith("Observation.000.ndjson")
