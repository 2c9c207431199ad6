"""Walk the shapes graph, write the constraints as UNION branches of a few SELECT queries, and run them."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pyoxigraph as ox
import rdflib
from rdflib.collection import Collection
from rdflib.namespace import OWL, RDF, RDFS, SH

from kg.errors import AcrKgError, InputError
from kg.store.parallel import ONE_AT_A_TIME, SideBySide
from kg.validate.compiled import core
from kg.validate.compiled.sparql import Prefixes, correlate

_TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
# Parameters the compiler reads itself; anything else in the sh: namespace on a shape is refused.
_HANDLED = {SH.path, SH.property, SH.message, SH.severity, SH.name, SH.description, SH.order, SH.group,
            SH.deactivated, SH.xone, SH.sparql, SH.prefixes, *_TARGETS, *core.VALUE_COMPONENTS, *core.COUNT_COMPONENTS}
# A shape that is also a class targets its instances (SHACL 2.1.3.3).
_CLASSES = (RDFS.Class, OWL.Class)


# Oxigraph's planning time grows with the square of a UNION's width (64 branches: 2 ms; 136: 10 ms,
# before any data is read), so the branches go out as several queries of a few branches each.
BRANCHES_PER_QUERY = 4
WRITTEN_KEPT = 1024  # predicate sets whose queries are kept (CompiledShapes.queries)


class UnsupportedShape(AcrKgError):
    """The shapes use a SHACL feature the compiler does not implement."""


@dataclass(frozen=True)
class Branch:
    """What one UNION branch reports: everything about a result that is known before the data."""

    shape: rdflib.term.Node
    component: rdflib.URIRef
    severity: rdflib.URIRef
    message: str
    path: rdflib.term.Node | None  # the shape's sh:path (an IRI or a path node)
    # A SPARQL constraint of a node shape that binds no ?value reports the focus node as the value.
    value_is_focus: bool = False
    # The shape's sh:targetObjectsOf predicates: a literal focus node belongs to the graph that states it
    # as the object of one of them.
    object_targets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ShapeResult:
    """One validation result: a constraint of a shape, violated at a focus node (and value)."""

    focus: ox.NamedNode | ox.BlankNode | ox.Literal
    value: ox.NamedNode | ox.BlankNode | ox.Literal | None
    path: rdflib.term.Node | None
    severity: rdflib.URIRef
    message: str
    shape: rdflib.term.Node
    component: rdflib.URIRef
    object_targets: frozenset[str] = frozenset()  # see Branch.object_targets


class _Names:
    """Fresh variable names, so that nested patterns never capture each other's variables."""

    def __init__(self):
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"?_{stem}{self.count}"




@dataclass(frozen=True, eq=False)  # one per constraint, shared by its rows: compared by identity
class Check:
    """What the data must hold, somewhere, for a constraint on a plain predicate to be violated: a subject
    with more than ``most`` values (sh:maxCount), a value outside ``members`` (sh:in), or a value that is
    not surely a well-formed literal of ``datatype`` (sh:datatype). The quads tell it without a query; a
    row whose check finds nothing is left out of the queries (one planned query less for most patients).
    It is a necessary condition only: every other row is judged by its query."""

    predicate: str
    most: int | None = None
    members: frozenset | None = None  # pyoxigraph terms, as a store holds them
    datatype: rdflib.URIRef | None = None

    def possible(self, profile: Profile) -> bool:
        if self.most is not None:
            return profile.most.get(self.predicate, 0) > self.most
        values = profile.values.get(self.predicate, set())
        if self.members is not None:
            return not values <= self.members
        return not all(core.surely_of_datatype(value, self.datatype) for value in values)


