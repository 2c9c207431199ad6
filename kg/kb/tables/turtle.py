"""A small Turtle writer: subjects in the order they were first stated, each with its predicates in the
order given, so the same tables always give the same file (a generated file is compared byte for byte).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from kg.terms import ACR, ACRKB, OWL, RDF_TYPE, RDFS, XSD

DCTERMS = "http://purl.org/dc/terms/"
PROV = "http://www.w3.org/ns/prov#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PREFIXES = {"acr": ACR, "acrkb": ACRKB, "dcterms": DCTERMS, "owl": OWL, "prov": PROV, "rdfs": RDFS,
            "skos": SKOS, "xsd": XSD}
_LOCAL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?")
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


@dataclass(frozen=True, slots=True)
class Literal:
    text: str
    datatype: str | None = None
    lang: str | None = None


def text(value: str) -> Literal:
    return Literal(value, lang="en")


def integer(value: int) -> Literal:
    return Literal(str(value), XSD + "integer")


def date(value: dt.date) -> Literal:
    return Literal(value.isoformat(), XSD + "date")


def plain(value: str) -> Literal:
    return Literal(value)


class Graph:
    def __init__(self):
        self._subjects: dict[str, dict[str, list]] = {}

    def add(self, subject: str, predicate: str, *objects) -> None:
        """State each object that is not None; optional values are passed as None and left out."""
        objects = [o for o in objects if o is not None]
        if not objects:
            return
        values = self._subjects.setdefault(subject, {}).setdefault(predicate, [])
        values.extend(o for o in objects if o not in values)

    def triples(self):
        for subject, predicates in self._subjects.items():
            for predicate, objects in predicates.items():
                for obj in objects:
                    yield subject, predicate, obj

    def __len__(self):
        return sum(len(o) for p in self._subjects.values() for o in p.values())

    def turtle(self, header: str = "") -> str:
        out = [header] if header else []
        out += [f"@prefix {p}: <{ns}> ." for p, ns in PREFIXES.items()]
        for subject, predicates in self._subjects.items():
            parts = []
            for predicate, objects in predicates.items():
                name = "a" if predicate == RDF_TYPE else _iri(predicate)
                parts.append(f"{name} {' , '.join(map(_term, objects))}")
            out.append("")
            out.append(f"{_iri(subject)} " + " ;\n    ".join(parts) + " .")
        return "\n".join(out) + "\n"


@lru_cache(maxsize=1 << 16)  # predicates, classes and shared objects recur on every line
def _iri(iri: str) -> str:
    for prefix, namespace in PREFIXES.items():
        local = iri[len(namespace):]
        if iri.startswith(namespace) and _LOCAL.fullmatch(local):
            return f"{prefix}:{local}"
    return f"<{iri}>"


def _term(value) -> str:
    if not isinstance(value, Literal):
        return _iri(value)
    quoted = '"' + value.text.translate(_ESCAPES) + '"'
    if value.lang:
        return f"{quoted}@{value.lang}"
    if value.datatype == XSD + "integer" and re.fullmatch(r"[+-]?\d+", value.text):
        return value.text
    if value.datatype and value.datatype != XSD + "string":
        return f"{quoted}^^{_iri(value.datatype)}"
    return quoted
