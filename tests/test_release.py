"""`acr-kg release`: three serialisations of one merged ontology beside the mapping set, the shapes and the
queries, written all or nothing, byte for byte the same for the same input."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import owlready2
import pytest
import rdflib
from click.testing import CliRunner

from kg.cli import main
from kg.errors import UsageError
from kg.terms import ACR, ACRKB, ONTOLOGY_IRI
from kg.kb.release import RELEASE_FILES, copied_files, merged_ontology, release
from locations import QUERIES_DIR, ROOT, SHAPES_DIR

OWL = rdflib.OWL


@pytest.fixture(scope="module")
def merged():
    return merged_ontology()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return release(tmp_path_factory.mktemp("release") / "release")


def _tree(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_release_writes_three_files_with_the_same_triples(tmp_path, merged):
    out = tmp_path / "release"
    result = CliRunner().invoke(main, ["release", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([*RELEASE_FILES, "acr-kg.sssom.tsv", "queries", "shapes"])
    for name, fmt in RELEASE_FILES.items():
        graph = rdflib.Graph().parse(out / name, format=fmt)
        assert len(graph) == len(merged), name
        ontology = rdflib.URIRef(ONTOLOGY_IRI)
        assert graph.value(ontology, OWL.versionIRI) == merged.value(ontology, OWL.versionIRI)
        assert graph.value(ontology, OWL.versionInfo) == merged.value(ontology, OWL.versionInfo)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging directory left behind"


def test_release_date_stamps_the_version(tmp_path):
    out = tmp_path / "release"
    result = CliRunner().invoke(main, ["release", "--out", str(out), "--date", "2027-01-31"])
    assert result.exit_code == 0, result.output
    graph = rdflib.Graph().parse(out / "acr-kg.ttl", format="turtle")
    ontology = rdflib.URIRef(ONTOLOGY_IRI)
    assert graph.value(ontology, OWL.versionIRI) == rdflib.URIRef(ONTOLOGY_IRI + "/2027-01-31")
    assert str(graph.value(ontology, OWL.versionInfo)) == "2027-01-31"


def test_two_releases_are_byte_identical(tmp_path, made):
    # the second release runs in another interpreter with a different hash seed, so that neither set order
    # nor blank node labels can make the files differ
    out = tmp_path / "again"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-m", "kg", "release", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = _tree(made.directory), _tree(out)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


def test_turtle_release_starts_with_the_ontology_header(made):
    lines = (made.directory / "acr-kg.ttl").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line and not line.startswith("@prefix")]
    assert body[0] == f"<{ONTOLOGY_IRI}> a owl:Ontology ;"
    assert lines.index(body[0]) < 20
    header = lines[lines.index(body[0]):lines.index("", lines.index(body[0]))]
    assert any("owl:versionIRI" in line for line in header) and any("owl:versionInfo" in line for line in header)


def test_release_holds_the_mappings_shapes_and_queries_as_they_are(made):
    tree = _tree(made.directory)
    assert tree["acr-kg.sssom.tsv"] == (ROOT / "ontology" / "mappings" / "acr-kg.sssom.tsv").read_bytes()
    for folder, source, pattern in (("shapes", SHAPES_DIR, "*.ttl"), ("queries", QUERIES_DIR, "**/*.rq")):
        expected = {f"{folder}/{p.relative_to(source).as_posix()}": p.read_bytes() for p in source.glob(pattern)}
        assert expected and {name: data for name, data in tree.items() if name.startswith(f"{folder}/")} == expected
    assert any(name.startswith("queries/qc/") for name in tree)
    assert set(copied_files()) | set(RELEASE_FILES) == set(tree)
    assert set(made.files) == {made.directory / name for name in tree}


def test_rdfxml_release_loads_in_an_owl_tool(made):
    world = owlready2.World()
    data = (made.directory / "acr-kg.owl").read_bytes()
    world.get_ontology(ONTOLOGY_IRI).load(fileobj=io.BytesIO(data), format="rdfxml")
    assert world[ACR + "Patient"] is not None
    assert world[ACRKB + "Population-235-7"] is not None


def test_release_replaces_a_previous_release_but_not_other_directories(tmp_path):
    out = tmp_path / "release"
    release(out)
    (out / "acr-kg.ttl").write_text("stale")
    release(out)
    assert (out / "acr-kg.ttl").read_text() != "stale"
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="notes.txt"):
        release(out)
    assert (out / "notes.txt").read_text() == "mine"