@dataclass
class Profile:
    """What validation reads of the data before its queries: the predicates; for the ``counted`` ones
    (an sh:maxCount check) the most values one subject has, for the ``valued`` ones (sh:in, sh:datatype)
    every value."""

    predicates: set[str]
    most: dict[str, int]
    values: dict[str, set]

    @classmethod
    def of(cls, store: ox.Store, counted: frozenset[str], valued: frozenset[str]) -> Profile:
        predicates, counts, values = set(), {}, {}
        for quad in store:  # the store's terms: literals in the canonical form that queries compare
            if isinstance(quad.subject, ox.Triple) or isinstance(quad.object, ox.Triple):
                # No shape of ours can say what a triple term means, and results could not name it.
                raise InputError(f"RDF 1.2 triple terms are not supported in validated data (one is stated with "
                                 f"<{quad.predicate.value}>)")
            predicate = quad.predicate.value
            predicates.add(predicate)
            if predicate in counted:
                key = (quad.subject, predicate)
                counts[key] = counts.get(key, 0) + 1  # a store holds each triple once
            if predicate in valued:
                values.setdefault(predicate, set()).add(quad.object)
        most: dict[str, int] = {}
        for (_, predicate), count in counts.items():
            most[predicate] = max(most.get(predicate, 0), count)
        return cls(predicates, most, values)


@dataclass(frozen=True)
class Row:
    """A row of a branch's VALUES table, and the predicates the data needs for the row to find anything."""

    text: str
    requires: frozenset[str]
    members: str = ""  # the row's rows of the sh:in member table (_MEMBERS)
    check: Check | None = None  # what else the data needs for the row to find anything


@dataclass(frozen=True)
class Pattern:
    """One UNION branch, and the predicates whose absence means its shape has no focus node."""

    text: str  # _ROWS (and _MEMBERS) stand for the rows of its VALUES tables
    triggers: frozenset[str] | None  # None: it may have focus nodes whatever the data (sh:targetClass, sh:targetNode)
    rows: tuple[Row, ...] = ()
    requires: frozenset[str] = frozenset()  # predicates it needs, all of them, to find anything

    def written(self, predicates: set[str] | None, possible: frozenset[Check] | None = None) -> str | None:
        """The branch for data with only these ``predicates`` (None: any), without the rows that cannot
        find anything there, nor those with a check that is not ``possible`` (None: every check is);
        None when nothing is left."""
        if predicates is not None and (not self.requires <= predicates
                                       or self.triggers is not None and self.triggers.isdisjoint(predicates)):
            return None
        if not self.rows:
            return self.text
        rows = [row for row in self.rows if (predicates is None or row.requires <= predicates)
                and (possible is None or row.check is None or row.check in possible)]
        if not rows:
            return None
        members = " ".join(dict.fromkeys(row.members for row in rows))
        return self.text.replace(_ROWS, " ".join(row.text for row in rows)).replace(_MEMBERS, members)


@dataclass(frozen=True)
class Focus:
    """How a shape's focus nodes are found."""

    pattern: str  # binds ?this
    triggers: frozenset[str] | None  # see Pattern.triggers
    object_targets: frozenset[str]  # see Branch.object_targets
    # Targets that are only sh:targetSubjectsOf (or only sh:targetObjectsOf) predicates: the triple pattern
    # with the predicate left open as ?_tp, and the predicates. Constraints then take the predicate from a
    # VALUES column, so that those of one kind share one branch across shapes (one plan instead of many).
    table: tuple[str, tuple[rdflib.URIRef, ...]] | None = None

    def rows(self) -> list[Row]:
        return [Row(p.n3(), frozenset({str(p)})) for p in self.table[1]] if self.table else []


