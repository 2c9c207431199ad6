"""The ratings in the knowledge base agree, row by row, with the reference table they were read from.

The expected values are parsed from ``shared/reference/acr-criteria.md`` (outside the repository) at
test time, not copied into this file, so a typo in the knowledge base or a later correction of the
reference shows up as a failure. Abbreviations and symbols of the reference (UA/MBA/UNA, SOE names,
the radiation symbols) are resolved to IRIs through the labels, notations and symbols the graph itself
carries, not through a table kept here.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

from kg.store import EmbeddedStore

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "acr-criteria.md"

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

@lru_cache(maxsize=1)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def read_reference() -> str:
    """The reference text; a missing file fails the calling test (it is never skipped)."""
    if not REFERENCE.is_file():
        pytest.fail(f"reference table not found at {REFERENCE}: the rating tests need it", pytrace=False)
    return _read(REFERENCE)


def _section(text: str, heading_prefix: str) -> str:
    """The body of the level-2 section whose heading starts with ``heading_prefix``."""
    match = re.search(rf"^## {re.escape(heading_prefix)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if match is None:
        pytest.fail(f"section '## {heading_prefix}...' not found in {REFERENCE}", pytrace=False)
    return match.group(1)


def _category_legend(text: str) -> dict[str, str]:
    """Abbreviation -> category name, from the legend line ('UA = Usually appropriate, ...')."""
    legend = dict(re.findall(r"\b([A-Z]{2,4}) = ([A-Za-z ]+?)\s*[,.]", text))
    if not {"UA", "MBA", "UNA"} <= set(legend):
        pytest.fail(f"category legend not understood: {legend}", pytrace=False)
    return legend


def _entries(block: str) -> list[str]:
    flat = " ".join(block.replace("**", "").split())
    return [e.strip().rstrip(".").strip() for e in flat.split(";") if e.strip().rstrip(".").strip()]


def parse_topic_235(text: str) -> dict[tuple[int, str], dict]:
    """(variant number, procedure name) -> the row's values, exactly as the reference writes them."""
    legend = _category_legend(text)
    section = _section(text, "Topic 235")
    cats = "|".join(sorted(legend, key=len, reverse=True))
    entry = re.compile(
        rf"^(?P<name>.+?)\s+(?P<cat>{cats})\s+(?P<median>\d)\s+(?P<soe>.+?)\s+"
        r"(?P<adult>O|☢+|Varies)\s+(?P<ped>O|☢+|Varies|-)$")
    rows: dict[tuple[int, str], dict] = {}
    blocks = re.findall(r"^\*\*V(\d+)\*\*[^:\n]*:(.*?)(?=\n\*\*V\d|\n[ \t]*\n|\Z)", section, re.M | re.S)
    if not blocks:
        pytest.fail("no '**Vn**:' rating blocks found in the topic 235 section", pytrace=False)
    for number, block in blocks:
        for item in _entries(block):
            m = entry.match(item)
            if m is None:
                pytest.fail(f"V{number}: cannot parse rating entry {item!r}", pytrace=False)
            key = (int(number), m["name"])
            assert key not in rows, f"reference lists {key} twice"
            rows[key] = {"category": legend[m["cat"]], "median": int(m["median"]), "soe": m["soe"],
                         "adult": m["adult"], "ped": None if m["ped"] == NO_VALUE else m["ped"]}
    totals = re.search(r"Totals:\s*(\d+) variants,\s*(\d+) rated rows", section)
    if totals:
        assert len({v for v, _ in rows}) == int(totals[1]), "parsed variant count differs from the stated total"
        assert len(rows) == int(totals[2]), "parsed row count differs from the stated total"
    return rows


def parse_topic_286_v9(text: str) -> dict[str, dict]:
    """Procedure name -> category name and median for topic 286 variant 9."""
    legend = _category_legend(text)
    section = _section(text, "A neighbouring topic")
    cats = "|".join(sorted(legend, key=len, reverse=True))
    entry = re.compile(rf"^(?P<name>.+?)\s+(?P<cat>{cats})\s+(?P<median>\d)$")
    rows: dict[str, dict] = {}
    for line in section.splitlines():
        items = _entries(line)
        if items and all(entry.match(i) for i in items):
            for item in items:
                m = entry.match(item)
                rows[m["name"]] = {"category": legend[m["cat"]], "median": int(m["median"])}
    if not rows:
        pytest.fail("no ratings of topic 286 variant 9 found in the reference", pytrace=False)
    return rows


