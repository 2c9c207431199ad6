"""The output contract: JSON Schemas, JSON Lines, atomic output files, query result formats, exit codes,
and values that can never change a query's meaning."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import click
import jsonschema
import pyoxigraph as ox
import pytest
from referencing import Registry, Resource

from kg.cli import VERBS, main
from kg.errors import AcrKgError
from kg.input import parse_patient, read_patient
from kg.output import answer_line
from kg.output.schemas import schema
from kg.recommend import Request
from kg.recommend.signatures import SharedExplanations
from kg.synthetic import case_turtle, cohort_case
from locations import EXAMPLES_DIR

INVALID = EXAMPLES_DIR / "invalid"


def _readable(path: Path) -> bool:
    try:
        read_patient(path)
        return True
    except AcrKgError:
        return False


READABLE = [p for p in sorted(EXAMPLES_DIR.rglob("*")) if p.suffix in (".ttl", ".jsonld") and _readable(p)]


def _validator(name: str):
    registry = Registry().with_resources(
        (schema(n)["$id"], Resource.from_contents(schema(n))) for n in ("validation", "recommendation"))
    return jsonschema.Draft202012Validator(schema(name), registry=registry,
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_schemas_are_valid_json_schemas():
    for name in ("validation", "recommendation"):
        jsonschema.Draft202012Validator.check_schema(schema(name))


def test_every_recommendation_answer_validates(recommender):
    validator = _validator("recommendation")
    answers = [r.as_dict() for r in recommender.recommend_many([read_patient(p) for p in READABLE])]
    assert {a["valid"] for a in answers} == {True, False}
    for answer in answers:
        json.dumps(answer)  # JSON-ready as it is, dates included
        validator.validate(answer)
        assert answer["knowledge_base"].startswith("https://w3id.org/acr-kg/ontology/")


def test_a_json_lines_answer_is_the_answer_as_a_dict(recommender):
    """answer_line writes Recommendation.fields() itself (no copy): the same JSON as as_dict, decimals and
    dates included, for answers explained alike and not."""
    rng = random.Random(11)
    requests = [Request(parse_patient(case_turtle(cohort_case(rng), f"https://example.org/line/{i}").encode(), f"p{i}.ttl"))
                for i in range(60)]
    results = SharedExplanations(recommender).evaluate(requests) + recommender.recommend_many([read_patient(p) for p in READABLE])
    assert any(a["node_assessments"] for a in map(lambda r: r.as_dict(), results))  # decimals (cortex, in mm) are written
    for result in results:
        assert json.loads(answer_line(result.fields())) == result.as_dict()


def test_a_wrong_answer_fails_the_schema(recommend_example):
    answer = recommend_example("seed-patient.ttl")
    answer["applicable"][0]["procedures"][0]["median"] = 12
    with pytest.raises(jsonschema.ValidationError):
        _validator("recommendation").validate(answer)
    invalid = recommend_example("seed-patient.ttl") | {"valid": False}
    with pytest.raises(jsonschema.ValidationError):  # an invalid patient never carries a recommendation
        _validator("recommendation").validate(invalid)


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_every_validation_answer_validates(cli, path):
    result = cli("validate", path, "--format", "json")
    assert result.exit_code in (0, 1)
    answer = json.loads(result.stdout)
    _validator("validation").validate(answer)
    assert answer["source"] == str(path)


def test_jsonl_writes_one_answer_per_line_in_input_order(cli):
    paths = [EXAMPLES_DIR / "seed-patient.ttl", INVALID / "missing-order.ttl", EXAMPLES_DIR / "node-negative-after-therapy.ttl"]
    result = cli("recommend", *paths, "--format", "jsonl")
    assert result.exit_code == 1  # one of them is invalid
    lines = result.stdout.splitlines()
    assert [json.loads(line)["source"] for line in lines] == [str(p) for p in paths]
    for line in lines:
        _validator("recommendation").validate(json.loads(line))


def test_output_file_is_written_whole(cli, tmp_path):
    target = tmp_path / "answer.json"
    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", "--format", "json", "-o", target)
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())["applicable"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.json"]  # no temporary file left


def test_output_file_is_untouched_when_the_input_is_unreadable(cli, tmp_path):
    target = tmp_path / "answer.json"
    target.write_text("previous answer")
    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", INVALID / "syntax-error.ttl", "-o", target)
    assert result.exit_code == 2
    assert target.read_text() == "previous answer" and len(list(tmp_path.iterdir())) == 1


def test_select_as_standard_sparql_json_and_tsv(cli):
    as_json = cli("query", "topic-ratings", "--param", "topic=286", "--format", "sparql-json")
    answer = json.loads(as_json.stdout)
    assert as_json.exit_code == 0 and len(answer["results"]["bindings"]) == 10
    first = answer["results"]["bindings"][0]
    assert first["procedure"]["type"] == "uri" and first["variantNumber"]["datatype"].endswith("#integer")
    as_tsv = cli("query", "topic-ratings", "--param", "topic=286", "--format", "tsv")
    lines = as_tsv.stdout.splitlines()
    assert lines[0].split("\t") == [f"?{v}" for v in answer["head"]["vars"]] and len(lines) == 11
    assert lines[1].split("\t")[answer["head"]["vars"].index("procedure")].startswith("<https://")


def test_construct_queries_answer_turtle(cli):
    result = cli("query", "derive-case", "--patient", EXAMPLES_DIR / "seed-patient.ttl")
    assert result.exit_code == 0
    triples = list(ox.parse(result.stdout.encode(), format=ox.RdfFormat.TURTLE))
    assert any(t.object.value.endswith("NodePositive") for t in triples)
    listed = cli("query", "--list").stdout
    assert "derive-case" in listed and "internal/" not in listed


# Values that try to close a quote, an IRI or a group, or to smuggle a SERVICE call into a query.
HOSTILE = ['x" } SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } #', "x> } SERVICE <http://127.0.0.1:9/> {",
           "https://w3id.org/acr-kg/ontology/x>{", '2026-01-01"^^<x:y>', "seed' }", "}\n#", "\"\"\""]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("verb", ["map", "param-iri", "param-integer", "now", "thresholds"])
def test_hostile_values_are_usage_errors(cli, verb, value):
    args = {"map": ["map", value],
            "param-iri": ["query", "indications", "--param", f"procedure={value}"],
            "param-integer": ["query", "topic-ratings", "--param", f"topic={value}"],
            "now": ["recommend", EXAMPLES_DIR / "seed-patient.ttl", "--now", value],
            "thresholds": ["recommend", EXAMPLES_DIR / "seed-patient.ttl", "--thresholds", value]}[verb]
    result = cli(*args)
    assert result.exit_code == 2, result.stdout
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_string_parameter_stays_a_string():
    from kg.store import EmbeddedStore

    store = EmbeddedStore()
    for value in HOSTILE:
        rows = store.select("SELECT ?v WHERE { BIND($text AS ?v) }", {"text": value})
        assert rows.rows == [{"v": value}]


def test_service_is_refused_on_every_engine():
    from kg.errors import UsageError
    from kg.store import EmbeddedStore
    from kg.store.reference import RdflibStore

    for store in (EmbeddedStore(), RdflibStore()):
        with pytest.raises(UsageError, match="SERVICE"):
            store.select("SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }")


def test_unknown_threshold_set_is_a_usage_error_in_every_verb(cli):
    for args in (["validate"], ["recommend"], ["query", "variant-ratings", "--patient"]):
        result = cli(*args[:1], *args[1:], EXAMPLES_DIR / "seed-patient.ttl", "--thresholds", "bogus")
        assert result.exit_code == 2 and "unknown threshold set 'bogus'" in result.stderr


@pytest.fixture()
def failing_verb():
    """A verb whose code has a bug, to see how the command line reports one."""
    @click.command("explode")
    def explode():
        raise KeyError("a bug of ours")
    sys.modules["kg.cli.explode"] = type(sys)("kg.cli.explode")
    sys.modules["kg.cli.explode"].command = explode
    VERBS["explode"] = "explode"
    yield
    del VERBS["explode"], sys.modules["kg.cli.explode"]


def test_an_internal_error_is_exit_3_in_one_line(failing_verb):
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["explode"])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "internal error: KeyError" in result.stderr
    assert "Traceback" not in result.stderr
    debug = CliRunner().invoke(main, ["--debug", "explode"])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr


def test_a_missing_java_is_said_plainly(tmp_path):
    # Only the virtualenv on PATH: no java to be found.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([Path(sys.executable).parent / "acr-kg", "check"], env=env, capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert "needs Java" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_an_unknown_threshold_set_before_it_starts(tmp_path):
    result = subprocess.run([Path(sys.executable).parent / "acr-kg", "serve", "--insecure-no-auth", "--port", "0",
                             "--thresholds", "bogus", "--database", str(tmp_path / "cds.sqlite3")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "unknown threshold set 'bogus'" in result.stderr