@dataclass
class CompiledShapes:
    patterns: list[Pattern]
    branches: list[Branch]
    head: str  # prefixes and SELECT clause shared by every query
    # the queries written for each set of predicates seen: patients mostly repeat a few sets
    _written: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    # predicate -> the checks of the rows on it
    checks: dict[str, list[Check]] = dataclasses.field(init=False, repr=False, compare=False)
    # the predicates whose values per subject are counted, and those whose values are read (Profile)
    _counted: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)
    _valued: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self.checks = {}
        for check in dict.fromkeys(row.check for pattern in self.patterns for row in pattern.rows if row.check):
            self.checks.setdefault(check.predicate, []).append(check)
        kinds = [(check.predicate, check.most is not None) for checks in self.checks.values() for check in checks]
        self._counted = frozenset(p for p, counts in kinds if counts)
        self._valued = frozenset(p for p, counts in kinds if not counts)

    def queries(self, predicates: set[str] | None = None, *, possible: frozenset[Check] | None = None) -> list[str]:
        """The SELECT queries, a few branches each, leaving out branches (and rows of their tables) that
        cannot find anything in data with only these ``predicates`` (None: keep everything), and the rows
        with a check that is not among the ``possible`` ones (None: keep them)."""
        key = (None if predicates is None else frozenset(predicates), possible)
        found = self._written.get(key)
        if found is None:
            kept = [text for pattern in self.patterns if (text := pattern.written(predicates, possible)) is not None]
            found = [f"{self.head} WHERE {{\n" + "\n  UNION\n".join(kept[start:start + BRANCHES_PER_QUERY]) + "\n}"
                     for start in range(0, len(kept), BRANCHES_PER_QUERY)]
            if len(self._written) >= WRITTEN_KEPT:
                self._written.clear()  # a bound on memory; rebuilding the texts costs a fraction of a millisecond
            self._written[key] = found
        return list(found)

    def run(self, store: ox.Store, *, side: SideBySide | None = None) -> list[ShapeResult]:
        """Validate the data in ``store``: every violated constraint, at every focus node and value.
        ``side``: runs the queries side by side (they read nothing of each other's)."""
        profile = Profile.of(store, self._counted, self._valued)
        # a row's predicate is one the data must have (Row.requires): the checks of the others need no test
        possible = frozenset(check for predicate in profile.predicates & self.checks.keys()
                             for check in self.checks[predicate] if check.possible(profile))
        found = (side or ONE_AT_A_TIME).map(lambda query: self._results(store.query(query)),
                                            self.queries(profile.predicates, possible=possible))
        return [result for results in found for result in results]

    def _results(self, solutions) -> list[ShapeResult]:
        names = [v.value for v in solutions.variables]
        results = []
        for solution in solutions:
            row = dict(zip(names, solution))
            branch = self.branches[int(row["branch"].value)]
            value = row.get("value")
            if value is None and branch.value_is_focus:
                value = row["this"]
            results.append(ShapeResult(
                focus=row["this"], value=value, path=_result_path(row.get("path"), branch.path),
                severity=branch.severity, message=_fill(branch.message, row), shape=branch.shape,
                component=branch.component, object_targets=branch.object_targets))
        return results


def _result_path(found, declared):
    if found is not None:  # a SPARQL constraint may project ?path
        return rdflib.URIRef(found.value)
    return declared


def _fill(template: str, row: dict) -> str:
    # {?name} and {$name} in a message are replaced by the value of that variable in the result.
    def term(match):
        value = row.get(match.group(1))
        return "" if value is None else value.value
    return re.sub(r"\{[?$](\w+)\}", term, template)


def compile_shapes(graph: rdflib.Graph) -> CompiledShapes:
    """Compile every active shape with a target, and the property shapes under it."""
    compiler = _Compiler(graph)
    targeted = {s for t in _TARGETS for s in graph.subjects(t, None)} | {s for s in _shapes(graph) if _is_class(graph, s)}
    for shape in sorted(targeted, key=str):
        if not _deactivated(graph, shape):
            compiler.shape(shape)
    if compiler.problems:
        raise UnsupportedShape("the shapes use SHACL features the compiled validator does not implement:\n  "
                               + "\n  ".join(sorted(set(compiler.problems))))
    variables = sorted({"path", *compiler.message_variables} - {"this", "value", "branch"})
    projection = " ".join(f"?{v}" for v in ["branch", "this", "value", *variables])
    return CompiledShapes(compiler.flush(), compiler.branches, f"{compiler.prefixes.header()}SELECT DISTINCT {projection}")


def _shapes(graph):
    """The nodes typed sh:NodeShape or sh:PropertyShape (or a subclass of either, in the shapes graph)."""
    return {s for kind in (SH.NodeShape, SH.PropertyShape) for s in _instances(graph, kind)}


def _instances(graph, cls):
    classes = set(graph.transitive_subjects(RDFS.subClassOf, cls))
    return {s for c in classes for s in graph.subjects(RDF.type, c)}


def _is_class(graph, node) -> bool:
    return any(node in _instances(graph, cls) for cls in _CLASSES)


def _component_parameters(graph) -> dict:
    """The parameter predicates of the constraint components the shapes graph declares -> the component."""
    components = _instances(graph, SH.ConstraintComponent) | set(graph.subjects(SH.parameter, None))
    return {graph.value(parameter, SH.path): component
            for component in components for parameter in graph.objects(component, SH.parameter)}


