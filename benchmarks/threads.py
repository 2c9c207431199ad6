"""Benchmark: how much a second thread gains on the engine's own query texts, in one process.

A call's independent queries run side by side (kg.store.parallel), which helps only as far as pyoxigraph
lets go of Python's lock while it works on a query. This runs the texts the engine sends (the named
queries with their knowledge-base parts answered, and the compiled shape queries) on an empty store, so
that only parsing and planning count: once on one thread, then twice as many on two threads at once. Two
controls show where the lock is held: a text that is mostly a long VALUES table (parsing) and a star of
triple patterns in one group (join planning).

    python benchmarks/threads.py [--rounds 20]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyoxigraph as ox  # noqa: E402

from kg.recommend import Engine  # noqa: E402
from kg.validate.shapes import compiled_shapes  # noqa: E402

PARSING = ("SELECT ?a ?b WHERE { VALUES (?a ?b) { "
           + " ".join(f'(<urn:x:{i}> "label number {i}")' for i in range(3000)) + " } FILTER(false) }")
PLANNING = "SELECT * WHERE { " + " ".join(f"?s{i % 3} <urn:p:{i}> ?o{i} ." for i in range(22)) + " }"


def run(store: ox.Store, texts: list[str], rounds: int) -> None:
    for _ in range(rounds):
        for text in texts:
            answer = store.query(text)
            if not isinstance(answer, ox.QueryBoolean):
                list(answer)


def speed_up(texts: list[str], rounds: int) -> tuple[float, float, float]:
    """(seconds on one thread, seconds for twice the work on two threads, the gain: 1 = none, 2 = all)."""
    store = ox.Store()
    run(store, texts, 1)
    start = time.perf_counter()
    run(store, texts, rounds)
    alone = time.perf_counter() - start
    threads = [threading.Thread(target=run, args=(store, texts, rounds)) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = time.perf_counter() - start
    return alone, together, 2 * alone / together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    engine = Engine(threads=1)
    named = [query.text for query in engine.texts.values()]
    shapes = compiled_shapes().queries()
    for label, texts, rounds in (("named queries as sent", named, args.rounds),
                                 ("compiled shape queries", shapes, args.rounds),
                                 ("control: a long VALUES table (parsing)", [PARSING], args.rounds),
                                 ("control: a star of 22 patterns (join planning)", [PLANNING], 30 * args.rounds)):
        alone, together, gain = speed_up(texts, rounds)
        print(f"{label:48} one thread {alone * 1e3:7.1f} ms, twice the work on two {together * 1e3:7.1f} ms: "
              f"{gain:.2f}x")


if __name__ == "__main__":
    main()
