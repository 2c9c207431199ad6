"""One engine shared by threads, batches that mix evaluation dates, queries side by side, and the public API."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import re
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import pyoxigraph as ox

import kg
from kg.input import parse_patient, read_patient
from kg.errors import UsageError
from kg import queries
from kg.recommend import DERIVATION, Engine, Request
from kg.recommend.batcher import Batcher
from kg.recommend.signatures import _mentioned
from kg.recommend.engine import _answered
from kg.store.embedded import EmbeddedStore
from kg.store.parallel import SideBySide
from kg.synthetic import case_turtle, random_case
from locations import EXAMPLES_DIR


def _spread_patients(n: int, seed: int) -> list:
    """Generated patients whose order (evaluation) dates are spread over a year, some invalid."""
    rng = random.Random(seed)
    first = dt.date(2025, 12, 1)
    return [parse_patient(case_turtle(random_case(rng, now=first + dt.timedelta(days=rng.randint(0, 364))),
                                      f"https://example.org/spread/{seed}/{i}").encode(), f"p{i}.ttl")
            for i in range(n)]


@pytest.fixture(scope="module")
def mixed() -> list:
    examples = [read_patient(path) for path in sorted(EXAMPLES_DIR.glob("*.ttl"))]
    return examples + _spread_patients(200 - len(examples), seed=7)


@pytest.fixture(scope="module")
def alone(recommender, mixed) -> list[dict]:
    return [recommender.recommend(data).as_dict() for data in mixed]


def test_the_mix_has_every_kind_of_answer_and_many_dates(alone):
    assert len({a["evaluation_date"] for a in alone}) > 100
    kinds = {(a["valid"], bool(a["applicable"])) for a in alone}
    assert kinds == {(False, False), (True, False), (True, True)}


def test_a_batch_with_dates_spread_over_a_year_answers_as_one_by_one(recommender, mixed, alone):
    assert [r.as_dict() for r in recommender.recommend_many(mixed)] == alone


def test_patients_with_different_threshold_sets_in_one_batch(recommender):
    borderline = read_patient(EXAMPLES_DIR / "after-therapy-borderline-us.ttl")
    together = recommender.evaluate([Request(borderline, None, "seed"), Request(borderline, None, "acr")])
    # the same graph twice shares every node, so it goes to two batches; the answers still differ by set
    assert [r.as_dict() for r in together] == [recommender.recommend(borderline, thresholds=t).as_dict()
                                               for t in ("seed", "acr")]
    assert together[0].node_assessments[0]["assessment"] != together[1].node_assessments[0]["assessment"]


def test_eight_threads_share_one_engine(mixed, alone):
    engine = Engine()
    order = list(range(len(mixed)))
    random.Random(3).shuffle(order)

    def answer(index: int) -> tuple[int, dict]:
        return index, engine.recommend(mixed[index]).as_dict()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(pool.map(answer, order))
    assert [answers[i] for i in range(len(mixed))] == alone


def test_threads_sharing_an_engine_in_batches(mixed, alone):
    engine = Engine()
    chunks = [list(range(i, len(mixed), 8)) for i in range(8)]

    def answer(indexes: list[int]) -> list[tuple[int, dict]]:
        return [(i, r.as_dict()) for i, r in zip(indexes, engine.recommend_many([mixed[i] for i in indexes]))]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(pair for part in pool.map(answer, chunks) for pair in part)
    assert [answers[i] for i in range(len(mixed))] == alone


def test_the_public_api_is_in_the_package():
    assert isinstance(kg.__version__, str) and kg.__version__[0].isdigit()
    assert kg.Engine is Engine and kg.read_patient is read_patient
    assert issubclass(kg.InputError, kg.AcrKgError)
    with pytest.raises(AttributeError):
        kg.NoSuchThing  # noqa: B018


def test_a_batcher_answers_calls_from_many_threads_as_one_by_one(recommender, mixed, alone):
    batcher = Batcher(recommender)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda data: batcher.evaluate([Request(data)])[0].as_dict(), mixed))
    finally:
        batcher.close()
    assert answers == alone
    assert batcher.calls == len(mixed)
    assert batcher.batches < batcher.calls  # calls that waited together were answered together


def test_one_bad_call_in_a_batch_fails_alone(recommender, mixed, alone):
    batcher = Batcher(recommender)
    batcher.close()  # its thread is stopped: the calls below are grouped by hand, as the thread would
    calls = [([Request(mixed[0])], Future()), ([Request(mixed[1], None, "no-such-set")], Future()),
             ([Request(mixed[2]), Request(mixed[3])], Future())]
    batcher._evaluate(calls)
    assert [r.as_dict() for r in calls[0][1].result()] == alone[:1]
    with pytest.raises(UsageError, match="no-such-set"):
        calls[1][1].result()
    assert [r.as_dict() for r in calls[2][1].result()] == alone[2:4]
    with pytest.raises(RuntimeError, match="closed"):
        batcher.evaluate([Request(mixed[0])])


def test_one_by_one_answers_the_same_with_one_thread_or_two(mixed, alone):
    # two threads: a patient alone is derived while it is validated; one thread: validated first
    for threads in (1, 2):
        engine = Engine(threads=threads)
        assert [engine.recommend(data).as_dict() for data in mixed] == alone, f"{threads} thread(s)"


def test_an_invalid_patient_alone_leaves_nothing_derived_in_the_store(mixed, alone):
    engine = Engine(threads=2)
    invalid = [data for data, answer in zip(mixed, alone) if not answer["valid"]]
    assert invalid
    for data in invalid:
        answer = engine.recommend(data)
        assert not answer.valid and answer.derived == [] and answer.applicable == []
    with engine.store() as store:  # the store the calls used, back in the pool
        assert not list(store.store.quads_for_pattern(None, None, None, ox.DefaultGraph()))  # patients' graph


def test_a_store_renewed_or_emptied_between_calls_answers_the_same(mixed, alone):
    """Patients go in the default graph, emptied after each call and renewed with the knowledge base
    after REFRESH_AFTER patient triples: answers are those of a fresh engine, and every call ends with
    the knowledge base alone in the store."""
    from kg.store.embedded import REFRESH_AFTER

    engine = Engine(threads=1)
    with engine.store() as store:
        knowledge = len(store.store)
    rounds = REFRESH_AFTER // sum(len(data.quads) for data in mixed) + 2
    for _ in range(rounds):  # one by one, then as a batch, past a renewal each way
        assert [engine.recommend(data).as_dict() for data in mixed] == alone
        assert [answer.as_dict() for answer in engine.recommend_many(mixed)] == alone
        with engine.store() as store:
            assert len(store.store) == knowledge


def test_the_queries_of_one_derivation_stage_read_none_of_each_others_answers(recommender, mixed):
    """What lets a stage's queries run side by side (kg.recommend.engine.DERIVATION): no query reads a
    predicate that another query of its stage writes, directly or as a criterion aspect."""
    written: dict[str, set[str]] = {}
    for data in mixed:
        with recommender.loaded(Request(data)) as (answer, store):
            for stage in DERIVATION:
                for name in stage:
                    found = store.construct(queries.get(name).text)
                    written.setdefault(name, set()).update(str(p) for _, p, _ in found)
    assert all(written[name] for stage in DERIVATION for name in stage), "a query never wrote anything: no evidence"
    with recommender.store() as store:
        aspects = {str(r["aspect"]) for r in store.select(
            "SELECT DISTINCT ?aspect WHERE { ?c <https://w3id.org/acr-kg/ontology/criterionAspect> ?aspect }")}
    for stage in DERIVATION:
        for reader in stage:
            reads = re.sub(r"(?s)CONSTRUCT\s*\{.*?\}\s*(?=WHERE)", "", queries.get(reader).text)  # the template writes
            iris, variable, bound, _ = _mentioned(reads)
            assert not variable or bound, f"{reader} reads any predicate"
            for writer in set(stage) - {reader}:
                assert not written[writer] & iris, f"{reader} reads what {writer} writes"
                assert not (variable and written[writer] & aspects), f"{reader} reads criterion aspects {writer} writes"


def test_side_by_side_keeps_the_order_and_raises_after_every_item_has_ended():
    side = SideBySide(2)
    assert side.map(lambda n: n * n, list(range(20))) == [n * n for n in range(20)]
    ended = []

    def work(n):
        if n == 0:
            raise ValueError("first")
        ended.append(n)
        return n

    with pytest.raises(ValueError, match="first"):
        side.map(work, list(range(6)))
    assert sorted(ended) == [1, 2, 3, 4, 5]
    # maps inside maps: a helper that never started is cancelled, never waited for
    assert side.map(lambda n: sum(side.map(lambda m: m, list(range(n)))), [3, 4, 5]) == [3, 6, 10]
    with pytest.raises(ValueError):
        SideBySide(0)


def _knowledge_base_queries():
    return [query for query in queries.catalogue().values() if query.knowledge_base_parts]


def test_knowledge_base_parts_read_the_knowledge_base_alone_and_answer_as_written(recommender, mixed):
    """A part marked # @knowledge-base is answered once per engine; that is right only if no patient
    changes its answer. The whole query, with the parts sent as VALUES tables, answers as written."""
    marked = _knowledge_base_queries()
    assert [q.name for q in marked] == ["criteria-status", "match-variants", "next-steps", "node-assessments", "rating-conflicts",
                                        "variant-ratings"]
    with recommender.store() as store:
        alone = {q.name: [store.select(text).rows for text in _part_selects(q)] for q in marked}
    compared = 0
    for data in mixed[::10]:
        with recommender.loaded(Request(data)) as (answer, store):
            for query in marked:
                assert [store.select(text).rows for text in _part_selects(query)] == alone[query.name]
                if answer.valid and query.form == "CONSTRUCT":
                    assert sorted(store.construct(recommender.texts[query.name].text)) == sorted(store.construct(query.text))
                elif answer.valid:
                    sent = recommender.texts[query.name]
                    as_written = store.select(query.text)
                    completed = sent.complete(store.select(sent.text))
                    assert (completed.variables, completed.rows) == (as_written.variables, as_written.rows)
                    compared += 1
    assert compared > 5
    assert recommender.texts["criteria-status"].text != queries.get("criteria-status").text


def _part_selects(query) -> list[str]:
    texts = []
    query.with_knowledge_base_answered(lambda text: texts.append(text) or ([], []))
    return texts


def test_a_knowledge_base_part_is_a_group_whose_braces_are_counted_outside_strings_and_comments(tmp_path):
    path = tmp_path / "q.rq"
    text = ('# a query\nSELECT * WHERE {\n  # @knowledge-base\n  { SELECT ?a ?b WHERE { ?a <urn:p> "}" } # }\n  }\n'
            '  ?a <urn:q> ?c .\n}\n')
    path.write_text(text)
    start, end = queries._knowledge_base_parts(path, text)[0]
    assert text[start:end].endswith("# }\n  }")
    answered = dataclasses.replace(queries.get("criteria-status"), text=text, knowledge_base_parts=((start, end),))
    table = answered.with_knowledge_base_answered(lambda select: (["a", "b"], [[ox.NamedNode("urn:x"), None]]))
    assert "VALUES (?a ?b) {\n    (<urn:x> UNDEF)\n  }\n  ?a <urn:q> ?c ." in table.text
    for broken in ("SELECT * WHERE {\n  # @knowledge-base\n  ?a <urn:p> ?b .\n}\n",
                   "SELECT * WHERE {\n  # @knowledge-base\n  { SELECT ?a WHERE { ?a <urn:p> ?b }\n"):
        with pytest.raises(UsageError, match="@knowledge-base"):
            queries._knowledge_base_parts(path, broken)


def _sent_and_written(text: str):
    """(the query as the engine sends it, completed rows; the rows of the query as written)."""
    store = EmbeddedStore()
    query = dataclasses.replace(queries.get("criteria-status"), text=text,
                                knowledge_base_parts=queries._knowledge_base_parts("q.rq", text))
    sent = _answered(store, query)
    written = store.select(text)
    completed = sent.complete(store.select(sent.text))
    assert (completed.variables, completed.rows) == (written.variables, written.rows)
    return sent, written


# a knowledge-base part with a long label that two keys share, and a key listed twice
_PART = ('  # @knowledge-base\n  { SELECT ?k ?label ?unused WHERE { VALUES (?k ?label ?unused) '
         '{ (1 "first label" 0) (2 "shared label" 0) (3 "shared label" 0) (3 "shared label" 0) } } }\n')


def test_a_column_the_query_only_projects_travels_as_a_row_number():
    text = f'SELECT ?x ?label WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) (<urn:b> 2) (<urn:c> 3) }}\n}}\nORDER BY ?x\n'
    sent, written = _sent_and_written(text)
    assert "shared label" not in sent.text and "?unused" not in sent.text.split("WHERE", 1)[1]
    assert len(written) == 4  # the key listed twice answers twice, as written
    distinct = text.replace("SELECT ?x", "SELECT DISTINCT ?x")
    sent, written = _sent_and_written(distinct)
    assert [row["label"] for row in written] == ["first label", "shared label", "shared label"]
    typed = ('SELECT ?x ?v WHERE {\n  # @knowledge-base\n  { SELECT ?k ?v WHERE { VALUES (?k ?v) { (1 1) (2 1.0) (3 "a") (4 "a"@en) } } }\n'
             '  VALUES (?x ?k) { (<urn:a> 1) (<urn:b> 2) (<urn:c> 3) (<urn:d> 4) }\n}\nORDER BY ?x\n')
    sent, written = _sent_and_written(typed)  # values that Python holds equal keep their own numbers
    assert len(sent.attached[0][2]) == 4


def test_a_column_read_outside_its_part_stays_in_the_table():
    for reading in ("FILTER(STRLEN(?label) > 0)", "BIND(STR(?label) AS ?text)"):
        text = f'SELECT ?x ?label WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) }}\n  {reading}\n}}\n'
        assert '"first label"' in _sent_and_written(text)[0].text
    for projection in ("?x (STR(?label) AS ?text)", "*"):
        text = f'SELECT {projection} WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) }}\n}}\n'
        assert '"first label"' in _sent_and_written(text)[0].text
    ordered = f'SELECT ?x ?label WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) (<urn:b> 2) }}\n}}\nORDER BY DESC(?label)\n'
    assert '"first label"' in _sent_and_written(ordered)[0].text
    in_text = f'SELECT ?x ?label WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) }} # ?label in a comment\n}}\n'
    assert '"first label"' not in _sent_and_written(in_text)[0].text  # a comment reads nothing


def test_a_part_left_unmatched_by_an_optional_completes_as_unbound():
    part = _PART.replace("  # @knowledge-base\n  {", "  # @knowledge-base\n    {")
    text = f'SELECT ?x ?label WHERE {{\n  VALUES ?x {{ <urn:a> <urn:z> }}\n  OPTIONAL {{\n{part}    FILTER(?x = <urn:a> && ?k = 1)\n  }}\n}}\n'
    sent, written = _sent_and_written(text)
    assert sent.attached and {row["label"] for row in written} == {"first label", None}


def test_a_query_that_names_the_row_number_variable_itself_is_refused():
    text = f'SELECT ?x ?label ?_kb0 WHERE {{\n{_PART}  VALUES (?x ?k) {{ (<urn:a> 1) }}\n}}\n'
    query = dataclasses.replace(queries.get("criteria-status"), text=text,
                                knowledge_base_parts=queries._knowledge_base_parts("q.rq", text))
    with pytest.raises(UsageError, match="_kb0"):
        _answered(EmbeddedStore(), query)


def test_an_interrupt_while_a_map_waits_still_waits_for_its_running_items():
    """A signal in the caller (Ctrl-C, an alarm) must not let map return while a helper still runs one
    of its items: the engine would hand the call's store to the next call with a query still on it."""
    side = SideBySide(2)
    running, started = [0], threading.Event()
    lock = threading.Lock()

    def work(n):
        with lock:
            running[0] += 1
        try:
            if n == 0:  # the caller's: it ends once the helper runs item 1, and the caller then waits
                assert started.wait(5)
            else:
                started.set()
                time.sleep(0.4)
        finally:
            with lock:
                running[0] -= 1

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.15)
        with pytest.raises(KeyboardInterrupt):
            side.map(work, [0, 1])
        assert started.is_set() and running[0] == 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_caller_that_waits_helps_another_call_with_one_item_at_a_time():
    side = SideBySide(2)
    a1_taken, f0_started, f1_started, release_a1, release_f, release_fa, helper_free = (threading.Event() for _ in range(7))
    ran: dict[str, list] = {}

    def own(n):  # thread A's map: it runs a0, the helper runs a1
        if n == 0:
            assert a1_taken.wait(5) and f0_started.wait(5)
        else:
            a1_taken.set()
            assert release_a1.wait(5)

    def foreign(n):  # thread B's map, waiting in the queue while A waits for a1
        name = threading.current_thread().name
        ran.setdefault(name, []).append(n)
        if n == 0:
            f0_started.set()
        elif name == "A":
            f1_started.set()
            assert release_fa.wait(5)
            return
        elif name != "B":
            helper_free.set()  # the helper has ended a1, so A's map has ended, and came to B's
        assert release_f.wait(5)

    a = threading.Thread(target=side.map, args=(own, [0, 1]), name="A")
    a.start()
    assert a1_taken.wait(5)
    b = threading.Thread(target=side.map, args=(foreign, list(range(40))), name="B")
    b.start()
    assert f1_started.wait(5)  # A, waiting for a1, took an item of B's map
    release_a1.set()
    assert helper_free.wait(5)
    release_fa.set()  # A's item of B's map ends after its own map has: A must return, taking no more
    a.join(5)
    assert not a.is_alive()
    release_f.set()
    b.join(5)
    assert not b.is_alive()
    assert ran["A"] == [1], ran
    assert sorted(n for found in ran.values() for n in found) == list(range(40))