# --- the knowledge base -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store() -> EmbeddedStore:
    return EmbeddedStore()


@pytest.fixture(scope="module")
def vocab(store) -> dict[str, dict[str, str]]:
    """Labels and symbols of the value sets, as the graph states them (text -> IRI)."""
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
SELECT ?rating ?variant ?variantNumber ?name ?category ?median ?soe ?adult ?ped WHERE {
  ?topic acr:topicId %(topic)d .
  ?variant a acr:Variant ; acr:ofTopic ?topic ; acr:variantNumber ?variantNumber .
  ?rating a acr:AppropriatenessRating ;
          acr:ratedVariant ?variant ;
          acr:ratedProcedure ?procedure ;
          acr:fromRevision ?revision ;
          acr:category ?category ;
          acr:median ?median .
  ?revision acr:isCurrentRevision true .
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

def test_reference_parses_to_60_rows_in_8_variants():
    rows = parse_topic_235(read_reference())
    assert len(rows) == 60
    assert sorted({v for v, _ in rows}) == list(range(1, 9))


def test_topic_235_ratings_match_reference_row_by_row(store, vocab):
    expected = parse_topic_235(read_reference())
    actual = _kb_ratings(store, 235)

    assert len(actual) == 60, f"expected 60 current ratings of topic 235, found {len(actual)}"
    assert len({v for v, _ in actual}) == 8
    assert sorted({v for v, _ in actual}) == list(range(1, 9))
    assert set(actual) == set(expected), (
        f"only in KB: {sorted(set(actual) - set(expected))}; only in reference: {sorted(set(expected) - set(actual))}")

    problems = []
    for key in sorted(expected):
        want, got = expected[key], actual[key]
        checks = {
            "category": (vocab["category"].get(want["category"]), got["category"]),
            "median": (want["median"], got["median"]),
            "SOE": (vocab["soe"].get(want["soe"]), got["soe"]),
            "adult RRL": (vocab["rrl"].get(want["adult"]), got["adult"]),
            "pediatric RRL": (vocab["rrl"].get(want["ped"]) if want["ped"] else None, got["ped"]),
        }
        for what, (w, g) in checks.items():
            if w != g:
                problems.append(f"235 V{key[0]} {key[1]}: {what} expected {w}, KB has {g}")
        # every reference value must resolve to a graph individual (no silent None == None)
        for what, text, table in (("category", want["category"], "category"), ("SOE", want["soe"], "soe"),
                                  ("adult RRL", want["adult"], "rrl")):
            if text not in vocab[table]:
                problems.append(f"235 V{key[0]} {key[1]}: reference {what} {text!r} has no individual in the graph")
        iri = f"{ACRKB}rating-235-{key[0]}-"
        if not str(got["rating"]).startswith(iri):
            problems.append(f"rating IRI {got['rating']} does not follow rating-235-{key[0]}-<procedure>")
    assert not problems, "\n".join(problems)


def test_category_abbreviations_agree_with_graph_notations(vocab):
    legend = _category_legend(read_reference())
    for abbreviation, name in legend.items():
        assert vocab["notation"].get(abbreviation) == vocab["category"].get(name), (
            f"{abbreviation} = {name!r} in the reference, but the graph disagrees")


def test_topic_286_variant_9_ratings_match_reference(store, vocab):
    expected = parse_topic_286_v9(read_reference())
    assert len(expected) == 5
    actual = {name: row for (variant, name), row in _kb_ratings(store, 286).items() if variant == 9}
    assert set(actual) == set(expected)
    for name, want in expected.items():
        got = actual[name]
        assert got["category"] == vocab["category"][want["category"]], name
        assert got["median"] == want["median"], name
        # the reference gives no SOE or radiation levels for these rows: none may be invented
        assert got["soe"] is None and got["adult"] is None and got["ped"] is None, name


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
    assert total[0]["n"] >= 65


def test_seed_ratings_of_variant_7_carry_the_seed_and_a_rationale(store):
    rows = store.select(PREFIXES + """
        SELECT ?rating WHERE {
          VALUES ?rating { acrkb:rating-235-7-us-axilla acrkb:rating-235-7-mri-breast-wo-w
                           acrkb:rating-235-7-fdg-petct-skull-base-mid-thigh }
          ?rating dcterms:source acrkb:source-seed-article ; acr:rationale ?why .
        }""").rows
    assert len({r["rating"] for r in rows}) == 3
