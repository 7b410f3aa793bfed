"""Threads and thread pools: each concurrent task records under its own path.

A task's path is its parent's path plus the kind and number of the child, numbered in the order
the parent started them ("main/thread0", "main/pool0/17"), so replay does not depend on how
threads interleaved. What the parent observes about ordering (which future completed first,
``FIRST_COMPLETED``) is recorded as the path of the task concerned and replayed by waiting for
that same task. ``async_tasks.py`` does the same for asyncio.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from durable_python import context, recording, resolver
from durable_python.integrations import on_import
from durable_python.journal import TaskJournal
from durable_python.model import Policy

if TYPE_CHECKING:
    import concurrent.futures

# The task path of each future or asyncio task we started (weak: they come and go by thousands).
paths: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# The pools' own ``submit``, kept when ``_route_threads`` / ``_route_processes`` first replace it.
# A pool class is routed when its module is imported (``install``): importing concurrent.futures,
# logging and multiprocessing for every run was a third of the runtime's imports in a hello world.
_original_submit: Callable[..., Any] | None = None
_original_process_submit: Callable[..., Any] | None = None


def child_task(kind: str) -> TaskJournal | None:
    """A new child task of the calling task, or ``None`` where nothing is recorded."""
    parent = recording.current_task()
    if parent is None:
        return None
    return context.active().journal.task(parent.child(kind))


def run_in_task(task: TaskJournal, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run in ``task``, resolved like a call site (a library function handed to a pool
    or a thread is an effect, recorded like any other call of it)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        token = context.task_var.set(task)
        try:
            return _resolved(fn)(*args, **kwargs)
        finally:
            context.task_var.reset(token)

    return run


def _resolved(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a call site would call it. ``asyncio.to_thread(f, ...)`` hands the pool
    ``partial(context.run, f, ...)``: ``Context.run`` itself is inline, ``f`` is what is resolved
    (and it records in the awaiting task, whose context ``run`` enters)."""
    if type(fn) is functools.partial and fn.args:
        owner = getattr(fn.func, "__self__", None)
        if type(owner) is contextvars.Context and fn.func.__name__ == "run":
            inner, *rest = fn.args
            return functools.partial(fn.func, resolver.resolve(inner), *rest, **fn.keywords)
    return resolver.resolve(fn)


def observed(name: str, frame: Any, observe: Callable[[], Any]) -> Any:
    """Record (or replay) what the parent observed about its children's ordering."""
    return recording.perform(recording.call(Policy.VALUE, name), frame, (), {}, observe)


def thread_start(name: str, start: Callable[[], None]) -> Callable[[], None]:
    """``Thread.start`` from the script: the thread's calls record under a child path."""

    def start_in_task() -> None:
        task = child_task("thread")
        if task is not None:
            thread = start.__self__  # type: ignore[attr-defined]
            target = getattr(thread, "_target", None)
            if type(thread).run is threading.Thread.run and target is not None:
                thread._target = run_in_task(task, target)  # resolved like a call site
            else:
                thread.run = run_in_task(task, thread.run)
        start()

    return start_in_task


def _next_path(executor: concurrent.futures.Executor, parent: TaskJournal, kind: str) -> str:
    """The task path of the executor's next work item: numbered per pool, in submission order."""
    pool = executor.__dict__.get("_durable_pool")
    if pool is None:
        pool = executor.__dict__["_durable_pool"] = [parent.child(kind), 0]
    path = f"{pool[0]}/{pool[1]}"
    pool[1] += 1
    return path


def _submit(
    self: concurrent.futures.ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any
) -> concurrent.futures.Future:
    """``ThreadPoolExecutor.submit`` (also behind ``map``): one child task per work item."""
    parent = recording.current_task()
    if parent is None:
        return _original_submit(self, fn, *args, **kwargs)
    path = _next_path(self, parent, "pool")
    task = context.active().journal.task(path)
    future = _original_submit(self, run_in_task(task, fn), *args, **kwargs)
    paths[future] = path
    return future


@functools.cache
def _process_work() -> type[concurrent.futures.Future]:
    """The future of a work item handed to a process pool: done once its outcome is recorded,
    so nothing the script does with the result can come before the entry. (A class made when
    first used, the pool's module being imported by then.)"""
    import concurrent.futures

    class ProcessWork(concurrent.futures.Future):
        def __init__(self, real: concurrent.futures.Future | None = None) -> None:
            super().__init__()
            self._real = real

        def cancel(self) -> bool:
            return self._real is not None and self._real.cancel() and self.cancelled()

    return ProcessWork


