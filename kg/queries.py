"""The catalogue of named SPARQL queries in queries/: one query per .rq file, named after the file.

A query file starts with comment lines: the first is its one-line description, and each
``# @param NAME TYPE DESCRIPTION`` line declares a parameter, written ``$NAME`` in the query body.
A ``# @needs PREDICATE`` line says that the query has no answer unless the data hold a triple with that
predicate; the recommender then skips it for patients without one (a test checks each such claim).
A ``# @knowledge-base`` line in the body marks the group that follows it, ``{ SELECT ... }``, as reading
the knowledge base alone: the engine answers it once and sends its solutions as a VALUES table instead
(kg.recommend.engine; the table keeps only the columns the rest of the query reads, see ``Answered``), and
the file stays a query that runs as written on any endpoint.
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
from kg.store import IRI, Rows, Value, from_oxigraph, to_oxigraph
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
class Answered:
    """A query as the engine sends it (``NamedQuery.with_knowledge_base_answered``)."""

    form: str
    text: str
    variables: tuple[str, ...] | None = None  # the projection as written, when some columns travel as numbers
    # (row-number variable, the columns it stands for, their values by number), per knowledge-base part
    attached: tuple[tuple[str, tuple[str, ...], tuple[tuple, ...]], ...] = ()

    def complete(self, rows: Rows) -> Rows:
        """The rows of ``text`` as the query as written answers them: each row number replaced by the
        columns it stands for, in the written order."""
        if not self.attached:
            return rows
        found = []
        for row in rows.rows:
            for column, names, values in self.attached:
                number = row.pop(column)
                row.update(zip(names, values[number] if number is not None else (None,) * len(names)))
            found.append({name: row.get(name) for name in self.variables})
        return Rows(list(self.variables), found)


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

    def with_knowledge_base_answered(self, answer) -> Answered:
        """The query with each knowledge-base part replaced by its solutions as a VALUES table;
        ``answer(select_text)`` gives (variable names, rows of terms, None for unbound).

        A table carries only the columns the rest of the query reads, plus, in place of those it only
        projects (labels, sources: most of a table's text), a row number that ``Answered.complete`` turns
        back into them: a shorter text is quicker for the engine to parse and plan."""
        text = self.text
        prologue = "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in _PREFIX.findall(text))
        attached = []
        for number, (start, end) in reversed(list(enumerate(self.knowledge_base_parts))):
            names, rows = answer(f"{prologue}SELECT * WHERE {text[start:end]}")
            read, projected = _outside_uses(self.form, text[:start] + " " + text[end:])
            kept = [i for i, name in enumerate(names) if read is None or name in read]
            moved = [i for i, name in enumerate(names) if name in projected and i not in kept]
            columns = ["?" + names[i] for i in kept]
            if moved:
                column = f"_kb{number}"
                if re.search(r"[?$]" + column + r"\b", self.text):
                    raise UsageError(f"{self.path}: the variable ?{column} is the toolkit's own")
                # numbered by the terms as written: 1 and 1.0, or "a" and "a"@en, are equal as Python values
                numbering: dict[tuple, int] = {}
                values, numbers = [], []
                for row in rows:
                    key = tuple(_term(row[i]) for i in moved)
                    if key not in numbering:
                        numbering[key] = len(values)
                        values.append(tuple(_value(row[i]) for i in moved))
                    numbers.append(numbering[key])
                attached.append((column, tuple(names[i] for i in moved), tuple(values)))
                columns.append("?" + column)
            table = "\n".join("    (" + " ".join([_term(row[i]) for i in kept] + ([str(numbers[r])] if moved else [])) + ")"
                              for r, row in enumerate(rows))
            text = f"{text[:start]}VALUES ({' '.join(columns)}) {{\n{table}\n  }}{text[end:]}"
        if attached:  # the projection as written, with each row number in place of the columns it stands for
            text = _replace_projection(text, [name for name, _, _ in attached], {n for _, moved, _ in attached for n in moved})
        return Answered(self.form, text, _projection(self.text) if attached else None, tuple(attached))

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
# Strings, IRIs and comments: a brace or a variable inside them is none (the brace count below, and which
# columns of a knowledge-base part the rest of a query reads).
_TEXTS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                    r"'(?:[^'\\\n]|\\.)*'|<[^<>\"{}|^`\\\s]*>|#[^\n]*")
_SKIPPED = re.compile(_TEXTS.pattern + r"|[{}]")


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


_VARIABLE = re.compile(r"[?$](\w+)")
_SELECT = re.compile(r"\bSELECT\b(?:\s+(?:DISTINCT|REDUCED)\b)?(.*?)(?=\bWHERE\b|\{)", re.IGNORECASE | re.DOTALL)


def _outside_uses(form: str, outside: str) -> tuple[set[str] | None, set[str]]:
    """Of the variables in the text outside one knowledge-base part: those read (in a pattern, an
    expression, ORDER or GROUP BY; None: all of them, as ``SELECT *`` or a form other than SELECT
    may answer with any), and those only projected by the outermost SELECT."""
    code = _TEXTS.sub(" ", outside)
    head = _SELECT.search(code) if form == "SELECT" else None
    if head is None or head.group(1).strip() == "*":
        return None, set()
    bare, expressions = _split_projection(head.group(1))
    rest = code[:head.start(1)] + expressions + code[head.end(1):]
    return set(_VARIABLE.findall(rest)), set(_VARIABLE.findall(bare))


def _split_projection(projection: str) -> tuple[str, str]:
    """A projection's text as (its bare variables, its parenthesised expressions), each with the other's
    characters blanked: what an expression names is read, not only projected."""
    depth, bare, expressions = 0, [], []
    for char in projection:
        depth += char == "("
        inside = depth > 0
        depth -= char == ")"
        bare.append(" " if inside else char)
        expressions.append(char if inside else " ")
    return "".join(bare), "".join(expressions)


def _projection(text: str) -> tuple[str, ...]:
    """The outermost SELECT's variables in order: bare ones, and those an expression binds with AS."""
    head = _SELECT.search(_TEXTS.sub(" ", text)).group(1)
    bare, expressions = _split_projection(head)
    names = [(m.start(), m.group(1)) for m in _VARIABLE.finditer(bare)]
    names += [(m.start(), m.group(1)) for m in re.finditer(r"\bAS\s+[?$](\w+)", expressions, re.IGNORECASE)]
    return tuple(name for _, name in sorted(names))


def _replace_projection(text: str, numbers: list[str], moved: set[str]) -> str:
    """The outermost SELECT with the moved columns left out and the row-number variables added."""
    code = _TEXTS.sub(lambda m: " " * len(m.group()), text)  # same offsets, no variable inside a text
    head = _SELECT.search(code)
    start, end = head.span(1)
    projection = list(text[start:end])
    for match in _VARIABLE.finditer(_split_projection(code[start:end])[0]):
        if match.group(1) in moved:
            projection[match.start():match.end()] = " " * (match.end() - match.start())
    return f"{text[:start]}{''.join(projection).rstrip()} {' '.join('?' + n for n in numbers)}\n{text[end:]}"


def _term(term) -> str:
    return "UNDEF" if term is None else str(term)


def _value(term):
    return None if term is None else from_oxigraph(term)


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
