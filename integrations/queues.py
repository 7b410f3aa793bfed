"""``queue.Queue`` (and ``LifoQueue``, ``PriorityQueue``) shared by the script's threads.

Several consumer threads taking work from one queue get whichever item is at the head when they
ask, so on replay another thread may take an item than the one whose effects its journal holds:
the run diverged, its threads died, and ``join()`` waited forever. Here each ``get`` of a queue
the script made records which item it took (its fingerprint, a value), and replay gives each
thread the very item it took the first time: it waits until that item is in the queue and takes
it out. Until then the item is reserved: a thread already live takes the next unreserved item.
What a thread gets past the frontier is whatever the queue holds for it, as usual.

Queues are told apart by the order the script made them in (per task), like files and
connections; a queue a library made is left alone.
"""

from __future__ import annotations

import heapq
import queue
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from durable_python import context, frames, recording
from durable_python.fingerprint import fingerprint
from durable_python.model import Policy

GET = "queue.Queue.get"
_SPEC = recording.call(Policy.VALUE, GET)


def work_queue(name: str, cls: type) -> Callable[..., Any]:
    """``queue.Queue()`` and its kin: numbered, with the items replay will hand out reserved."""

    def make(*args: Any, **kwargs: Any) -> Any:
        made = cls(*args, **kwargs)
        task = recording.current_task()
        if task is not None:
            run = context.active()
            key = f"{task.name}/queue{run.next_number('queue', task)}"
            made._durable_key = key
            made._durable_reserved = _recorded_takes(run, fingerprint((key,), {}))
        return made

    return make


def _recorded_takes(run: Any, key_fingerprint: str) -> Counter[str]:
    """The fingerprints of the items the journal's threads took from this queue."""
    taken: Counter[str] = Counter()
    for task in run.journal.tasks.values():
        for entry in task.recorded.values():
            if entry.name == GET and entry.fingerprint.partition("|")[0] == key_fingerprint:
                try:
                    taken[recording.replay(entry)] += 1
                except Exception:  # noqa: BLE001, S112 - a recorded queue.Empty takes nothing
                    continue
    return taken


def queue_get(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``Queue.get`` / ``get_nowait`` of a queue the script made: the item taken is recorded."""
    nowait = f.__name__ == "get_nowait"

    def get(block: bool = True, timeout: float | None = None) -> Any:
        if nowait:
            block = False
        owner = f.__self__  # type: ignore[attr-defined]
        key = getattr(owner, "_durable_key", None)
        if key is None or recording.current_task() is None:
            return f() if nowait else f(block, timeout)
        taken: list[Any] = []

        def take() -> str:
            item = _take_unreserved(owner, block, timeout)
            taken.append(item)
            return fingerprint((item,), {})

        frame = frames.outside(sys._getframe(1))
        wanted = recording.perform(_SPEC, frame, (key,), {}, take)
        return taken[0] if taken else _take_reserved(owner, wanted)

    return get


def _order(q: queue.Queue) -> list[int]:
    """The indexes of the queue's items in the order its ``get`` hands them out."""
    indexes = list(range(len(q.queue)))
    if isinstance(q, queue.PriorityQueue):
        return sorted(indexes, key=q.queue.__getitem__)
    if isinstance(q, queue.LifoQueue):
        return indexes[::-1]
    return indexes


def _remove(q: queue.Queue, index: int) -> Any:
    item = q.queue[index]
    del q.queue[index]
    if isinstance(q, queue.PriorityQueue):
        heapq.heapify(q.queue)
    q.not_full.notify()
    return item


def _take_unreserved(q: Any, block: bool, timeout: float | None) -> Any:
    """Live: the next item no replaying thread is to get (while none is, the plain ``get``)."""
    reserved: Counter[str] = q._durable_reserved
    if not +reserved:
        return queue.Queue.get(q, block, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    with q.not_empty:
        while True:
            passed: Counter[str] = Counter()  # equal items: the first ones are the reserved ones
            for index in _order(q):
                found = fingerprint((q.queue[index],), {})
                if passed[found] >= reserved[found]:
                    return _remove(q, index)
                passed[found] += 1
            left = None if deadline is None else deadline - time.monotonic()
            if not block or (left is not None and left <= 0):
                raise queue.Empty
            q.not_empty.wait(left)


def _take_reserved(q: Any, wanted: str) -> Any:
    """Replay: the item this thread took the first time, once the producer has put it."""
    with q.not_empty:
        while True:
            for index in _order(q):
                if fingerprint((q.queue[index],), {}) == wanted:
                    q._durable_reserved[wanted] -= 1
                    return _remove(q, index)
            q.not_empty.wait()


frames.hide(work_queue, queue_get)
