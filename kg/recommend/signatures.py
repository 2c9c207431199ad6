"""Explanations shared between patients whose cases look the same to the explanation queries.

In a population most patients repeat a few situations. The validation and the derivation of the case
aspects run for every patient (they read dates and raw values); the explanation queries then read only
part of the loaded data: the derived aspects, the matched variants, the ultrasound result and node
readings, the threshold set, and the knowledge base. Two patients whose graphs agree on that part, up
to the names of their own nodes, get the same explanation with the names swapped, so the queries and
``explain`` run once per distinct *signature* and the answer is copied, renamed, to the others.

What the queries read is taken from their text, not restated here: a part's *view* of a patient is every
triple of its graph (raw, derived, evaluation context) whose predicate is an IRI written in one of the
part's queries, or a criterion aspect where a query has a variable predicate (such a variable must be
bound through ``acr:criterionAspect``; otherwise the view keeps every triple). The patient's own nodes
are numbered in IRI order, so a renamed answer keeps the order of the queries' ORDER BY. A patient whose
view holds a blank node, a fact about a shared term (one of our IRIs or a code), or several patients is
never shared: it is explained on its own. Strings in a query are not reads (a message may name a term),
and a predicate whose value is bound to a variable used nowhere else counts only by its presence.

A query that reads raw values only to say why something is unknown (unknown-aspects, ROW_KEYS) is run
for the whole batch instead, and its rows, own nodes numbered, are part of the signature in place of
what it reads: the N category then splits no case whose nodal status is known.

Node readings (one row per node finding) form a part of their own, so that a patient's measurements do
not make its whole case unique; that part is queried for every patient in the batch's store (DIRECT), as
nearly every patient's readings differ. Answers are identical to ``Engine.evaluate`` (tests/test_cohort.py).
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

import pyoxigraph as ox

from kg import queries
from kg.input import batches
from kg.input.coding import code_namespaces
from kg.recommend.engine import Engine, Request
from kg.recommend.explain import EXPLANATION, explain
from kg.recommend.results import Recommendation
from kg.store import IRI, BNode, to_oxigraph
from kg.terms import ACR, OWN_NAMESPACE
from kg.validate import check_thresholds, context_quads

# Explanation keys read one row per node finding; every other key belongs to the case part.
NODE_KEYS = frozenset({"nodes"})
# Parts queried for every patient in the batch's own store instead of shared: node readings differ from
# patient to patient (each cortex value), and their query is cheap once the batch is loaded.
DIRECT = frozenset({"nodes"})
# Keys of the case part whose rows are queried in the batch's store and put in the signature themselves,
# instead of what their query reads: unknown-aspects reads raw values (the N category, say) only to say
# why an aspect is unknown, and its rows are few and cheap to query.
ROW_KEYS = frozenset({"unknowns"})
# Patients validated and derived together: derive-case grows faster than linearly with the patients in
# the store (0.14 ms a patient in batches of 50-100, 0.67 ms in batches of 500).
BATCH_SIZE = 100
# Fields of a Recommendation that are the patient's own, never copied from another patient.
OWN_FIELDS = frozenset({"patient", "source", "validation", "evaluation", "knowledge_base", "notes", "derived"})
REPRESENTATIVES_PER_STORE = 64  # some explanation queries grow faster than linearly with the patients loaded
CAPACITY = 50_000  # signatures remembered per part (least recently used dropped first)

_VARIABLE_PREDICATE = re.compile(r"(?:\?\w+|;)\s+(\?\w+)\s+[?$]\w+")


def parts() -> dict[str, tuple[str, ...]]:
    """Part name -> the explanation keys it explains."""
    case = tuple(key for key in EXPLANATION if key not in NODE_KEYS)
    return {"case": case, "nodes": tuple(key for key in EXPLANATION if key in NODE_KEYS)}


def _mentioned(text: str) -> tuple[set[str], bool, bool, set[str]]:
    """The IRIs written in a query, whether it has a variable predicate, whether each such variable is
    bound by acr:criterionAspect, and the predicates whose value the query never reads (each use is
    followed by a variable written nowhere else in the query: only that a value exists counts)."""
    prefixes = queries.prefixes_of(text)
    iris = queries.written_iris(text)
    code = re.sub(r"(?m)(^|\s)#.*$", "", text)  # comments
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', code)  # texts: a term named in a message is not read
    body = re.sub(r"(?is)\bSELECT\b.*?(?=\bWHERE\b|\{)", "", code)  # projections list variables side by side
    body = re.sub(r"(?i)\b(GROUP|ORDER)\s+BY\b[^{}]*", "", body)  # solution modifiers, to the end of their query
    variables = set(_VARIABLE_PREDICATE.findall(body))
    bound = all(re.search(r"criterionAspect\s+\?" + re.escape(v[1:]) + r"\b", body) for v in variables)
    uses: dict[str, list[bool]] = {}
    if not re.search(r"(?i)SELECT\s+(DISTINCT\s+|REDUCED\s+)?\*", code):
        counts: dict[str, int] = {}
        for name in re.findall(r"[?$](\w+)", code):
            counts[name] = counts.get(name, 0) + 1
        for p, local, after in re.findall(r"(?<![\w?$<])([A-Za-z][\w-]*)?:([A-Za-z_][\w-]*)(\s+[?$]\w+|)", code):
            if (p or "") in prefixes:
                single = bool(after) and counts.get(after.strip()[1:], 0) == 1
                uses.setdefault(prefixes[p or ""] + local, []).append(single)
    else:
        uses = {iri: [False] for iri in iris}
    return iris, bool(variables), bound, {iri for iri, flags in uses.items() if all(flags)}


@lru_cache(maxsize=4)
def view_predicates(aspects: frozenset[str]) -> dict[str, tuple[frozenset[str] | None, frozenset[str]]]:
    """Part -> (the predicates of its view, None for every predicate; those whose values it never reads)."""
    found = {}
    for part, keys in parts().items():
        predicates: set[str] | None = set()
        unread: dict[str, bool] = {}
        for key in keys:
            if key in ROW_KEYS:
                continue
            iris, variable, bound, existence = _mentioned(queries.get(EXPLANATION[key]).text)
            if variable and not bound:
                predicates = None
                break
            predicates |= iris | (aspects if variable else set())
            for iri in iris:
                unread[iri] = unread.get(iri, True) and iri in existence and not (variable and iri in aspects)
        found[part] = (None, frozenset()) if predicates is None else (
            frozenset(predicates), frozenset(iri for iri, flag in unread.items() if flag))
    return found


class SharedExplanations:
    """``evaluate`` as ``Engine.evaluate``, explaining each distinct signature once (kept across calls).
    One instance per thread: the engine is shared, the memory of signatures is not."""

    def __init__(self, engine: Engine, *, capacity: int = CAPACITY):
        self.engine = engine
        self.capacity = capacity
        with engine.store() as store:
            kb = store.store  # the embedded store: the criterion aspects, by a triple pattern
            aspects = frozenset(q.object.value for q in kb.quads_for_pattern(None, ox.NamedNode(ACR + "criterionAspect"), None))
        self.views = {part: view for part, view in view_predicates(aspects).items() if part not in DIRECT}
        # the predicates some view reads (None: every predicate)
        self._read = None if any(p is None for p, _ in self.views.values()) else \
            frozenset().union(*(p for p, _ in self.views.values()))
        self.shared = (OWN_NAMESPACE, *code_namespaces())
        self.memory: dict[str, OrderedDict] = {part: OrderedDict() for part in self.views}
        # the explanation queries run in each batch's own store: those of the DIRECT parts, and ROW_KEYS
        wanted = {key for part in DIRECT for key in parts()[part]} | ROW_KEYS
        self._batch_queries = {key: name for key, name in EXPLANATION.items() if key in wanted}
        self._baseline: dict | None = None
        self.explained = 0  # patients whose explanation queries ran (representatives)
        self.reused = 0  # patients answered from a signature

    def evaluate(self, requests: Sequence[Request]) -> list[Recommendation]:
        for request in requests:
            check_thresholds(request.thresholds, self.engine.knowledge)
        results: list[Recommendation | None] = [None] * len(requests)
        with self.engine.store() as store:
            for indexes in batches([r.data.quads for r in requests], size=BATCH_SIZE):
                batch = [requests[i] for i in indexes]
                loaded, _, rows = self.engine._load(store, batch, self._batch_queries)
                self._explain(store, batch, loaded, *self._direct(loaded, rows))
                for index, result in zip(indexes, loaded):
                    results[index] = result
        return results

    # --- signatures ------------------------------------------------------------------------------

    def _graph(self, index: int, request: Request, result: Recommendation) -> list[tuple]:
        """The patient's triples as loaded that some view reads: of its data, its evaluation context and
        the derived facts."""
        keep = self._read
        quads = itertools.chain(request.data.quads, context_quads(index, request.data.quads, result.evaluation, self.engine.knowledge))
        triples = [(q.subject, q.predicate, q.object) for q in quads if keep is None or q.predicate.value in keep]
        triples += [tuple(map(to_oxigraph, t)) for t in result.derived if keep is None or t[1] in keep]
        return triples

    def _signature(self, triples: list[tuple], view: tuple[frozenset[str] | None, frozenset[str]],
                   patient: str, batch_rows: dict[str, dict], part: str) -> tuple[tuple, list[str]] | None:
        """(signature, own node IRIs by number), or None when the patient cannot share.

        Only the view triples connected to the patient count: every explanation row is joined with its
        patient (that is what lets a batch hold many patients), so nothing else can change it."""
        predicates, unread = view
        view = [t for t in triples if predicates is None or t[1].value in predicates]
        links: dict[str, set[str]] = {}
        for s, _, o in view:
            for term in (s, o):
                if isinstance(term, ox.BlankNode):
                    return None
            if s.value.startswith(self.shared):  # a fact about one of our terms or a code
                return None
            links.setdefault(s.value, set())
            if isinstance(o, ox.NamedNode) and not o.value.startswith(self.shared):
                links[s.value].add(o.value)
                links.setdefault(o.value, set()).add(s.value)
        own, todo = {patient}, [patient]
        while todo:
            for node in links.get(todo.pop(), ()):
                if node not in own:
                    own.add(node)
                    todo.append(node)
        names = sorted(own)
        number = {name: f"#{i}" for i, name in enumerate(names)}
        key = tuple(sorted((number[s.value], p.value, _object(o, number, p.value in unread))
                           for s, p, o in view if s.value in own))
        signed = []  # the ROW_KEYS rows as they come, own nodes numbered
        for name in parts()[part]:
            if name in ROW_KEYS:
                for row in batch_rows[name].get(patient, []):
                    values = []
                    for column, value in row.items():
                        if isinstance(value, BNode):
                            return None
                        if isinstance(value, IRI) and not value.startswith(self.shared):
                            if value not in number:
                                return None  # a node the view does not reach: it could not be renamed
                            value = number[value]
                        values.append((column, type(value).__name__, value))
                    signed.append((name, tuple(values)))
        return key + tuple(signed), names

    # --- explanation -----------------------------------------------------------------------------

    def _direct(self, loaded: list[Recommendation], rows: dict[str, dict]) -> tuple[dict, dict]:
        """From the rows of the batch's own queries: (index, part) -> the explanation fields of the DIRECT
        parts, and the rows of the ROW_KEYS queries (key -> patient -> rows)."""
        found = {}
        for part in DIRECT:
            for i, result in enumerate(loaded):
                if result.valid:
                    found[i, part] = self._explained(result, {key: rows[key].get(result.patient, []) for key in parts()[part]})
        return found, {key: rows.get(key, {}) for key in ROW_KEYS}

    def _explain(self, store, batch: Sequence[Request], loaded: list[Recommendation],
                 direct: dict[tuple[int, str], dict], batch_rows: dict[str, dict]) -> None:
        valid = [i for i, result in enumerate(loaded) if result.valid]
        if not valid:
            return
        graphs = {i: self._graph(i, batch[i], loaded[i]) for i in valid}
        signatures: dict[tuple[int, str], tuple | None] = {}
        wanted: dict[int, set[str]] = {}  # patient -> parts explained for it by the queries
        known: dict[tuple[str, tuple], tuple | int] = {}  # (part, signature) -> template, or its representative
        for i in valid:
            alone = len(batch[i].data.patients) != 1
            for part, view in self.views.items():
                found = None if alone else self._signature(graphs[i], view, loaded[i].patient, batch_rows, part)
                signatures[i, part] = found
                if found is not None and (part, found[0]) in known:
                    continue
                if found is not None and found[0] in self.memory[part]:
                    self.memory[part].move_to_end(found[0])
                    known[part, found[0]] = self.memory[part][found[0]]
                    continue
                if found is not None:
                    known[part, found[0]] = i
                wanted.setdefault(i, set()).add(part)
        self._unshareable: set[tuple[int, str]] = set()
        fresh = self._run(store, batch, loaded, graphs, wanted, batch_rows)
        # A template whose texts name one of its own nodes cannot be renamed safely: explain the others too.
        again: dict[int, set[str]] = {}
        for (part, key), template in list(known.items()):
            if isinstance(template, int):
                representative = template
                template = known[part, key] = None if (representative, part) in self._unshareable else fresh[representative, part]
                if template is not None:
                    self.memory[part][key] = template
                    if len(self.memory[part]) > self.capacity:
                        self.memory[part].popitem(last=False)
            if template is None:
                for i in valid:
                    if signatures[i, part] is not None and signatures[i, part][0] == key and (i, part) not in fresh:
                        again.setdefault(i, set()).add(part)
        fresh |= self._run(store, batch, loaded, graphs, again, batch_rows, shareable=False)
        for i in valid:
            pieces = []
            for part in parts():
                if part in DIRECT:
                    pieces.append(direct[i, part])
                    continue
                found = signatures[i, part]
                fields, names, named = fresh[i, part] if (i, part) in fresh else known[part, found[0]]
                renames = {old: IRI(new) for old, new in zip(names, found[1]) if old != new} \
                    if found and (i, part) not in fresh else {}
                # values are shared between the patients of a signature; only those naming own nodes are copied
                pieces.append({name: _renamed(value, renames) if renames and name in named else value
                               for name, value in fields.items()})
            merged = self._merge(loaded[i], pieces)
            loaded[i].derived.extend(merged.pop("derived"))
            for name, value in merged.items():
                setattr(loaded[i], name, value)
            if i in wanted or i in again:
                self.explained += 1
            else:
                self.reused += 1

    def _run(self, store, batch, loaded, graphs, wanted: dict[int, set[str]], batch_rows: dict[str, dict], *,
             shareable: bool = True) -> dict[tuple[int, str], tuple]:
        """Explain these patients' parts, a few patients per store: (index, part) -> (fields, own node
        IRIs); those that cannot be shared are noted in ``_unshareable``."""
        fresh: dict[tuple[int, str], tuple] = {}
        members = sorted(wanted)
        for start in range(0, len(members), REPRESENTATIVES_PER_STORE):
            group = members[start:start + REPRESENTATIVES_PER_STORE]
            quads = [[*batch[i].data.quads, *context_quads(i, batch[i].data.quads, loaded[i].evaluation, self.engine.knowledge)] for i in group]
            store.set_patients(list(itertools.chain.from_iterable(quads)))
            store.add_patient_triples([t for i in group for t in loaded[i].derived])
            predicates = {q.predicate.value for graph in quads for q in graph}
            predicates |= {str(t[1]) for i in group for t in loaded[i].derived}
            needed = {key for i in group for part in wanted[i] for key in parts()[part]} - ROW_KEYS
            rows = self.engine.rows_by_patient(store, {key: name for key, name in EXPLANATION.items() if key in needed}, predicates) | batch_rows
            for i in group:
                for part in wanted[i]:
                    keys = parts()[part]
                    fields = self._explained(loaded[i], {key: rows[key].get(loaded[i].patient, []) for key in keys})
                    found = self._signature(graphs[i], self.views[part], loaded[i].patient, batch_rows, part) \
                        if shareable else None
                    names = found[1] if found else []
                    fresh[i, part] = (fields, names, _naming(fields, set(names)))
                    if found and _names_in_texts(fields, names):
                        self._unshareable.add((i, part))
        store.set_patients(None)
        return fresh

    def _explained(self, result: Recommendation, rows: dict[str, list]) -> dict:
        """The explanation fields (and derived facts) that ``explain`` makes of these rows alone."""
        blank = _blank(result)
        explain(blank, {key: rows.get(key, []) for key in EXPLANATION}, self.engine.labels, self.engine.sources)
        return _fields(blank)

    def _merge(self, result: Recommendation, pieces: list[dict]) -> dict:
        """One explanation from the parts': the first part's, with what each other part adds to the
        explanation of no rows at all (the sources cited: every part's, once each, in order)."""
        if self._baseline is None:
            self._baseline = self._explained(result, {})
        merged = dict(pieces[0])
        for piece in pieces[1:]:
            for name, value in piece.items():
                empty = self._baseline[name]
                if value == empty:
                    continue
                if merged[name] == empty:
                    merged[name] = value
                elif name == "sources":
                    merged[name] = sorted({s["source"]: s for s in merged[name] + value}.values(),
                                          key=lambda s: s["source"])
                elif isinstance(value, list) and isinstance(merged[name], list):
                    merged[name] = merged[name] + value
                else:
                    raise AssertionError(f"explanation field {name!r} is filled by several parts")
        return merged


def _object(term, number: dict[str, str], unread: bool) -> str:
    if isinstance(term, ox.NamedNode) and term.value in number:
        return number[term.value]
    if unread and isinstance(term, ox.Literal):
        return f"a value of <{term.datatype.value}>"  # only that the value exists counts
    return str(term)


def _explanation_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Recommendation) if f.name not in OWN_FIELDS]


