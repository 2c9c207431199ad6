"""The ratings in the knowledge base agree, row by row, with the reference table they were read from.

The expected values are in ``tests/data/reference-ratings.csv``, re-typed from the ACR sources its header
names, so a typo in the knowledge base or a later correction of the table shows up as a failure. The
table writes categories, strengths of evidence and radiation levels as the ACR does (UA/MBA/UNA, SOE
names, the radiation symbols); they are resolved to IRIs through the notations, labels and symbols the
graph itself carries, not through a table kept here.
"""
from __future__ import annotations

import csv

import pytest

from kg.store import EmbeddedStore
from locations import ROOT

REFERENCE = ROOT / "tests" / "data" / "reference-ratings.csv"

PREFIXES = """
PREFIX acr:     <https://w3id.org/acr-kg/ontology/>
PREFIX acrkb:   <https://w3id.org/acr-kg/kb/>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX prov:    <http://www.w3.org/ns/prov#>
PREFIX rdfs:    <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos:    <http://www.w3.org/2004/02/skos/core#>
"""

ACRKB = "https://w3id.org/acr-kg/kb/"
NO_VALUE = "-"


# --- the reference ------------------------------------------------------------------------------

def read_reference() -> dict[tuple[int, int, str], dict]:
    """(topic, variant, procedure name) -> the row's values, exactly as the table writes them."""
    with REFERENCE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(line for line in f if not line.startswith("#"))
        rows: dict[tuple[int, int, str], dict] = {}
        for row in reader:
            key = (int(row["topic"]), int(row["variant"]), row["procedure"])
            assert key not in rows, f"{REFERENCE.name} lists {key} twice"
            rows[key] = {"category": row["category"], "median": int(row["median"]), "soe": row["soe"],
                         "adult": row["adult_rrl"],
                         "ped": None if row["pediatric_rrl"] == NO_VALUE else row["pediatric_rrl"],
                         "revision": row["revision"]}
    return rows


def reference_of(topic: int) -> dict[tuple[int, str], dict]:
    return {(variant, name): row for (t, variant, name), row in read_reference().items() if t == topic}


# --- the knowledge base -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store() -> EmbeddedStore:
    return EmbeddedStore()


