"""The release: the merged ontology (model, patient vocabulary, knowledge base, generated files) as one
file in each of Turtle, RDF/XML and JSON-LD, stamped with a dated owl:versionIRI / owl:versionInfo, and
beside them the SSSOM mapping set, the SHACL shapes and the named queries, copied as they are.

A release is reproducible: the same input gives the same bytes in every file. Blank nodes are relabelled
from their content (rdflib's canonical form) and the triples reach the serialisers in sorted order, so
neither labels nor order depend on parsing or on Python's hash seed. The Turtle file starts with the
ontology header; the JSON-LD file has its nodes and values sorted.

The files are written into a temporary directory beside the target, re-read to prove that every
serialisation carries the same triples, and only then renamed into place, so a reader never sees a
half-written or partial release.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import rdflib
from rdflib.compare import to_canonical_graph
from rdflib.namespace import OWL
from rdflib.plugins.serializers.turtle import TurtleSerializer

from kg.kb.build import parse_files, stale_files
from kg.errors import AcrKgError, QualityCheckFailed, UsageError
from kg.resources import mappings_file, ontology_files, queries_dir, shapes_dir
from kg.terms import ONTOLOGY_IRI

# file name -> rdflib format
RELEASE_FILES = {"acr-kg.ttl": "turtle", "acr-kg.owl": "xml", "acr-kg.jsonld": "json-ld"}
MAPPINGS = "acr-kg.sssom.tsv"
# release folder -> (source folder, files of it that are released)
COPIED_FOLDERS = {"shapes": (shapes_dir, "*.ttl"), "queries": (queries_dir, "**/*.rq")}
RELEASE_NAMES = frozenset(RELEASE_FILES) | {MAPPINGS} | frozenset(COPIED_FOLDERS)


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


def _n3_key(terms) -> tuple[str, ...]:
    return tuple(term.n3() for term in terms)


class _OrderedGraph(rdflib.Graph):
    """A graph whose ``subjects()`` come sorted, once each: rdflib's RDF/XML writer lists subjects in that order."""

    def subjects(self, predicate=None, object=None, unique=False):
        return iter(sorted(set(super().subjects(predicate, object, unique=True)), key=lambda node: node.n3()))


def canonical(graph: rdflib.Graph) -> rdflib.Graph:
    """The same triples with content-derived blank node labels, added in sorted order; prefixes bound in order."""
    out = _OrderedGraph(bind_namespaces="none")
    for prefix, namespace in sorted(graph.namespaces()):
        out.bind(prefix, namespace)
    for triple in sorted(to_canonical_graph(graph), key=_n3_key):
        out.add(triple)
    return out


class _HeaderFirstTurtle(TurtleSerializer):
    """rdflib's Turtle writer with the owl:Ontology node first; the other subjects follow in sorted order."""
    topClasses = [OWL.Ontology]


def _sorted_json(value):
    """JSON-LD with node arrays and property values in one fixed order; the items of an @list keep theirs."""
    if isinstance(value, dict):
        return {key: [_sorted_json(v) for v in item] if key == "@list" else _sorted_json(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return sorted((_sorted_json(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _serialise(graph: rdflib.Graph, fmt: str) -> bytes:
    if fmt == "turtle":
        stream = io.BytesIO()
        _HeaderFirstTurtle(graph).serialize(stream, encoding="utf-8")
        return stream.getvalue()
    if fmt == "json-ld":
        # Compact IRIs with the prefixes of the Turtle files; the context is inlined, so the file stands alone.
        context = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix and prefix != "xml"}
        data = json.loads(graph.serialize(format=fmt, context=context, auto_compact=True, encoding="utf-8"))
        return (json.dumps(_sorted_json(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    return graph.serialize(format=fmt, encoding="utf-8")


def copied_files() -> dict[str, Path]:
    """Path in the release (relative, POSIX) -> source file, for the mapping set, the shapes and the queries."""
    copied = {MAPPINGS: mappings_file()}
    for folder, (source_dir, pattern) in COPIED_FOLDERS.items():
        root = source_dir()
        for path in sorted(root.glob(pattern)):
            copied[f"{folder}/{path.relative_to(root).as_posix()}"] = path
    return copied


def _check_replaceable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RELEASE_NAMES)
        if foreign:
            # The whole directory is swapped, so anything else in it would be lost.
            raise UsageError(f"refusing to replace {out}: it holds files that are not release files ({', '.join(foreign)})")


def release(out: Path, date: dt.date | None = None) -> Release:
    """Write the release files into ``out`` (created or replaced as a whole)."""
    out = Path(out).absolute()
    _check_replaceable(out)
    graph = canonical(merged_ontology(date))
    copied = copied_files()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, fmt in RELEASE_FILES.items():
            (staging / name).write_bytes(_serialise(graph, fmt))
            reread = rdflib.Graph().parse(str(staging / name), format=fmt)
            if len(reread) != len(graph):
                raise AcrKgError(f"{name} re-reads as {len(reread)} triples instead of {len(graph)}; release aborted")
        for relative, source in copied.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
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
                   len(graph), tuple(out / name for name in [*RELEASE_FILES, *copied]))
