"""Recorded calls: run live and record, or replay from the journal; divergence detection.

``perform`` is the one place where a call meets the journal. The wrappers the resolver hands out
(``Recorded``) and the special handlers in ``durable_python.integrations.handlers`` all go through it.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import FrameType
from typing import Any

from . import codec
from .errors import NondeterminismError
from .fingerprint import describe, fingerprint
from .journal import Entry, Journal, TaskJournal


class _ThreadLocal(threading.local):
    depth = 0  # > 0 while an effect runs: calls it makes are covered by its own entry


local = _ThreadLocal()
_main_thread_id = threading.main_thread().ident
# The task a thread or coroutine records under. A context variable, so that each asyncio task
# (which runs in its own copy of the context) and each thread we start can have its own.
task_var: ContextVar[TaskJournal | None] = ContextVar("durable_python_task", default=None)
_journal: Journal | None = None
_failure: BaseException | None = None  # once the run diverged, every recorded call re-raises


def attach(journal: Journal | None) -> None:
    """Make ``journal`` the one recorded calls use (``None``: run everything live, record nothing)."""
    global _journal, _failure
    _journal = journal
    _failure = None
    local.depth = 0
    task_var.set(None)


def journal() -> Journal | None:
    return _journal


def current_task() -> TaskJournal | None:
    """The task of the calling thread or coroutine; ``None`` when nothing is recorded here.

    Threads that durable-python did not start for the script (a library's background thread)
    have no task: what they do is not recorded.
    """
    if _journal is None or local.depth:
        return None
    task = task_var.get()
    if task is not None:
        return task
    return _journal.main if threading.get_ident() == _main_thread_id else None


def task_of_context() -> TaskJournal | None:
    """The task of this context even inside an effect (for keys and child task paths)."""
    if _journal is None:
        return None
    task = task_var.get()
    return task if task is not None else _journal.main


def site_of(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def perform(
    policy: str,
    name: str,
    commit: bool,
    frame: FrameType,
    args: tuple,
    kwargs: dict,
    call: Callable[[], Any],
) -> Any:
    """Replay the next entry if the journal has it, else run ``call`` and record its outcome."""
    task = current_task()
    if task is None:
        return call()
    if _failure is not None:
        raise _failure
    fp = fingerprint(args, kwargs)
    seq, entry = task.claim(skip_outputs=True)
    if entry is not None:
        if entry.name != name or entry.fingerprint != fp:
            _diverged(entry, policy, name, args, kwargs, site_of(frame))
        if entry.policy == "awaited":
            return _replayed_awaitable(entry)
        return replay(entry)
    started = time.time()
    local.depth += 1
    try:
        result = call()
    except Exception as exc:
        local.depth -= 1
        outcome, payload = codec.encode_exception(exc)
        _journal.record(
            task, seq, policy, name, site_of(frame), fp, outcome, payload, started, commit
        )
        raise
    except BaseException:
        local.depth -= 1
        raise
    local.depth -= 1
    if policy == "effect" and inspect.isawaitable(result):
        return _record_awaited(
            result, task, seq, "awaited", name, site_of(frame), fp, started, True
        )
    outcome, payload = codec.encode_result(result)
    _journal.record(task, seq, policy, name, site_of(frame), fp, outcome, payload, started, commit)
    return result


async def perform_async(
    policy: str,
    name: str,
    commit: bool,
    frame: FrameType,
    args: tuple,
    kwargs: dict,
    produce: Callable[[], Any],
) -> Any:
    """``perform`` for an outcome that has to be awaited: ``produce()`` returns an awaitable."""
    task = current_task()
    if task is None:
        return await produce()
    if _failure is not None:
        raise _failure
    fp = fingerprint(args, kwargs)
    seq, entry = task.claim(skip_outputs=True)
    if entry is not None:
        if entry.name != name or entry.fingerprint != fp:
            _diverged(entry, policy, name, args, kwargs, site_of(frame))
        return replay(entry)
    site, started = site_of(frame), time.time()
    return await _record_awaited(produce(), task, seq, policy, name, site, fp, started, commit)


async def _record_awaited(
    awaitable: Any,
    task: TaskJournal,
    seq: int,
    policy: str,
    name: str,
    site: str,
    fp: str,
    started: float,
    commit: bool,
) -> Any:
    """Await, then record the outcome at the seq the call claimed when it was made (an effect
    that returned an awaitable, ``await client.get(url)``, counts by what it awaits to)."""
    journal = _journal
    try:
        result = await awaitable
    except Exception as exc:
        outcome, payload = codec.encode_exception(exc)
        journal.record(task, seq, policy, name, site, fp, outcome, payload, started, commit)
        raise
    outcome, payload = codec.encode_result(result)
    journal.record(task, seq, policy, name, site, fp, outcome, payload, started, commit)
    return result


async def _replayed_awaitable(entry: Entry) -> Any:
    return replay(entry)


def replay(entry: Entry) -> Any:
    """The recorded result of ``entry``, or its recorded exception raised again."""
    outcome = entry.outcome
    if outcome == "ok":
        return codec.loads(entry.payload)
    if outcome == "error":
        raise codec.loads(entry.payload)
    if outcome == "rebuilt":
        raise codec.rebuild_exception(codec.loads(entry.payload))
    type_name, reason = codec.loads(entry.payload)
    return codec.Unsaved(entry.name, short_site(entry.site), type_name, reason)


def short_site(site: str) -> str:
    """``file:line`` relative to the working directory when that is shorter."""
    import os

    path, _, line = site.rpartition(":")
    try:
        relative = os.path.relpath(path)
    except ValueError:
        relative = path
    return f"{relative if len(relative) < len(path) else path}:{line}"


def _diverged(entry: Entry, policy: str, name: str, args: tuple, kwargs: dict, site: str) -> None:
    global _failure
    _failure = NondeterminismError(
        f"{short_site(site)}: this run no longer matches its journal.\n"
        f"  recorded at {entry.task}/{entry.seq}: {entry.policy} {entry.name}()"
        f" called at {short_site(entry.site)}\n"
        f"  attempted now:      {policy} {name}({describe(args, kwargs)})"
        f"{'  (same callable, different arguments)' if entry.name == name else ''}\n"
        "The script was edited in a way that changes its recorded calls, or it depends on"
        " something durable-python does not record. To go on: undo the edit and run again;"
        " or start afresh with: durable-python run --new ...; or keep old runs on the old path"
        ' with: if durable_python.patched("change-id"): <new code>'
    )
    raise _failure


class Recorded:
    """The callable the resolver returns for a recorded call: ``Recorded(spec, f)(args)``."""

    __slots__ = ("_policy", "_name", "_commit", "_f")

    def __init__(self, policy: str, name: str, commit: bool, f: Any) -> None:
        self._policy, self._name, self._commit, self._f = policy, name, commit, f

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        f = self._f
        return perform(
            self._policy,
            self._name,
            self._commit,
            sys._getframe(1),
            args,
            kwargs,
            lambda: f(*args, **kwargs),
        )
