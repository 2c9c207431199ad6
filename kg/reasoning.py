"""OWL 2 DL reasoning with HermiT (through owlready2): is the merged ontology consistent, and which
population classes (one per variant, see kg.populations) does a patient belong to?

owlready2 cannot read Turtle, so rdflib merges the files and hands them over as N-Triples. Each
``Reasoner`` has its own owlready2 World, so nothing leaks between instances or into owlready2's
default world. HermiT says *that* an ontology is inconsistent but not *why*; the why comes from the
Pellet build that ships with owlready2 (``pellet explain``), run only after HermiT has failed.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import owlready2
import owlready2.reasoning
import rdflib
from rdflib.namespace import RDFS

from kg.build import parse_files
from kg.errors import AcrKgError, QualityCheckFailed, UsageError
from kg.paths import ACR, ONTOLOGY_IRI, ontology_files

# The merged ontology needs far less; CI machines have 2 cores and little to spare.
JAVA_MEMORY_MB = 1000
EXPLAIN_TIMEOUT_S = 120

_NAMESPACES = ("https://w3id.org/acr-kg/",)


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
    """The merged ontology loaded into an isolated owlready2 World."""

    def __init__(self, files: Iterable[Path] | None = None):
        graph = parse_files(ontology_files() if files is None else files)
        acr = rdflib.Namespace(ACR)
        self.population_classes = {str(c) for c in graph.objects(None, acr.populationClass)}
        self.aspects = {str(p) for p in graph.transitive_subjects(RDFS.subPropertyOf, acr.hasCaseFeature)}
        self.aspects.discard(str(acr.hasCaseFeature))
        self._iri_by_local_name = _local_names(graph)
        self.world = owlready2.World()
        data = graph.serialize(format="nt", encoding="utf-8")
        self.world.get_ontology(ONTOLOGY_IRI).load(fileobj=io.BytesIO(data), format="ntriples")

    # --- running the reasoners ---------------------------------------------------------------------

    def _hermit(self, ontology) -> None:
        """Run HermiT on the whole world; inferred facts are written into ``ontology``."""
        owlready2.reasoning.JAVA_MEMORY = JAVA_MEMORY_MB
        # owlready2 leaves its input file in the temp dir when HermiT fails; give it one we delete.
        with tempfile.TemporaryDirectory(prefix="acr-kg-hermit-") as scratch:
            previous, tempfile.tempdir = tempfile.tempdir, scratch
            try:
                # HermiT refuses datatypes outside the OWL 2 map (xsd:date); QC query datatype-outside-owl2 reports them.
                owlready2.sync_reasoner_hermit(ontology, debug=0, ignore_unsupported_datatypes=True)
            except FileNotFoundError as exc:
                raise AcrKgError(f"HermiT needs Java, which was not found ({exc.filename})") from exc
            except owlready2.OwlReadyJavaError as exc:
                raise AcrKgError(f"HermiT failed: {exc}") from exc
            finally:
                tempfile.tempdir = previous

    def _explain(self) -> str:
        """Ask Pellet for the axioms behind the inconsistency, with local names turned back into IRIs."""
        jars = sorted(Path(owlready2.__file__).parent.joinpath("pellet").glob("*.jar"))
        classpath = os.pathsep.join(str(j) for j in jars)
        with tempfile.TemporaryDirectory(prefix="acr-kg-explain-") as tmp:
            path = Path(tmp, "world.nt")
            self.world.save(str(path), format="ntriples")
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
        inferences = self.world.get_ontology(f"urn:acr-kg:reasoning:{uuid.uuid4().hex}#")
        start = time.perf_counter()
        try:
            self._hermit(inferences)
            unsatisfiable = tuple(sorted(c.iri for c in self.world.inconsistent_classes()
                                         if isinstance(c, owlready2.ThingClass) and c is not owlready2.Nothing))
        except owlready2.OwlReadyInconsistentOntologyError:
            raise InconsistentOntology(self._explain()) from None
        finally:
            # Keep the world as loaded, so later checks and classifications start from the same state.
            inferences.destroy()
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
        The patient is added to a scratch ontology that is destroyed afterwards.
        """
        unknown = sorted(set(aspects) - self.aspects)
        if unknown:
            raise UsageError(f"not aspect properties (sub-properties of acr:hasCaseFeature): {', '.join(unknown)}")
        values = {prop: self.world[value] for prop, value in aspects.items()}
        missing = sorted(aspects[prop] for prop, entity in values.items() if entity is None)
        if missing:
            raise UsageError(f"unknown case values: {', '.join(missing)}")
        scratch = self.world.get_ontology(f"urn:acr-kg:reasoning:{uuid.uuid4().hex}#")
        try:
            with scratch:
                patient = self.world[ACR + "Patient"]("patient")
                for prop, value in values.items():
                    self.world[prop][patient] = [value]
            try:
                self._hermit(scratch)
            except owlready2.OwlReadyInconsistentOntologyError:
                raise InconsistentOntology(self._explain(), what="the ontology with this patient") from None
            return sorted(c.iri for c in patient.INDIRECT_is_a
                          if isinstance(c, owlready2.ThingClass) and c.iri in self.population_classes)
        finally:
            scratch.destroy()


def _local_names(graph: rdflib.Graph) -> dict[str, str]:
    """Local name -> IRI for the IRIs of our namespaces whose local name is unique."""
    seen: dict[str, set[str]] = {}
    for term in set(graph.subjects()) | set(graph.predicates()) | set(graph.objects()):
        if isinstance(term, rdflib.URIRef) and str(term).startswith(_NAMESPACES):
            local = re.split(r"[/#]", str(term))[-1]
            seen.setdefault(local, set()).add(str(term))
    return {local: next(iter(iris)) for local, iris in seen.items() if len(iris) == 1 and local}
