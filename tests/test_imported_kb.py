"""An imported knowledge base in use: recommend names the imported variants it cannot evaluate, and
query and map answer from it (--kb-dir)."""
from __future__ import annotations

import json

import pytest

from kg.input import read_patient
from kg.kb.tables import catalogue, import_tables
from kg.kb.tables.synthetic import generate
from kg.recommend import Engine
from kg.resources import files_with_kb_dir
from locations import EXAMPLES_DIR


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imported")
    table = generate(240, catalogue.load(), seed=3, anomalies=False).write_csv(folder / "table.csv")
    import_tables([table], out=folder / "kb")
    return folder / "kb"


def test_recommend_names_the_variants_it_cannot_evaluate(imported):
    answer = Engine(kb_files=files_with_kb_dir(imported)).recommend(read_patient(EXAMPLES_DIR / "seed-patient.ttl"))
    assert [(v["topic_id"], v["variant_number"]) for v in answer.applicable] == [(235, 7), (286, 9)]
    assert answer.not_evaluated and all("stated in words only" in v["reason"] for v in answer.not_evaluated)
    assert {v["topic_id"] for v in answer.not_evaluated}.isdisjoint({235, 286})


def test_the_project_knowledge_base_has_nothing_it_cannot_evaluate(recommend_example):
    assert recommend_example("seed-patient.ttl")["not_evaluated"] == []


def test_query_and_map_answer_from_the_imported_knowledge_base(cli, imported):
    listed = json.loads(cli("query", "imported-variants", "--kb-dir", imported, "--format", "json").stdout)["rows"]
    assert listed and all(row["variant"].startswith("https://w3id.org/acr-kg/kb/variant-9") for row in listed)
    assert json.loads(cli("query", "imported-variants", "--format", "json").stdout)["rows"] == []
    mapped = cli("map", "LOINC:80852-7", "--kb-dir", imported, "--format", "json")
    topics = {r["topic"] for c in json.loads(mapped.stdout)["concepts"] for r in c["ratings"]}
    assert mapped.exit_code == 0 and 235 in topics and any(t >= 9000 for t in topics)


def test_kb_dir_does_not_apply_to_a_remote_endpoint(cli, imported):
    result = cli("query", "imported-variants", "--kb-dir", imported, "--backend", "http://127.0.0.1:9/query")
    assert result.exit_code == 2 and "--kb-dir does not apply" in result.stderr
