"""Cohort runs: answers identical to one-by-one runs, every input accounted for, resume."""
from __future__ import annotations

import json
import random
import re

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


def _copies(folder, *names):
    """A folder with copies of these examples."""
    from locations import EXAMPLES_DIR

    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((EXAMPLES_DIR / name).read_bytes())
    return folder


def test_resume_refuses_chunks_written_for_an_edited_file(cli, tmp_path):
    """Same paths, same number of inputs, one file edited (same size, so the size alone would not tell):
    the chunks hold the earlier content's answers, so --resume must not use them."""
    patients = _copies(tmp_path / "patients", "seed-patient.ttl", "order-mri-breast.ttl", "after-therapy-normal-us.ttl")
    out = tmp_path / "out"
    assert cli("cohort", patients, "--out", out, "--workers", "1", "--chunk-size", "1").exit_code == 0
    (out / "chunks" / "part-00002.summary.json").unlink()  # an interrupted run: one chunk to go
    seed = patients / "seed-patient.ttl"
    text = seed.read_text()
    assert "2026-" in text
    seed.write_text(text.replace("2026-", "2025-"))
    result = cli("cohort", patients, "--out", out, "--workers", "1", "--chunk-size", "1", "--resume")
    assert result.exit_code == 2
    assert "--resume" in result.stderr and "an input file was edited, added or removed" in result.stderr
    assert not (out / "chunks" / "part-00002.summary.json").exists()  # nothing resumed


def test_resume_refuses_stdin(cli, tmp_path):
    line = json.dumps({"id": "seed", "turtle": _example("seed-patient.ttl")}) + "\n"
    assert cli("cohort", "-", "--out", tmp_path, "--workers", "1", input=line).exit_code == 0
    other = json.dumps({"id": "mri", "turtle": _example("order-mri-breast.ttl")}) + "\n"
    result = cli("cohort", "-", "--out", tmp_path, "--workers", "1", "--resume", input=other)
    assert result.exit_code == 2 and "--resume cannot tell whether stdin ('-')" in result.stderr


def _example(name: str) -> str:
    from locations import EXAMPLES_DIR

    return (EXAMPLES_DIR / name).read_text()


def _seed_fhir() -> list[dict]:
    """The seed patient as FHIR R4 resources (the CDS prefetch of tests/data/cds) with its draft order."""
    from locations import ROOT

    data = ROOT / "tests" / "data" / "cds"
    resources = []
    for value in json.loads((data / "seed-patient-prefetch.json").read_text())["prefetch"].values():
        if value is not None:  # a prefetch key with no data
            resources += [e["resource"] for e in value["entry"]] if value["resourceType"] == "Bundle" else [value]
    return resources + [json.loads((data / "seed-patient-draft-orders.json").read_text())["orders"]["us-axilla"]]


def test_fhir_is_read_as_of_now_as_recommend_reads_it(recommender, tmp_path):
    """At a --now before the therapy ends and before the order, the reader leaves the later events out;
    the cohort's answer (from a file, a line of JSON Lines and a Bulk Data export) is the one-by-one answer."""
    import datetime as dt

    from kg.input import read_patients
    from kg.output import answer_line

    now = dt.date(2026, 6, 1)
    resources = _seed_fhir()
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    record = tmp_path / "seed.json"
    record.write_text(json.dumps(bundle))
    lines = tmp_path / "seed.jsonl"
    lines.write_text(json.dumps(bundle) + "\n")
    export = tmp_path / "export"
    export.mkdir()
    for kind in {r["resourceType"] for r in resources}:
        (export / f"{kind}.000.ndjson").write_text(
            "".join(json.dumps(r) + "\n" for r in resources if r["resourceType"] == kind))
    run_cohort([str(record), str(lines), str(export)], out=tmp_path / "out", now=now, progress=False)
    cohort = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    [alone] = read_patients(record, now=now)
    expected = json.loads(answer_line(recommender.evaluate([Request(alone, now)])[0].fields()))
    assert any("left out" in w["message"] for w in expected["warnings"])
    assert [a["source"] for a in cohort] == [str(record), f"{lines}:1", "Patient/seed"]
    assert [{**a, "source": str(record)} for a in cohort] == [expected] * 3


def test_a_run_without_turtle_removes_an_earlier_results_ttl(tmp_path):
    patients = _copies(tmp_path / "patients", "seed-patient.ttl")
    out = tmp_path / "out"
    run_cohort([str(patients)], out=out, formats=("parquet", "turtle"), progress=False)
    assert (out / "results.ttl").stat().st_size > 0
    run_cohort([str(patients)], out=out, progress=False)
    assert not (out / "results.ttl").exists()
    assert sorted(p.name for p in out.iterdir()) == ["answers.jsonl", "chunks", "errors.jsonl", "results.parquet",
                                                    "summary.json"]


