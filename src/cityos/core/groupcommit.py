"""Group commit: concurrent writes of one kind share one transaction.

Threads that submit an item while a batch of the same kind is being written queue up;
when the batch commits, the first queued thread leads the next batch with everything
queued by then. A lone request is written at once (a batch of one: no added wait), and
under load the batch grows by itself to what arrived during one commit, so the cost of
the statements, the round trips and the commit is shared. Each submitter returns only
after its own item's transaction has committed (a 2xx still means committed).

One bad item must not fail the others: if the batch's transaction fails, each of its
items is written again alone, in its own transaction, and gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cityos.core.db import Database

T = TypeVar("T")
R = TypeVar("R")

# write(conn, items) -> one outcome per item, in order: a result, or an exception that
# item's submitter raises (the transaction still commits the others).
WriteFn = Callable[[Connection, Sequence[T]], list["R | BaseException"]]


class _Waiter(Generic[T, R]):
    __slots__ = ("done", "error", "item", "lead", "value")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False
        self.value: R | None = None
        self.error: BaseException | None = None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit(Generic[T, R]):
    def __init__(self, db: Database, write: WriteFn[T, R], *, max_batch: int = 200, parallel: int = 1) -> None:
        self.db = db
        self.write = write
        self.max_batch = max_batch
        self.parallel = parallel  # batches written at once by this process
        self._lock = threading.Lock()
        self._queue: list[_Waiter[T, R]] = []
        self._leading = 0
        self.batches = 0  # written batches and items (for benchmarks and tests)
        self.items = 0

    def submit(self, item: T) -> R:
        """Write `item` (alone or with others) and return its result once committed."""
        me: _Waiter[T, R] = _Waiter(item)
        with self._lock:
            self._queue.append(me)
            lead = self._leading < self.parallel
            if lead:
                self._leading += 1
        if not lead:
            me.done.wait()
            if not me.lead:
                return me.outcome()
        # The batch: this thread's own item and the queued ones no other leader was handed.
        with self._lock:
            batch = [me]
            rest: list[_Waiter[T, R]] = []
            for w in self._queue:
                if w is me:
                    continue
                if not w.lead and len(batch) < self.max_batch:
                    batch.append(w)
                else:
                    rest.append(w)
            self._queue = rest
        try:
            self._run(batch)
        finally:
            with self._lock:
                # Hand the lead on to the first queued thread not already handed one (with
                # parallel > 1 another leader may have handed it to the head already).
                nxt = next((w for w in self._queue if not w.lead), None)
                if nxt is not None:
                    nxt.lead = True  # this thread goes on to answer its own request
                    nxt.done.set()
                else:
                    self._leading -= 1
        return me.outcome()

    def _run(self, batch: list[_Waiter[T, R]], *, again: bool = False) -> None:
        if not batch:
            return
        try:
            with self.db.begin() as conn:
                outcomes = self.write(conn, [w.item for w in batch])
        except Exception as exc:  # handed to the submitters
            if len(batch) == 1:
                if isinstance(exc, IntegrityError) and not again:
                    # A concurrent transaction committed the same key first (e.g. an idempotency key
                    # of a request repeated at once): written again, it sees that row.
                    self._run(batch, again=True)
                    return
                self._answer(batch[0], exc)
                return
            for w in batch:  # one bad item must not fail the others: each alone
                self._run([w])
            return
        self.batches += 1
        self.items += len(batch)
        for w, out in zip(batch, outcomes, strict=True):
            self._answer(w, out)

    @staticmethod
    def _answer(w: _Waiter[T, R], out: R | BaseException) -> None:
        if isinstance(out, BaseException):
            w.error = out
        else:
            w.value = out
        w.lead = False
        w.done.set()
