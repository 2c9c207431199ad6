"""The release: the merged ontology (model, patient vocabulary, knowledge base, generated files) as one
file in each of Turtle, RDF/XML and JSON-LD, stamped with a dated owl:versionIRI / owl:versionInfo.

The files are written into a temporary directory beside the target, re-read to prove that every
serialisation carries the same triples, and only then renamed into place, so a reader never sees a
half-written or partial release.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import rdflib
from rdflib.namespace import OWL

from kg.kb.build import parse_files, stale_files
from kg.errors import AcrKgError, QualityCheckFailed, UsageError
from kg.resources import ontology_files
from kg.terms import ONTOLOGY_IRI

# file name -> rdflib format
RELEASE_FILES = {"acr-kg.ttl": "turtle", "acr-kg.owl": "xml", "acr-kg.jsonld": "json-ld"}


@dataclass(frozen=True)
class Release:
    directory: Path
    version_info: str
    version_iri: str
    triples: int
    files: tuple[Path, ...]


def merged_ontology(date: dt.date | None = None) -> rdflib.Graph:
    """All ontology files as one graph; with ``date``, the header's version is re-stamped to that date."""
    stale = stale_files()
    if stale:
        raise QualityCheckFailed(f"generated files are out of date ({', '.join(stale)}): run `acr-kg build` first")
    graph = parse_files(ontology_files())
    ontology = rdflib.URIRef(ONTOLOGY_IRI)
    if (ontology, rdflib.RDF.type, OWL.Ontology) not in graph:
        raise AcrKgError(f"no owl:Ontology header <{ONTOLOGY_IRI}> in the ontology files")
    if date is not None:
        graph.set((ontology, OWL.versionIRI, rdflib.URIRef(f"{ONTOLOGY_IRI}/{date.isoformat()}")))
        graph.set((ontology, OWL.versionInfo, rdflib.Literal(date.isoformat())))
    if graph.value(ontology, OWL.versionIRI) is None or graph.value(ontology, OWL.versionInfo) is None:
        raise AcrKgError("the ontology header needs owl:versionIRI and owl:versionInfo (or give a release date)")
    return graph


def _serialise(graph: rdflib.Graph, fmt: str) -> bytes:
    if fmt == "json-ld":
        # Compact IRIs with the prefixes of the Turtle files; the context is inlined, so the file stands alone.
        context = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix and prefix != "xml"}
        return graph.serialize(format=fmt, context=context, auto_compact=True, encoding="utf-8")
    return graph.serialize(format=fmt, encoding="utf-8")


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RELEASE_FILES)
        if foreign:
            # The whole directory is swapped, so anything else in it would be lost.
            raise UsageError(f"refusing to replace {out}: it holds files that are not release files ({', '.join(foreign)})")


def release(out: Path, date: dt.date | None = None) -> Release:
    """Write the release files into ``out`` (created or replaced as a whole)."""
    out = Path(out).absolute()
    _check_replaceable(out)
    graph = merged_ontology(date)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, fmt in RELEASE_FILES.items():
            (staging / name).write_bytes(_serialise(graph, fmt))
            reread = rdflib.Graph().parse(str(staging / name), format=fmt)
            if len(reread) != len(graph):
                raise AcrKgError(f"{name} re-reads as {len(reread)} triples instead of {len(graph)}; release aborted")
        os.chmod(staging, 0o755)  # mkdtemp makes it private
        if out.exists():
            retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex}")
            os.rename(out, retired)
            os.rename(staging, out)
            shutil.rmtree(retired)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    ontology = rdflib.URIRef(ONTOLOGY_IRI)
    return Release(out, str(graph.value(ontology, OWL.versionInfo)), str(graph.value(ontology, OWL.versionIRI)),
                   len(graph), tuple(out / name for name in RELEASE_FILES))
