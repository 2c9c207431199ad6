"""Terminology mappings: the SSSOM mapping set, its SKOS rendering and its quality checks.

``ontology/mappings/acr-kg.sssom.tsv`` is the one source of truth for links between our concepts and
SNOMED CT, LOINC, RadLex, NCIt and the other terminologies; ``ontology/kb/mappings.ttl`` is generated
from it (``mappings_turtle``) so that SPARQL queries see the links as SKOS triples. Confidence and
justification stay in the SSSOM file, which the crosswalk (kg.crosswalk) reads directly.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import yaml

from kg.errors import InputError
from kg import queries
from kg.resources import mappings_file, ontology_files
from kg.terms import ACR, ACRKB

MAPPINGS_FILE = mappings_file()

SKOS = "http://www.w3.org/2004/02/skos/core#"
MATCH_PREDICATES = ("skos:exactMatch", "skos:closeMatch", "skos:broadMatch", "skos:narrowMatch")
NO_TERM_FOUND = "sssom:NoTermFound"
# Below this, a mapping is a guess (tag T codes are 0.5): it must not claim equivalence.
MIN_EXACT_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Terminology:
    prefix: str
    name: str
    pattern: re.Pattern
    registry_id: str | None = None  # the Bioregistry prefix that names it in object_source


def _terminology(prefix, name, pattern, registry_id=None):
    return Terminology(prefix, name, re.compile(pattern), registry_id)


TERMINOLOGIES: dict[str, Terminology] = {t.prefix: t for t in (
    _terminology("SNOMED", "SNOMED CT", r"\d{6,18}", "snomedct"),
    _terminology("LOINC", "LOINC", r"(LA)?\d{1,7}-\d", "loinc"),  # LA...: LOINC answer codes
    _terminology("RADLEX", "RadLex", r"RID\d+"),
    _terminology("RPID", "RadLex Playbook", r"RPID\d+"),
    _terminology("NCIT", "NCIt", r"C\d+", "ncit"),
    _terminology("ICD10CM", "ICD-10-CM", r"[A-Z]\d{2}(\.[0-9A-Z]{1,4})?"),
    _terminology("UMLS", "UMLS", r"C\d{7}"),
    # CPT (AMA, licensed): no code is verified in our references, so the set holds none; a licensed user's
    # rows are read like any other. Five characters: four digits and a digit, or F, T or U.
    _terminology("CPT", "CPT", r"\d{4}[0-9FTU]", "cpt"),
    # DICOM concept codes are numeric; modality codes are defined terms such as US or MR
    _terminology("DCM", "DICOM", r"\d+|[A-Z][A-Z0-9]+"),
)}
_BY_REGISTRY_ID = {t.registry_id: t for t in TERMINOLOGIES.values() if t.registry_id}


@dataclass(frozen=True)
class Mapping:
    """One row of the mapping set; ``line`` is its line number in the file, for messages."""

    line: int
    subject_id: str
    subject_label: str
    predicate_id: str
    object_id: str
    object_label: str
    mapping_justification: str
    object_source: str
    confidence: float | None
    comment: str

    @property
    def no_term_found(self) -> bool:
        return self.object_id == NO_TERM_FOUND


@dataclass(frozen=True)
class MappingSet:
    path: Path
    metadata: dict
    mappings: tuple[Mapping, ...]

    @property
    def curie_map(self) -> dict[str, str]:
        return self.metadata.get("curie_map") or {}

    def expand(self, curie: str) -> str:
        """The IRI of a CURIE; KeyError names the prefix when the curie map lacks it."""
        prefix, sep, local = curie.partition(":")
        if not sep or prefix not in self.curie_map:
            raise KeyError(prefix)
        return self.curie_map[prefix] + local

    def contract(self, iri: str) -> str | None:
        """The CURIE of an IRI under the longest matching namespace, or None."""
        best = max((ns for ns in self.curie_map.values() if iri.startswith(ns)), key=len, default=None)
        if best is None:
            return None
        prefix = next(p for p, ns in self.curie_map.items() if ns == best)
        return f"{prefix}:{iri[len(best):]}"

    def terminology(self, mapping: Mapping) -> Terminology | None:
        """The terminology a row maps into: its object's, or for a 'no term found' row the one searched."""
        if mapping.no_term_found:
            prefix, _, local = mapping.object_source.partition(":")
            return _BY_REGISTRY_ID.get(local) if prefix == "bioregistry" else None
        return TERMINOLOGIES.get(mapping.object_id.partition(":")[0])


# --- reading ----------------------------------------------------------------------------------------

_REQUIRED_COLUMNS = ("subject_id", "predicate_id", "object_id", "mapping_justification")


