"""SHACL-SPARQL constraints (sh:sparql with sh:select) rewritten to run for all focus nodes at once.

SHACL pre-binds $this (the focus node) before it runs a constraint's query: every occurrence stands for
the one focus node, also in a FILTER or BIND of a group that never matches it. Run for all focus nodes
at once, the query must bind ?this itself wherever it is used: the compiler injects a pattern that
yields the focus nodes into every group SPARQL evaluates on its own (the WHERE clause, nested and
UNION groups, OPTIONAL parts, subqueries) that mentions a pre-bound variable. Inside FILTER EXISTS the
current solution already binds it. Constructs for which this differs from pre-binding (MINUS or VALUES
over a pre-bound variable, a subquery that does not project it, LIMIT or OFFSET, BIND to it, GRAPH or
SERVICE) are refused, as the SHACL specification forbids most of them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import rdflib
from rdflib.namespace import OWL, SH


class Prefixes:
    """The PREFIX declarations the constraints ask for (sh:prefixes -> sh:declare), merged for one query."""

    def __init__(self):
        self.namespaces: dict[str, str] = {}

    def declare(self, graph: rdflib.Graph, constraint: rdflib.term.Node, unsupported) -> None:
        for holder in graph.objects(constraint, SH.prefixes):
            for declared in _declaring(graph, holder, set()):
                for declaration in graph.objects(declared, SH.declare):
                    prefix = str(graph.value(declaration, SH.prefix))
                    namespace = str(graph.value(declaration, SH.namespace))
                    if self.namespaces.setdefault(prefix, namespace) != namespace:
                        unsupported(f"prefix {prefix!r} is declared for both {self.namespaces[prefix]} and {namespace}")

    def header(self) -> str:
        return "".join(f"PREFIX {prefix}: <{namespace}>\n" for prefix, namespace in sorted(self.namespaces.items()))


def _declaring(graph: rdflib.Graph, holder: rdflib.term.Node, seen: set):
    # sh:prefixes names a node with sh:declare; owl:imports of that node declare more.
    if holder in seen:
        return
    seen.add(holder)
    yield holder
    for imported in graph.objects(holder, OWL.imports):
        yield from _declaring(graph, imported, seen)


_TOKEN = re.compile(r'''
    (?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^'\\]|\\.|'(?!''))*\'\'\'|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<iri><(?![?$])[^<>"{}|^`\\\s]*>)
  | (?P<comment>\#[^\n]*)
  | (?P<var>[?$][A-Za-z0-9_\u00B7-\uFFFF]+)
  | (?P<brace>[{}])
  | (?P<word>[A-Za-z_][\w-]*(?::(?:[\w%-]|\.(?=[\w%-]))*)?|:(?:[\w%-]|\.(?=[\w%-]))*)
  | (?P<space>\s+)
  | (?P<other>.)''', re.X | re.S)

_AGGREGATES = {"COUNT", "SUM", "MIN", "MAX", "AVG", "SAMPLE", "GROUP_CONCAT"}


@dataclass
class _Token:
    kind: str
    text: str

    @property
    def keyword(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def variable(self) -> str | None:
        return self.text[1:] if self.kind == "var" else None


@dataclass
class _Block:
    """A { ... } of the query: its kind (what opened it), its token span and the blocks inside."""

    kind: str  # where, group, optional, exists, minus, values, graph, service, subquery (a group holding a SELECT)
    start: int
    end: int = -1
    inner: list[_Block] = field(default_factory=list)


def _tokens(query: str) -> list[_Token]:
    return [_Token(m.lastgroup, m.group()) for m in _TOKEN.finditer(query)]


def _blocks(tokens: list[_Token], unsupported) -> _Block:
    """The tree of blocks, under a root that spans the whole query."""
    root = _Block("root", -1, len(tokens))
    stack, pending, select = [root], None, False
    for index, token in enumerate(tokens):
        keyword = token.keyword
        if keyword in ("OPTIONAL", "MINUS", "EXISTS", "VALUES", "GRAPH", "SERVICE"):
            pending = keyword.lower()
        elif keyword == "SELECT":
            select = True
            if stack[-1].kind == "group" and not _before(tokens, stack[-1].start, index):
                stack[-1].kind = "subquery"
        elif token.text == "{":
            kind = pending or ("where" if select else "group")
            pending, select = None, select and kind != "where"
            block = _Block(kind, index)
            stack[-1].inner.append(block)
            stack.append(block)
        elif token.text == "}":
            if len(stack) == 1:
                unsupported("unbalanced braces in a SPARQL constraint")
                return root
            stack.pop().end = index
    if len(stack) != 1:
        unsupported("unbalanced braces in a SPARQL constraint")
    return root


def _before(tokens, start, index) -> bool:
    """Is there anything but space and comments between tokens start and index?"""
    return any(t.kind not in ("space", "comment") for t in tokens[start + 1:index])


def _needs_focus(tokens, block: _Block, names: set[str]) -> bool:
    """Does this group use a pre-bound variable that it does not bind itself?

    A variable outside parentheses at the group's own level is a term of one of its triple patterns, so
    the group binds it, and the focus nodes injected into the enclosing WHERE clause restrict it through
    the join. Only a variable used in a FILTER or BIND alone needs the focus nodes injected here (every
    injection is a subquery Oxigraph plans again, so the rewrite adds none it can do without).
    """
    own = [t for i, t in enumerate(tokens[block.start + 1:block.end], block.start + 1)
           if not any(inner.start <= i <= inner.end for inner in block.inner)]
    depth, used, bound_here = 0, set(), set()
    for token in own:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif token.variable in names:
            used.add(token.variable)
            if depth == 0:
                bound_here.add(token.variable)
    return bool(used - bound_here)


def _walk(block: _Block):
    yield block
    for inner in block.inner:
        yield from _walk(inner)


@dataclass(frozen=True)
class Rewritten:
    text: str  # a group pattern, { SELECT ... }, giving the constraint's rows for every focus node
    projected: list[str]
    required: frozenset[str]  # predicates without which the constraint finds nothing (see _required)


def correlate(select: str, correlation: str, bound: set[str], replace: dict[str, str], namespaces: dict[str, str],
              unsupported) -> Rewritten | None:
    """Rewrite a constraint's SELECT so that it finds its rows for every focus node in one run.

    ``correlation`` is a group pattern binding the pre-bound variables ``bound`` (this, and value or
    parameters), once per combination; ``replace`` maps variables to SPARQL text put in their place ($PATH);
    ``namespaces`` are the declared prefixes.
    """
    tokens = _tokens(select)
    for token in tokens:
        if token.variable in replace:
            text = replace[token.variable]
            token.kind, token.text = "iri" if _tokens(text)[0].text == text and text.startswith("<") else "other", text
        elif token.variable is not None:
            token.text = "?" + token.variable  # $x and ?x are one variable
    problems = []
    root = _blocks(tokens, problems.append)
    heads = [i for i, t in enumerate(tokens) if t.keyword == "SELECT"]
    if not heads or _before(tokens, -1, heads[0]):
        problems.append("a SPARQL constraint whose sh:select does not start with SELECT (declare prefixes with sh:prefixes)")
    where = next((b for b in root.inner if b.kind == "where"), None)
    if where is None:
        problems.append("a SPARQL constraint without a WHERE clause")
    for index, token in enumerate(tokens):
        keyword = token.keyword
        if keyword in ("LIMIT", "OFFSET"):
            problems.append(f"{keyword} in a SPARQL constraint (it would apply to all focus nodes together)")
        if keyword == "AS" and _next(tokens, index).variable in bound:
            problems.append(f"a SPARQL constraint that assigns the pre-bound variable ${_next(tokens, index).variable}")
        if keyword in ("GRAPH", "SERVICE", "FROM"):  # the data is the default graph; SERVICE would go online
            problems.append(f"{keyword} in a SPARQL constraint")
        if token.variable == "failure":
            problems.append("?failure in a SPARQL constraint")
    # SHACL forbids these outright (5.3.1.1), whether or not they mention a pre-bound variable.
    for block in _walk(root):
        if block.kind in ("minus", "values"):
            problems.append(f"{block.kind.upper()} in a SPARQL constraint")
        if block.kind == "subquery" and not bound <= set(_projection(tokens, block.start)):
            problems.append("a subquery that does not project every pre-bound variable")
    for problem in problems:
        unsupported(problem)
    if problems:
        return None
    projected = _projection(tokens, -1)
    if "*" in projected:
        unsupported("SELECT * in a SPARQL constraint: project $this and the variables the message uses")
        return None
    if "this" not in projected:  # the focus node is pre-bound, so a result needs no projected $this
        first = heads[0] + 1
        while tokens[first].kind == "space" or tokens[first].keyword in ("DISTINCT", "REDUCED"):
            first += 1
        tokens.insert(first, _Token("var", "?this "))
        root = _blocks(tokens, unsupported)
        projected.append("this")
    insert = {b.start for b in _walk(root)
              if b.kind == "where" or (b.kind in ("group", "optional") and _needs_focus(tokens, b, bound))}
    text = "".join(t.text + (f" {correlation} " if i in insert else "") for i, t in enumerate(tokens))
    where = next(b for b in root.inner if b.kind == "where")
    # An aggregate gives a row even where nothing matches (without GROUP BY).
    aggregated = any(t.keyword in _AGGREGATES for t in tokens[:where.start])
    required = frozenset() if aggregated else _required(tokens, where, namespaces)
    return Rewritten("{ " + text.strip() + " }", projected, required)


_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _required(tokens, where: _Block, namespaces: dict[str, str]) -> frozenset[str]:
    """The predicates of the triple patterns at the WHERE clause's own level whose verb is an IRI or a
    sequence of (inverse) IRIs: every solution, so every violation, matches them. Reading stops at the
    first construct it does not know: a predicate it misses only costs a branch that finds nothing.
    """
    inner = {i for block in where.inner for i in range(block.start, block.end + 1)}
    own = [t for i, t in enumerate(tokens[where.start + 1:where.end], where.start + 1)
           if i not in inner and t.kind not in ("space", "comment")]
    own.append(_Token("other", ""))  # the end
    found, index = set(), 0
    while own[index].text:
        token = own[index]
        if token.keyword in ("FILTER", "BIND"):
            index += 1
            if own[index].keyword in ("NOT", "EXISTS"):  # its { } block is not in ``own``
                index += 2 if own[index].keyword == "NOT" else 1
                continue
            if own[index].kind == "word" and own[index + 1].text == "(":  # FILTER regex(...)
                index += 1
            index = _after_parentheses(own, index)
        elif token.keyword in ("OPTIONAL", "UNION", "MINUS") or token.text == ".":
            index += 1
        elif token.kind in ("var", "iri") or _iri(token, namespaces):  # a subject, then verbs and objects
            index += 1
            while True:
                if own[index].kind == "var":
                    index += 1
                else:
                    steps, index = _sequence(own, index, namespaces)
                    if steps is None:
                        return frozenset(found)
                    found.update(steps)
                while own[index].text and own[index].text not in (";", ".") and not _ends_triples(own[index]):
                    if own[index].text in ("[", "("):  # a blank node or a collection as object
                        return frozenset(found)
                    index += 1
                if own[index].text != ";":
                    break
                while own[index].text == ";":
                    index += 1
                if not own[index].text or own[index].text == "." or _ends_triples(own[index]):
                    break
        else:
            break
    return frozenset(found)


def _iri(token, namespaces) -> str | None:
    if token.kind == "iri":
        return token.text[1:-1]
    if token.kind == "word" and ":" in token.text:
        prefix, local = token.text.split(":", 1)
        return namespaces[prefix] + local if prefix in namespaces else None
    return _RDF_TYPE if token.text == "a" else None


def _sequence(own, index, namespaces) -> tuple[list[str] | None, int]:
    """The IRIs of a verb that is a sequence of (inverse) IRIs, and the index after it; None for any other verb."""
    steps = []
    while True:
        if own[index].text == "^":
            index += 1
        step = _iri(own[index], namespaces)
        if step is None:
            return None, index
        steps.append(step)
        index += 1
        if own[index].text != "/":
            break
        index += 1
    if own[index].text in ("|", "*", "+", "?", "(", ")", "!"):
        return None, index
    return steps, index


def _after_parentheses(own, index) -> int:
    depth = 0
    while own[index].text:
        depth += (own[index].text == "(") - (own[index].text == ")")
        index += 1
        if depth <= 0:
            break
    return index


def _ends_triples(token) -> bool:
    return token.keyword in ("FILTER", "BIND", "OPTIONAL", "UNION", "MINUS", "VALUES")


def _next(tokens, index) -> _Token:
    return next((t for t in tokens[index + 1:] if t.kind not in ("space", "comment")), _Token("other", ""))


def _projection(tokens, start: int) -> list[str]:
    """The variables a SELECT projects: the first SELECT after token ``start``, up to its WHERE block
    (in ``(expression AS ?v)`` only ?v); "*" for SELECT *."""
    index = next(i for i in range(start + 1, len(tokens)) if tokens[i].keyword == "SELECT") + 1
    projected, depth = [], 0
    while index < len(tokens) and tokens[index].keyword != "WHERE" and tokens[index].text != "{":
        token = tokens[index]
        depth += token.text == "("
        depth -= token.text == ")"
        if token.text == "*" and depth == 0:
            projected.append("*")
        elif token.variable and (depth == 0 or _previous_is_as(tokens, index)):
            projected.append(token.variable)
        index += 1
    return projected


def _previous_is_as(tokens, index) -> bool:
    previous = next((t for t in reversed(tokens[:index]) if t.kind not in ("space", "comment")), None)
    return previous is not None and previous.keyword == "AS"
