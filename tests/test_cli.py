"""The `acr-kg` command line: exit codes, formats, stdin, and fail-safe behaviour on bad input."""
from __future__ import annotations

import json

import pytest

from locations import EXAMPLES_DIR

INVALID = EXAMPLES_DIR / "invalid"

# file -> (exit code, text that must appear in the error output)
INVALID_EXAMPLES = {
    "therapy-ends-before-start.ttl": (1, "therapy ends on 2026-02-14, before it starts on 2026-03-16"),
    "missing-order.ttl": (1, "exactly one current imaging order"),
    "two-orders.ttl": (1, "exactly one current imaging order"),
    "age-not-a-number.ttl": (1, "age in years must be one integer"),
    "exam-not-boolean.ttl": (1, "whether an axillary node is palpable"),
    "unknown-n-category.ttl": (1, "clinical N category"),
    "therapy-in-the-future.ttl": (1, "after the evaluation date 2026-11-20"),
    "cortex-out-of-range.ttl": (1, "cortical thickness must be one number in millimetres from 0 to 20"),
    "born-after-diagnosis.ttl": (1, "diagnosis date 2026-03-02 is before the birth date 2026-07-10"),
    "diagnosis-after-order.ttl": (1, "diagnosis date 2026-11-25 is after the evaluation date 2026-11-20"),
    "syntax-error.ttl": (2, "syntax-error.ttl:34"),
    "owl-imports.ttl": (2, "refused owl:imports of <https://example.org/remote/ontology.ttl>"),
    "remote-context.jsonld": (2, "refused a remote JSON-LD @context"),
}


def test_every_invalid_example_is_covered():
    assert sorted(p.name for p in INVALID.iterdir()) == sorted(INVALID_EXAMPLES)


@pytest.mark.parametrize("name", sorted(INVALID_EXAMPLES))
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_invalid_input_exits_non_zero_and_recommends_nothing(cli, name, output_format):
    code, message = INVALID_EXAMPLES[name]
    result = cli("recommend", INVALID / name, "--format", output_format)
    assert result.exit_code == code
    assert message in result.stdout + result.stderr
    assert "ACR topic" not in result.stdout and "Usually appropriate" not in result.stdout
    if code == 1 and output_format == "json":
        answer = json.loads(result.stdout)
        assert answer["valid"] is False and answer["violations"]
        assert answer["applicable"] == [] and answer["next_steps"] == [] and answer["conflicts"] == []
        assert all({"message", "focus", "path"} <= set(v) for v in answer["violations"])


def test_demo_command_prints_the_seed_answer(cli):
    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl")
    assert result.exit_code == 0
    out = result.stdout
    assert "ACR topic 235, variant 7" in out
    assert "US axilla" in out and "Usually appropriate      8" in out
    assert "topic 235 variant 7 rates it Usually not appropriate (3), topic 286 variant 9 rates it May be appropriate (5)" in out
    assert "Next steps" in out and "targeted axillary dissection" in out


def test_patient_from_stdin(cli):
    data = (EXAMPLES_DIR / "seed-patient.ttl").read_text()
    result = cli("recommend", "-", "--format", "json", input=data)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["applicable"][0]["variant_number"] == 7


def test_stdin_syntax_error_names_stdin_and_line(cli):
    result = cli("validate", "-", input="@prefix acr: <https://w3id.org/acr-kg/ontology/> .\nacr:x acr:y acr:z .\nacr:z")
    assert result.exit_code == 2
    assert "<stdin>:3" in result.stderr


def test_missing_file_is_exit_2(cli, tmp_path):
    result = cli("recommend", tmp_path / "nope.ttl")
    assert result.exit_code == 2 and "nope.ttl" in result.stderr


def test_no_criteria_apply_is_an_answer_not_an_error(cli):
    result = cli("recommend", EXAMPLES_DIR / "node-positive-during-therapy.ttl")
    assert result.exit_code == 0
    assert "No ACR criteria apply" in result.stdout
    assert "interim" in result.stdout


def test_turtle_output_carries_the_derived_facts(cli):
    import pyoxigraph as ox

    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", "--format", "turtle")
    assert result.exit_code == 0
    triples = {(t.subject.value, t.predicate.value, t.object.value)
               for t in ox.parse(result.stdout.encode(), format=ox.RdfFormat.TURTLE)}
    patient = "https://example.org/patients/seed/patient"
    acr = "https://w3id.org/acr-kg/ontology/"
    assert (patient, acr + "matchesVariant", "https://w3id.org/acr-kg/kb/variant-235-7") in triples
    assert (patient, acr + "treatmentPhase", acr + "AfterNST") in triples