def _deactivated(graph, shape) -> bool:
    return any(str(v).lower() == "true" for v in graph.objects(shape, SH.deactivated))


class _Compiler:
    def __init__(self, graph: rdflib.Graph):
        self.graph = graph
        self.branches: list[Branch] = []
        # (focus, constraint pattern, kind) or a branch number -> the branch of a group (see add)
        self.groups: dict = {}
        self.problems: list[str] = []
        self.message_variables: set[str] = set()
        self.prefixes = Prefixes()
        self.names = _Names()
        self.component_parameters = _component_parameters(graph)

    def unsupported(self, shape, what: str) -> None:
        self.problems.append(f"{shape}: {what}")

    # --- focus nodes ------------------------------------------------------------------------------

    def targets(self, shape) -> Focus:
        graph, alternatives = self.graph, []
        subjects_of = sorted(graph.objects(shape, SH.targetSubjectsOf))
        objects_of = sorted(graph.objects(shape, SH.targetObjectsOf))
        implicit = [shape] if isinstance(shape, rdflib.URIRef) and _is_class(graph, shape) else []
        always = bool(implicit) or any(True for t in (SH.targetClass, SH.targetNode) for _ in graph.objects(shape, t))
        for cls in [*graph.objects(shape, SH.targetClass), *implicit]:
            alternatives.append(f"{{ ?this {core.TYPE_OF} {cls.n3()} }}")
        nodes = list(graph.objects(shape, SH.targetNode))
        if nodes:
            alternatives.append("{ VALUES ?this { " + " ".join(n.n3() for n in nodes) + " } }")
        for prop in graph.objects(shape, SH.targetSubjectsOf):
            alternatives.append(f"{{ ?this {prop.n3()} [] }}")
        for prop in graph.objects(shape, SH.targetObjectsOf):
            alternatives.append(f"{{ [] {prop.n3()} ?this }}")
        # Repeated focus nodes are harmless: the query is SELECT DISTINCT.
        pattern = " UNION ".join(alternatives) if len(alternatives) == 1 else "{ " + " UNION ".join(alternatives) + " }"
        table = None
        if not always and not (subjects_of and objects_of):
            table = ("?this ?_tp [] .", tuple(subjects_of)) if subjects_of else ("[] ?_tp ?this .", tuple(objects_of))
        return Focus(pattern, None if always else frozenset(str(p) for p in subjects_of + objects_of),
                     frozenset(str(p) for p in objects_of), table)

    def path(self, shape, node) -> str | None:
        graph = self.graph
        if isinstance(node, rdflib.URIRef):
            return node.n3()
        if (node, RDF.first, None) in graph:
            return "(" + "/".join(self.path(shape, step) or "" for step in Collection(graph, node)) + ")"
        inverse = graph.value(node, SH.inversePath)
        if inverse is not None:
            return f"^({self.path(shape, inverse)})"
        alternatives = graph.value(node, SH.alternativePath)
        if alternatives is not None:
            return "(" + "|".join(self.path(shape, step) or "" for step in Collection(graph, alternatives)) + ")"
        for predicate, operator in ((SH.zeroOrMorePath, "*"), (SH.oneOrMorePath, "+"), (SH.zeroOrOnePath, "?")):
            inner = graph.value(node, predicate)
            if inner is not None:
                return f"({self.path(shape, inner)}){operator}"
        self.unsupported(shape, f"a property path the compiler cannot read ({node})")
        return None

    # --- constraints ------------------------------------------------------------------------------

    def shape(self, shape, focus: Focus | None = None) -> None:
        """Add a branch for each constraint of ``shape``, and recurse into its property shapes."""
        graph = self.graph
        focus = focus or self.targets(shape)
        # A shape may be its own SPARQL constraint (sh:sparql pointing back to it).
        handled = _HANDLED | {SH.select} if (None, SH.sparql, shape) in graph else _HANDLED
        for predicate in set(graph.predicates(shape, None)):
            if str(predicate).startswith(str(SH)) and predicate not in handled:
                self.unsupported(shape, f"constraint parameter {predicate}")
            if predicate in self.component_parameters:
                self.unsupported(shape, f"SPARQL-based constraint component {self.component_parameters[predicate]} "
                                        f"(parameter {predicate})")
        severity = graph.value(shape, SH.severity) or SH.Violation
        message = _message(graph, shape)
        path_node = graph.value(shape, SH.path)
        path = self.path(shape, path_node) if path_node is not None else None

        # A plain predicate as path is left open (?_path, a column of the branch's VALUES table), as is the
        # argument of some components, so that constraints of one kind can share a branch (see add).
        plain = isinstance(path_node, rdflib.URIRef)
        open_path = "?_path" if plain else path
        value_pattern = f"?this {open_path} ?value ." if path else "BIND(?this AS ?value)"
        for parameter, (component, violated) in core.VALUE_COMPONENTS.items():
            for argument in graph.objects(shape, parameter):
                if parameter == SH.datatype and argument in core.UNCHECKED_DATATYPES:
                    self.unsupported(shape, f"sh:datatype {argument}: {core.UNCHECKED_DATATYPES[argument]}")
                branch = Branch(shape, component, severity, message or _default_message(component, argument, path_node),
                                path_node)
                columns, members, check = {}, None, None
                if parameter == SH["in"]:
                    # The listed terms as a table the values are subtracted from: a hash join, where a
                    # NOT EXISTS would scan the whole list again for every value (8.6 -> 1.6 ms for 100 patients).
                    members = list(Collection(graph, argument))
                    violations = f"{value_pattern} MINUS {{ VALUES (?branch ?value) {{ {_MEMBERS} }} }}"
                    stored = _as_stored(members) if plain else None
                    check = Check(str(path_node), members=stored) if stored is not None else None
                elif parameter in core.COLUMN_ARGUMENTS:
                    columns["?_arg"] = argument.n3()
                    violations = f"{value_pattern} FILTER({violated('?value', rdflib.Variable('_arg'), graph)})"
                else:
                    violations = f"{value_pattern} FILTER({violated('?value', argument, graph)})"
                    if parameter == SH.datatype and plain:
                        check = Check(str(path_node), datatype=argument)
                self.add(branch, violations, focus, path_node if plain else None,
                         parameter if columns or members is not None else (parameter, argument), columns, members,
                         check=check)
        for parameter, (component, violated) in core.COUNT_COMPONENTS.items():
            for argument in graph.objects(shape, parameter):
                if path is None:
                    self.unsupported(shape, f"{parameter} on a node shape")
                    continue
                # Local variable names: the same text for the same count, so that such constraints group.
                condition = violated("?this", open_path, int(argument), _Names())
                branch = Branch(shape, component, severity, message or _default_message(component, argument, path_node),
                                path_node)
                # Without a value on the path, only a minimum count can be violated.
                self.add(branch, f"FILTER({condition})", focus, path_node if plain else None, (parameter, int(argument)),
                         needs_value=parameter != SH.minCount,
                         check=Check(str(path_node), most=int(argument)) if plain and parameter == SH.maxCount else None)
        for members in graph.objects(shape, SH.xone):
            if path is not None:
                self.unsupported(shape, "sh:xone on a property shape")
                continue
            conforming = " + ".join(f"IF({self.conforms(shape, member, '?this')}, 1, 0)"
                                    for member in Collection(graph, members))
            self.add(Branch(shape, SH.XoneConstraintComponent, severity,
                            message or "exactly one of the alternative shapes must hold", None),
                     f"BIND(?this AS ?value) FILTER(({conforming or '0'}) != 1)", focus)
        for constraint in graph.objects(shape, SH.sparql):
            self.sparql(shape, constraint, focus, severity, message, path_node, path)
        if path is not None and any(True for _ in graph.objects(shape, SH.property)):
            # The focus nodes of a property shape's own property shapes are its value nodes.
            focus = self.values_of(focus, path, path_node)
        for property_shape in graph.objects(shape, SH.property):
            if not _deactivated(graph, property_shape):
                self.shape(property_shape, focus)

    def values_of(self, focus: Focus, path: str, path_node) -> Focus:
        """The focus nodes that are the values on ``path`` of the nodes of ``focus``."""
        parent = self.names.fresh("f")
        renamed = re.sub(r"[?]this\b", parent, focus.pattern)
        return Focus(f"{{ SELECT DISTINCT ?this WHERE {{ {renamed} {parent} {path} ?this }} }}", focus.triggers,
                     frozenset({str(path_node)}) if isinstance(path_node, rdflib.URIRef) else frozenset())

    def conforms(self, shape, member, focus: str) -> str:
        """A SPARQL expression: does ``focus`` conform to ``member`` (only its core constraints)?"""
        graph, violations = self.graph, []
        for predicate in set(graph.predicates(member, None)):
            if str(predicate).startswith(str(SH)) and predicate not in (SH.path, *core.VALUE_COMPONENTS, *core.COUNT_COMPONENTS):
                self.unsupported(shape, f"{predicate} inside a logical constraint")
        path_node = graph.value(member, SH.path)
        path = self.path(shape, path_node) if path_node is not None else None
        value = self.names.fresh("v")
        value_pattern = f"{focus} {path} {value} ." if path else f"BIND({focus} AS {value})"
        for parameter, (_component, violated) in core.VALUE_COMPONENTS.items():
            for argument in graph.objects(member, parameter):
                violations.append(f"EXISTS {{ {value_pattern} FILTER({violated(value, argument, graph)}) }}")
        for parameter, (_component, violated) in core.COUNT_COMPONENTS.items():
            for argument in graph.objects(member, parameter):
                violations.append(violated(focus, path, int(argument), self.names))
        return "(" + (" || ".join(violations) and f"!({' || '.join(violations)})" or "true") + ")"

    def sparql(self, shape, constraint, focus: Focus, severity, shape_message, path_node, path) -> None:
        graph = self.graph
        unsupported = lambda what: self.unsupported(shape, what)  # noqa: E731
        if _deactivated(graph, constraint):
            return
        select = graph.value(constraint, SH.select)
        if select is None:
            unsupported("a SPARQL constraint without sh:select")
            return
        for predicate in set(graph.predicates(constraint, None)) if constraint != shape else ():  # else checked as a shape
            if str(predicate).startswith(str(SH)) and predicate not in (SH.select, SH.prefixes, SH.message, SH.deactivated):
                unsupported(f"{predicate} on a SPARQL constraint")
        self.prefixes.declare(graph, constraint, unsupported)
        variables = set(re.findall(r"[?$](\w+)", str(select)))
        if "shapesGraph" in variables:
            unsupported("$shapesGraph in a SPARQL constraint (the shapes graph is not in the data store)")
            return
        focus_pattern = f"VALUES ?_tp {{ {_ROWS} }} {focus.table[0]}" if focus.table else focus.pattern
        correlation = f"SELECT DISTINCT ?this WHERE {{ {focus_pattern} }}"
        bound = {"this"}
        if "currentShape" in variables:
            if not isinstance(shape, rdflib.URIRef):
                unsupported("$currentShape of a blank-node shape in a SPARQL constraint")
                return
            correlation = f"SELECT DISTINCT ?this ?currentShape WHERE {{ {focus_pattern} VALUES ?currentShape {{ {shape.n3()} }} }}"
            bound.add("currentShape")
        replace = {"PATH": path if isinstance(path_node, rdflib.URIRef) else f"({path})"} if path is not None else {}
        rewritten = correlate(str(select), "{ " + correlation + " }", bound, replace, self.prefixes.namespaces,
                              unsupported)
        if rewritten is None:
            return
        if not self.parses(Pattern(rewritten.text, None, tuple(focus.rows())).written(None)):
            unsupported(f"a SPARQL constraint that is not valid SPARQL once pre-bound: {' '.join(str(select).split())}")
            return
        message = _message(graph, constraint) or shape_message or "the SPARQL constraint found a violation"
        self.message_variables.update(re.findall(r"\{[?$](\w+)\}", message))
        self.message_variables.update(v for v in rewritten.projected if v == "path")
        # The rewritten query binds its own focus nodes, so the branch needs no focus pattern before it.
        index = self.branch(Branch(shape, SH.SPARQLConstraintComponent, severity, message, path_node, path_node is None),
                            focus)
        self.groups[index] = _Group(f"  {{ {rewritten.text} BIND({index} AS ?branch) }}",
                                    None if focus.table else focus.triggers, focus.rows(), rewritten.required)

    def parses(self, pattern: str) -> bool:
        """Does Oxigraph accept ``pattern`` (with the prefixes declared so far) as a query's WHERE clause?"""
        try:
            _EMPTY.query(f"{self.prefixes.header()}SELECT * WHERE {{ {pattern} }}")
        except SyntaxError:
            return False
        return True

    def branch(self, branch: Branch, focus: Focus) -> int:
        self.branches.append(dataclasses.replace(branch, object_targets=focus.object_targets))
        return len(self.branches) - 1

    def add(self, branch: Branch, pattern: str, focus: Focus, predicate=None, kind=None, columns: dict | None = None,
            members: list | None = None, needs_value: bool = True, check: Check | None = None) -> None:
        """Record a constraint: ``pattern`` finds its violations at the focus nodes of ``focus``.

        Constraints of one ``kind`` (component, and the argument unless it is a column) with the same
        pattern share a branch: its VALUES table has a row for each, holding the target predicate (?_tp,
        for a focus with a table), the plain ``predicate`` of the path (?_path), the other ``columns``
        and the branch number. A row is left out of a query when the data lacks its target predicate, or
        the path's predicate where a violation ``needs_value``. The members of an sh:in list go to a
        second table (_MEMBERS), keyed by branch number. A row is also left out when the data fail its
        ``check``.
        """
        index = self.branch(branch, focus)
        columns = {**({"?_path": predicate.n3()} if predicate is not None else {}), **(columns or {})}
        requires = {str(predicate)} if predicate is not None and needs_value else set()
        listed = " ".join(f"({index} {member.n3()})" for member in members or ())
        focus_text = focus.table[0] if focus.table else focus.pattern
        names = ["?_tp"] * bool(focus.table) + [*columns, "?branch"]
        group = self.groups.setdefault(
            (focus_text, pattern, index if kind is None else kind),
            _Group(f"  {{ VALUES ({' '.join(names)}) {{ {_ROWS} }} {focus_text} {pattern} }}",
                   None if focus.table else focus.triggers, []))
        for target in focus.table[1] if focus.table else [None]:
            values = [*([target.n3()] if target is not None else []), *columns.values(), str(index)]
            needed = requires | {str(target)} if target is not None else requires
            group.rows.append(Row(f"({' '.join(values)})", frozenset(needed), listed, check))

    def flush(self) -> list[Pattern]:
        return [Pattern(group.text, group.triggers, tuple(group.rows), group.requires) for group in self.groups.values()]