def load(path: Path = MAPPINGS_FILE) -> MappingSet:
    """Read an SSSOM/TSV file with its embedded YAML metadata block (``#``-prefixed lines)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError as exc:
        raise InputError(f"cannot read mapping set: {exc.strerror or exc}", source=str(path)) from exc
    header = 0
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    try:
        metadata = yaml.safe_load("".join(line[1:] for line in lines[:header])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"metadata block is not valid YAML: {exc}", source=str(path),
                         line=mark.line + 1 if mark else None) from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("curie_map"), dict):
        raise InputError("metadata block has no curie_map", source=str(path), line=1)

    reader = csv.reader(lines[header:], delimiter="\t")
    columns = next(reader, None)
    missing = [c for c in _REQUIRED_COLUMNS if c not in (columns or [])]
    if missing:
        raise InputError(f"mapping table lacks the column(s) {', '.join(missing)}", source=str(path), line=header + 1)
    mappings = []
    for cells in reader:
        line = header + reader.line_num
        if not any(cells):
            continue
        if len(cells) != len(columns):
            raise InputError(f"expected {len(columns)} tab-separated cells, found {len(cells)}", source=str(path), line=line)
        row = dict(zip(columns, (c.strip() for c in cells)))
        try:
            confidence = float(row["confidence"]) if row.get("confidence") else None
        except ValueError:
            raise InputError(f"confidence {row['confidence']!r} is not a number", source=str(path), line=line) from None
        mappings.append(Mapping(
            line=line, subject_id=row["subject_id"], subject_label=row.get("subject_label", ""),
            predicate_id=row["predicate_id"], object_id=row["object_id"], object_label=row.get("object_label", ""),
            mapping_justification=row["mapping_justification"], object_source=row.get("object_source", ""),
            confidence=confidence, comment=row.get("comment", "")))
    return MappingSet(path, metadata, tuple(mappings))


# --- the SKOS rendering -----------------------------------------------------------------------------

def _turtle_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"@en'


def _turtle_iri(iri: str) -> str:
    # Our own IRIs as prefixed names for readability; anything else in full.
    for prefix, namespace in (("acr", ACR), ("acrkb", ACRKB)):
        local = iri[len(namespace):]
        if iri.startswith(namespace) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", local):
            return f"{prefix}:{local}"
    return f"<{iri}>"


def no_code_note(mapping_set: MappingSet, mapping: Mapping) -> str:
    """The skos:note that records, in the knowledge base, a search that found no code."""
    terminology = mapping_set.terminology(mapping)
    scope = f"No matching {terminology.name} code found." if terminology else "No matching code found in any terminology."
    return f"{scope} {mapping.comment}".strip()


def _turtle_predicate(iri: str) -> str:
    return f"skos:{iri[len(SKOS):]}" if iri.startswith(SKOS) else f"<{iri}>"


def _expand(mapping_set: MappingSet, curie: str, m: Mapping) -> str:
    try:
        return mapping_set.expand(curie)
    except KeyError:
        raise InputError(f"{curie!r} has a prefix that the curie_map does not declare",
                         source=str(mapping_set.path), line=m.line) from None


def skos_statements(mapping_set: MappingSet) -> list[tuple[str, str, str]]:
    """(subject IRI, predicate IRI, object in Turtle) for every row, sorted and without duplicates."""
    statements = set()
    for m in mapping_set.mappings:
        subject = _expand(mapping_set, m.subject_id, m)
        if m.no_term_found:
            statements.add((subject, SKOS + "note", _turtle_string(no_code_note(mapping_set, m))))
        else:
            statements.add((subject, _expand(mapping_set, m.predicate_id, m),
                            _turtle_iri(_expand(mapping_set, m.object_id, m))))
    return sorted(statements)


def mappings_turtle(mapping_set: MappingSet | None = None) -> str:
    """The text of ontology/kb/mappings.ttl: the mapping set as SKOS mapping triples."""
    mapping_set = mapping_set or load()
    out = [
        f"@prefix acr:   <{ACR}> .",
        f"@prefix acrkb: <{ACRKB}> .",
        f"@prefix skos:  <{SKOS}> .",
        "",
        f"# GENERATED by `acr-kg build` from ontology/mappings/{mapping_set.path.name}: do not edit by hand.",
        "# Links from our concepts to codes in other terminologies (confidence and sources are in the SSSOM",
        "# file). A search that found no code is recorded as a skos:note on the concept.",
    ]
    by_subject: dict[str, list[str]] = {}
    for subject, predicate, obj in skos_statements(mapping_set):
        by_subject.setdefault(subject, []).append(f"    {_turtle_predicate(predicate)} {obj}")
    for subject, body in by_subject.items():
        out += ["", _turtle_iri(subject), " ;\n".join(body) + " ."]
    return "\n".join(out) + "\n"


# --- quality checks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """A quality-check result; ``row`` is the line number in the mapping file (None for the whole set)."""

    level: str  # "ERROR" or "WARN"
    row: int | None
    message: str


def typed_entities(files: list[Path] | None = None) -> set[str]:
    """IRIs declared in the ontology, i.e. given an rdf:type (mappings.ttl adds none, so it cannot hide a gap)."""
    store = ox.Store()
    for path in files if files is not None else ontology_files():
        try:
            store.load(path=str(path), format=ox.RdfFormat.TURTLE)
        except SyntaxError as exc:
            raise InputError(f"Turtle syntax error: {exc}", source=str(path)) from exc
    return {sol["term"].value for sol in store.query(queries.internal("typed-terms").text)}


def _row_problems(mapping_set: MappingSet, m: Mapping, declared: set[str]):
    """(level, message) for each problem of one row taken alone."""
    unknown = [(column, value) for column, value in (
        ("subject_id", m.subject_id), ("predicate_id", m.predicate_id), ("object_id", m.object_id),
        ("mapping_justification", m.mapping_justification), ("object_source", m.object_source))
        if value and value.partition(":")[0] not in mapping_set.curie_map]
    for column, value in unknown:
        yield "ERROR", f"{column} {value!r} has a prefix {value.partition(':')[0]!r} that the curie_map does not declare"
    if unknown:
        return  # nothing else can be judged on an unreadable row
    if m.predicate_id not in MATCH_PREDICATES:
        yield "ERROR", f"predicate {m.predicate_id} is not one of {', '.join(MATCH_PREDICATES)}"
    if m.no_term_found:
        if m.object_source and mapping_set.terminology(m) is None:
            yield "ERROR", f"object_source {m.object_source} names no terminology of this set"
    else:
        prefix, _, local = m.object_id.partition(":")
        terminology = TERMINOLOGIES.get(prefix)
        if terminology is None:
            yield "ERROR", f"object {m.object_id} is not a code of a known terminology"
        elif not terminology.pattern.fullmatch(local):
            yield "ERROR", f"{local!r} is not a well-formed {terminology.name} code (pattern {terminology.pattern.pattern})"
    if mapping_set.expand(m.subject_id) not in declared:
        yield "ERROR", f"subject {m.subject_id} is not declared in the ontology"
    if m.predicate_id == "skos:exactMatch" and m.confidence is not None and m.confidence < MIN_EXACT_CONFIDENCE:
        yield "WARN", (f"exact match with confidence {m.confidence}: a guess (tag T) must use closeMatch, "
                       "broadMatch or narrowMatch")


def qc(mapping_set: MappingSet | None = None, declared: set[str] | None = None) -> list[Finding]:
    """Check the mapping set: prefixes, code syntax, subjects present in the ontology, SKOS predicates only,
    no exact match that rests on a guess, and at most one exact code per concept and terminology."""
    mapping_set = mapping_set or load()
    declared = typed_entities() if declared is None else declared
    findings: list[Finding] = []
    first_exact: dict[tuple[str, str], int] = {}
    for m in mapping_set.mappings:
        findings += [Finding(level, m.line, message) for level, message in _row_problems(mapping_set, m, declared)]
        terminology = mapping_set.terminology(m)
        if m.predicate_id == "skos:exactMatch" and terminology is not None:
            first = first_exact.setdefault((m.subject_id, terminology.prefix), m.line)
            if first != m.line:
                findings.append(Finding("ERROR", m.line, f"{m.subject_id} already has an exact match in "
                                                         f"{terminology.name} (line {first})"))
    return findings


# --- lookup for coded input -------------------------------------------------------------------------

def code_index(mapping_set: MappingSet | None = None) -> dict[str, list[str]]:
    """{code IRI: our concept IRIs, best first} for reading coded patient data.

    Exact and close matches map a code to our concept, and so does a narrow match (the code is more
    specific than our concept, e.g. ICD-10-CM C50.912 under breast cancer): reading it as our broader
    concept is safe. A broad match never maps, as it would claim more than the code says. When a code
    matches several concepts, exact beats close beats narrow, and the patient vocabulary (acr:) beats
    the knowledge base (acrkb:), which repeats some anatomy as body regions. The reader picks the best
    one that fits where the code stands (a class for rdf:type, an individual for a value).
    """
    mapping_set = mapping_set or load()
    strength = {"skos:exactMatch": 0, "skos:closeMatch": 1, "skos:narrowMatch": 2}
    ranked = []
    for m in mapping_set.mappings:
        if m.no_term_found or m.predicate_id not in strength:
            continue
        subject = mapping_set.expand(m.subject_id)
        rank = (strength[m.predicate_id], not subject.startswith(ACR), subject)
        ranked.append((rank, mapping_set.expand(m.object_id), subject))
    index: dict[str, list[str]] = {}
    for _rank, code, subject in sorted(ranked):
        index.setdefault(code, []).append(subject)
    return index


def terminology_namespaces(mapping_set: MappingSet | None = None) -> dict[str, str]:
    """{namespace IRI: terminology name} of the terminologies the mapping set links to."""
    mapping_set = mapping_set or load()
    return {mapping_set.curie_map[prefix]: t.name for prefix, t in TERMINOLOGIES.items() if prefix in mapping_set.curie_map}
