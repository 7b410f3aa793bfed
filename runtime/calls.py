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

from . import argdiff, codec, frames
from .errors import Cancelled, NondeterminismError
from .fingerprint import describe, fingerprint
from .journal import Entry, Journal, TaskJournal


class _ThreadLocal(threading.local):
    depth = 0  # > 0 while an effect runs: calls it makes are covered by its own entry


local = _ThreadLocal()
_main_thread_id = threading.main_thread().ident
_PLAIN = frozenset({str, bytes, int, float, bool, type(None), dict, list, tuple, set})
# The task a thread or coroutine records under. A context variable, so that each asyncio task
# (which runs in its own copy of the context) and each thread we start can have its own.
task_var: ContextVar[TaskJournal | None] = ContextVar("durable_python_task", default=None)
_journal: Journal | None = None
_failure: BaseException | None = None  # once the run diverged, every recorded call re-raises
# ``durable-python replay`` (replay_check.py): called, and raises, where a call would run live.
stop_at_frontier: Callable[[TaskJournal, int, str, str, str], None] | None = None
# Set by ``durable-python cancel`` (events.py): the next live recorded call raises Cancelled.
cancel_requested = False
on_cancel_delivered: Callable[[], None] | None = None  # removes the run's cancel marker
# Set by retries.py once a retry policy exists: the policy (if any) of an effect by its name.
retry_policy_for: Callable[[str], Any] | None = None


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
    if policy == "effect" and retry_policy_for is not None:
        retrying = retry_policy_for(name)
        if retrying is not None:  # retries.py: attempts and durable waits, each recorded
            return retrying.perform(task, name, commit, frame, args, kwargs, call)
    fp = fingerprint(args, kwargs)
    seq, entry = task.claim(skip_outputs=True)
    if entry is not None:
        if entry.name != name or not argdiff.same(entry.fingerprint, fp):
            _diverged(entry, policy, name, args, kwargs, site_of(frame))
        if entry.policy == "awaited":
            return _replayed_awaitable(entry)
        if entry.policy == "cancel":
            cancel_delivered()
        return replay(entry)
    if stop_at_frontier is not None:
        stop_at_frontier(task, seq, policy, name, site_of(frame))
    fp = argdiff.with_renderings(fp, args, kwargs)  # recorded with short renderings, for diffs
    if cancel_requested and not task.replaying:  # at the frontier, never amid a replay
        _deliver_cancel(task, seq, name, frame, fp)
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
    if policy == "effect" and type(result) not in _PLAIN and inspect.isawaitable(result):
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
        if entry.name != name or not argdiff.same(entry.fingerprint, fp):
            _diverged(entry, policy, name, args, kwargs, site_of(frame))
        return replay(entry)
    if stop_at_frontier is not None:
        stop_at_frontier(task, seq, policy, name, site_of(frame))
    fp = argdiff.with_renderings(fp, args, kwargs)
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


def cancel_point(name: str, frame: FrameType, args: tuple = ()) -> None:
    """Raise Cancelled here if the run was cancelled: recorded live, raised again on replay.

    For handlers that block outside ``perform`` (a durable sleep): called before and after.
    """
    task = current_task()
    if task is None or _failure is not None:
        return
    if task.replaying:
        seq, recorded = task.seq, task.recorded
        entry = recorded.get(seq)
        while entry is not None and entry.policy == "output":
            seq += 1
            entry = recorded.get(seq)
        if entry is not None and entry.policy == "cancel":
            task.seq = seq + 1
            cancel_delivered()
            replay(entry)
        return
    if cancel_requested:
        seq, _ = task.claim(skip_outputs=True)
        _deliver_cancel(task, seq, name, frame, fingerprint(args, {}))


def _deliver_cancel(task: TaskJournal, seq: int, name: str, frame: FrameType, fp: str) -> None:
    """Record that Cancelled is raised at this call (so replay raises it here too), raise it."""
    exc = Cancelled(f"run {_journal.run_id} was cancelled (durable-python cancel)")
    outcome, payload = codec.encode_exception(exc)
    site, now = site_of(frame), time.time()
    _journal.record(task, seq, "cancel", name, site, fp, outcome, payload, now, True)
    cancel_delivered()
    raise exc


def cancel_delivered() -> None:
    global cancel_requested
    cancel_requested = False
    if on_cancel_delivered is not None:
        on_cancel_delivered()


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
    same_callable = entry.name == name
    changes = argdiff.diff(entry.fingerprint, args, kwargs) if same_callable else []
    _failure = NondeterminismError(
        f"{short_site(site)}: this run no longer matches its journal.\n"
        f"  recorded at {entry.task}/{entry.seq}: {entry.policy}"
        f" {argdiff.recorded_call(entry.name, entry.fingerprint)} called at"
        f" {short_site(entry.site)}\n"
        f"  attempted now:      {policy} {name}({describe(args, kwargs)})"
        f"{'  (same callable, different arguments)' if same_callable else ''}\n"
        + "".join(f"    {line}\n" for line in changes)
        + "The script was edited in a way that changes its recorded calls, or it depends on"
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


frames.hide(perform, perform_async, _record_awaited, Recorded.__call__)
