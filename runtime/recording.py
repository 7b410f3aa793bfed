"""Recorded calls: replay the next entry of the journal, or run live and record the outcome.

``perform`` is the one place where a call meets the journal. The wrappers the resolver hands out
(``Recorded``) and the special handlers in ``durable_python.integrations`` all go through it,
describing the call with a ``Call`` (its policy, its callable's name, whether it commits).
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import BuiltinFunctionType, FrameType, FunctionType, ModuleType
from typing import Any, NamedTuple

from . import argdiff, codec, context, frames
from .context import task_var
from .errors import Cancelled, NondeterminismError
from .fingerprint import describe, fingerprint
from .journal import TaskJournal
from .model import Divergence, Entry, Outcome, Policy

_COMMITTING = frozenset({Policy.EFFECT, Policy.AWAITED, Policy.TIMER, Policy.EVENT, Policy.CANCEL})
_PLAIN = frozenset({str, bytes, int, float, bool, type(None), dict, list, tuple, set})
_main_thread_id = threading.main_thread().ident
# Plain strings for the comparisons every recorded call makes (an enum member lookup costs 0.25 us).
_EFFECT, _AWAITED, _CANCEL = Policy.EFFECT.value, Policy.AWAITED.value, Policy.CANCEL.value
_OK, _ERROR, _REBUILT = Outcome.OK.value, Outcome.ERROR.value, Outcome.REBUILT.value
_UNSAVED, _CONSTRUCTED = Outcome.UNSAVED.value, Outcome.CONSTRUCTED.value
# Arguments and results of the value fast path: plain and immutable, so an argument cannot call
# back into the script and a result can wait unpickled until its commit (journal.py).
_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


class Call(NamedTuple):
    """What a recorded call is: its entry's policy, the callable's name, whether it commits,
    and whether it is a library's constructor (an object it makes that cannot be saved is made
    again on replay: an SDK client)."""

    policy: str  # a Policy value, as stored
    name: str
    commit: bool
    constructs: bool = False


def call(policy: Policy, name: str, commit: bool | None = None, constructs: bool = False) -> Call:
    """A ``Call``; by default effects, timers, events and cancels commit, values and markers
    are batched."""
    commit = policy in _COMMITTING if commit is None else commit
    return Call(str(policy), name, commit, constructs)


try:
    from durable_python import _values
except ImportError:  # built without a C compiler: ``_value_wrapper`` and ``_ThreadLocal`` do
    _values = None


class _ThreadLocal(threading.local):
    depth = 0  # > 0 while an effect runs: calls it makes are covered by its own entry


# The C fast path of values reads the depth as a C thread-local variable.
local = _ThreadLocal() if _values is None else _values.local
# True in a coroutine while an awaited effect runs: what the library does inside it (handing work
# to a thread with ``asyncio.to_thread``, say) is covered by the effect's own entry.
inside_awaited_effect: ContextVar[bool] = ContextVar("durable_python_inside", default=False)


def current_task() -> Any:
    """The task (``journal.TaskJournal``) of the calling thread or coroutine; ``None`` when
    nothing is recorded here: no run, inside an effect, or a thread the script did not start
    (a library's background thread)."""
    run = context._active
    if run is None or local.depth or inside_awaited_effect.get():
        return None
    task = task_var.get()
    if task is not None:
        return task
    return run.journal.main if threading.get_ident() == _main_thread_id else None


def task_of_context() -> Any:
    """The task of this context even inside an effect (for keys and child task paths)."""
    run = context._active
    if run is None:
        return None
    task = task_var.get()
    return task if task is not None else run.journal.main


def perform(
    spec: Call, frame: FrameType, args: tuple, kwargs: dict, live: Callable[[], Any]
) -> Any:
    """Replay the next entry if the journal has it, else run ``live()`` and record its outcome."""
    run = context._active  # current_task(), written out: a resume runs this per entry
    if run is None or local.depth or inside_awaited_effect.get():
        return live()
    task = task_var.get()
    if task is None:
        if threading.get_ident() != _main_thread_id:
            return live()
        task = run.journal.main
    if run.failure is not None:
        raise run.failure
    position = task.seq
    seq, entry = task.claim()
    # A retry policy changes nothing for an entry that succeeded (it replays as it is), so it is
    # looked up only for a call that runs live or replays a failure (a resume skips the lookup).
    if (
        (entry is None or entry.outcome != _OK)
        and spec.policy == _EFFECT
        and run.retry_policy_for is not None
    ):
        retrying = run.retry_policy_for(run, spec.name)
        if retrying is not None:  # retries.py: attempts and durable waits, each recorded
            task.seq = position  # its perform claims the seq again
            return retrying.perform(task, spec, frame, args, kwargs, live)
    fp = fingerprint(args, kwargs)
    if entry is not None:
        recorded = entry.fingerprint  # argdiff.same, written out: no "|" in fp, so the recorded
        # one matches if it is fp, or fp followed by its renderings after a "|"
        if entry.name != spec.name or (
            recorded != fp and not (recorded.startswith(fp) and recorded[len(fp)] == "|")
        ):
            _diverged(run, entry, spec, args, kwargs, frames.site_of(frame))
        policy, outcome = entry.policy, entry.outcome
        if policy == _AWAITED:
            return _replayed_awaitable(entry)
        if policy == _CANCEL:
            run.cancel_delivered()
        if outcome == _OK:
            return codec.loads(entry.payload)
        if outcome == _CONSTRUCTED:
            return run_unrecorded(live)
        return replay(entry)
    site = frames.site_of(frame)
    if run.at_frontier is not None:
        run.at_frontier(task, seq, spec.policy, spec.name, site)
    fp = argdiff.with_renderings(fp, args, kwargs)  # recorded with short renderings, for diffs
    if run.cancel_requested and not task.replaying and run.confirm_cancel():  # at the frontier
        _deliver_cancel(run, task, seq, spec.name, site, fp)
    if spec.policy == _EFFECT:
        run.journal.write_batched()  # run again after a crash, it sends the same values
    started = time.time()
    local.depth += 1
    try:
        result = live()
    except Exception as exc:
        local.depth -= 1
        outcome, payload = codec.encode_exception(exc)
        run.journal.record(task, seq, spec, site, fp, outcome, payload, started)
        raise
    except BaseException:
        local.depth -= 1
        raise
    local.depth -= 1
    if spec.policy == _EFFECT and type(result) not in _PLAIN and inspect.isawaitable(result):
        awaited = Call(_AWAITED, spec.name, True)
        return _record_awaited(result, task, seq, awaited, site, fp, started)
    outcome, payload = codec.encode_result(result)
    if outcome == _UNSAVED and spec.constructs:
        outcome = _CONSTRUCTED
    run.journal.record(task, seq, spec, site, fp, outcome, payload, started)
    return result


def run_unrecorded(construct: Callable[[], Any]) -> Any:
    """Make a library object (an SDK client, a resource) live, on the first run and on replay:
    what its constructor does inside (reading its configuration) is not recorded."""
    local.depth += 1
    try:
        return construct()
    finally:
        local.depth -= 1


async def perform_async(
    spec: Call, frame: FrameType, args: tuple, kwargs: dict, produce: Callable[[], Any]
) -> Any:
    """``perform`` for an outcome that has to be awaited: ``produce()`` returns an awaitable."""
    task = current_task()
    if task is None:
        return await produce()
    run = context._active
    if run.failure is not None:
        raise run.failure
    fp = fingerprint(args, kwargs)
    seq, entry = task.claim()
    if entry is not None:
        if entry.name != spec.name or not argdiff.same(entry.fingerprint, fp):
            _diverged(run, entry, spec, args, kwargs, frames.site_of(frame))
        return replay(entry)
    site = frames.site_of(frame)
    if run.at_frontier is not None:
        run.at_frontier(task, seq, spec.policy, spec.name, site)
    fp = argdiff.with_renderings(fp, args, kwargs)
    run.journal.write_batched()
    return await _record_awaited(produce(), task, seq, spec, site, fp, time.time())


async def _record_awaited(
    awaitable: Any, task: Any, seq: int, spec: Call, site: str, fp: str, started: float
) -> Any:
    """Await, then record the outcome at the seq the call claimed when it was made (an effect
    that returned an awaitable, ``await client.get(url)``, counts by what it awaits to). The
    commit is shared with the loop's other tasks (``Journal.record_awaited``)."""
    journal = context._active.journal
    covered = inside_awaited_effect.set(True)
    try:
        result = await awaitable
    except Exception as exc:
        outcome, payload = codec.encode_exception(exc)
        await journal.record_awaited(task, seq, spec, site, fp, outcome, payload, started)
        frames.drop_own_frames(exc)
        raise
    finally:
        inside_awaited_effect.reset(covered)
    outcome, payload = codec.encode_result(result)
    await journal.record_awaited(task, seq, spec, site, fp, outcome, payload, started)
    return result


async def _replayed_awaitable(entry: Entry) -> Any:
    try:
        return replay(entry)
    except Exception as exc:
        frames.drop_own_frames(exc)
        raise


def replay(entry: Entry) -> Any:
    """The recorded result of ``entry``, or its recorded exception raised again.

    The exception's traceback then holds the script's frames down to the call site, as in the
    first run (the resolver takes durable-python's own frames out), and nothing below it: the
    frames a library function had there cannot exist, as it did not run this time. A C function
    (``os.remove``, ``open``) has none under plain python either, so its traceback is the same.
    """
    outcome = entry.outcome
    if outcome == _OK:
        return codec.loads(entry.payload)
    if outcome == _ERROR:
        raise codec.loads(entry.payload)
    if outcome == _REBUILT:
        raise codec.rebuild_exception(codec.loads(entry.payload))
    type_name, reason = codec.loads(entry.payload)
    return codec.Unsaved(entry.name, frames.short_site(entry.site), type_name, reason)


# ----- cancellation -----------------------------------------------------------------------------


def cancel_point(name: str, frame: FrameType, args: tuple = ()) -> None:
    """Raise Cancelled here if the run was cancelled: recorded live, raised again on replay.

    For handlers that block outside ``perform`` (a durable sleep): called before and after.
    """
    task = current_task()
    run = context._active
    if task is None or run.failure is not None:
        return
    if task.replaying:
        seq, entry = task.next_call()
        if entry is not None and entry.policy == _CANCEL:
            task.seq = seq + 1
            run.cancel_delivered()
            replay(entry)
        return
    if run.cancel_requested and run.confirm_cancel():
        seq, _ = task.claim()
        _deliver_cancel(run, task, seq, name, frames.site_of(frame), fingerprint(args, {}))


def _deliver_cancel(
    run: context.RunContext, task: Any, seq: int, name: str, site: str, fp: str
) -> None:
    """Record that Cancelled is raised at this call (so replay raises it here too), raise it."""
    exc = Cancelled(f"run {run.run_id} was cancelled (durable-python cancel)")
    outcome, payload = codec.encode_exception(exc)
    run.journal.record(
        task, seq, call(Policy.CANCEL, name), site, fp, outcome, payload, time.time()
    )
    run.cancel_delivered()
    raise exc


# ----- divergence -------------------------------------------------------------------------------


def _diverged(
    run: context.RunContext, entry: Entry, spec: Call, args: tuple, kwargs: dict, site: str
) -> None:
    same_callable = entry.name == spec.name
    changes = argdiff.diff(entry.fingerprint, args, kwargs) if same_callable else []
    recorded = argdiff.recorded_call(entry.name, entry.fingerprint)
    divergence = Divergence(
        site=frames.short_site(site),
        task=entry.task,
        seq=entry.seq,
        recorded=f"{entry.policy} {recorded} called at {frames.short_site(entry.site)}",
        attempted=f"{spec.policy} {spec.name}({describe(args, kwargs)})",
        same_callable=same_callable,
        argument_diff=tuple(changes),
    )
    run.failure = NondeterminismError(divergence, run.restart_command())
    raise run.failure


class Recorded:
    """The callable the resolver returns for a recorded call: ``Recorded(spec, f)(args)``."""

    __slots__ = ("_spec", "_f")

    def __init__(self, spec: Call, f: Any) -> None:
        self._spec, self._f = spec, f

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        f = self._f
        return perform(self._spec, sys._getframe(1), args, kwargs, lambda: f(*args, **kwargs))


class Wrappers(dict):
    """The wrappers of one recorded callable, made once per callable: ``make(spec, f)`` is one.

    A decision (see resolver.py) is ``Wrappers(make, spec).__getitem__``: the resolver calls it
    with the callable, a dictionary lookup in C. A module-level function or builtin keeps its
    wrapper; any other callable (a bound method: ``path.exists``) gets one at each call, so that
    no instance or closure is kept alive.
    """

    __slots__ = ("make", "spec")

    def __init__(self, make: Callable[[Call, Any], Callable[..., Any]], spec: Call) -> None:
        super().__init__()
        self.make, self.spec = make, spec

    def __missing__(self, f: Any) -> Callable[..., Any]:
        wrapper = self.make(self.spec, f)
        kind = type(f)
        if (kind is FunctionType and "<locals>" not in f.__qualname__) or (
            kind is BuiltinFunctionType and (f.__self__ is None or type(f.__self__) is ModuleType)
        ):
            self[f] = wrapper
        return wrapper


def wrappers(
    make: Callable[[Call, Any], Callable[..., Any]], spec: Call, f: Any
) -> Callable[[Any], Callable[..., Any]]:
    """The decision for ``f``, a callable ``make(spec, f)`` records: ``Wrappers``' lookup, or
    for an unhashable callable object (decided at each call anyway) ``make`` itself."""
    try:
        hash(f)
    except TypeError:
        return functools.partial(make, spec)
    return Wrappers(make, spec).__getitem__


def values(spec: Call, f: Any) -> Callable[[Any], Callable[..., Any]]:
    """The decision of a value callable (``time.perf_counter``): ``_value_wrapper``, or its C
    twin ``_values.Value`` when that extension is built."""
    return wrappers(_value_wrapper if _values is None else _values.Value, spec, f)


def _value_wrapper(spec: Call, f: Any) -> Callable[..., Any]:
    """A recorded value call of ``f``: a read past the journal's end (the common case, with plain
    arguments or none) appends one raw tuple to the journal's batch; anything else (replay, a
    retried seq, an argument that could call back into the script) goes through ``perform``.

    ``_values.c`` does the same fast path in C and calls this wrapper for the other cases: a change
    here is made there too."""
    name = spec.name
    # Bound once: each attribute lookup saved is a few percent of a value's cost.
    get_task, covered, get_ident, getframe, now = (
        task_var.get,
        inside_awaited_effect.get,
        threading.get_ident,
        sys._getframe,
        time.time,
    )

    def value(*args: Any, **kwargs: Any) -> Any:
        run = context._active
        if (
            run is not None
            and not kwargs
            and run.failure is None
            and run.at_frontier is None
            and not run.cancel_requested
            and not local.depth
            and not covered()
        ):
            task = get_task()
            if task is None and get_ident() == _main_thread_id:
                task = run.journal.main
            if task is not None and task.seq > task.last_recorded and not task.retry_attempts:
                fp = _plain_fingerprint(args) if args else ""
                if fp is not None:
                    seq = task.seq
                    task.seq = seq + 1
                    frame = getframe(1)
                    try:
                        result = f(*args)
                    except Exception as exc:
                        _record_value(run, task, seq, spec, fp, frame, None, exc)
                        raise
                    if type(result) not in _SCALARS:
                        return _record_value(run, task, seq, spec, fp, frame, result, None)
                    journal = run.journal
                    journal.values.append(  # raw: made a record by the commit (journal.py)
                        (task.name, seq, frame.f_code, frame.f_lasti, name, fp, result, now())
                    )
                    if journal._flusher is None:
                        journal.start_flusher()
                    return result
        return perform(spec, sys._getframe(1), args, kwargs, lambda: f(*args, **kwargs))

    value._spec = spec  # type: ignore[attr-defined]  # what it records, as on a ``Recorded``
    return value


def _plain_fingerprint(args: tuple) -> str | None:
    """The fingerprint column of plain arguments; ``None`` if one is not plain."""
    for arg in args:
        if type(arg) not in _SCALARS:
            return None
    return argdiff.with_renderings(fingerprint(args, {}), args, {})


def _record_value(
    run: context.RunContext,
    task: Any,
    seq: int,
    spec: Call,
    fp: str,
    frame: FrameType,
    result: Any,
    exc: Exception | None,
) -> Any:
    """Queue a value call's result that is not plain (pickled now: it may change later), or
    the exception it raised."""
    if exc is None:
        outcome, payload = codec.encode_result(result)
    else:
        outcome, payload = codec.encode_exception(exc)
    run.journal.record(task, seq, spec, frames.site_of(frame), fp, outcome, payload, time.time())
    return result


frames.hide(
    perform, perform_async, _record_awaited, run_unrecorded, Recorded.__call__, _value_wrapper
)

if _values is not None:
    _values.configure(
        vars(context),
        inside_awaited_effect,
        task_var,
        _main_thread_id,
        TaskJournal,
        _plain_fingerprint,
        _record_value,
        _value_wrapper,
        time.time,
    )
