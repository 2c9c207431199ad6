"""What every backend offers: read-only SPARQL over the knowledge base, answered as plain values."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kg.store.terms import Value

Triple = tuple[Any, Any, Any]


@dataclass(frozen=True)
class Rows:
    """The answer to a SELECT: variable names in query order and one dict per solution."""

    variables: list[str]
    rows: list[dict[str, Value | None]]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


class Backend(Protocol):
    """A read-only SPARQL engine holding the knowledge base in its default graph."""

    name: str
    # whether several threads may query it at once and gain by it (an engine that plans and evaluates
    # outside Python's lock): a call then runs its independent queries side by side
    concurrent: bool
    # whether the engine may send a query's knowledge-base parts as VALUES tables (kg.queries), built from
    # the store's ``term_rows``: rdflib 7 lost rows of criteria-status when sent a VALUES table in place
    # of its sub-select (those its OPTIONALs leave unbound), so it runs queries as written
    values_tables: bool

    def select(self, query: str, params: Mapping[str, Value] | None = None) -> Rows: ...

    def construct(self, query: str, params: Mapping[str, Value] | None = None) -> list[Triple]: ...

    def ask(self, query: str, params: Mapping[str, Value] | None = None) -> bool: ...


class PatientStore(Backend, Protocol):
    """A backend that can also hold patient data beside the knowledge base, for one call at a time.

    Patient triples go to a graph of their own that queries see as part of the default graph, so the
    named queries need no GRAPH clause and run unchanged on every engine.
    """

    def set_patients(self, quads) -> None:
        """Replace the patient data with these quads (or none)."""

    def add_patient_triples(self, triples) -> None:
        """Add derived triples (Python values) to the patient data."""
