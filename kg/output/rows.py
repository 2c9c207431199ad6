"""Query results: a table for reading, the standard SPARQL JSON and TSV result formats, our JSON and
CSV; CONSTRUCT results as Turtle."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pyoxigraph as ox

from kg.recommend import json_safe
from kg.store import BNode, IRI, Rows, to_oxigraph
from kg.terms import PREFIXES, curie


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (IRI, BNode)):
        return curie(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def rows_table(rows: Rows) -> str:
    cells = [[_cell(r[v]) for v in rows.variables] for r in rows]
    widths = [max([len(v)] + [len(c[i]) for c in cells]) for i, v in enumerate(rows.variables)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*rows.variables), fmt.format(*("-" * w for w in widths))] + [fmt.format(*c) for c in cells]
    return "\n".join(line.rstrip() for line in lines) + f"\n({len(cells)} row{'s' if len(cells) != 1 else ''})\n"


def rows_json(rows: Rows) -> str:
    return json.dumps(json_safe({"variables": rows.variables, "rows": rows.rows}), indent=2, ensure_ascii=False)


def rows_csv(rows: Rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows.variables)
    for row in rows:
        writer.writerow(["" if row[v] is None else _cell(row[v]) if isinstance(row[v], bool) else str(row[v])
                         for v in rows.variables])
    return buffer.getvalue()


def _sparql_json_term(value) -> dict:
    term = to_oxigraph(value)
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if term.language:
        return {"type": "literal", "value": term.value, "xml:lang": term.language}
    if term.datatype.value == "http://www.w3.org/2001/XMLSchema#string":
        return {"type": "literal", "value": term.value}
    return {"type": "literal", "value": term.value, "datatype": term.datatype.value}


def rows_sparql_json(rows: Rows) -> str:
    """SPARQL 1.1 Query Results JSON Format."""
    bindings = [{v: _sparql_json_term(row[v]) for v in rows.variables if row[v] is not None} for row in rows]
    return json.dumps({"head": {"vars": rows.variables}, "results": {"bindings": bindings}},
                      indent=2, ensure_ascii=False) + "\n"


def rows_tsv(rows: Rows) -> str:
    """SPARQL 1.1 Query Results TSV Format: terms in their Turtle/N-Triples syntax."""
    lines = ["\t".join(f"?{v}" for v in rows.variables)]
    lines += ["\t".join("" if row[v] is None else str(to_oxigraph(row[v])) for v in rows.variables) for row in rows]
    return "\n".join(lines) + "\n"


ROWS_WRITERS = {"table": rows_table, "json": rows_json, "csv": rows_csv, "tsv": rows_tsv,
                "sparql-json": rows_sparql_json}


def triples_turtle(triples) -> str:
    """Triples (as Python values) as Turtle with the toolkit's prefixes."""
    graph = [ox.Triple(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)) for s, p, o in triples]
    return ox.serialize(graph, format=ox.RdfFormat.TURTLE, prefixes=PREFIXES).decode()
