"""`acr-kg import`: ACR rating tables as linked data, with real engines only (pyoxigraph, pySHACL, HermiT).

The tables are synthetic (kg.kb.tables.synthetic: every anomaly planted at a known row) or our own
(ontology/kb/tables/topic-235.csv, typed from the knowledge base).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pyoxigraph as ox
import pytest

from kg import queries
from kg.errors import InputError, UsageError
from kg.kb import build
from kg.kb.quality import check
from kg.resources import files_with_kb_dir
from kg.kb.tables import OUTPUT_NAME, catalogue as catalogue_module, import_tables
from kg.kb.tables.qc import CHECKS
from kg.kb.tables.synthetic import UNMATCHED, generate
from kg.resources import kb_dir, ontology_files
from kg.store import EmbeddedStore
from kg.terminology.crosswalk import lookup
from kg.terms import ACR, ACRKB, RDF_TYPE
from locations import ROOT

DCTERMS = "http://purl.org/dc/terms/"
TABLES = ROOT / "tests" / "data" / "tables"
TOPIC_235 = ROOT / "ontology" / "kb" / "tables" / "topic-235.csv"
EDITION = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def catalogue():
    return catalogue_module.load()


@pytest.fixture(scope="module")
def table(catalogue):
    return generate(3000, catalogue, seed=7)


@pytest.fixture(scope="module")
def imported(table, tmp_path_factory):
    path = table.write_csv(tmp_path_factory.mktemp("tables") / "synthetic.csv")
    return import_tables([path], edition=EDITION)


def store_of(turtle: str) -> ox.Store:
    store = ox.Store()
    store.load(turtle.encode(), format=ox.RdfFormat.TURTLE)
    return store


def objects(store: ox.Store, subject, predicate: str) -> list:
    return [q.object for q in store.quads_for_pattern(subject, ox.NamedNode(predicate), None)]


def ratings_by_row(store: ox.Store) -> dict[int, dict]:
    """Each imported rating by the table row it cites: its variant, procedure and values."""
    found = {}
    for quad in store.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), ox.NamedNode(ACR + "AppropriatenessRating")):
        rating = quad.subject
        value = {p: [o.value for o in objects(store, rating, ACR + p)]
                 for p in ("ratedVariant", "ratedProcedure", "category", "median", "strengthOfEvidence", "adultRRL",
                           "pediatricRRL")}
        for source in objects(store, rating, DCTERMS + "source"):
            found[int(source.value.rsplit("-row-", 1)[1])] = value
    return found


# --- anomalies at their rows ---------------------------------------------------------------------

def test_every_planted_anomaly_is_found_at_its_row(table, imported):
    found = defaultdict(set)
    for f in imported.report.findings:
        found[f.check].add(f.row)
    for check, rows in table.planted.items():
        assert set(rows) <= found[check], f"{check} planted at {rows}, found at {sorted(found[check])}"


def test_clean_rows_are_not_reported(table, imported):
    planted = {row for rows in table.planted.values() for row in rows}
    # A duplicate is reported at its second row; the first is clean.
    reported = {f.row for f in imported.report.findings if f.row is not None}
    assert reported <= planted


def test_clean_rows_import_exactly(table, imported):
    by_row = ratings_by_row(store_of(imported.turtle))
    for number, want in table.expected.items():
        got = by_row[number]
        category, median, soe, adult, peds = want.values
        assert got["ratedVariant"] == [f"{ACRKB}variant-{want.topic_id}-{want.variant}"], number
        assert got["ratedProcedure"] == [want.procedure], number
        assert got["category"] == [category] and got["median"] == [str(median)], number
        assert got["strengthOfEvidence"] == [soe] and got["adultRRL"] == [adult], number
        assert got["pediatricRRL"] == ([peds] if peds else []), number


def test_rows_not_imported_are_exactly_the_broken_ones(table, imported):
    by_row = ratings_by_row(store_of(imported.turtle))
    dropped = {n for n in range(2, len(table.rows) + 2)} - set(by_row)
    assert dropped == {*table.planted["exact-duplicate"], *table.planted["conflicting-duplicate"],
                       *table.planted["unknown-category"], *table.planted["variant-without-ratings"]}


def test_cleaning_is_counted(table, imported):
    counts = imported.report.by_check()
    assert counts["link-text"] == 2 and counts["title-junk"] == 1 and counts["multi-panel-topic"] == 1
    assert counts["exact-duplicate"] == 1 and counts["conflicting-duplicate"] == 1


def test_a_topic_under_two_panels_is_one_topic_with_two_panel_links(table, imported):
    store = store_of(imported.turtle)
    row = table.rows[table.planted["multi-panel-topic"][0] - 2]
    topic = ox.NamedNode(f"{ACRKB}topic-{row[1]}")
    assert len(objects(store, topic, ACR + "inPanel")) == 2
    assert len(objects(store, topic, ACR + "topicId")) == 1


def test_the_unmatched_procedure_is_a_new_procedure_with_its_name_in_the_revision(imported):
    store = store_of(imported.turtle)
    procedure = ox.NamedNode(ACRKB + "proc-synthetic-examination-of-the-left-elbow")
    assert [o.value for o in objects(store, procedure, "http://www.w3.org/2000/01/rdf-schema#label")] == [UNMATCHED]
    (name,) = objects(store, procedure, ACR + "hasName")
    assert [o.value for o in objects(store, name, ACR + "nameText")] == [UNMATCHED]
    assert objects(store, name, ACR + "fromRevision")


def test_every_fact_cites_its_row_and_the_row_its_table(table, imported):
    store = store_of(imported.turtle)
    sources = {q.object for q in store.quads_for_pattern(None, ox.NamedNode(DCTERMS + "source"), None)}
    tables = {o for s in sources for o in objects(store, s, DCTERMS + "isPartOf")}
    assert len(tables) == 1 and all(objects(store, s, DCTERMS + "title") for s in sources)
    (source_table,) = tables
    assert [o.value for o in objects(store, source_table, DCTERMS + "issued")] == [EDITION.isoformat()]
    assert "redistribution needs its permission" in objects(store, source_table, DCTERMS + "rights")[0].value
    for variant in store.quads_for_pattern(None, ox.NamedNode(RDF_TYPE), ox.NamedNode(ACR + "Variant")):
        assert objects(store, variant.subject, ACR + "applicability") == [ox.NamedNode(ACR + "NotMachineCheckable")]


# --- formats, headers, values ----------------------------------------------------------------------

def test_xlsx_and_tsv_read_like_csv(catalogue, tmp_path):
    small = generate(400, catalogue, seed=3)
    answers = []
    for path in (small.write_csv(tmp_path / "t.csv"), small.write_csv(tmp_path / "t.tsv", delimiter="\t"),
                 small.write_xlsx(tmp_path / "t.xlsx")):
        result = import_tables([path], edition=EDITION)
        answers.append((ratings_by_row(store_of(result.turtle)),
                        sorted((f.check, f.row, f.column) for f in result.report.findings)))
    assert answers[0] == answers[1] == answers[2]


def test_headers_match_without_case_spaces_or_underscores_and_acr_strings_parse():
    result = import_tables([TABLES / "odd-headers.tsv"], edition=EDITION)
    assert {f.check for f in result.report.findings} == {"link-text", "title-junk", "unmatched-procedure"}
    by_row = ratings_by_row(store_of(result.turtle))
    assert by_row[2]["strengthOfEvidence"] == [ACR + "ModerateEvidence"]
    assert by_row[3]["adultRRL"] == [ACR + "RRL4"] and by_row[3]["pediatricRRL"] == [ACR + "RRL4"]
    assert by_row[4]["category"] == [ACR + "MayBeAppropriateDisagreement"] and by_row[4]["adultRRL"] == [ACR + "RRL1"]
    assert by_row[5]["category"] == [ACR + "MayBeAppropriate"] and by_row[5]["adultRRL"] == [ACR + "RRLVaries"]
    # "US AXILLA" is the catalogue's "US axilla": the same examination, one procedure.
    assert by_row[2]["ratedProcedure"] == by_row[5]["ratedProcedure"] == [ACRKB + "proc-us-axilla"]
    store = store_of(result.turtle)
    labels = objects(store, ox.NamedNode(ACRKB + "topic-9500"), "http://www.w3.org/2000/01/rdf-schema#label")
    assert [o.value for o in labels] == ["Synthetic topic with odd headers"]


def test_a_workbook_passes_over_notes_sheets_and_names_the_sheet(catalogue, tmp_path):
    import openpyxl

    small = generate(200, catalogue, seed=5)
    path = small.write_xlsx(tmp_path / "book.xlsx", sheet="Topic tables")
    workbook = openpyxl.load_workbook(path)
    notes = workbook.create_sheet("Notes", 0)
    notes.append(["Exported by hand; see the other sheet."])
    workbook.save(path)
    result = import_tables([path], edition=EDITION)
    (band,) = [f for f in result.report.findings if f.check == "median-outside-band"]
    assert band.sheet == "Topic tables" and band.where.startswith(f"{path}[Topic tables]:{band.row}, column 'Median'")
    assert band.row == small.planted["median-outside-band"][0]
    assert "-topic-tables-row-" in result.turtle


@pytest.mark.parametrize("text, pediatric, level, problem", [
    ("☢☢☢ 1-10 mSv", False, "RRL3", False),
    ("O 0 mSv", False, "RRL0", False),
    ("☢☢ 0.03-0.3 mSv [ped]", True, "RRL2", False),
    ("☢ <0.1 mSv", False, "RRL1", False),
    ("Varies", False, "RRLVaries", False),
    ("☢☢☢", False, "RRL3", False),
    ("☢☢☢ 0.3-3 mSv", False, "RRL3", True),
    ("Other", False, None, False),
    ("☢☢☢☢☢☢", False, None, False),
])
def test_radiation_strings(catalogue, text, pediatric, level, problem):
    found, issue = catalogue.level(text, pediatric=pediatric)
    assert (found.iri if found else None) == (ACR + level if level else None)
    assert bool(issue) == problem


@pytest.mark.parametrize("content, message", [
    ("Panel,Topic ID,Variant,Appropriateness Category\n", r"lacks the column\(s\) 'Procedure'"),
    ("Panel,Topic,Variant,Procedure,Appropriateness Category,Appropriateness_Category\n", "both give the category"),
])
def test_a_bad_header_names_file_row_and_columns(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as error:
        import_tables([path])
    assert str(error.value).startswith(f"{path}:1: ")


def test_unreadable_files_are_clear_errors(tmp_path):
    (tmp_path / "t.xlsx").write_bytes(b"not a zip")
    (tmp_path / "t.csv").write_bytes("Panel,Topic,Variant,Procedure,Appropriateness Category\n\xe9".encode("latin-1"))
    (tmp_path / "t.ods").write_text("")
    for name, message in (("t.xlsx", "not a readable XLSX"), ("t.csv", "not UTF-8"), ("t.ods", "unknown table format"),
                          ("missing.csv", "No such file")):
        with pytest.raises(InputError, match=message):
            import_tables([tmp_path / name])


def test_the_projects_own_kb_is_not_an_output(tmp_path):
    with pytest.raises(UsageError, match="acr-kg build"):
        import_tables([TOPIC_235], out=kb_dir())


# --- the curated topic 235 -----------------------------------------------------------------------

def test_the_topic_235_table_reproduces_the_60_ratings_exactly():
    result = import_tables([TOPIC_235], catalogue_files=build.source_files())
    assert result.report.passed and result.report.counts["ratings"] == 60
    generated = {(str(q.subject), str(q.predicate), str(q.object)) for q in store_of(result.turtle)}
    kb = ox.Store()
    for path in ontology_files():
        kb.load(path=str(path), format=ox.RdfFormat.TURTLE)
    subjects = {s for s, _, _ in generated}
    in_kb = {(str(q.subject), str(q.predicate), str(q.object)) for q in kb if str(q.subject) in subjects}
    assert generated <= in_kb
    # Beside the generated ratings, only what people write: the rationales.
    assert {p for _, p, _ in in_kb - generated} == {f"<{ACR}rationale>"}


def test_a_table_row_that_disagrees_with_the_knowledge_base_is_reported_not_written(tmp_path):
    lines = TOPIC_235.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",Usually appropriate,Strong,", ",Usually appropriate,Moderate,")
    path = tmp_path / "topic-235-changed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_tables([path], edition=EDITION)
    assert [(f.check, f.row) for f in result.report.findings if f.level != "INFO"] == [
        ("differs-from-knowledge-base", 2)]
    assert result.report.counts["ratings"] == 0


# --- the imported knowledge base in use -----------------------------------------------------------

@pytest.fixture(scope="module")
def kb_with_tables(catalogue, tmp_path_factory):
    where = tmp_path_factory.mktemp("import")
    path = generate(250, catalogue, seed=11, anomalies=False).write_csv(where / "synthetic.csv")
    import_tables([path], out=where / "kb", edition=EDITION)
    return where / "kb"


def test_the_output_directory_is_a_whole_knowledge_base(kb_with_tables):
    assert (kb_with_tables / OUTPUT_NAME).exists()
    assert {p.name for p in kb_dir().glob("*.ttl")} <= {p.name for p in kb_with_tables.glob("*.ttl")}


def test_check_runs_the_shapes_and_qc_on_the_imported_kb(kb_with_tables):
    report = check(files_with_kb_dir(kb_with_tables))
    assert report.consistency.consistent
    imported = {f"{ACRKB}variant-{t}-{n}" for t in range(9001, 9100) for n in range(1, 7)}
    # The only errors allowed: imported variants have no applicability criteria (they are marked
    # acr:NotMachineCheckable instead), until the shapes exempt them.
    for finding in report.errors:
        assert finding.check == "shacl:VariantShape/MinCount" and finding.entity in imported, finding


def test_imported_variants_are_listed_and_the_crosswalk_covers_them(kb_with_tables):
    store = EmbeddedStore(files_with_kb_dir(kb_with_tables))
    listed = store.select(queries.get("imported-variants").text)
    assert listed.rows and all(r["topicId"] >= 9001 and r["table"] for r in listed)
    assert not any(r["topicId"] == 235 for r in listed)
    answer = lookup("LOINC:80852-7", backend=store)
    topics = {r.topic for c in answer.concepts for r in c.ratings}
    assert 235 in topics and any(t >= 9001 for t in topics)


def test_indications_of_a_procedure_cover_every_topic(kb_with_tables):
    store = EmbeddedStore(files_with_kb_dir(kb_with_tables))
    query = queries.get("indications")
    rows = store.select(query.text, query.coerce({"procedure": ACRKB + "proc-us-axilla"})).rows
    kinds = {(r["topicId"] == 235, r["checkable"]) for r in rows}
    assert (True, "criteria") in kinds and (False, "words only") in kinds
    assert all(r["median"] >= 7 for r in rows)


def test_cli_import_prints_the_report_and_exits_1_on_an_error(cli, table, tmp_path):
    path = table.write_csv(tmp_path / "synthetic.csv")
    result = cli("import", path, "--out", tmp_path / "kb", "--edition", "2025-06-01", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["passed"] and report["by_check"]["median-outside-band"] == 1
    assert (tmp_path / "kb" / OUTPUT_NAME).exists()
    result = cli("import", TOPIC_235, "--out", tmp_path / "kb235")
    assert result.exit_code == 0 and "0 ERROR" in result.stdout


def test_the_readme_documents_every_check():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Importing ACR tables", 1)[1]
    assert all(f"`{name}`" in section for name in CHECKS), [n for n in CHECKS if f"`{n}`" not in section]
