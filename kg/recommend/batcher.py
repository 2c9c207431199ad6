"""Opportunistic batching: many threads ask, one thread answers those waiting together as one batch.

The engine plans each query once per batch, and for one small patient planning is most of the cost,
so a service under load answers several waiting calls for about the price of one. Nothing waits on
purpose: a lone call is evaluated at once; while a batch runs, the calls that arrive queue up and form
the next one. Answers are those of ``Engine.evaluate`` one call at a time (the engine keeps patients
that share a node in separate batches, and each patient has its own evaluation context).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from kg.recommend.engine import Engine, Request
from kg.recommend.results import Recommendation

MAX_REQUESTS = 64  # per batch: beyond this, a few queries grow faster than linearly with the patients loaded


class Batcher:
    """``evaluate`` as the engine's, safe to call from many threads; ``close`` stops its thread."""

    def __init__(self, engine: Engine, *, max_requests: int = MAX_REQUESTS):
        self.engine = engine
        self.max_requests = max_requests
        self._waiting: queue.SimpleQueue[tuple[Sequence[Request], Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._answer, name="acr-kg-batcher", daemon=True)
        self._thread.start()
        self.batches = 0  # batches evaluated, and the calls they answered: to report how much was shared
        self.calls = 0

    def evaluate(self, requests: Sequence[Request]) -> list[Recommendation]:
        if not self._thread.is_alive():
            raise RuntimeError("the batcher is closed")
        answer: Future = Future()
        self._waiting.put((list(requests), answer))
        return answer.result()

    def close(self) -> None:
        self._waiting.put(None)
        self._thread.join()
        while True:  # calls that came in as it closed are refused, never left waiting
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(RuntimeError("the batcher is closed"))

    def _answer(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            calls = [item]
            size = len(item[0])
            while size < self.max_requests:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._waiting.put(None)  # close after answering these
                    break
                calls.append(item)
                size += len(item[0])
            self._evaluate(calls)

    def _evaluate(self, calls: list[tuple[Sequence[Request], Future]]) -> None:
        self.batches += 1
        self.calls += len(calls)
        try:
            results = self.engine.evaluate([request for requests, _ in calls for request in requests])
        except Exception:  # noqa: BLE001 - one call's bad data must not fail the others: answer each alone
            for requests, answer in calls:
                try:
                    answer.set_result(self.engine.evaluate(requests))
                except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
                    answer.set_exception(exc)
            return
        start = 0
        for requests, answer in calls:
            answer.set_result(results[start:start + len(requests)])
            start += len(requests)
