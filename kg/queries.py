"""The catalogue of named SPARQL queries in queries/: one query per .rq file, named after the file.

A query file starts with comment lines: the first is its one-line description, and each
``# @param NAME TYPE DESCRIPTION`` line declares a parameter, written ``$NAME`` in the query body.
A ``# @needs PREDICATE`` line says that the query has no answer unless the data hold a triple with that
predicate; the recommender then skips it for patients without one (a test checks each such claim).
A ``# @knowledge-base`` line in the body marks the group that follows it, ``{ SELECT ... }``, as reading
the knowledge base alone: the engine answers it once and sends its solutions as a VALUES table instead
(kg.recommend.engine), and the file stays a query that runs as written on any endpoint.
Queries under ``queries/internal/`` serve the toolkit itself (reading the context of a validation, the
labels of variants); they are not part of the catalogue users browse.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from kg.errors import UsageError
from kg.resources import queries_dir
from kg.store import IRI, Value, to_oxigraph
from kg.terms import PREFIXES, RDF_TYPE, expand

INTERNAL = "internal"

_PARAM = re.compile(r"^#\s*@param\s+(\w+)\s+(\w+)\s*(.*)$")
_NEEDS = re.compile(r"^#\s*@needs\s+(\w*):(\S+)\s*$")
_PREFIX = re.compile(r"^\s*PREFIX\s+(\w*):\s*<([^>]*)>", re.IGNORECASE | re.MULTILINE)
_IRI = re.compile(r"<([^<>\s]+)>")
_CURIE = re.compile(r"(?<![\w?$<])([A-Za-z][\w-]*)?:([A-Za-z_][\w-]*)")

# How a --param KEY=VALUE string becomes a typed value, per declared parameter type.
_PARSERS = {
    "iri": lambda text: IRI(expand(text)),  # a CURIE of our prefixes, as `map` takes them, or a full IRI
    "string": str,
    "date": dt.date.fromisoformat,
    "integer": int,
    "decimal": Decimal,
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    path: Path
    text: str
    description: str
    params: tuple[Param, ...]
    form: str  # SELECT, CONSTRUCT, ASK or DESCRIBE
    needs: tuple[str, ...] = ()  # predicate IRIs without which the query has no answer
    # (start, end) of each group marked ``# @knowledge-base``, braces included
    knowledge_base_parts: tuple[tuple[int, int], ...] = ()

    def with_knowledge_base_answered(self, answer) -> str:
        """The text with each knowledge-base part replaced by its solutions as a VALUES table;
        ``answer(select_text)`` gives (variable names, rows of SPARQL term texts, None for unbound)."""
        text = self.text
        prologue = "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in _PREFIX.findall(text))
        for start, end in reversed(self.knowledge_base_parts):
            names, rows = answer(f"{prologue}SELECT * WHERE {text[start:end]}")
            table = "\n".join("    (" + " ".join("UNDEF" if term is None else term for term in row) + ")" for row in rows)
            text = f"{text[:start]}VALUES ({' '.join('?' + name for name in names)}) {{\n{table}\n  }}{text[end:]}"
        return text

    def coerce(self, raw: dict[str, str]) -> dict[str, Value]:
        """Check and type --param values against the declared parameters."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(declared))
        if unknown:
            raise UsageError(f"query {self.name!r} has no parameter {', '.join(unknown)}; "
                             f"it takes: {', '.join(declared) or 'none'}")
        missing = sorted(set(declared) - set(raw))
        if missing:
            raise UsageError(f"query {self.name!r} needs --param {missing[0]}=... ({declared[missing[0]].description})")
        values = {}
        for key, text in raw.items():
            param = declared[key]
            try:
                values[key] = _PARSERS[param.type](text)
                to_oxigraph(values[key])  # an IRI must be an IRI, a number finite, before it reaches a query
            except (ValueError, InvalidOperation, KeyError, UsageError):
                raise UsageError(f"parameter {key}={text!r} is not a valid {param.type}") from None
        return values


def _read(path: Path) -> NamedQuery:
    name = path.relative_to(queries_dir()).with_suffix("").as_posix()
    text = path.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    description = comments[0].lstrip("# ").strip() if comments else ""
    params = tuple(Param(*m.groups()) for line in comments if (m := _PARAM.match(line)))
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", "PREFIX", "prefix"))]
    form = body[0].split(None, 1)[0].upper() if body else "SELECT"
    prefixes = dict(_PREFIX.findall(text))
    needs = []
    for line in comments:
        if (m := _NEEDS.match(line)):
            if m.group(1) not in prefixes:
                raise UsageError(f"{path}: @needs uses the undeclared prefix {m.group(1)!r}")
            needs.append(prefixes[m.group(1)] + m.group(2))
    return NamedQuery(name, path, text, description, params, form, tuple(needs), _knowledge_base_parts(path, text))


_KNOWLEDGE_BASE = re.compile(r"^[ \t]*#\s*@knowledge-base[ \t]*$", re.MULTILINE)
# What a brace count must skip: strings, IRIs and comments (a brace inside them is no group).
_SKIPPED = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                      r"'(?:[^'\\\n]|\\.)*'|<[^<>\"{}|^`\\\s]*>|#[^\n]*|[{}]")


def _knowledge_base_parts(path: Path, text: str) -> tuple[tuple[int, int], ...]:
    parts = []
    for marker in _KNOWLEDGE_BASE.finditer(text):
        start = text.find("{", marker.end())
        if start < 0 or text[marker.end():start].strip() or not re.match(r"\{\s*SELECT\b", text[start:], re.IGNORECASE):
            raise UsageError(f"{path}: @knowledge-base must be followed by a group {{ SELECT ... }}")
        depth = 0
        for token in _SKIPPED.finditer(text, start):
            depth += {"{": 1, "}": -1}.get(token.group(), 0)
            if depth == 0:
                parts.append((start, token.end()))
                break
        else:
            raise UsageError(f"{path}: the @knowledge-base group is not closed")
    return tuple(parts)


def prefixes_of(text: str) -> dict[str, str]:
    """The prefixes a query text can use: the toolkit's, and those it declares (which win)."""
    return dict(PREFIXES) | dict(_PREFIX.findall(text))


def written_iris(text: str) -> set[str]:
    """Every IRI a query's text writes, in full or as a prefixed name, and rdf:type for ``a``: comments
    and strings included, so a superset of the IRIs the query can read."""
    prefixes = prefixes_of(text)
    iris = set(_IRI.findall(text)) | {RDF_TYPE}
    return iris | {prefixes[p or ""] + local for p, local in _CURIE.findall(text) if (p or "") in prefixes}


def in_folder(folder: str) -> list[NamedQuery]:
    """The queries of one subfolder of queries/ (``fhir``, ``internal/fhir``), by name."""
    return [query for name, query in _all().items() if name.rpartition("/")[0] == folder]


@lru_cache(maxsize=None)
def _all() -> dict[str, NamedQuery]:
    return {query.name: query for query in map(_read, sorted(queries_dir().rglob("*.rq")))}


@lru_cache(maxsize=None)
def catalogue() -> dict[str, NamedQuery]:
    """Every named query for users; subfolders give a prefix (queries/qc/x.rq is 'qc/x')."""
    return {name: query for name, query in _all().items() if not name.startswith(INTERNAL + "/")}


def internal(name: str) -> NamedQuery:
    """A query of queries/internal/, used by the toolkit itself."""
    return _all()[f"{INTERNAL}/{name}"]


def get(name: str) -> NamedQuery:
    try:
        return catalogue()[name]
    except KeyError:
        raise UsageError(f"no query named {name!r}; known: {', '.join(catalogue())}") from None
