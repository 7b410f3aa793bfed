"""Group commit for coroutines: the entry of an awaited call is written by a committer thread while
the event loop runs the other tasks, so concurrent tasks share writes and fdatasyncs as threads do
(``Journal.commit``), and the disk never blocks the loop.

A task waits until its entry is durable before it goes on: a finished call is not repeated after a
crash. That wait is durable-python's, not the script's. A cancel that arrives during it
(``asyncio.timeout``, ``wait_for``, ``task.cancel()``) is held until the entry is durable, then
delivered at the task's next suspension. Under python the call had returned and the task ran on to
its next ``await``, where the cancel lands; the task keeps the result, which is also what a replay
gives it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from .errors import StoreError

if TYPE_CHECKING:
    from .journal import Journal


class LoopCommitter:
    """Commits the journal whenever a coroutine waits for an entry, and wakes the waiters whose
    entries the commit carried (on their own loops: a thread of the script may run one too)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._commit_when_wanted, name="durable-python-committer", daemon=True
        )
        self._thread.start()

    async def wait(self, ticket: int) -> None:
        """Return once entry ``ticket`` is durable; the commit's ``StoreError`` is raised here."""
        loop = asyncio.get_running_loop()
        held: asyncio.CancelledError | None = None
        while self._journal.written < ticket:
            waiter = loop.create_future()
            with self._lock:
                self._waiters.append((ticket, loop, waiter))
            self._wanted.set()
            try:
                await waiter
            except asyncio.CancelledError as cancel:
                held = cancel  # the entry is on its way to the disk: wait for it all the same
        if held is not None:
            _deliver_at_next_suspension(held)

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()

    def _commit_when_wanted(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            error: StoreError | None = None
            try:
                self._journal.commit()
            except StoreError as exc:
                error = exc
            written = self._journal.written
            with self._lock:
                waiters = self._waiters
                settled = [w for w in waiters if error is not None or w[0] <= written]
                self._waiters = [w for w in waiters if error is None and w[0] > written]
            for _, loop, waiter in settled:
                try:
                    loop.call_soon_threadsafe(_settle, waiter, error)
                except RuntimeError:
                    pass  # that loop is closed: nothing waits on it any more


def _settle(waiter: asyncio.Future, error: StoreError | None) -> None:
    if waiter.done():  # cancelled: its task registered a new waiter
        return
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)


def _deliver_at_next_suspension(cancel: asyncio.CancelledError) -> None:
    """Cancel the current task again once it has suspended at its next ``await``, unless the
    cancel was withdrawn meanwhile (an ``asyncio.timeout`` block that ended first uncancels it).

    ``uncancel()`` before ``cancel()`` keeps the count of cancel requests what the canceller
    left, so ``asyncio.timeout`` still turns the cancel into its ``TimeoutError``."""
    task = asyncio.current_task()
    requested = task.cancelling()
    message = cancel.args[0] if cancel.args else None

    def deliver() -> None:
        if not task.done() and task.cancelling() >= requested:
            task.uncancel()
            task.cancel(message)

    asyncio.get_running_loop().call_soon(deliver)