def test_one_bad_fhir_input_is_one_error_and_the_run_completes(cli, tmp_path):
    """A FHIR array (which recommend reads), a Bundle whose entry is not an object, as a file and as a
    line of JSON Lines, beside good inputs: each bad one is one error naming it, the others are answered."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "array.json").write_text(json.dumps(_seed_fhir()))
    broken = {"resourceType": "Bundle", "type": "collection", "entry": [1]}
    (folder / "entry.json").write_text(json.dumps(broken))
    (folder / "seed-patient.ttl").write_text(_example("seed-patient.ttl"))
    lines = tmp_path / "lines.jsonl"
    good = json.dumps({"id": "seed", "turtle": _example("seed-patient.ttl")})
    lines.write_text(json.dumps(broken) + "\n" + good + "\n")
    result = cli("cohort", folder, lines, "--out", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "out" / "results.parquet").to_pylist()
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert sorted(r["source"] for r in rows) == sorted([str(folder / "array.json"), str(folder / "seed-patient.ttl"),
                                                        f"{lines}:2"])
    assert [(e["source"], e["error"]) for e in errors] == [
        (str(folder / "entry.json"), f"{folder / 'entry.json'}: Bundle.entry[0]: a Bundle entry must be a JSON object"),
        (f"{lines}:1", f"{lines}:1: Bundle.entry[0]: a Bundle entry must be a JSON object")]


def test_a_bad_graph_in_a_jsonl_file_is_named_by_file_and_line(tmp_path):
    lines = tmp_path / "graphs.jsonl"
    lines.write_text(json.dumps({"id": "seed", "turtle": _example("seed-patient.ttl")}) + "\n\n"
                     + json.dumps({"id": "bad", "turtle": "<a> <b> "}) + "\n"
                     + json.dumps({"id": "bad-ld", "jsonld": {"@id": 5}}) + "\n")
    run_cohort([str(lines)], out=tmp_path / "out", progress=False)
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert [e["source"] for e in errors] == [f"{lines}:3", f"{lines}:4"]
    assert errors[0]["error"].startswith(f"{lines}:3: in its turtle text: not valid turtle: ")
    assert errors[1]["error"].startswith(f"{lines}:4: in its jsonld text: not valid json-ld: ")
    assert not any("<stdin>" in e["error"] for e in errors)


def test_a_missing_source_is_an_input_error(cli, tmp_path):
    result = cli("cohort", tmp_path / "x.ndjson", "--out", tmp_path / "out")
    assert result.exit_code == 2 and f"error: {tmp_path / 'x.ndjson'}: no such file or folder" in result.stderr
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize("where", ["under a file", "/proc/x"])
def test_an_out_that_cannot_be_written_is_a_usage_error(cli, tmp_path, where):
    from pathlib import Path

    if where == "/proc/x" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out" if where == "under a file" else Path(where)
    patients = _copies(tmp_path / "patients", "seed-patient.ttl")
    result = cli("cohort", patients, "--out", out, "--workers", "1")
    assert result.exit_code == 2 and f"error: --out {out}: cannot write" in result.stderr, result.stderr


def test_the_cohort_runner_never_imports_the_command_line():
    """kg/cohort is a lower room than kg/cli; the spark-submit entry is kg/cli/cohort.py."""
    import ast

    from locations import ROOT

    for path in sorted((ROOT / "kg" / "cohort").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n == "kg.cli" or n.startswith("kg.cli.")], path


def test_the_spark_submit_file_takes_the_arguments_of_cohort(tmp_path):
    """spark-submit runs a file; the cohort command's file runs `acr-kg cohort ... --engine spark`, with its
    exit codes (a missing source is refused before any Spark session starts)."""
    import subprocess
    import sys

    from locations import ROOT

    result = subprocess.run([sys.executable, str(ROOT / "kg" / "cli" / "cohort.py"), str(tmp_path / "x.ndjson"),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "x.ndjson: no such file or folder" in result.stderr, result.stderr


def _seed_export(folder, copies: int = 2):
    """The seed record (tests/data/cds) as a Bulk Data export of ``copies`` patients whose chemotherapy names
    its drug through Medication resources, one Medication file for all, and an Organization file."""
    resources = [dict(r, status="active") if r["resourceType"] == "ServiceRequest" else r for r in _seed_fhir()]
    medications = {}
    for resource in resources:
        if "medicationCodeableConcept" in resource:
            code = resource.pop("medicationCodeableConcept")
            key = code["coding"][0]["code"]
            medications[key] = {"resourceType": "Medication", "id": f"rx-{key}", "code": code}
            resource["medicationReference"] = {"reference": f"Medication/rx-{key}"}
    assert medications
    folder.mkdir()
    files: dict[str, list[str]] = {}
    for copy in range(copies):
        for resource in resources:
            text = re.sub(r'(?<=["/])seed(?=[-"])', f"seed{copy}", json.dumps(resource))  # ids and references
            files.setdefault(resource["resourceType"], []).append(text)
    files["Medication"] = [json.dumps(m) for m in medications.values()]
    files["Organization"] = [json.dumps({"resourceType": "Organization", "id": "hospital", "name": "A hospital"})]
    for kind, lines in files.items():
        (folder / f"{kind}.000.ndjson").write_text("\n".join(lines) + "\n")
    return folder


def test_a_bulk_export_gives_each_patient_the_medications_it_references(tmp_path, recommender):
    """A Medication belongs to no patient: each patient gets those its orders and administrations name, as
    `recommend` reads the whole export; an Organization is no input and no error."""
    from kg.input import read_patients

    export = _seed_export(tmp_path / "export")
    summary = run_cohort([str(export)], out=tmp_path / "out", progress=False)
    assert summary["inputs"] == summary["patients"] == 2 and summary["errors"] == 0
    answers = {a["source"]: a for a in map(json.loads, (tmp_path / "out" / "answers.jsonl").read_text().splitlines())}
    alone = {r.source: r.as_dict() for r in recommender.recommend_many(read_patients(str(export)))}
    assert len(alone) == 2
    for source, answer in alone.items():
        patient = source.rsplit("#", 1)[1]
        cohort = answers[patient]
        assert [a["variant"] for a in cohort["applicable"]] == [a["variant"] for a in answer["applicable"]] != []
        assert cohort["order"] == answer["order"] and cohort["violations"] == answer["violations"]


def test_a_bulk_export_without_the_medications_its_orders_name_is_one_error_per_patient(tmp_path):
    """Without Medication.ndjson the drug of every chemotherapy order is unknown: no answer, an error each."""
    export = _seed_export(tmp_path / "export")
    (export / "Medication.000.ndjson").unlink()
    summary = run_cohort([str(export)], out=tmp_path / "out", progress=False)
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert summary["inputs"] == summary["errors"] == 2 and summary["patients"] == 0
    assert all("which the record does not hold" in e["error"] for e in errors)


def test_resume_without_now_is_refused_on_another_day(cli, tmp_path):
    """Without --now a record with no order date is judged as of the day of the run, so chunks of another
    day would mix evaluation dates; with --now they may be resumed any day."""
    patients = _copies(tmp_path / "patients", "seed-patient.ttl", "order-mri-breast.ttl")
    for args, refused in (((), True), (("--now", "2026-11-20"), False)):
        out = tmp_path / ("out-now" if args else "out")
        assert cli("cohort", patients, "--out", out, "--workers", "1", "--chunk-size", "1", *args).exit_code == 0
        manifest = out / "chunks" / "manifest.json"
        written = json.loads(manifest.read_text())
        assert (written["today"] is None) == bool(args)
        if written["today"]:
            manifest.write_text(json.dumps(written | {"today": "2026-01-01"}))  # as if written on that day
        result = cli("cohort", patients, "--out", out, "--workers", "1", "--chunk-size", "1", "--resume", *args)
        assert (result.exit_code, "written on another day" in result.stderr) == ((2, True) if refused else (0, False))


def test_an_out_folder_inside_a_source_folder_is_not_read_as_input(tmp_path):
    """The second run over a folder that holds the first run's --out read its results.ttl and chunks as
    patients (and --resume was always refused, the inputs having changed)."""
    patients = _copies(tmp_path / "patients", "seed-patient.ttl", "order-mri-breast.ttl")
    out = patients / "out"
    first = run_cohort([str(patients)], out=out, progress=False, formats=("parquet", "turtle"))
    again = run_cohort([str(patients)], out=out, progress=False, formats=("parquet", "turtle"), resume=True)
    assert first["inputs"] == again["inputs"] == 2 and again["errors"] == 0


def test_a_bulk_patients_bad_resource_is_named_by_file_and_line(tmp_path):
    """The reader's error about one of a Bulk Data patient's resources names its file and line, not [i]."""
    export = _small_export(tmp_path / "export")
    with (export / "Condition.000.ndjson").open("w") as out:
        out.write(json.dumps({"resourceType": "Condition", "id": "c0", "subject": {"reference": "Patient/p0"},
                              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
                              "onsetDateTime": "2026-03-02"}) + "\n")
        out.write(json.dumps({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
                              "code": "C50.9"}) + "\n")  # not an R4 CodeableConcept
    summary = run_cohort([str(export)], out=tmp_path / "out", progress=False)
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert summary["inputs"] == 2 and summary["patients"] == 1 and len(errors) == 1
    assert errors[0]["source"] == "Patient/p1" and "Condition.000.ndjson:2" in errors[0]["error"], errors