def _submit_to_processes(
    self: concurrent.futures.ProcessPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any
) -> concurrent.futures.Future:
    """``ProcessPoolExecutor.submit`` (also behind ``map``): each work item is one effect of a
    child task, recorded when its outcome comes back from the worker; a recorded one is not
    sent to a worker again. (A worker is a forked child, where nothing is recorded.)"""
    from concurrent.futures import Future  # imported: self is a process pool

    parent = recording.current_task()
    if parent is None:
        return _original_process_submit(self, fn, *args, **kwargs)
    forked_here = self._mp_context.get_start_method() != "forkserver"  # workers are our children
    if "_durable_pool" not in self.__dict__ and forked_here:  # before the first worker starts
        self._initializer = functools.partial(_end_with_parent, os.getpid(), self._initializer)
    path = _next_path(self, parent, "procpool")
    task = context.active().journal.task(path)
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "concurrent.futures"
    ):
        frame = frame.f_back  # ``map``: the script's line
    spec = recording.call(Policy.EFFECT, _work_name(fn))

    def outcome(future: concurrent.futures.Future, result: Callable[[], Any]) -> None:
        token = context.task_var.set(task)
        try:
            future.set_result(recording.perform(spec, frame, args, kwargs, result))
        except BaseException as exc:  # a store error too: raised where the script waits
            future.set_exception(exc)
        finally:
            context.task_var.reset(token)

    if task.peek() is not None or context.active().at_frontier is not None:
        future = _process_work()()  # replayed, or a replay-only check stopping at its frontier
        outcome(future, lambda: _original_process_submit(self, fn, *args, **kwargs).result())
    else:
        real = _original_process_submit(self, fn, *args, **kwargs)
        future = _process_work()(real)

        def record(done: concurrent.futures.Future) -> None:
            if done.cancelled():
                Future.cancel(future)
            else:
                outcome(future, done.result)

        real.add_done_callback(record)
    paths[future] = path
    return future


def _end_with_parent(parent: int, initializer: Callable[..., Any] | None, *args: Any) -> None:
    """A pool worker's initializer: the worker ends when the run's process is gone. A worker
    left behind by a killed run would keep working, and keep the pipes of the run's output open
    (whoever waits for them to close waits forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="durable-python parent watch", daemon=True).start()
    if initializer is not None:
        initializer(*args)


def _work_name(fn: Any) -> str:
    """What a work item is journalled as: its function (the one ``map`` hands out in chunks)."""
    from concurrent.futures.process import _process_chunk  # imported: fn came to a process pool

    if type(fn) is functools.partial:
        fn = fn.args[0] if fn.func is _process_chunk and fn.args else fn.func
    module = getattr(fn, "__module__", None) or ""
    return f"{module}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def futures_as_completed(
    name: str, real: Callable[..., Iterator[Any]]
) -> Callable[..., Iterator[Any]]:
    from concurrent.futures import wait  # imported: the script called as_completed

    def completed_in_recorded_order(fs: Iterable[Any], timeout: float | None = None):
        futures = list(fs)
        by_path = {paths.get(f): f for f in futures}
        if None in by_path or recording.current_task() is None:
            yield from real(futures, timeout)
            return
        frame = sys._getframe(1)
        remaining = set(futures)
        live: Iterator[Any] | None = None

        def next_completed() -> str:
            nonlocal live
            if live is None:  # from the frontier on, one real as_completed for the rest
                live = real(set(remaining), timeout)
            return paths[next(f for f in live if f in remaining)]

        while remaining:
            path = observed(name, frame, next_completed)
            future = by_path[path]
            wait([future])
            remaining.discard(future)
            yield future

    return completed_in_recorded_order


def futures_wait(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    from concurrent.futures._base import DoneAndNotDoneFutures  # imported: the script waits

    def wait_as_recorded(
        fs: Iterable[Any], timeout: float | None = None, return_when: str = "ALL_COMPLETED"
    ) -> concurrent.futures._base.DoneAndNotDoneFutures:
        futures = list(fs)
        by_path = {paths.get(f): f for f in futures}
        if None in by_path or recording.current_task() is None:
            return real(futures, timeout, return_when)

        def observe() -> list[str]:
            return sorted(paths[f] for f in real(futures, timeout, return_when).done)

        donepaths = observed(name, sys._getframe(1), observe)
        done = {by_path[p] for p in donepaths}
        real(done)
        return DoneAndNotDoneFutures(done, set(futures) - done)

    return wait_as_recorded


def _route_threads(thread: ModuleType) -> None:
    global _original_submit
    if _original_submit is None:
        _original_submit = thread.ThreadPoolExecutor.submit
    thread.ThreadPoolExecutor.submit = _submit


def _route_processes(process: ModuleType) -> None:
    global _original_process_submit
    if _original_process_submit is None:
        _original_process_submit = process.ProcessPoolExecutor.submit
    process.ProcessPoolExecutor.submit = _submit_to_processes


def install() -> Callable[[], None]:
    """Route every thread-pool and process-pool submission (``submit`` and ``map``) through
    task paths, each pool class once its module is imported; return what puts the plain ones
    back."""
    stops = [
        on_import.after_import("concurrent.futures.thread", _route_threads),
        on_import.after_import("concurrent.futures.process", _route_processes),
    ]

    def uninstall() -> None:
        for stop in stops:
            stop()
        if _original_submit is not None:
            sys.modules["concurrent.futures.thread"].ThreadPoolExecutor.submit = _original_submit
        if _original_process_submit is not None:
            process = sys.modules["concurrent.futures.process"]
            process.ProcessPoolExecutor.submit = _original_process_submit

    return uninstall
