"""`acr-kg release`: three serialisations of one merged ontology, written all or nothing."""
from __future__ import annotations

import io

import owlready2
import pytest
import rdflib
from click.testing import CliRunner

from kg.cli import main
from kg.errors import UsageError
from kg.terms import ACR, ACRKB, ONTOLOGY_IRI
from kg.kb.release import RELEASE_FILES, merged_ontology, release

OWL = rdflib.OWL


@pytest.fixture(scope="module")
def merged():
    return merged_ontology()


def test_release_writes_three_files_with_the_same_triples(tmp_path, merged):
    out = tmp_path / "release"
    result = CliRunner().invoke(main, ["release", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(RELEASE_FILES)
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


def test_rdfxml_release_loads_in_an_owl_tool(tmp_path):
    made = release(tmp_path / "release")
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
