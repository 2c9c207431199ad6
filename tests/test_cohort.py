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