def test_validate_reports_warnings_but_exits_0(cli):
    result = cli("validate", EXAMPLES_DIR / "palpable-node-normal-us.ttl")
    assert result.exit_code == 0
    assert "valid (0 violation(s), 2 warning(s))" in result.stdout
    assert "tumour board" in result.stdout


def test_validate_turtle_is_a_shacl_validation_report(cli):
    import rdflib
    from rdflib.namespace import RDF, SH

    result = cli("validate", INVALID / "therapy-ends-before-start.ttl", "--format", "turtle")
    assert result.exit_code == 1
    report = rdflib.Graph().parse(data=result.stdout, format="turtle")
    [node] = report.subjects(RDF.type, SH.ValidationReport)
    assert report.value(node, SH.conforms).toPython() is False


@pytest.mark.parametrize("engine", ["sparql", "pyshacl"])
def test_validate_gives_the_same_report_with_either_engine(cli, engine):
    result = cli("validate", INVALID / "therapy-ends-before-start.ttl", "--engine", engine, "--format", "json")
    assert result.exit_code == 1
    reference = cli("validate", INVALID / "therapy-ends-before-start.ttl", "--format", "json")
    assert result.stdout == reference.stdout


def test_evaluation_date_is_a_parameter(cli):
    # The same patient judged a year earlier: therapy dates lie in the future, so the data are invalid.
    result = cli("validate", EXAMPLES_DIR / "seed-patient.ttl", "--now", "2025-11-20")
    assert result.exit_code == 1 and "after the evaluation date 2025-11-20" in result.stdout
    assert cli("validate", EXAMPLES_DIR / "seed-patient.ttl", "--now", "not-a-date").exit_code == 2


@pytest.mark.parametrize("output_format, check", [
    ("json", lambda out: json.loads(out)["rows"][0]["label"] == "US axilla"),
    ("csv", lambda out: out.splitlines()[0].startswith("patient,variant,rating") and "US axilla" in out),
    ("table", lambda out: "US axilla" in out and "(19 rows)" in out),
])
def test_query_verb_runs_a_named_query_on_a_loaded_patient(cli, output_format, check):
    # 9 ratings of 235 V7 and 10 of 286 V9 once the patient is validated, derived and matched
    result = cli("query", "variant-ratings", "--patient", EXAMPLES_DIR / "seed-patient.ttl", "--format", output_format)
    assert result.exit_code == 0, result.stderr
    assert check(result.stdout)


