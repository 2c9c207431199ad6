"""OWL 2 DL reasoning with HermiT: is the merged ontology consistent, and which population classes
(one per variant, see kg.populations) does a patient belong to?

HermiT and Pellet are the builds that ship with owlready2; rdflib merges the Turtle files and hands
them over as N-Triples. We call HermiT's command line ourselves and ask only for what we need,
rather than through ``owlready2.sync_reasoner_hermit``: that function always asks HermiT to classify
the data properties too, and HermiT answers that part with unsound subsumptions that vary from run
to run (``radiationRank`` under ``pediatricDoseLowerMSv``, for one). owlready2 then applies them to
its Python classes and, when they form a cycle, fails with "a __bases__ item causes an inheritance
cycle". HermiT says *that* an ontology is inconsistent but not *why*; the why comes from Pellet
(``pellet explain``), run only after HermiT has failed.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import owlready2
import rdflib
from rdflib.namespace import OWL, RDF, RDFS

from kg.kb.build import parse_files
from kg.errors import AcrKgError, QualityCheckFailed, UsageError
from kg.resources import ontology_files
from kg.terms import ACR

# The merged ontology needs far less; CI machines have 2 cores and little to spare.
JAVA_MEMORY_MB = 1000
HERMIT_TIMEOUT_S = 300
EXPLAIN_TIMEOUT_S = 120

_NAMESPACES = ("https://w3id.org/acr-kg/",)
_JARS = Path(owlready2.__file__).parent
# The patient under classification, and the class whose only member it is: the superclasses of that
# class are the patient's types, direct and inferred.
_PATIENT = rdflib.URIRef("urn:acr-kg:reasoning:patient")
_ONLY_THE_PATIENT = rdflib.URIRef("urn:acr-kg:reasoning:OnlyThePatient")


class InconsistentOntology(QualityCheckFailed):
    """HermiT found no model of the ontology; ``explanation`` lists the axioms that clash."""

    def __init__(self, explanation: str, what: str = "the ontology"):
        self.explanation = explanation
        super().__init__(f"{what} is inconsistent (HermiT). Explanation:\n{explanation}")


@dataclass(frozen=True)
class Consistency:
    consistent: bool
    seconds: float
    explanation: str | None = None
    unsatisfiable: tuple[str, ...] = ()


class Reasoner:
    """The merged ontology, with HermiT run on it (or on it plus one patient) on demand."""

    def __init__(self, files: Iterable[Path] | None = None):
        self.graph = parse_files(ontology_files() if files is None else files)
        acr = rdflib.Namespace(ACR)
        self.population_classes = {str(c) for c in self.graph.objects(None, acr.populationClass)}
        self.aspects = {str(p) for p in self.graph.transitive_subjects(RDFS.subPropertyOf, acr.hasCaseFeature)}
        self.aspects.discard(str(acr.hasCaseFeature))
        self._iri_by_local_name = _local_names(self.graph)
        self._triples = self.graph.serialize(format="nt", encoding="utf-8")

    # --- running the reasoners ---------------------------------------------------------------------

    def _hermit(self, triples: bytes, *action: str, what: str = "the ontology") -> list[str]:
        """Run one HermiT action on ``triples``; return the IRIs it lists (tab-indented lines)."""
        classpath = os.pathsep.join([str(_JARS / "hermit"), str(_JARS / "hermit" / "HermiT.jar")])
        with tempfile.TemporaryDirectory(prefix="acr-kg-hermit-") as tmp:
            path = Path(tmp, "ontology.nt")
            path.write_bytes(triples)
            # HermiT refuses datatypes outside the OWL 2 map (xsd:date); QC query datatype-outside-owl2 reports them.
            command = [owlready2.JAVA_EXE, f"-Xmx{JAVA_MEMORY_MB}M", "-cp", classpath,
                       "org.semanticweb.HermiT.cli.CommandLine", "--no-prefixes", *action,
                       "--ignoreUnsupportedDatatypes", path.as_uri()]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=HERMIT_TIMEOUT_S)
            except FileNotFoundError as exc:
                raise AcrKgError(f"HermiT needs Java, which was not found ({exc.filename})") from exc
            except subprocess.TimeoutExpired:
                raise AcrKgError(f"HermiT gave no answer within {HERMIT_TIMEOUT_S} s") from None
            if done.returncode != 0 and "InconsistentOntologyException" in done.stderr:
                raise InconsistentOntology(self._explain(path), what=what)
        if done.returncode != 0:
            raise AcrKgError(f"HermiT failed (exit {done.returncode}): {done.stderr.strip()[-1000:]}")
        return [line.strip() for line in done.stdout.splitlines() if line.startswith("\t")]

    def _explain(self, path: Path) -> str:
        """Ask Pellet for the axioms behind the inconsistency, with local names turned back into IRIs."""
        classpath = os.pathsep.join(str(j) for j in sorted(_JARS.joinpath("pellet").glob("*.jar")))
        command = [owlready2.JAVA_EXE, f"-Xmx{JAVA_MEMORY_MB}M", "-cp", classpath, "pellet.Pellet", "explain",
                   "--ignore-imports", str(path)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=EXPLAIN_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(no explanation: Pellet could not be run: {exc})"
        _, found, explanation = done.stdout.partition("Explanation(s):")
        if not found or not explanation.strip():
            return f"(no explanation: Pellet answered {(done.stdout + done.stderr).strip()[:500]!r})"
        return "\n".join(self._expand(line) for line in explanation.strip("\n").splitlines() if line.strip())

    def _expand(self, line: str) -> str:
        # Pellet prints local names; the report must name nodes by IRI.
        return re.sub(r"[^\s(),]+", lambda m: self._iri_by_local_name.get(m.group(0), m.group(0)), line.rstrip())

    # --- the public operations -----------------------------------------------------------------------

    def check_consistency(self) -> Consistency:
        """Run HermiT: raise InconsistentOntology (with an explanation) if the ontology has no model,
        else return the wall time and the unsatisfiable named classes (a population class among them
        is a variant whose criteria contradict each other, so it can never apply)."""
        start = time.perf_counter()
        nothing = self._hermit(self._triples, "--unsatisfiable")
        unsatisfiable = tuple(sorted(iri for iri in nothing if not iri.startswith(str(OWL))))
        return Consistency(True, time.perf_counter() - start, unsatisfiable=unsatisfiable)

    def consistency(self) -> Consistency:
        """The same check as a result object, for reports: an inconsistency is returned, not raised."""
        start = time.perf_counter()
        try:
            return self.check_consistency()
        except InconsistentOntology as exc:
            return Consistency(False, time.perf_counter() - start, exc.explanation)

    def classify(self, aspects: Mapping[str, str]) -> list[str]:
        """The population classes a patient with these case aspects belongs to, by reasoning alone.

        ``aspects`` maps aspect-property IRIs (sub-properties of acr:hasCaseFeature) to value IRIs.
        """
        unknown = sorted(set(aspects) - self.aspects)
        if unknown:
            raise UsageError(f"not aspect properties (sub-properties of acr:hasCaseFeature): {', '.join(unknown)}")
        missing = sorted(value for value in aspects.values() if (rdflib.URIRef(value), None, None) not in self.graph)
        if missing:
            raise UsageError(f"unknown case values: {', '.join(missing)}")
        patient = rdflib.Graph()
        patient.add((_PATIENT, RDF.type, rdflib.URIRef(ACR + "Patient")))
        patient.add((_PATIENT, RDF.type, OWL.NamedIndividual))
        for prop, value in aspects.items():
            patient.add((_PATIENT, rdflib.URIRef(prop), rdflib.URIRef(value)))
        members = rdflib.BNode()
        patient.add((_ONLY_THE_PATIENT, RDF.type, OWL.Class))
        patient.add((_ONLY_THE_PATIENT, OWL.oneOf, members))
        patient.add((members, RDF.first, _PATIENT))
        patient.add((members, RDF.rest, RDF.nil))
        triples = self._triples + patient.serialize(format="nt", encoding="utf-8")
        types = self._hermit(triples, f"--supers=<{_ONLY_THE_PATIENT}>", what="the ontology with this patient")
        return sorted(iri for iri in types if iri in self.population_classes)


def _local_names(graph: rdflib.Graph) -> dict[str, str]:
    """Local name -> IRI for the IRIs of our namespaces whose local name is unique."""
    seen: dict[str, set[str]] = {}
    for term in set(graph.subjects()) | set(graph.predicates()) | set(graph.objects()):
        if isinstance(term, rdflib.URIRef) and str(term).startswith(_NAMESPACES):
            local = re.split(r"[/#]", str(term))[-1]
            seen.setdefault(local, set()).add(str(term))
    return {local: next(iter(iris)) for local, iris in seen.items() if len(iris) == 1 and local}
