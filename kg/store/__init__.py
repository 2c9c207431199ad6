"""SPARQL backends behind one interface: the embedded pyoxigraph store (default), rdflib (reference
engine for cross-checking), and a remote SPARQL 1.1 endpoint over HTTP.

Every backend holds the knowledge base in its default graph. A patient's triples go to a named graph of
their own and are seen by queries as part of the default graph, so the named queries need no GRAPH
clause and run unchanged everywhere. Results come back as plain Python values (see ``Value``) so that
answers from different engines compare equal.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyoxigraph as ox

from kg.errors import EndpointError, UsageError
from kg.resources import ontology_files

XSD = "http://www.w3.org/2001/XMLSchema#"
PATIENT_GRAPH = "urn:acr-kg:graph:patient"
REFRESH_AFTER = 4_000  # patient triples loaded between fresh copies of the embedded store (see set_patient)


class IRI(str):
    """An IRI in a query result (a str, so it prints and compares as its text)."""

    __slots__ = ()


class BNode(str):
    """A blank node label in a query result."""

    __slots__ = ()


Value = IRI | BNode | str | int | Decimal | float | bool | dt.date | dt.datetime
Triple = tuple[str, str, Any]


# --- converting terms ----------------------------------------------------------------------------

def _literal_value(lexical: str, datatype: str | None, language: str | None):
    if language or datatype in (None, XSD + "string", "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"):
        return lexical
    try:
        if datatype in (XSD + "integer", XSD + "int", XSD + "long", XSD + "nonNegativeInteger",
                        XSD + "positiveInteger"):
            return int(lexical)
        if datatype == XSD + "decimal":
            return Decimal(lexical)
        if datatype in (XSD + "double", XSD + "float"):
            return float(lexical)
        if datatype == XSD + "boolean":
            return lexical.strip() in ("true", "1")
        if datatype == XSD + "date":
            return dt.date.fromisoformat(lexical)
        if datatype == XSD + "dateTime":
            return dt.datetime.fromisoformat(lexical)
    except ValueError:
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
    datatype = term.datatype.value if term.datatype is not None else None
    return _literal_value(term.value, datatype, term.language)


def from_rdflib(term) -> Value | None:
    import rdflib

    if term is None:
        return None
    if isinstance(term, rdflib.URIRef):
        return IRI(str(term))
    if isinstance(term, rdflib.BNode):
        return BNode(str(term))
    return _literal_value(str(term), str(term.datatype) if term.datatype else None, term.language)


def sparql_term(value: Value) -> str:
    """Write a Python value as a SPARQL term, for parameter binding."""
    if isinstance(value, IRI):
        return f"<{value}>"
    if isinstance(value, bool):
        return f'"{str(value).lower()}"^^<{XSD}boolean>'
    if isinstance(value, int):
        return f'"{value}"^^<{XSD}integer>'
    if isinstance(value, Decimal):
        return f'"{value}"^^<{XSD}decimal>'
    if isinstance(value, float):
        return f'"{value!r}"^^<{XSD}double>'
    if isinstance(value, dt.datetime):
        return f'"{value.isoformat()}"^^<{XSD}dateTime>'
    if isinstance(value, dt.date):
        return f'"{value.isoformat()}"^^<{XSD}date>'
    if isinstance(value, str):
        return json.dumps(value)
    raise UsageError(f"cannot bind a parameter of type {type(value).__name__}")


def bind(query: str, params: Mapping[str, Value]) -> str:
    """Bind parameters: every ``$name`` in the query text becomes the constant term.

    Named queries write parameters as ``$name`` and ordinary variables as ``?name``, so a query file is
    valid SPARQL on its own and binding is a plain substitution that means the same thing on every
    engine, inside nested groups and subqueries too (unlike a VALUES block, whose bindings reach a
    nested BIND only after the fact).
    """
    for name, value in params.items():
        pattern = re.compile(r"\$" + re.escape(name) + r"\b")
        if not pattern.search(query):
            raise UsageError(f"the query has no parameter ${name}")
        query = pattern.sub(lambda _m, term=sparql_term(value): term, query)
    return query


# --- the backends --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rows:
    """The answer to a SELECT: variable names in query order and one dict per solution."""

    variables: list[str]
    rows: list[dict[str, Value | None]]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


class Backend:
    """The interface all backends share."""

    name = "abstract"

    def select(self, query: str, params: Mapping[str, Value] | None = None) -> Rows:
        raise NotImplementedError

    def construct(self, query: str, params: Mapping[str, Value] | None = None) -> list[Triple]:
        raise NotImplementedError

    def set_patient(self, turtle_or_triples) -> None:
        """Replace the patient graph (seen as part of the default graph) with the given data."""
        raise NotImplementedError

    def add_patient_triples(self, triples: Iterable[Triple]) -> None:
        raise NotImplementedError


@lru_cache(maxsize=1)
def _knowledge_base_nquads() -> bytes:
    """The whole knowledge base, parsed once per process and kept as N-Quads for fast reloading."""
    store = ox.Store()
    for path in ontology_files():
        store.load(path=str(path), format=ox.RdfFormat.TURTLE, base_iri=path.as_uri())
    return store.dump(format=ox.RdfFormat.N_QUADS)


def to_oxigraph(value):
    if isinstance(value, IRI):
        return ox.NamedNode(value)
    if isinstance(value, BNode):
        return ox.BlankNode(value)
    if isinstance(value, (ox.NamedNode, ox.BlankNode, ox.Literal)):
        return value
    lexical, datatype = _literal_parts(value)
    return ox.Literal(lexical, datatype=datatype)


def _literal_parts(value):
    if isinstance(value, bool):
        return str(value).lower(), ox.NamedNode(XSD + "boolean")
    if isinstance(value, int):
        return str(value), ox.NamedNode(XSD + "integer")
    if isinstance(value, Decimal):
        return str(value), ox.NamedNode(XSD + "decimal")
    if isinstance(value, float):
        return repr(value), ox.NamedNode(XSD + "double")
    if isinstance(value, dt.datetime):
        return value.isoformat(), ox.NamedNode(XSD + "dateTime")
    if isinstance(value, dt.date):
        return value.isoformat(), ox.NamedNode(XSD + "date")
    return str(value), ox.NamedNode(XSD + "string")


class EmbeddedStore(Backend):
    """An in-memory pyoxigraph store holding the knowledge base."""

    name = "oxigraph"

    def __init__(self, kb_files: Iterable | None = None):
        self._kb_files = kb_files
        self._loaded = 0  # patient triples added since the store was last fresh
        self.store = ox.Store()
        if kb_files is None:
            self.store.load(_knowledge_base_nquads(), format=ox.RdfFormat.N_QUADS)
        else:
            for path in kb_files:
                self.store.load(path=str(path), format=ox.RdfFormat.TURTLE)
        self._patient = ox.NamedNode(PATIENT_GRAPH)
        self._default = [ox.DefaultGraph(), self._patient]

    def select(self, query, params=None) -> Rows:
        result = self.store.query(bind(query, params or {}), default_graph=self._default)
        names = [v.value for v in result.variables]
        rows = [dict(zip(names, map(from_oxigraph, solution))) for solution in result]
        return Rows(names, rows)

    def ask(self, query, params=None) -> bool:
        return bool(self.store.query(bind(query, params or {}), default_graph=self._default))

    def construct(self, query, params=None) -> list[Triple]:
        result = self.store.query(bind(query, params or {}), default_graph=self._default)
        return [(from_oxigraph(t.subject), from_oxigraph(t.predicate), from_oxigraph(t.object)) for t in result]

    def set_patient(self, quads_or_store) -> None:
        if self._kb_files is None and self._loaded > REFRESH_AFTER:
            # Oxigraph's in-memory store keeps the history of removed triples, and queries slow down
            # as patients come and go (26 -> 36 ms per patient after 1,200 patients); a fresh copy of
            # the knowledge base costs 8 ms, once every REFRESH_AFTER patient triples.
            self.store = ox.Store()
            self.store.load(_knowledge_base_nquads(), format=ox.RdfFormat.N_QUADS)
            self._loaded = 0
        else:
            self.store.clear_graph(self._patient)
        if quads_or_store is None:
            return
        quads = [ox.Quad(q.subject, q.predicate, q.object, self._patient) for q in quads_or_store]
        self._loaded += len(quads)
        self.store.extend(quads)

    def add_patient_triples(self, triples) -> None:
        quads = [ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), self._patient) for s, p, o in triples]
        self._loaded += len(quads)
        self.store.extend(quads)


class RdflibStore(Backend):
    """rdflib's own SPARQL engine over the same data; slow, kept as an independent reference."""

    name = "rdflib"

    def __init__(self):
        import rdflib

        self._rdflib = rdflib
        self.kb = rdflib.Graph()
        self.kb.parse(data=_knowledge_base_nquads().decode(), format="nt")
        self.graph = rdflib.Graph()
        self._reset()

    def _reset(self):
        self.graph = self._rdflib.Graph()
        for t in self.kb:
            self.graph.add(t)
        self._base = len(self.graph)

    def select(self, query, params=None) -> Rows:
        result = self.graph.query(bind(query, params or {}))
        names = [str(v) for v in result.vars]
        rows = [{n: from_rdflib(row[i]) for i, n in enumerate(names)} for row in result]
        return Rows(names, rows)

    def ask(self, query, params=None) -> bool:
        return bool(self.graph.query(bind(query, params or {})).askAnswer)

    def construct(self, query, params=None) -> list[Triple]:
        result = self.graph.query(bind(query, params or {}))
        return [(from_rdflib(s), from_rdflib(p), from_rdflib(o)) for s, p, o in result]

    def set_patient(self, quads_or_store) -> None:
        self._reset()
        if quads_or_store is None:
            return
        self.add_patient_triples(
            (from_oxigraph(q.subject), from_oxigraph(q.predicate), from_oxigraph(q.object)) for q in quads_or_store)

    def add_patient_triples(self, triples) -> None:
        for s, p, o in triples:
            self.graph.add((self._node(s), self._node(p), self._node(o)))

    def _node(self, value):
        rdflib = self._rdflib
        if isinstance(value, IRI):
            return rdflib.URIRef(value)
        if isinstance(value, BNode):
            return rdflib.BNode(value)
        lexical, datatype = _literal_parts(value)
        return rdflib.Literal(lexical, datatype=rdflib.URIRef(datatype.value))