@pytest.fixture(scope="module")
def vocab(store) -> dict[str, dict[str, str]]:
    """Notations, labels and symbols of the value sets, as the graph states them (text -> IRI)."""
    def lookup(query: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for row in store.select(PREFIXES + query):
            assert row["key"] not in found, f"two IRIs share the text {row['key']!r}"
            found[str(row["key"])] = row["iri"]
        return found

    return {
        "category": lookup("SELECT ?iri ?key WHERE { ?iri a acr:AppropriatenessCategory ; rdfs:label ?key }"),
        "notation": lookup("SELECT ?iri ?key WHERE { ?iri a acr:AppropriatenessCategory ; skos:notation ?key }"),
        "soe": lookup("SELECT ?iri ?key WHERE { ?iri a acr:StrengthOfEvidence ; rdfs:label ?key }"),
        "rrl": lookup("SELECT ?iri ?key WHERE { ?iri a acr:RelativeRadiationLevel ; acr:symbol ?key }"),
    }


RATINGS_QUERY = PREFIXES + """
SELECT ?rating ?variant ?variantNumber ?name ?category ?median ?soe ?adult ?ped ?revisionLabel WHERE {
  ?topic acr:topicId %(topic)d .
  ?variant a acr:Variant ; acr:ofTopic ?topic ; acr:variantNumber ?variantNumber .
  ?rating a acr:AppropriatenessRating ;
          acr:ratedVariant ?variant ;
          acr:ratedProcedure ?procedure ;
          acr:fromRevision ?revision ;
          acr:category ?category ;
          acr:median ?median .
  ?revision acr:isCurrentRevision true ; acr:revisionLabel ?revisionLabel .
  ?procedure acr:hasName ?procName .
  ?procName acr:fromRevision ?revision ; acr:nameText ?name .
  OPTIONAL { ?rating acr:strengthOfEvidence ?soe }
  OPTIONAL { ?rating acr:adultRRL ?adult }
  OPTIONAL { ?rating acr:pediatricRRL ?ped }
}
ORDER BY ?variantNumber ?name
"""


def _kb_ratings(store, topic: int) -> dict[tuple[int, str], dict]:
    rows = store.select(RATINGS_QUERY % {"topic": topic}).rows
    by_key: dict[tuple[int, str], dict] = {}
    for row in rows:
        key = (row["variantNumber"], row["name"])
        assert key not in by_key, f"knowledge base has two current ratings (or names) for {key}"
        by_key[key] = row
    return by_key


# --- tests --------------------------------------------------------------------------------------

def test_reference_holds_60_rows_of_topic_235_in_8_variants_and_10_of_286_v9():
    assert {topic for topic, _, _ in read_reference()} == {235, 286}
    assert len(reference_of(235)) == 60
    assert sorted({variant for variant, _ in reference_of(235)}) == list(range(1, 9))
    assert len(reference_of(286)) == 10
    assert {variant for variant, _ in reference_of(286)} == {9}


@pytest.mark.parametrize("topic, variants", [(235, set(range(1, 9))), (286, {9})])
def test_ratings_match_reference_row_by_row(store, vocab, topic, variants):
    expected = reference_of(topic)
    actual = _kb_ratings(store, topic)

    assert {v for v, _ in actual} == variants
    assert set(actual) == set(expected), (
        f"only in KB: {sorted(set(actual) - set(expected))}; only in reference: {sorted(set(expected) - set(actual))}")

    problems = []
    for key in sorted(expected):
        want, got = expected[key], actual[key]
        checks = {
            "category": (vocab["notation"].get(want["category"]), got["category"]),
            "median": (want["median"], got["median"]),
            "SOE": (vocab["soe"].get(want["soe"]), got["soe"]),
            "adult RRL": (vocab["rrl"].get(want["adult"]), got["adult"]),
            "pediatric RRL": (vocab["rrl"].get(want["ped"]) if want["ped"] else None, got["ped"]),
            "revision": (want["revision"], got["revisionLabel"]),
        }
        for what, (w, g) in checks.items():
            if w != g:
                problems.append(f"{topic} V{key[0]} {key[1]}: {what} expected {w}, KB has {g}")
        # every reference value must resolve to a graph individual (no silent None == None)
        for what, text, table in (("category", want["category"], "notation"), ("SOE", want["soe"], "soe"),
                                  ("adult RRL", want["adult"], "rrl")):
            if text not in vocab[table]:
                problems.append(f"{topic} V{key[0]} {key[1]}: reference {what} {text!r} has no individual in the graph")
        iri = f"{ACRKB}rating-{topic}-{key[0]}-"
        if not str(got["rating"]).startswith(iri):
            problems.append(f"rating IRI {got['rating']} does not follow rating-{topic}-{key[0]}-<procedure>")
    assert not problems, "\n".join(problems)


def test_breast_mri_conflict_between_235_v7_and_286_v9_is_kept(store, vocab):
    mri = "MRI breast without and with IV contrast"
    r235 = _kb_ratings(store, 235)[(7, mri)]
    r286 = _kb_ratings(store, 286)[(9, mri)]
    assert (r235["category"], r235["median"]) == (vocab["category"]["Usually not appropriate"], 3)
    assert (r286["category"], r286["median"]) == (vocab["category"]["May be appropriate"], 5)


def test_every_rating_has_source_and_provenance(store):
    missing = store.select(PREFIXES + """
        SELECT ?rating WHERE {
          ?rating a acr:AppropriatenessRating .
          FILTER (NOT EXISTS { ?rating dcterms:source ?s . ?s a acr:Source }
                  || NOT EXISTS { ?rating prov:wasGeneratedBy ?a . ?a a acr:CurationActivity })
        }""").rows
    assert not missing, f"ratings without a typed source or curation activity: {[r['rating'] for r in missing]}"
    total = store.select(PREFIXES + "SELECT (COUNT(?r) AS ?n) WHERE { ?r a acr:AppropriatenessRating }").rows
    assert total[0]["n"] >= len(read_reference())


def test_seed_ratings_of_variant_7_carry_the_seed_and_a_rationale(store):
    rows = store.select(PREFIXES + """
        SELECT ?rating WHERE {
          VALUES ?rating { acrkb:rating-235-7-us-axilla acrkb:rating-235-7-mri-breast-wo-w
                           acrkb:rating-235-7-fdg-petct-skull-base-mid-thigh }
          ?rating dcterms:source acrkb:source-seed-article ; acr:rationale ?why .
        }""").rows
    assert len({r["rating"] for r in rows}) == 3
