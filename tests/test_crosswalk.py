"""`acr-kg map` and the named queries that read the SKOS mappings from the knowledge base."""
from __future__ import annotations

import json

import pytest

from kg import queries
from kg.terminology.crosswalk import lookup
from kg.store import IRI, EmbeddedStore
from kg.store.reference import RdflibStore

ACR = "https://w3id.org/acr-kg/ontology/"
ACRKB = "https://w3id.org/acr-kg/kb/"


@pytest.fixture(scope="module")
def store():
    return EmbeddedStore()


def map_json(cli, *args) -> dict:
    result = cli("map", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_loinc_us_axilla_brings_its_topic_235_ratings(cli, store):
    answer = map_json(cli, "LOINC:80852-7")
    assert answer["kind"] == "code" and answer["iri"] == "https://loinc.org/rdf/80852-7"
    [concept] = answer["concepts"]
    assert concept["iri"] == ACRKB + "proc-us-axilla" and concept["label"] == "US axilla"
    [link] = answer["links"]
    assert link["predicate"] == "skos:exactMatch" and link["confidence"] == pytest.approx(0.8)
    # the same ratings as the knowledge base holds, read here by a query of the test's own
    expected = store.select("""
        PREFIX acr: <https://w3id.org/acr-kg/ontology/>
        SELECT ?variantNumber ?median WHERE {
          ?r acr:ratedProcedure $procedure ; acr:ratedVariant ?v ; acr:median ?median .
          ?v acr:ofTopic/acr:topicId 235 ; acr:variantNumber ?variantNumber }""", {"procedure": IRI(ACRKB + "proc-us-axilla")})
    got = {(r["variant"], r["median"]) for r in concept["ratings"] if r["topic"] == 235}
    assert got == {(r["variantNumber"], r["median"]) for r in expected} and len(got) >= 4
    seed = next(r for r in concept["ratings"] if (r["topic"], r["variant"]) == (235, 7))
    assert (seed["category"], seed["median"]) == (ACR + "UsuallyAppropriate", 8)


def test_text_answer_names_concept_predicate_confidence_and_ratings(cli):
    result = cli("map", "LOINC:80852-7")
    assert result.exit_code == 0
    out = result.stdout
    assert 'acrkb:proc-us-axilla skos:exactMatch LOINC:80852-7 "US Axilla" (same meaning, confidence 0.80)' in out
    assert "topic 235 variant 7: Usually appropriate, median 8" in out


@pytest.mark.parametrize("query, concept", [
    ("SNOMED:1229973008", "cN1"),
    ("SNOMED:1229966003", "cNX"),  # the code a wrong draft IG gives to cN1
    ("snomed:1229967007", "cN0"),  # prefixes are matched without regard to case
    ("<http://snomed.info/id/1229973008>", "cN1"),
])
def test_ajcc_codes_resolve_to_our_n_categories(cli, query, concept):
    answer = map_json(cli, query)
    assert [c["iri"] for c in answer["concepts"]] == [ACR + concept]


@pytest.mark.parametrize("query", ["RPID572", "rpid572", "RPID:RPID572", "RPID:572",
                                   "http://playbook.radlex.org/playbook/SearchRadlexAction?id=RPID572"])
def test_playbook_id_in_any_spelling(cli, query):
    answer = map_json(cli, query)
    assert answer["curie"] == "RPID:RPID572"
    assert [c["iri"] for c in answer["concepts"]] == [ACRKB + "proc-mri-breast-wo-w"]


def test_c77_3_is_a_close_match_of_node_positive(cli):
    answer = map_json(cli, "ICD10CM:C77.3")
    links = {(link["subject_curie"], link["predicate"]) for link in answer["links"]}
    assert ("acr:NodePositive", "skos:closeMatch") in links
    assert answer["concepts"][0]["iri"] == ACR + "NodePositive"  # the close match ranks before broad ones


def test_concept_lists_its_codes_and_the_searches_that_found_none(cli):
    answer = map_json(cli, "acrkb:proc-us-axilla")
    assert answer["kind"] == "concept"
    links = {(link["terminology"], link["predicate"], link["object_curie"]) for link in answer["links"]}
    assert ("LOINC", "skos:exactMatch", "LOINC:80852-7") in links
    assert ("RadLex Playbook", "skos:closeMatch", "RPID:RPID1933") in links
    assert ("SNOMED CT", "skos:exactMatch", None) in links  # sssom:NoTermFound
    assert answer["concepts"][0]["ratings"]


def test_concept_without_code_in_any_terminology(cli):
    result = cli("map", "acr:UsuallyAppropriate")
    assert result.exit_code == 0
    assert "any terminology: no code found" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("LOINC:99999-9",), "not in the mapping set"),
    (("FOO:123",), "unknown prefix 'FOO'"),
    (("SNOMED:abc",), "not a well-formed SNOMED CT code"),
    (("80852-7",), "neither a CURIE"),
    (("acrkb:proc-no-such",), "neither declared in the ontology"),
])
def test_unknown_or_malformed_input_exits_2(cli, args, message):
    result = cli("map", *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


def test_library_answer_matches_the_cli_on_both_engines(cli):
    expected = lookup("LOINC:36277-2").to_dict()
    assert expected == json.loads(cli("map", "LOINC:36277-2", "--format", "json").stdout)
    assert expected == json.loads(cli("map", "LOINC:36277-2", "--format", "json", "--backend", "rdflib").stdout)


# --- named queries over the SKOS triples ---------------------------------------------------------

def test_procedure_codes_query(store):
    query = queries.get("procedure-codes")
    assert query.params == () and query.description.startswith("Every rating")
    rows = store.select(query.text).rows
    axilla = {(r["terminology"], r["code"], r["match"]) for r in rows
              if r["procedure"] == ACRKB + "proc-us-axilla" and (r["topicId"], r["variantNumber"]) == (235, 7)}
    assert axilla == {("LOINC", "80852-7", "exact"), ("LOINC", "72528-3", "narrow"), ("LOINC", "72529-1", "narrow"),
                      ("RadLex Playbook", "RPID1933", "close")}
    uncoded = [r for r in rows if r["procedure"] == ACRKB + "proc-bone-scan-whole-body"]
    assert uncoded and all(r["code"] is None for r in uncoded)


def test_concept_codes_query(store):
    rows = store.select(queries.get("concept-codes").text).rows
    cn1 = {(r["terminology"], r["match"], r["code"]) for r in rows if r["concept"] == ACR + "cN1"}
    assert ("SNOMED CT", "exact", "1229973008") in cn1 and all(code != "1229966003" for _, _, code in cn1)
    mri = {(r["terminology"], r["match"], r["code"]) for r in rows if r["concept"] == ACRKB + "proc-mri-breast-wo-w"}
    assert ("LOINC", "exact", "36277-2") in mri and ("SNOMED CT", "broad", "241615005") in mri


@pytest.mark.parametrize("name", ["procedure-codes", "concept-codes"])
def test_named_queries_agree_on_rdflib(store, name):
    text = queries.get(name).text
    assert store.select(text).rows == RdflibStore().select(text).rows