def test_a_forked_child_runs_maps_with_helpers_of_its_own():
    side = SideBySide(2)
    assert side.map(lambda n: n + 1, [1, 2, 3]) == [2, 3, 4]  # the parent's helper is running
    child = os.fork()
    if child == 0:
        signal.alarm(10)
        os._exit(0 if side.map(lambda n: n * 2, list(range(10))) == [n * 2 for n in range(10)] else 1)
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_threads_per_call_below_one_is_a_usage_error():
    with pytest.raises(UsageError, match="threads per call"):
        Engine(threads=0)


def test_a_knowledge_base_part_keeps_each_term_exactly_as_stored():
    store = EmbeddedStore()
    names, rows = store.term_rows('SELECT ?x ?y WHERE { VALUES (?x ?y) { ("k"^^<http://example.org/t> UNDEF) '
                                  '("2020-01-01Z"^^<http://www.w3.org/2001/XMLSchema#date> "a\\"b"@en) } }')
    assert names == ["x", "y"]
    assert [[None if term is None else str(term) for term in row] for row in rows] == [
        ['"k"^^<http://example.org/t>', None], ['"2020-01-01Z"^^<http://www.w3.org/2001/XMLSchema#date>', '"a\\"b"@en']]
    with pytest.raises(ValueError, match="blank node"):
        store.term_rows("SELECT ?x WHERE { BIND(BNODE() AS ?x) }")
    text = ('SELECT ?x WHERE {\n  # @knowledge-base\n  { SELECT ?x WHERE { VALUES ?x { "k"^^<http://example.org/t> } } }\n'
            '  VALUES ?x { "k"^^<http://example.org/t> }\n}\n')
    query = dataclasses.replace(queries.get("criteria-status"), text=text,
                                knowledge_base_parts=queries._knowledge_base_parts("q.rq", text))
    answered = _answered(store, query)
    assert '(\"k\"^^<http://example.org/t>)' in answered.text
    assert len(store.select(answered.text)) == len(store.select(text)) == 1
