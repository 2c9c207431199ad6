"""Reading the ontology's Turtle files, and the files generated from them.

``GENERATED`` maps a path (relative to the project root) to a function that returns the file's full
text. Generated files are committed, so that the ontology can be used without running the toolkit;
``acr-kg build --check`` (and a test) keeps them from going stale. Generators read only the
hand-written files (``source_files()``), never each other's output, so their order does not matter.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import rdflib
from rdflib.plugins.parsers.notation3 import BadSyntax

from kg.errors import InputError
from kg.resources import data_root, kb_dir, ontology_files
from kg.terminology.mappings import mappings_turtle
from kg.kb.populations import populations_turtle
from kg.kb.tables import curated_ratings_turtle
from kg.kb.value_sets import value_set_shapes


def parse_files(files: Iterable[Path]) -> rdflib.Graph:
    """One rdflib graph holding the triples of all the given Turtle files."""
    graph = rdflib.Graph(bind_namespaces="core")  # only the prefixes the files declare, not rdflib's dozens
    for path in files:
        try:
            graph.parse(str(path), format="turtle")
        except BadSyntax as exc:
            raise InputError(f"Turtle syntax error: {exc._why}", source=str(path), line=exc.lines + 1) from exc
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    return graph


def source_files() -> list[Path]:
    """The ontology files that are written by hand (every ontology file that is not generated)."""
    generated = {(data_root() / relative).resolve() for relative in GENERATED}
    return [p for p in ontology_files() if p.resolve() not in generated]


def _populations() -> str:
    return populations_turtle(parse_files(source_files()))


def _value_sets() -> str:
    return value_set_shapes(parse_files(source_files()))


GENERATED: dict[str, Callable[[], str]] = {
    "ontology/kb/populations.ttl": _populations,
    "ontology/kb/mappings.ttl": mappings_turtle,  # SKOS links: the SSSOM file is their one source
    "shapes/value-sets.ttl": _value_sets,
    "ontology/kb/topic-235-ratings.ttl": lambda: curated_ratings_turtle(kb_dir() / "tables" / "topic-235.csv", source_files()),
}


def generate() -> dict[str, str]:
    """The expected text of every generated file, by relative path."""
    return {relative: make() for relative, make in GENERATED.items()}


def stale_files(root: Path = data_root()) -> list[str]:
    """Relative paths of generated files that are missing or differ from what `acr-kg build` would write."""
    stale = []
    for relative, text in generate().items():
        path = root / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale


def write_all(root: Path = data_root()) -> list[str]:
    """Write every generated file; return the relative paths whose content changed."""
    changed = []
    for relative, text in generate().items():
        path = root / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a committed file is world-readable
        os.replace(tmp, path)
        changed.append(relative)
    return changed
