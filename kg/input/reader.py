"""Reading patient graphs: Turtle or JSON-LD, from a file or stdin, never from the network.

The reader is the only place that sees raw bytes. It names the file and line of a syntax error,
refuses remote JSON-LD contexts and owl:imports, maps standard terminology codes to our concepts
(kg.coding) and hands on the triples of the default graph.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kg.errors import InputError
from kg.input.batches import patients_in
from kg.input.coding import normalize_codes
from kg.terms import ACR

OWL_IMPORTS = "http://www.w3.org/2002/07/owl#imports"

# Readers chosen by name or by file suffix.
FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "json-ld": ox.RdfFormat.JSON_LD,
    "ntriples": ox.RdfFormat.N_TRIPLES,
    "fhir": None,  # FHIR R4 JSON or Bulk Data NDJSON, mapped to our vocabulary by kg.input.fhir
}
SUFFIXES = {".ttl": "turtle", ".turtle": "turtle", ".jsonld": "json-ld", ".json": "json-ld", ".nt": "ntriples"}


@dataclass
class PatientData:
    """The triples of one patient graph, where they came from, and notes made while reading."""

    source: str
    quads: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def patients(self) -> list[str]:
        return patients_in(self.quads)


def _guess_format(name: str, data: bytes, declared: str | None) -> str:
    if declared:
        if declared not in FORMATS:
            raise InputError(f"unknown input format {declared!r}; use one of {', '.join(FORMATS)}", name)
        return declared
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    return "json-ld" if data.lstrip()[:1] in (b"{", b"[") else "turtle"


def read_patient(source: str | Path, input_format: str | None = None) -> PatientData:
    """Read a patient graph from a path, or from stdin when ``source`` is '-'."""
    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        data = sys.stdin.buffer.read() if name == "<stdin>" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", name) from None
    return parse_patient(data, name, input_format)


def _check_json_depth(data: bytes, name: str) -> None:
    """JSON nested thousands of levels deep crashes the JSON-LD parser (a stack overflow, not an
    exception); Python's decoder stops it at the recursion limit first, as a clean error."""
    try:
        json.loads(data)
    except RecursionError:
        raise InputError(f"JSON nested more than {sys.getrecursionlimit()} levels deep; refused", name) from None
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", name, getattr(exc, "lineno", None)) from None


def read_patients(source: str | Path, input_format: str | None = None, *, now: dt.date | None = None,
                  order: str | None = None) -> list[PatientData]:
    """Read one input: a patient graph, or a FHIR record of one or several patients (by content, or
    ``input_format='fhir'``). ``now`` and ``order`` are for FHIR records: the date the record is read as
    of, and the order being decided (kg.input.fhir); a patient graph states its own order."""
    from kg.input.fhir import looks_like_fhir, parse_fhir, read_fhir

    name = "<stdin>" if str(source) == "-" else str(source)
    if input_format == "fhir" or (name != "<stdin>" and Path(source).is_dir()):
        return read_fhir(source, now=now, order=order)
    try:
        data = sys.stdin.buffer.read() if name == "<stdin>" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", name) from None
    if input_format is None and looks_like_fhir(data):
        return parse_fhir(data, name, now=now, order=order)
    if order is not None:
        raise InputError("--order is for FHIR input; a patient graph states its order (acr:hasCurrentOrder)", name)
    return [parse_patient(data, name, input_format)]


def parse_patient(data: bytes, name: str = "<input>", input_format: str | None = None) -> PatientData:
    if input_format == "fhir":
        raise InputError("FHIR input holds one or more patients: read it with read_patients or kg.input.fhir", name)
    quads = _parse_rdf(data, name, input_format)
    if not quads:
        raise InputError("the input holds no triples", name)
    quads, warnings = normalize_codes(quads)
    return PatientData(name, quads, warnings)


def read_graph(source: str | Path, input_format: str | None = None) -> list:
    """The triples of an RDF file that is not a patient graph (a cohort's results.ttl, say), read with
    the same care as patient input (no network, no named graphs) but neither validated nor coded."""
    name = str(source)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", name) from None
    return _parse_rdf(data, name, input_format, rename_blank_nodes=True)  # _:b0 of two files: two nodes


def _parse_rdf(data: bytes, name: str, input_format: str | None, *, rename_blank_nodes: bool = False) -> list:
    """The quads of RDF input, refusing what could reach the network or that we cannot hold."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as some editors write, says nothing
    fmt = _guess_format(name, data, input_format)
    if fmt == "fhir":
        raise InputError("FHIR input is read with read_patients or kg.input.fhir, not as RDF", name)
    if fmt == "json-ld":
        _check_json_depth(data, name)
    base = Path(name).resolve().as_uri() if name not in ("<stdin>", "<input>") else "urn:acr-kg:input:"
    try:
        quads = list(ox.parse(data, format=FORMATS[fmt], base_iri=base, rename_blank_nodes=rename_blank_nodes))
    except SyntaxError as exc:
        message = str(exc)
        if "remote context" in message.lower():
            raise InputError("refused a remote JSON-LD @context: parsing never touches the network; "
                             "put the context inline in the document", name) from None
        raise InputError(f"not valid {fmt}: {message}", name, getattr(exc, "lineno", None)) from None
    except ValueError as exc:  # bad UTF-8 and similar
        raise InputError(f"not valid {fmt}: {exc}", name) from None
    for quad in quads:
        if quad.predicate.value == OWL_IMPORTS:
            raise InputError(f"refused owl:imports of <{quad.object.value}>: parsing never touches the network; "
                             "merge the imported data into the input instead", name)
        if isinstance(quad.object, ox.Triple) or isinstance(quad.subject, ox.Triple):
            raise InputError(f"RDF 1.2 triple terms are not part of a patient graph (on {quad.predicate.value}); "
                             "state the facts as plain triples", name)
    default = [q for q in quads if isinstance(q.graph_name, ox.DefaultGraph)]
    if len(default) != len(quads):
        raise InputError("named graphs are not supported in patient input: put the patient in the default graph", name)
    return quads


_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?\s*$")


def order_date(data: PatientData) -> dt.date | None:
    """The latest well-formed order date of the graph (a time zone or offset, which xsd:date allows,
    does not change the day); None when there is none. Ill-formed dates are left to the shapes."""
    dates = []
    for quad in data.quads:
        if quad.predicate.value == ACR + "orderDate" and (m := _DATE.match(quad.object.value)):
            try:
                dates.append(dt.date(*map(int, m.groups())))
            except ValueError:
                continue
    return max(dates, default=None)


def evaluation_date(data: PatientData, now: dt.date | None = None) -> dt.date:
    """The date the case is judged at: given, else the order date, else today."""
    return now or order_date(data) or dt.date.today()
