"""Terms between RDF engines and Python: the one converter of the toolkit, and parameter binding.

Results come back as plain Python values (``Value``) so that answers from different engines compare
equal. Parameters go the other way: a value is turned into an RDF term by pyoxigraph, which checks IRIs
and escapes literals, and only that term's own serialisation reaches the query text.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import pyoxigraph as ox

from kg.errors import UsageError
from kg.terms import RDF, XSD


class IRI(str):
    """An IRI in a query result (a str, so it prints and compares as its text)."""

    __slots__ = ()


class BNode(str):
    """A blank node label in a query result."""

    __slots__ = ()


class LangString(str):
    """A language-tagged string in a query result: its text, with the tag kept for RDF output."""

    __slots__ = ("language",)

    def __new__(cls, text: str, language: str):
        value = super().__new__(cls, text)
        value.language = language
        return value

    def __reduce__(self):  # copies and pickles keep the tag
        return LangString, (str(self), self.language)


Value = IRI | BNode | str | int | Decimal | float | bool | dt.date | dt.datetime

_INTEGERS = {XSD + name for name in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                     "positiveInteger", "nonPositiveInteger", "negativeInteger",
                                     "unsignedInt", "unsignedLong", "unsignedShort", "unsignedByte")}


def literal_value(lexical: str, datatype: str | None, language: str | None = None) -> Value:
    """The Python value of a literal; its lexical form when it is ill-typed or of another datatype."""
    if language:
        return LangString(lexical, language)
    if datatype in (None, XSD + "string", RDF + "langString"):
        return lexical
    try:
        if datatype in _INTEGERS:
            return int(lexical)
        if datatype == XSD + "decimal":
            value = Decimal(lexical)
            return value if value.is_finite() else lexical
        if datatype in (XSD + "double", XSD + "float"):
            return float(lexical)
        if datatype == XSD + "boolean":
            return lexical.strip() in ("true", "1")
        if datatype == XSD + "date":
            return dt.date.fromisoformat(lexical)
        if datatype == XSD + "dateTime":
            return dt.datetime.fromisoformat(lexical)
    except (ValueError, InvalidOperation):
        return lexical
    return lexical


@lru_cache(maxsize=1 << 16)
def from_oxigraph(term) -> Value | None:
    # Cached: answers repeat the same knowledge-base terms (variants, labels) across rows and patients.
    if term is None:
        return None
    if isinstance(term, ox.NamedNode):
        return IRI(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        return literal_value(term.value, term.datatype.value if term.datatype else None, term.language)
    raise UsageError(f"unsupported RDF term in a result: {term}")  # e.g. an RDF 1.2 triple term


def _literal_parts(value: Value) -> tuple[str, str]:
    if isinstance(value, bool):
        return str(value).lower(), XSD + "boolean"
    if isinstance(value, int):
        return str(value), XSD + "integer"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UsageError(f"{value} is not a number that RDF can hold")
        return str(value), XSD + "decimal"
    if isinstance(value, float):
        return repr(value), XSD + "double"
    if isinstance(value, dt.datetime):
        return value.isoformat(), XSD + "dateTime"
    if isinstance(value, dt.date):
        return value.isoformat(), XSD + "date"
    if isinstance(value, str):
        return value, XSD + "string"
    raise UsageError(f"cannot use a value of type {type(value).__name__} as an RDF term")


def to_oxigraph(value) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """A Python value as a pyoxigraph term; an IRI that is not a valid IRI is a usage error."""
    if isinstance(value, (ox.NamedNode, ox.BlankNode, ox.Literal)):
        return value
    try:
        if isinstance(value, IRI):
            return ox.NamedNode(value)
        if isinstance(value, BNode):
            return ox.BlankNode(value)
        if isinstance(value, LangString):
            return ox.Literal(str(value), language=value.language)
        lexical, datatype = _literal_parts(value)
        return ox.Literal(lexical, datatype=ox.NamedNode(datatype))
    except ValueError as exc:
        raise UsageError(f"{str(value)!r} is not a valid {'IRI' if isinstance(value, IRI) else 'RDF term'}: {exc}") from None


def bind(query: str, params: Mapping[str, Value] | None) -> str:
    """The query with every ``$name`` parameter replaced by its checked, serialised term.

    Named queries write parameters as ``$name`` and ordinary variables as ``?name``, so a query file is
    valid SPARQL on its own, and a bound query means the same on every engine, inside subqueries too.
    The term text comes from pyoxigraph (N-Triples syntax, which SPARQL reads): no value can close a
    quote or an IRI bracket.
    """
    if _calls_service(query):
        # Both Oxigraph and rdflib would fetch it: a query never reaches the network on our behalf.
        raise UsageError("SPARQL SERVICE is refused: queries never touch the network")
    for name, value in (params or {}).items():
        pattern = re.compile(r"\$" + re.escape(name) + r"\b")
        if not pattern.search(query):
            raise UsageError(f"the query has no parameter ${name}")
        term = str(to_oxigraph(value))
        query = pattern.sub(lambda _m: term, query)
    return query


@lru_cache(maxsize=1024)
def _calls_service(query: str) -> bool:
    """Whether the query text names SERVICE outside strings, IRIs and comments. Checked before values are
    bound (a bound term is always a quoted literal, a bracketed IRI or a blank node label), and kept per
    text: the engine sends the same few queries again and again."""
    return bool(_SERVICE.search(_STRINGS_IRIS_COMMENTS.sub(" ", query)))


# What can hide a keyword from a token scan: string literals, IRIs and comments.
_STRINGS_IRIS_COMMENTS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                                    r"'(?:[^'\\\n]|\\.)*'|<[^<>\"{}|^`\\\s]*>|#[^\n]*")
_SERVICE = re.compile(r"\bSERVICE\b", re.IGNORECASE)
