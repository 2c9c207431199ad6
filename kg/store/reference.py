"""rdflib's own SPARQL engine over the same data: slow, kept as an independent reference."""
from __future__ import annotations

import pyoxigraph as ox
import rdflib
from kg.store.base import Rows
from kg.store.embedded import knowledge_base_nquads
from kg.store.terms import BNode, IRI, bind, from_oxigraph, literal_value, to_oxigraph


def from_rdflib(term):
    if term is None:
        return None
    if isinstance(term, rdflib.URIRef):
        return IRI(str(term))
    if isinstance(term, rdflib.BNode):
        return BNode(str(term))
    return literal_value(str(term), str(term.datatype) if term.datatype else None, term.language)


def to_rdflib(value):
    """A Python value or pyoxigraph term as an rdflib term (through pyoxigraph, the one converter)."""
    term = to_oxigraph(value)
    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return rdflib.BNode(term.value)
    if term.language:
        return rdflib.Literal(term.value, lang=term.language)
    return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))


class RdflibStore:
    name = "rdflib"
    concurrent = False
    values_tables = False

    def __init__(self, kb_files=None):
        self.kb = rdflib.Graph()
        self.kb.parse(data=knowledge_base_nquads(tuple(kb_files) if kb_files else None).decode(), format="nt")
        self.set_patients(None)

    def _query(self, query, params):
        return self.graph.query(bind(query, params))

    def select(self, query, params=None) -> Rows:
        result = self._query(query, params)
        names = [str(v) for v in result.vars]
        return Rows(names, [{n: from_rdflib(row[i]) for i, n in enumerate(names)} for row in result])

    def ask(self, query, params=None) -> bool:
        return bool(self._query(query, params).askAnswer)

    def construct(self, query, params=None):
        return [(from_rdflib(s), from_rdflib(p), from_rdflib(o)) for s, p, o in self._query(query, params)]

    def set_patients(self, quads) -> None:
        self.graph = rdflib.Graph()
        self.graph += self.kb
        if quads:
            self.add_patient_triples((from_oxigraph(q.subject), from_oxigraph(q.predicate), from_oxigraph(q.object))
                                     for q in quads)

    def add_patient_triples(self, triples) -> None:
        for s, p, o in triples:
            self.graph.add((to_rdflib(s), to_rdflib(p), to_rdflib(o)))

