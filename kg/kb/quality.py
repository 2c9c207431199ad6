"""Quality checks of the ontology and knowledge base, in the manner of ``robot report``:

1. SHACL: shapes/kb.ttl validated with pySHACL against the merged files;
2. OWL: HermiT consistency of the merged files (kg.reasoning);
3. SPARQL QC: every queries/qc/*.rq, each a SELECT of ?entity ?message (?value) with a level.

Functions return result objects; kg.cli.check only renders them. The knowledge base fails when SHACL
reports a violation, HermiT finds an inconsistency, or a QC check graded ERROR returns a row.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyshacl
import rdflib
from rdflib.namespace import RDF, SH

from kg.terminology import mappings
from kg.kb.build import parse_files
from kg.issues import GradedFindings
from kg.errors import InputError
from kg.resources import data_root, ontology_files, queries_dir, shapes_dir
from kg.terms import ONTOLOGY_IRI
from kg.kb.reasoning import Consistency, Reasoner
from kg.store import EmbeddedStore

LEVELS = ("ERROR", "WARN", "INFO")
KB_SHAPES = shapes_dir() / "kb.ttl"
QC_DIR = queries_dir() / "qc"

_SEVERITY = {SH.Violation: "ERROR", SH.Warning: "WARN", SH.Info: "INFO"}
_PREFIXES = {
    "acr": "https://w3id.org/acr-kg/ontology/",
    "acrkb": "https://w3id.org/acr-kg/kb/",
    "dcterms": "http://purl.org/dc/terms/",
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def curie(iri: str) -> str:
    """A short form for display of properties and values; entities are always shown as full IRIs."""
    for prefix, namespace in _PREFIXES.items():
        if iri.startswith(namespace):
            return f"{prefix}:{iri[len(namespace):]}"
    return iri


@dataclass(frozen=True)
class Finding:
    """One row of the report."""

    level: str  # ERROR, WARN or INFO
    check: str
    entity: str
    message: str
    value: str | None = None


@dataclass(frozen=True)
class QcCheck:
    name: str
    level: str
    description: str
    query: str


@dataclass
class CheckReport(GradedFindings):
    files: list[Path]
    shacl_conforms: bool
    shacl_report: rdflib.Graph = field(repr=False)
    consistency: Consistency
    findings: list[Finding]

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "files": [str(p) for p in self.files],
            "shacl_conforms": self.shacl_conforms,
            "consistency": asdict(self.consistency),
            "findings": [asdict(f) for f in self.findings],
        }


# --- inputs --------------------------------------------------------------------------------------

_HEADER = re.compile(r"^#\s*(level|description):\s*(.*?)\s*$", re.MULTILINE)


def load_qc_checks(directory: Path = QC_DIR) -> list[QcCheck]:
    checks = []
    for path in sorted(directory.glob("*.rq")):
        query = path.read_text(encoding="utf-8")
        header = {key: value for key, value in _HEADER.findall(query)}
        level = header.get("level", "").upper()
        if level not in LEVELS or not header.get("description"):
            raise InputError(f"a QC query needs '# level: {'|'.join(LEVELS)}' and '# description:' header lines",
                             source=str(path))
        checks.append(QcCheck(path.stem, level, header["description"], query))
    return checks


# --- the three checks ------------------------------------------------------------------------------

def _shape_name(shapes: rdflib.Graph, shape) -> str:
    # Property shapes are blank nodes; name them after the node shape that holds them.
    if isinstance(shape, rdflib.BNode):
        parent = shapes.value(None, SH.property, shape) or shapes.value(None, SH.sparql, shape)
        if parent is not None:
            shape = parent
    return re.split(r"[/#]", str(shape))[-1]


def run_shacl(data: rdflib.Graph, shapes_path: Path = KB_SHAPES) -> tuple[bool, rdflib.Graph, list[Finding]]:
    """Validate ``data`` against the knowledge base shapes: (conforms, sh:ValidationReport graph, findings)."""
    shapes = parse_files([shapes_path])
    conforms, report, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none", advanced=True,
                                           allow_warnings=True)
    findings = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        path = report.value(result, SH.resultPath)
        value = report.value(result, SH.value)
        message = str(report.value(result, SH.resultMessage) or "constraint violated")
        component = str(report.value(result, SH.sourceConstraintComponent)).rsplit("#", 1)[-1]
        check = f"shacl:{_shape_name(shapes, report.value(result, SH.sourceShape))}/{component.removesuffix('ConstraintComponent')}"
        if path is not None:
            message = f"{curie(str(path))}: {message}"
        findings.append(Finding(_SEVERITY.get(report.value(result, SH.resultSeverity), "ERROR"), check,
                                str(focus), message, None if value is None else curie(str(value))))
    return bool(conforms), report, findings


def run_consistency(files: list[Path]) -> tuple[Consistency, list[Finding]]:
    consistency = Reasoner(files).consistency()
    findings = [Finding("ERROR", "owl:unsatisfiable-class", iri,
                        f"class {iri} is unsatisfiable: nothing can be a member of it"
                        + (" (its variant's criteria contradict each other)" if "/Population-" in iri else ""))
                for iri in consistency.unsatisfiable]
    if not consistency.consistent:
        message = "HermiT finds the ontology inconsistent; the clashing axioms are: " + " | ".join(
            " ".join(line.split()) for line in (consistency.explanation or "").splitlines())
        findings.append(Finding("ERROR", "owl:consistency", ONTOLOGY_IRI, message))
    return consistency, findings


def run_qc(files: list[Path], checks: Iterable[QcCheck]) -> list[Finding]:
    store = EmbeddedStore(kb_files=files)
    findings = []
    for check in checks:
        for row in store.select(check.query):
            value = row.get("value")
            findings.append(Finding(check.level, check.name, str(row["entity"]), str(row["message"]),
                                    None if value is None else curie(str(value))))
    return findings


def run_mapping_qc(files: list[Path]) -> list[Finding]:
    """The mapping set's own checks (kg.mappings.qc), as report rows naming the file and line."""
    mapping_set = mappings.load()
    where = mapping_set.path.relative_to(data_root()) if mapping_set.path.is_relative_to(data_root()) else mapping_set.path
    return [Finding(f.level, "sssom-mapping-set", f"{where}:{f.row}", f.message)
            for f in mappings.qc(mapping_set, mappings.typed_entities(files))]


def check(files: list[Path] | None = None) -> CheckReport:
    """Run all checks on ``files`` (default: the project's ontology files) and on the mapping set."""
    files = ontology_files() if files is None else list(files)
    data = parse_files(files)  # fails early, naming the file and line, on a syntax error
    conforms, report, shacl_findings = run_shacl(data)
    consistency, owl_findings = run_consistency(files)
    qc_findings = run_qc(files, load_qc_checks())
    findings = shacl_findings + owl_findings + qc_findings + run_mapping_qc(files)
    findings.sort(key=lambda f: (LEVELS.index(f.level), f.check, f.entity, f.message))
    return CheckReport(files, conforms, report, consistency, findings)