def test_query_verb_with_a_parameter(cli):
    result = cli("query", "topic-ratings", "--param", "topic=235", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["rows"]
    assert len(rows) == 60 and {r["variantNumber"] for r in rows} == set(range(1, 9))


@pytest.mark.parametrize("args, message", [
    (("query", "no-such-query"), "no query named 'no-such-query'"),
    (("query", "topic-ratings"), "needs --param topic="),
    (("query", "topic-ratings", "--param", "topic=abc"), "not a valid integer"),
    (("query", "topic-ratings", "--param", "topic=235", "--param", "x=1"), "has no parameter x"),
    (("query", "derive-case", "--param", "now=2026-01-01"), "has no parameter now"),
    (("query", "derive-case", "--format", "csv"), "use --format turtle"),
    (("query", "topic-ratings", "--param", "topic=235", "--format", "turtle"), "is a SELECT query"),
    (("query", "topic-ratings", "--param", "topic=235", "--param", "topic=286"), "topic is given twice"),
    (("query", "sources", "--thresholds", "bogus"), "unknown threshold set 'bogus'"),
    (("query", "sources", "--patient", EXAMPLES_DIR / "seed-patient.ttl", "--data", EXAMPLES_DIR / "seed-patient.ttl"),
     "not both"),
])
def test_query_usage_errors_exit_2(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and message in result.stderr


def test_an_iri_parameter_takes_a_curie_of_our_prefixes(cli):
    curie = cli("query", "indications", "--param", "procedure=acrkb:proc-us-axilla", "--format", "json")
    full = cli("query", "indications", "--param", "procedure=https://w3id.org/acr-kg/kb/proc-us-axilla", "--format", "json")
    assert curie.exit_code == full.exit_code == 0
    assert json.loads(curie.stdout)["rows"] == json.loads(full.stdout)["rows"] != []


def test_a_broken_knowledge_base_file_is_an_input_error_naming_it(cli, tmp_path):
    (tmp_path / "kb.ttl").write_text("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:d ex:e\n")
    result = cli("query", "sources", "--kb-dir", tmp_path)
    assert result.exit_code == 2 and f"{tmp_path / 'kb.ttl'}:4: not readable as Turtle" in result.stderr


def test_population_queries_run_over_a_cohorts_results(cli, tmp_path):
    """cohort --format turtle, then the two named population queries over results.ttl (--data)."""
    from kg.cohort import run_cohort

    folder = tmp_path / "patients"
    folder.mkdir()
    for name in ("seed-patient.ttl", "order-mri-breast.ttl", "after-therapy-normal-us.ttl", "node-negative-after-therapy.ttl"):
        (folder / name).write_bytes((EXAMPLES_DIR / name).read_bytes())
    run_cohort([str(folder)], out=tmp_path / "out", formats=("parquet", "turtle"), progress=False)
    results = tmp_path / "out" / "results.ttl"
    not_appropriate = cli("query", "cohort/order-not-appropriate", "--data", results, "--format", "json")
    due = cli("query", "cohort/due-without-order", "--data", results, "--format", "json")
    assert not_appropriate.exit_code == due.exit_code == 0
    rows = json.loads(not_appropriate.stdout)["rows"]
    assert {r["patient"].rsplit("/", 2)[-2] for r in rows} == {"order-mri"}
    assert {r["procedure"] for r in rows} == {"https://w3id.org/acr-kg/kb/proc-mri-breast-wo-w"}
    # the seed and after-normal ask the axilla question without naming a procedure: due, none ordered
    assert {r["patient"].rsplit("/", 2)[-2] for r in json.loads(due.stdout)["rows"]} == {"seed", "after-normal"}


def test_query_refuses_an_invalid_patient(cli):
    result = cli("query", "variant-ratings", "--patient", INVALID / "therapy-ends-before-start.ttl")
    assert result.exit_code == 1 and "therapy ends on" in result.stdout


def test_query_list_shows_parameters(cli):
    result = cli("query", "--list")
    assert result.exit_code == 0 and "topic-ratings" in result.stdout and "--param topic=<integer>" in result.stdout


def test_recommend_answers_several_patients_in_the_order_given(cli):
    result = cli("recommend", EXAMPLES_DIR / "node-negative-after-therapy.ttl", EXAMPLES_DIR / "seed-patient.ttl",
                 "--format", "json")
    assert result.exit_code == 0
    first, second = json.loads(result.stdout)
    assert [(v["topic_id"], v["variant_number"]) for v in first["applicable"]] == [(235, 5)]
    assert (235, 7) in [(v["topic_id"], v["variant_number"]) for v in second["applicable"]]


def test_one_invalid_patient_among_several_exits_1_and_gets_no_recommendation(cli):
    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", INVALID / "therapy-ends-before-start.ttl",
                 "--format", "json")
    assert result.exit_code == 1
    valid, invalid = json.loads(result.stdout)
    assert valid["valid"] and valid["applicable"]
    assert not invalid["valid"] and invalid["applicable"] == [] and invalid["violations"]


def test_one_unreadable_patient_among_several_prints_nothing(cli, tmp_path):
    broken = tmp_path / "broken.ttl"
    broken.write_text("this is not turtle")
    result = cli("recommend", EXAMPLES_DIR / "seed-patient.ttl", broken)
    assert result.exit_code == 2
    assert result.stdout == "" and "broken.ttl" in result.stderr


@pytest.mark.parametrize("engine", ["sparql", "pyshacl"])
def test_a_literal_where_a_node_is_expected_is_a_violation_not_a_crash(cli, engine):
    # Regression: pySHACL on the Oxigraph store raised TypeError for a literal focus node.
    data = (EXAMPLES_DIR / "seed-patient.ttl").read_text().replace("acr:hasBreastCancer ex:cancer",
                                                                    'acr:hasBreastCancer "the cancer"')
    result = cli("validate", "-", "--engine", engine, input=data)
    assert result.exit_code == 1
    assert "the breast cancer must be a node typed acr:BreastCancer" in result.stdout
