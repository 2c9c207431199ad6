"""SHACL-SPARQL constraints (sh:sparql with sh:select) as subqueries of the compiled query."""
from __future__ import annotations

import re

import rdflib
from rdflib.namespace import OWL, SH


class Prefixes:
    """The PREFIX declarations the constraints ask for (sh:prefixes -> sh:declare), merged for one query."""

    def __init__(self):
        self.namespaces: dict[str, str] = {}

    def declare(self, graph: rdflib.Graph, constraint: rdflib.term.Node, unsupported) -> None:
        for holder in graph.objects(constraint, SH.prefixes):
            for declared in _declaring(graph, holder):
                for declaration in graph.objects(declared, SH.declare):
                    prefix = str(graph.value(declaration, SH.prefix))
                    namespace = str(graph.value(declaration, SH.namespace))
                    if self.namespaces.setdefault(prefix, namespace) != namespace:
                        unsupported(f"prefix {prefix!r} is declared for both {self.namespaces[prefix]} and {namespace}")

    def header(self) -> str:
        return "".join(f"PREFIX {prefix}: <{namespace}>\n" for prefix, namespace in sorted(self.namespaces.items()))


def _declaring(graph: rdflib.Graph, holder: rdflib.term.Node):
    # sh:prefixes names a node with sh:declare; owl:imports of that node declare more.
    yield holder
    for imported in graph.objects(holder, OWL.imports):
        yield from _declaring(graph, imported)


def select_subquery(select: str, unsupported) -> tuple[str, list[str]]:
    """The constraint's SELECT, with $this as an ordinary variable, and the variables it projects.

    Joined to the shape's focus nodes, the subquery gives the rows that pre-binding $this would give
    for the queries SHACL allows (no $this inside a nested SELECT, MINUS or VALUES that needs it bound).
    """
    for variable in sorted(set(re.findall(r"\$(\w+)", select)) - {"this"}):
        unsupported(f"pre-bound variable ${variable} in a SPARQL constraint")
    query = re.sub(r"\$this\b", "?this", select.strip())
    head = re.match(r"(?is)\s*SELECT\s+(DISTINCT\s+|REDUCED\s+)?(.*?)\s*WHERE\b", query)
    if head is None:
        unsupported("a SPARQL constraint whose sh:select is not a SELECT ... WHERE query")
        return "", []
    if head.group(2).strip() == "*":
        unsupported("SELECT * in a SPARQL constraint: project ?this and the variables the message uses")
    projected = re.findall(r"[?$](\w+)", head.group(2))
    if "this" not in projected:
        unsupported("a SPARQL constraint that does not project $this")
    return "{ " + query + " }", projected
