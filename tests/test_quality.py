"""`acr-kg check` on the shipped knowledge base and on deliberately broken copies of it.

Broken copies are made in tmp_path from the real Turtle files; the checks run with the real engines
(pySHACL, HermiT, pyoxigraph). Each broken copy must fail with a message that names the bad node.
"""
from __future__ import annotations

import json
import shutil

import pytest
import rdflib
from click.testing import CliRunner

from kg.kb import build
from kg.cli import main
from locations import KB_DIR, ONTOLOGY_DIR, ROOT
from kg.terms import ACR, ACRKB
from kg.resources import ontology_files
from kg.kb.populations import populations_turtle
from kg.kb.quality import load_qc_checks
from kg.store import EmbeddedStore

DCTERMS = rdflib.Namespace("http://purl.org/dc/terms/")


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def kb_copy(tmp_path):
    target = tmp_path / "kb"
    target.mkdir()
    for path in KB_DIR.glob("*.ttl"):
        shutil.copy(path, target / path.name)
    return target


def edit(kb_dir, subject: str, change) -> None:
    """Apply ``change(graph, subject)`` to the copied file that describes ``subject``."""
    node = rdflib.URIRef(subject)
    for path in sorted(kb_dir.glob("*.ttl")):
        graph = rdflib.Graph().parse(path, format="turtle")
        if (node, rdflib.RDF.type, None) in graph:
            change(graph, node)
            graph.serialize(path, format="turtle")
            return
    raise AssertionError(f"{subject} is declared in no knowledge base file")


def test_shipped_knowledge_base_passes():
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "HermiT: consistent" in result.output
    assert "0 ERROR" in result.output


def test_generated_files_are_up_to_date():
    assert build.stale_files() == [], "run `acr-kg build` and commit the result"
    assert run("build", "--check").exit_code == 0


def test_build_is_deterministic_and_detects_stale_files(tmp_path):
    assert build.generate() == build.generate()
    assert sorted(build.stale_files(tmp_path)) == sorted(build.GENERATED)  # nothing written yet
    assert sorted(build.write_all(tmp_path)) == sorted(build.GENERATED)
    assert build.stale_files(tmp_path) == []
    populations = tmp_path / "ontology/kb/populations.ttl"
    assert populations.read_text().startswith("# GENERATED FILE: do not edit.")
    populations.write_text(populations.read_text().replace("235-7", "235-77"))
    assert build.stale_files(tmp_path) == ["ontology/kb/populations.ttl"]


def test_every_variant_has_a_generated_population_class():
    graph = build.parse_files(build.source_files() + [ROOT / "ontology/kb/populations.ttl"])
    acr = rdflib.Namespace(ACR)
    for variant in graph.subjects(rdflib.RDF.type, acr.Variant):
        population = graph.value(variant, acr.populationClass)
        assert population is not None, variant
        assert (population, rdflib.OWL.equivalentClass, None) in graph


def test_qc_queries_declare_level_and_return_entity_and_message():
    store = EmbeddedStore()
    checks = load_qc_checks()
    assert len(checks) >= 8
    for check in checks:
        assert {"entity", "message"} <= set(store.select(check.query).variables), check.name


def test_median_outside_its_category_band_is_rejected(kb_copy):
    rating = ACRKB + "rating-235-7-mri-breast-wo-w"  # Usually not appropriate, median 3
    edit(kb_copy, rating, lambda g, s: g.set((s, rdflib.URIRef(ACR + "median"), rdflib.Literal(8))))
    result = run("check", "--kb-dir", str(kb_copy))
    assert result.exit_code == 1, result.output
    assert f"Rating {rating} has median 8, outside the band of its category Usually not appropriate" in result.output


def test_rating_without_source_is_rejected(kb_copy):
    rating = ACRKB + "rating-235-7-us-axilla"
    edit(kb_copy, rating, lambda g, s: g.remove((s, DCTERMS.source, None)))
    files = [p for p in ontology_files() if p.parent == ONTOLOGY_DIR] + sorted(kb_copy.glob("*.ttl"))
    result = run("check", *(arg for path in files for arg in ("--file", str(path))), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["passed"]
    assert any(f["entity"] == rating and "dcterms:source" in f["message"] and f["level"] == "ERROR"
               for f in report["findings"]), report["findings"]


def test_variant_without_criteria_is_rejected(kb_copy):
    variant = ACRKB + "variant-235-3"
    edit(kb_copy, variant, lambda g, s: g.remove((s, rdflib.URIRef(ACR + "hasApplicabilityCriterion"), None)))
    result = run("check", "--kb-dir", str(kb_copy), "--format", "turtle")
    assert result.exit_code == 1
    report = rdflib.Graph().parse(data=result.stdout, format="turtle")
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    focus = {(str(report.value(r, sh.focusNode)), str(report.value(r, sh.resultPath)))
             for r in report.subjects(rdflib.RDF.type, sh.ValidationResult)}
    assert (variant, ACR + "hasApplicabilityCriterion") in focus


def test_inconsistent_axiom_is_rejected_with_an_explanation(kb_copy):
    # Two variants with different numbers cannot be one individual: acr:variantNumber is functional.
    # SHACL has nothing to say about owl:sameAs; only the reasoner catches this.
    with open(kb_copy / "topic-235.ttl", "a", encoding="utf-8") as handle:
        handle.write(f"\n<{ACRKB}variant-235-7> <http://www.w3.org/2002/07/owl#sameAs> <{ACRKB}variant-235-5> .\n")
    result = run("check", "--kb-dir", str(kb_copy))
    assert result.exit_code == 1, result.output
    assert "HermiT: INCONSISTENT" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("ERROR") and "owl:consistency" in line)
    assert f"{ACRKB}variant-235-7" in line and f"{ACRKB}variant-235-5" in line
    assert f"{ACR}variantNumber" in line


def test_variant_with_contradictory_criteria_is_rejected(kb_copy):
    # Exclude the phase that another criterion of the same variant requires, and regenerate the
    # population classes of the copy: the class of 235-7 becomes unsatisfiable.
    criterion = ACRKB + "criterion-235-7-excludes-interim-imaging"
    edit(kb_copy, criterion, lambda g, s: g.add((s, rdflib.URIRef(ACR + "excludedValue"), rdflib.URIRef(ACR + "AfterNST"))))
    sources = [p for p in ontology_files() if p.parent == ONTOLOGY_DIR] + [
        p for p in sorted(kb_copy.glob("*.ttl")) if p.name != "populations.ttl"]
    (kb_copy / "populations.ttl").write_text(populations_turtle(build.parse_files(sources)), encoding="utf-8")
    result = run("check", "--kb-dir", str(kb_copy))
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if "owl:unsatisfiable-class" in line)
    assert f"{ACRKB}Population-235-7" in line and "contradict" in line


def test_kb_dir_and_file_are_exclusive(kb_copy):
    result = run("check", "--kb-dir", str(kb_copy), "--file", str(kb_copy / "topic-235.ttl"))
    assert result.exit_code == 2
    assert "either --kb-dir or --file" in result.output
