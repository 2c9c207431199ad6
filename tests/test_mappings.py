"""The SSSOM mapping set: valid SSSOM, clean under our QC, limited to verified codes, and the one source of
the generated SKOS file."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rdflib

from kg.terminology import mappings
from kg.terminology.mappings import MAPPINGS_FILE, code_index, load, mappings_turtle, qc, typed_entities
from locations import KB_DIR, ROOT
from kg.terms import ACR, ACRKB
from kg.store import EmbeddedStore

VERIFIED_CODES = ROOT / "tests" / "data" / "verified-codes.tsv"
SKOS = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
SNOMED = "http://snomed.info/id/"


@pytest.fixture(scope="module")
def mapping_set():
    return load()


@pytest.fixture(scope="module")
def declared():
    return typed_entities()


def rows(mapping_set, subject=None, obj=None):
    return [m for m in mapping_set.mappings
            if (subject is None or m.subject_id == subject) and (obj is None or m.object_id == obj)]


def _sssom(*args) -> subprocess.CompletedProcess:
    """The sssom-py command line of the running interpreter's environment."""
    return subprocess.run([str(Path(sys.executable).parent / "sssom"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


# --- SSSOM validity and metadata ------------------------------------------------------------------

def test_mapping_set_passes_sssom_validate():
    result = _sssom("validate", MAPPINGS_FILE)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr


def test_sssom_validate_rejects_an_undeclared_prefix(tmp_path):
    broken = tmp_path / "broken.sssom.tsv"
    broken.write_text(MAPPINGS_FILE.read_text().replace("LOINC:80852-7", "LONC:80852-7"))
    assert _sssom("validate", broken).returncode != 0


def test_metadata_and_curie_map(mapping_set):
    meta = mapping_set.metadata
    assert meta["mapping_set_id"] == "https://w3id.org/acr-kg/mappings/acr-kg.sssom.tsv"
    assert meta["mapping_set_version"] and meta["license"] and meta["mapping_set_description"]
    assert mapping_set.curie_map | {
        "acr": ACR, "acrkb": ACRKB,
        "SNOMED": "http://snomed.info/id/",  # not Bioregistry's default BioPortal PURL
        "LOINC": "https://loinc.org/rdf/",
        "RADLEX": "https://radlex.org/RID/",
        "NCIT": "http://purl.obolibrary.org/obo/NCIT_",
        "ICD10CM": "http://purl.bioontology.org/ontology/ICD10CM/",
        "UMLS": "https://uts.nlm.nih.gov/uts/umls/concept/",
        "DCM": "http://dicom.nema.org/resources/ontology/DCM/",
    } == mapping_set.curie_map
    assert {"RPID", "skos", "semapv", "sssom"} <= set(mapping_set.curie_map)
    for notice in ("SNOMED International", "Regenstrief", "RSNA", "CC BY 4.0", "public domain", "lookup URL"):
        assert notice in meta["comment"]


def test_only_free_set_snomed_codes_carry_labels(mapping_set):
    """SNOMED CT labels are licensed content: only IPS free-set codes, listed in the notice, have one."""
    free_set = set(re.search(r"published with their labels[^:]*: ([\d, ]+)\.", mapping_set.metadata["comment"])
                   .group(1).replace(" ", "").split(","))
    labelled = {m.object_id.split(":")[1] for m in mapping_set.mappings
                if m.object_id.startswith("SNOMED:") and m.object_label}
    assert labelled and labelled <= free_set


def _verified_codes() -> dict[tuple[str, str], str]:
    """(terminology name, code) -> tag (A, S or T) of every code the project has seen at a source."""
    with VERIFIED_CODES.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    codes = {(row["terminology"], row["code"]): row["tag"] for row in rows}
    assert len(codes) == len(rows), f"{VERIFIED_CODES.name} lists a code twice"
    assert set(codes.values()) <= {"A", "S", "T"}
    return codes


def test_every_code_is_a_verified_code(mapping_set):
    """No invented code: each object code is listed, in its terminology, in tests/data/verified-codes.tsv."""
    verified = _verified_codes()
    missing = [m.object_id for m in mapping_set.mappings if not m.no_term_found
               and (mapping_set.terminology(m).name, m.object_id.split(":", 1)[1]) not in verified]
    assert missing == []


def test_codes_seen_only_on_third_party_pages_are_never_exact_matches(mapping_set):
    verified = _verified_codes()
    exact = [m.object_id for m in mapping_set.mappings if not m.no_term_found and m.predicate_id == "skos:exactMatch"
             and verified.get((mapping_set.terminology(m).name, m.object_id.split(":", 1)[1])) == "T"]
    assert exact == []


def test_every_row_is_a_manual_curation_with_a_comment(mapping_set):
    for m in mapping_set.mappings:
        assert m.mapping_justification == "semapv:ManualMappingCuration", m.line
        assert m.comment, m.line
        assert m.no_term_found or m.confidence is not None, m.line


# --- our quality checks -----------------------------------------------------------------------------

def test_shipped_mapping_set_passes_qc(mapping_set, declared):
    assert qc(mapping_set, declared) == []


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


FAULTS = {
    "unknown prefix": (lambda t: t.replace("LOINC:80852-7", "LONC:80852-7"), "LONC:80852-7", "prefix 'LONC'"),
    "malformed code": (lambda t: t.replace("SNOMED:1229973008", "SNOMED:12299X3008"), "SNOMED:12299X3008",
                       "not a well-formed SNOMED CT code"),
    "subject not in the ontology": (lambda t: t.replace("acrkb:proc-us-axilla\tUS axilla\tskos:exactMatch\tLOINC",
                                                        "acrkb:proc-us-axila\tUS axilla\tskos:exactMatch\tLOINC"),
                                    "acrkb:proc-us-axila", "not declared in the ontology"),
    # the shifted code of a wrong draft IG: cN1 would then have two exact SNOMED CT codes
    "two exact matches into one terminology": (
        lambda t: t + "acr:cN1\tcN1\tskos:exactMatch\tSNOMED:1229966003\t\tsemapv:ManualMappingCuration\t\t0.95\tbad\n",
        "acr:cN1\tcN1\tskos:exactMatch\tSNOMED:1229966003", "already has an exact match in SNOMED CT"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_qc_flags_each_fault_in_a_broken_copy(fault, tmp_path, declared):
    break_it, needle, message = FAULTS[fault]
    text = break_it(MAPPINGS_FILE.read_text(encoding="utf-8"))
    broken = tmp_path / "broken.sssom.tsv"
    broken.write_text(text, encoding="utf-8")
    findings = qc(load(broken), declared)
    assert [(f.level, f.row) for f in findings] == [("ERROR", _line_of(text, needle))]
    assert message in findings[0].message


def test_qc_warns_on_an_exact_match_that_rests_on_a_guess(tmp_path, declared):
    text = MAPPINGS_FILE.read_text(encoding="utf-8").replace(
        "acr:ReceptorPositive\tpositive\tskos:narrowMatch\tICD10CM:Z17.0", "acr:ReceptorPositive\tpositive\tskos:exactMatch\tICD10CM:Z17.0")
    broken = tmp_path / "broken.sssom.tsv"
    broken.write_text(text, encoding="utf-8")
    assert [f.level for f in qc(load(broken), declared)] == ["WARN"]


# --- the mappings that matter most ------------------------------------------------------------------

def test_cn1_is_1229973008_and_not_the_cnx_code(mapping_set):
    cn1 = {(m.predicate_id, m.object_id) for m in rows(mapping_set, subject="acr:cN1")}
    assert ("skos:exactMatch", "SNOMED:1229973008") in cn1
    assert not any(obj == "SNOMED:1229966003" for _, obj in cn1)
    assert [m.subject_id for m in rows(mapping_set, obj="SNOMED:1229966003")] == ["acr:cNX"]
    index = code_index(mapping_set)
    assert index[SNOMED + "1229973008"] == [ACR + "cN1"]
    assert index[SNOMED + "1229966003"] == [ACR + "cNX"]


def test_c77_3_is_a_close_match_to_node_positive_never_exact(mapping_set):
    c773 = rows(mapping_set, obj="ICD10CM:C77.3")
    assert ("acr:NodePositive", "skos:closeMatch") in {(m.subject_id, m.predicate_id) for m in c773}
    assert all(m.predicate_id != "skos:exactMatch" for m in c773)
    assert {m.object_label for m in c773} == {
        "Secondary and unspecified malignant neoplasm of axilla and upper limb lymph nodes"}


def test_breast_mri_codes(mapping_set):
    mri = {(m.predicate_id, m.object_id) for m in rows(mapping_set, subject="acrkb:proc-mri-breast-wo-w")}
    assert ("skos:exactMatch", "LOINC:36277-2") in mri
    assert ("skos:exactMatch", "RPID:RPID572") in mri
    assert ("skos:broadMatch", "SNOMED:241615005") in mri  # "MRI of breast" is broader


def test_name_match_only_playbook_code_is_a_low_confidence_close_match(mapping_set):
    [rpid1933] = rows(mapping_set, obj="RPID:RPID1933")
    assert rpid1933.predicate_id == "skos:closeMatch" and rpid1933.confidence < 0.5


def test_concepts_without_codes_are_recorded(mapping_set):
    def searched(subject):
        return {mapping_set.terminology(m).name if mapping_set.terminology(m) else "all"
                for m in rows(mapping_set, subject=subject) if m.no_term_found}
    assert searched("acrkb:proc-us-fna-axillary-node") == {"LOINC", "SNOMED CT"}
    assert searched("acrkb:step-slnb-tad") == {"all"}
    assert searched("acr:UsuallyAppropriate") == {"all"}
    assert searched("acr:RRL3") == {"all"}


def test_code_index_prefers_exact_matches_and_the_patient_vocabulary(mapping_set):
    index = code_index(mapping_set)
    assert index[SNOMED + "91470000"][0] == ACR + "Axilla"  # then acrkb:region-axilla
    assert index["https://loinc.org/rdf/80852-7"] == [ACRKB + "proc-us-axilla"]
    assert SNOMED + "241615005" not in index  # broader than any concept of ours
    # a more specific code reads as our broader concept
    assert index["http://purl.bioontology.org/ontology/ICD10CM/C50.912"] == [ACR + "BreastCancer"]
    assert "https://w3id.org/sssom/NoTermFound" not in index


# --- the generated SKOS file ------------------------------------------------------------------------

def test_generated_mappings_ttl_is_the_render_of_the_sssom_file():
    assert (KB_DIR / "mappings.ttl").read_text(encoding="utf-8") == mappings_turtle()


def test_rendering_has_one_skos_statement_per_row(mapping_set):
    graph = rdflib.Graph().parse(data=mappings_turtle(mapping_set), format="turtle")
    for m in mapping_set.mappings:
        subject = rdflib.URIRef(mapping_set.expand(m.subject_id))
        if m.no_term_found:
            assert rdflib.Literal(mappings.no_code_note(mapping_set, m), lang="en") in set(graph.objects(subject, SKOS.note))
        else:
            assert (subject, rdflib.URIRef(mapping_set.expand(m.predicate_id)),
                    rdflib.URIRef(mapping_set.expand(m.object_id))) in graph
    assert len(graph) == len({(m.subject_id, m.predicate_id, m.object_id, m.object_source, m.comment)
                              for m in mapping_set.mappings})


def test_knowledge_base_carries_the_mappings():
    store = EmbeddedStore()
    assert store.ask("ASK { <https://w3id.org/acr-kg/ontology/cN1> "
                     "<http://www.w3.org/2004/02/skos/core#exactMatch> <http://snomed.info/id/1229973008> }")
    assert store.ask('ASK { <https://w3id.org/acr-kg/kb/proc-us-fna-axillary-node> '
                     '<http://www.w3.org/2004/02/skos/core#note> ?note FILTER(STRSTARTS(?note, "No matching LOINC code")) }')


def test_every_linkable_concept_has_a_row_with_a_code_or_a_recorded_absence(mapping_set):
    # a concept without a code is recorded (sssom:NoTermFound), never skipped silently
    subjects = {mapping_set.expand(m.subject_id) for m in mapping_set.mappings}
    kinds = ("ImagingProcedure", "Modality", "BodyRegion", "TherapyType", "SurgeryType", "Histology",
             "ReceptorStatus", "ClinicalNCategory", "AnatomicalSite", "DifferentialDiagnosis", "NextStep",
             "AxillaryLevel", "NodalStatus", "AppropriatenessCategory", "RelativeRadiationLevel", "StrengthOfEvidence")
    rows = EmbeddedStore().select(
        f"SELECT ?concept WHERE {{ ?concept a ?kind . VALUES ?kind {{ {' '.join(f'<{ACR}{k}>' for k in kinds)} }} }}")
    concepts = {r["concept"] for r in rows}
    assert len(concepts) > 80
    assert sorted(concepts - subjects) == []