@dataclass
class _Group:
    """The constraints that share one UNION branch (see _Compiler.add)."""

    text: str  # the branch, with _ROWS (and _MEMBERS) for the rows of its tables
    triggers: frozenset[str] | None
    rows: list[Row]
    requires: frozenset[str] = frozenset()


_EMPTY = ox.Store()  # to check at compile time that a rewritten constraint is valid SPARQL
# Where the rows of a branch's VALUES tables go once the data's predicates are known (see Pattern.written).
_ROWS = "\x00rows\x00"
_MEMBERS = "\x00members\x00"


def _as_stored(members: list) -> frozenset | None:
    """The listed terms as a store holds them (literals in canonical form: "01"^^xsd:integer is "1"), the
    form in which they are compared to the data's; None when one is a blank node, which no value equals."""
    if any(isinstance(member, rdflib.BNode) for member in members):
        return None
    store = ox.Store()
    store.load(input="".join(f"<urn:acr-kg:list> <urn:acr-kg:member> {member.n3()} .\n" for member in members),
               format=ox.RdfFormat.N_TRIPLES)
    return frozenset(quad.object for quad in store)


def _message(graph, node) -> str | None:
    messages = sorted(graph.objects(node, SH.message), key=lambda m: (getattr(m, "language", None) not in (None, "en"), str(m)))
    return str(messages[0]) if messages else None


def _default_message(component, argument, path) -> str:
    name = component.fragment.removesuffix("ConstraintComponent")
    where = f" on {path}" if isinstance(path, rdflib.URIRef) else ""
    return f"{name} constraint ({argument}) not met{where}"
