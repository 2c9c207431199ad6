"""The embedded pyoxigraph store: the default engine, and the only writable one for patients."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox

from kg.errors import InputError
from kg.resources import ontology_files
from kg.store.base import Rows
from kg.store.terms import bind, from_oxigraph, to_oxigraph

# The knowledge base is a graph of its own and patients are in the default graph: patient triples are
# loaded as the readers give them (not copied one by one into a graph) and emptied with the default graph.
KNOWLEDGE_GRAPH = ox.NamedNode("urn:acr-kg:graph:knowledge-base")
# Oxigraph's in-memory store keeps the history of removed triples, and queries slow down as patients come
# and go (three explanation queries on 100 patients: 52 -> 79 ms after a million triples; calls one by one
# ~5 % slower when renewed every 20,000 triples instead of 4,000); a fresh copy of the knowledge base
# costs about 5 ms, once every REFRESH_AFTER patient triples.
REFRESH_AFTER = 4_000


@lru_cache(maxsize=8)
def knowledge_base_nquads(files: tuple[Path, ...] | None = None) -> bytes:
    """The knowledge base (the project's files, or the given ones), parsed once and kept as N-Quads."""
    store = ox.Store()
    for path in files or ontology_files():
        try:
            store.load(path=str(path), format=ox.RdfFormat.TURTLE, base_iri=Path(path).absolute().as_uri())
        except (SyntaxError, OSError) as exc:  # a knowledge base given with --kb-dir, say
            raise InputError(f"not readable as Turtle: {getattr(exc, 'msg', None) or exc}", str(path),
                             getattr(exc, "lineno", None)) from None
    return store.dump(format=ox.RdfFormat.N_QUADS)


@lru_cache(maxsize=8)
def _knowledge_base_quads(files: tuple[Path, ...] | None = None) -> tuple[ox.Quad, ...]:
    """The same, as quads in the knowledge-base graph: a store takes them in half the time it takes to
    parse the N-Quads again."""
    return tuple(ox.Quad(q.subject, q.predicate, q.object, KNOWLEDGE_GRAPH)
                 for q in ox.parse(knowledge_base_nquads(files), format=ox.RdfFormat.N_QUADS))


class EmbeddedStore:
    """An in-memory pyoxigraph store holding the knowledge base. Not shared between threads: the engine
    gives each call a store of its own."""

    name = "oxigraph"
    concurrent = True
    values_tables = True

    def __init__(self, kb_files=None):
        self._knowledge = _knowledge_base_quads(tuple(kb_files) if kb_files else None)
        self._fresh()
        self._default = [KNOWLEDGE_GRAPH, ox.DefaultGraph()]

    def _fresh(self) -> None:
        self.store = ox.Store()
        self.store.extend(self._knowledge)
        self._loaded = 0  # patient triples added since the store was last fresh
        self._holding = False  # whether the default graph holds patients (clearing an empty one is not free)

    def _query(self, query, params):
        return self.store.query(bind(query, params), default_graph=self._default)

    def select(self, query, params=None) -> Rows:
        result = self._query(query, params)
        names = [v.value for v in result.variables]
        return Rows(names, [dict(zip(names, map(from_oxigraph, solution))) for solution in result])

    def term_rows(self, query) -> tuple[list[str], list[list]]:
        """A SELECT's variables and its solutions as pyoxigraph terms (None: unbound), each exactly as
        stored (a datatype the toolkit has no Python type for included); ValueError for a blank node."""
        result = self._query(query, None)
        names = [v.value for v in result.variables]
        rows = [list(solution) for solution in result]
        if any(isinstance(term, ox.BlankNode) for row in rows for term in row):
            raise ValueError("a blank node in the answer")
        return names, rows

    def ask(self, query, params=None) -> bool:
        return bool(self._query(query, params))

    def construct(self, query, params=None):
        return [(from_oxigraph(t.subject), from_oxigraph(t.predicate), from_oxigraph(t.object))
                for t in self._query(query, params)]

    def set_patients(self, quads) -> None:
        if self._loaded > REFRESH_AFTER:
            self._fresh()
        elif self._holding:
            self.store.clear_graph(ox.DefaultGraph())
        self._holding = False
        if quads:  # a quad of a named graph (JSON-LD may have them) is a patient triple like any other
            self._add([q if isinstance(q.graph_name, ox.DefaultGraph) else ox.Quad(q.subject, q.predicate, q.object)
                       for q in quads])

    def _add(self, quads: list) -> None:
        self._loaded += len(quads)
        self._holding = self._holding or bool(quads)
        self.store.extend(quads)

    def add_patient_triples(self, triples) -> None:
        self._add([ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)) for s, p, o in triples])