def _empty(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _blank(result: Recommendation) -> Recommendation:
    """A copy of the result with an empty explanation and no derived facts, to be filled in by one part."""
    return dataclasses.replace(result, derived=[], **{f.name: _empty(f) for f in _explanation_fields()})


def _fields(result: Recommendation) -> dict:
    return {f.name: getattr(result, f.name) for f in _explanation_fields()} | {"derived": result.derived}


def _naming(fields: dict, names: set[str]) -> frozenset[str]:
    """The fields holding one of these node IRIs as a value."""
    return frozenset(name for name, value in fields.items() if _iris(value) & names)


def _iris(value) -> set[str]:
    if isinstance(value, IRI):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return set().union(*map(_iris, items))


def _names_in_texts(value, names: list[str]) -> bool:
    """Whether a text (not an IRI value) of the explanation contains one of these node IRIs."""
    if isinstance(value, IRI):
        return False
    if isinstance(value, str):
        return any(name in value for name in names)
    if isinstance(value, dict):
        return any(_names_in_texts(item, names) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_names_in_texts(item, names) for item in value)
    return False


def _renamed(value, renames: dict[str, IRI]):
    """A deep copy with the template's own node IRIs replaced by the patient's."""
    if isinstance(value, IRI):
        return renames.get(value, value)
    if isinstance(value, dict):
        return {key: _renamed(item, renames) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, renames) for item in value]
    if isinstance(value, tuple):
        return tuple(_renamed(item, renames) for item in value)
    return value
