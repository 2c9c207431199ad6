"""SHACL Core constraint components as SPARQL filters.

Each function writes the condition under which a constraint is *violated*, as SPARQL text over a focus
variable and (for value-based components) a value variable. Terms are written with ``n3()``.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re

import pyoxigraph as ox
import rdflib
from rdflib.namespace import RDF, SH, XSD

TYPE_OF = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>/<http://www.w3.org/2000/01/rdf-schema#subClassOf>*"
# Datatypes whose lexical forms SPARQL can check by casting: an ill-formed literal fails sh:datatype.
_CASTABLE = {XSD.integer, XSD.decimal, XSD.double, XSD.float, XSD.boolean, XSD.date, XSD.dateTime}
# XSD datatypes whose literals the compiled query cannot judge: Oxigraph stores the values of the
# integer subtypes as xsd:integer (so "5"^^xsd:byte reads as "5"^^xsd:integer), and has no cast that
# checks the lexical form of the others.
_INTEGER_SUBTYPES = ("byte", "short", "int", "long", "nonNegativeInteger", "positiveInteger", "nonPositiveInteger",
                     "negativeInteger", "unsignedByte", "unsignedShort", "unsignedInt", "unsignedLong")
_OTHER_XSD = ("time", "duration", "dayTimeDuration", "yearMonthDuration", "gYear", "gYearMonth", "gMonth", "gMonthDay",
              "gDay", "dateTimeStamp", "hexBinary", "base64Binary", "anyURI", "QName", "NOTATION", "normalizedString",
              "token", "language", "Name", "NCName", "NMTOKEN", "ID", "IDREF", "ENTITY")
UNCHECKED_DATATYPES = {
    **{XSD[name]: "Oxigraph stores these values as xsd:integer, so their datatype cannot be checked"
       for name in _INTEGER_SUBTYPES},
    **{XSD[name]: "the compiled query cannot check the lexical form of this datatype" for name in _OTHER_XSD},
}
_NODE_KINDS = {
    SH.IRI: "isIRI({v})", SH.BlankNode: "isBlank({v})", SH.Literal: "isLiteral({v})",
    SH.BlankNodeOrIRI: "(isBlank({v}) || isIRI({v}))", SH.BlankNodeOrLiteral: "(isBlank({v}) || isLiteral({v}))",
    SH.IRIOrLiteral: "(isIRI({v}) || isLiteral({v}))",
}
_RANGES = {SH.minInclusive: ">=", SH.minExclusive: ">", SH.maxInclusive: "<=", SH.maxExclusive: "<"}


def class_violated(v: str, cls: rdflib.term.Node, _graph: rdflib.Graph) -> str:
    return f"NOT EXISTS {{ {v} {TYPE_OF} {cls.n3()} }}"


def datatype_violated(v: str, datatype: rdflib.term.Node, _graph: rdflib.Graph) -> str:
    wrong_type = f"!isLiteral({v}) || DATATYPE({v}) != {datatype.n3()}"
    if datatype in _CASTABLE:
        cast = f"{datatype.n3()}(STR({v}))"
        return f"({wrong_type} || !COALESCE({cast} = {cast}, false))"
    if datatype == RDF.langString:
        return f"({wrong_type} || LANG({v}) = \"\")"
    return f"({wrong_type})"


# Lexical forms that Oxigraph's casts surely read, for the datatypes ``datatype_violated`` casts: narrower
# than XSD's grammar (its integers are 64-bit, its decimals keep 18 digits after the point), so a value
# they do not match is left to the query, which judges it exactly.
_SURE_FORMS = {XSD.integer: re.compile(r"[+-]?\d{1,18}"), XSD.decimal: re.compile(r"[+-]?\d{1,18}(\.\d{1,18})?"),
               XSD.boolean: re.compile("true|false|1|0"), XSD.date: re.compile(r"\d{4}-\d{2}-\d{2}")}


def surely_of_datatype(term, datatype: rdflib.URIRef) -> bool:
    """True only when ``datatype_violated`` is surely false for this value as the store holds it; False
    means that the query must judge it."""
    if not isinstance(term, ox.Literal) or term.datatype.value != str(datatype):
        return False  # (a literal of rdf:langString always has its language)
    if datatype not in _CASTABLE:
        return True
    form = _SURE_FORMS.get(datatype)
    if form is None or not form.fullmatch(term.value):
        return False
    if datatype == XSD.date:
        try:
            dt.date.fromisoformat(term.value)  # a day that exists (year 0 is refused here, not by Oxigraph)
        except ValueError:
            return False
    return True


def node_kind_violated(v: str, kind: rdflib.term.Node, _graph: rdflib.Graph) -> str:
    return "!" + _NODE_KINDS[kind].format(v=v)


def in_violated(v: str, members: rdflib.term.Node, graph: rdflib.Graph) -> str:
    # sh:in compares terms, not values: "1"^^xsd:integer is not "1.0"^^xsd:decimal.
    listed = [f"sameTerm({v}, {m.n3()})" for m in rdflib.collection.Collection(graph, members)]
    return f"!({' || '.join(listed) or 'false'})"


def _range_violated(operator: str):
    def violated(v: str, limit: rdflib.term.Node, _graph: rdflib.Graph) -> str:
        # A value that cannot be compared (a string against a number) violates the range too.
        return f"!COALESCE({v} {operator} {limit.n3()}, false)"
    return violated


VALUE_COMPONENTS = {
    SH["class"]: (SH.ClassConstraintComponent, class_violated),
    SH.datatype: (SH.DatatypeConstraintComponent, datatype_violated),
    SH.nodeKind: (SH.NodeKindConstraintComponent, node_kind_violated),
    SH["in"]: (SH.InConstraintComponent, in_violated),
    **{parameter: (SH[parameter.fragment[0].upper() + parameter.fragment[1:] + "ConstraintComponent"], _range_violated(op))
       for parameter, op in _RANGES.items()},
}


def _distinct_values(focus: str, path: str, count: int, names) -> str:
    """A pattern that holds when the focus has at least ``count`` distinct values on the path."""
    values = [names.fresh("n") for _ in range(count)]
    triples = " ".join(f"{focus} {path} {value} ." for value in values)
    different = " && ".join(f"!sameTerm({a}, {b})" for a, b in itertools.combinations(values, 2))
    return triples + (f" FILTER({different})" if different else "")


def min_count_violated(focus: str, path: str, count: int, names) -> str:
    return "false" if count <= 0 else f"NOT EXISTS {{ {_distinct_values(focus, path, count, names)} }}"


def max_count_violated(focus: str, path: str, count: int, names) -> str:
    return f"EXISTS {{ {_distinct_values(focus, path, count + 1, names)} }}"


COUNT_COMPONENTS = {
    SH.minCount: (SH.MinCountConstraintComponent, min_count_violated),
    SH.maxCount: (SH.MaxCountConstraintComponent, max_count_violated),
}

# Components whose argument the compiler may pass as a variable (a column of a VALUES table), so that
# constraints with different arguments share a branch.
COLUMN_ARGUMENTS = {SH["class"], *_RANGES}