class RemoteEndpoint(Backend):
    """A SPARQL 1.1 endpoint reached by the SPARQL protocol (e.g. ``oxigraph serve``).

    Read-only: it answers named queries about the knowledge base that the server holds.
    """

    name = "remote"

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url
        self.timeout = timeout

    def _post(self, query: str, accept: str) -> bytes:
        body = urllib.parse.urlencode({"query": query}).encode()
        request = urllib.request.Request(self.url, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise EndpointError(f"{self.url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EndpointError(f"cannot reach SPARQL endpoint {self.url}: {exc}") from exc

    def select(self, query, params=None) -> Rows:
        data = json.loads(self._post(bind(query, params or {}), "application/sparql-results+json"))
        names = data["head"]["vars"]
        rows = [{n: _from_json_term(b.get(n)) for n in names} for b in data["results"]["bindings"]]
        return Rows(names, rows)

    def ask(self, query, params=None) -> bool:
        return bool(json.loads(self._post(bind(query, params or {}), "application/sparql-results+json"))["boolean"])

    def construct(self, query, params=None) -> list[Triple]:
        data = self._post(bind(query, params or {}), "application/n-triples")
        return [(from_oxigraph(t.subject), from_oxigraph(t.predicate), from_oxigraph(t.object))
                for t in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)]

    def set_patient(self, quads_or_store) -> None:
        raise UsageError("a remote endpoint is read-only here: patient data are evaluated on the embedded store")

    add_patient_triples = set_patient


def _from_json_term(term: dict | None) -> Value | None:
    if term is None:
        return None
    kind = term["type"]
    if kind == "uri":
        return IRI(term["value"])
    if kind == "bnode":
        return BNode(term["value"])
    return _literal_value(term["value"], term.get("datatype"), term.get("xml:lang"))


def open_backend(descriptor: str | None = None) -> Backend:
    """Pick a backend by descriptor: ``oxigraph`` (default), ``rdflib`` or an ``http(s)://`` endpoint URL."""
    if descriptor in (None, "", "oxigraph"):
        return EmbeddedStore()
    if descriptor == "rdflib":
        return RdflibStore()
    if descriptor.startswith(("http://", "https://")):
        return RemoteEndpoint(descriptor)
    raise UsageError(f"unknown backend {descriptor!r}: use 'oxigraph', 'rdflib' or an http(s):// SPARQL endpoint URL")
