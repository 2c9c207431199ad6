"""The independent queries of one call, run side by side.

Oxigraph parses, plans and evaluates a query without holding Python's interpreter lock, and for one
small patient planning is most of a query's cost. The queries of one call that read none of each other's
answers (the shape queries, the two derivation chains, the explanation queries) therefore finish sooner on
two cores than on one. The calling thread works too, taking the next query as each ends, and a thread
that waits for the last queries of its map meanwhile takes queries of other maps (maps nest: a patient
alone is validated while it is derived and explained), so no thread idles while work is left.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar

# Raised in the thread they reach, besides failing the map; anything else (a panic of the engine
# included, which is no Exception) only fails the map.
INTERRUPTS = (KeyboardInterrupt, SystemExit)
Item = TypeVar("Item")
Answer = TypeVar("Answer")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


class _Map:
    """One ``map`` call's items: each is taken once, by whichever thread comes first."""

    def __init__(self, work: Callable, items: Sequence, changed: threading.Condition):
        self.work, self.items, self.changed = work, items, changed
        self.answers: list = [None] * len(items)
        self.failures: list[BaseException] = []
        self.next = 0
        self.running = 0

    def take(self, *, once: bool = False) -> None:
        """Do items of this map until none is left to take (``once``: one item at most). An interrupt
        (KeyboardInterrupt, SystemExit) fails the map and is raised in the thread it reached."""
        while True:
            index = -1
            try:
                with self.changed:
                    if self.next == len(self.items):
                        return
                    index, self.next, self.running = self.next, self.next + 1, self.running + 1
                self.answers[index] = self.work(self.items[index])
            except BaseException as exc:  # noqa: BLE001 - raised by the map's caller
                if index >= 0:
                    self.failures.append(exc)
                if isinstance(exc, INTERRUPTS):
                    raise
            finally:
                if index >= 0:  # the item was counted as running: it has ended, whatever happened
                    with self.changed:
                        self.running -= 1
                        self.changed.notify_all()
            if once:
                return

    def ended(self) -> bool:
        return self.next == len(self.items) and self.running == 0


class SideBySide:
    """``map`` over independent work, with up to ``threads`` threads (the caller's included)."""

    def __init__(self, threads: int):
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self._forked()
        # a child process has none of the helper threads, and a lock a helper held at the fork stays held
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[_Map] = deque()  # maps with items left, for any thread to take
        self._started = False

    def map(self, work: Callable[[Item], Answer], items: Sequence[Item]) -> list[Answer]:
        """``[work(item) for item in items]``, in that order; the first exception raised is raised
        once every item has ended, so no helper still reads the caller's store when it returns (an
        interrupt too waits for the items that are running)."""
        if self.threads == 1 or len(items) < 2:
            return [work(item) for item in items]
        self._start_helpers()
        job = _Map(work, items, self._changed)
        with self._changed:
            self._waiting.append(job)
            self._changed.notify_all()
        interrupted: BaseException | None = None
        try:
            job.take()
        except BaseException as exc:  # noqa: BLE001 - an interrupt, raised below
            interrupted = exc
        while True:
            try:
                with self._changed:
                    if job.ended():
                        break
                    other = None if interrupted else self._next_job()
                    if other is None:
                        self._changed.wait()
                        continue
                # one item of another map while this one's last items run elsewhere, then look again
                other.take(once=True)
            except BaseException as exc:  # noqa: BLE001 - an interrupt, raised once the items have ended
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted
        if job.failures:
            raise job.failures[0]
        return job.answers

    def _start_helpers(self) -> None:
        with self._changed:
            if self._started:
                return
            self._started = True
        for number in range(self.threads - 1):
            threading.Thread(target=self._help, name=f"acr-kg-query-{number}", daemon=True).start()

    def _next_job(self) -> _Map | None:
        """The first map with an item left to take (the lock held); maps with none are dropped."""
        while self._waiting and self._waiting[0].next == len(self._waiting[0].items):
            self._waiting.popleft()
        return self._waiting[0] if self._waiting else None

    def _help(self) -> None:
        while True:
            with self._changed:
                while (job := self._next_job()) is None:
                    self._changed.wait()
            job.take()


@lru_cache(maxsize=None)
def side_by_side(threads: int) -> SideBySide:
    """The process's runner for this many threads, shared by every engine (its helpers wait idle)."""
    return SideBySide(threads)


ONE_AT_A_TIME = side_by_side(1)
