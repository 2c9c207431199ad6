"""SPARQL backends behind one read-only interface, chosen by a descriptor: the embedded pyoxigraph store
(default, and the only one that also holds patient data), rdflib (the reference engine for
cross-checking, also writable) and a remote SPARQL 1.1 endpoint (read-only)."""
from __future__ import annotations

from kg.errors import UsageError
from kg.store.base import Backend, PatientStore, Rows, Triple
from kg.store.embedded import EmbeddedStore, knowledge_base_nquads
from kg.store.terms import BNode, IRI, Value, bind, from_oxigraph, literal_value, to_oxigraph

__all__ = ["Backend", "BNode", "EmbeddedStore", "IRI", "PatientStore", "Rows", "Triple", "Value", "bind",
           "from_oxigraph", "knowledge_base_nquads", "literal_value", "open_backend", "open_patient_store",
           "to_oxigraph"]

WRITABLE = ("oxigraph", "rdflib")


def open_patient_store(descriptor: str | None = None, kb_files=None) -> PatientStore:
    """A store that holds the knowledge base and takes patient data: ``oxigraph`` (default) or ``rdflib``."""
    if descriptor in (None, "", "oxigraph"):
        return EmbeddedStore(kb_files)
    if descriptor == "rdflib":
        from kg.store.reference import RdflibStore  # rdflib's SPARQL engine is slow to import

        return RdflibStore(kb_files)
    if descriptor.startswith(("http://", "https://")):
        raise UsageError("a remote endpoint is read-only here: patient data are evaluated on the embedded store")
    raise UsageError(f"unknown backend {descriptor!r}: use 'oxigraph', 'rdflib' or an http(s):// SPARQL endpoint URL")


def open_backend(descriptor: str | None = None, kb_files=None) -> Backend:
    """Pick a backend by descriptor: ``oxigraph`` (default), ``rdflib`` or an ``http(s)://`` endpoint URL.
    ``kb_files``: the knowledge base to load instead of the project's (for the embedded engines)."""
    if descriptor and descriptor.startswith(("http://", "https://")):
        if kb_files:
            raise UsageError("a remote endpoint answers from the knowledge base it holds: --kb-dir does not apply")
        from kg.store.remote import RemoteEndpoint

        return RemoteEndpoint(descriptor)
    return open_patient_store(descriptor, kb_files)
