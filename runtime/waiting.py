"""Waiting durably: events, long timers that end the process (suspension), and cancellation.

Events, cancel requests and wake-ups are kept by the store (``stores``); this module is the run's
side of them. Which event a wait received (or that its timer won, as ``TimeoutError``) is a journal
entry, so replay hands the same outcome back and knows which events were consumed. A live run
waits on the store's ``watch_run`` waiter, so an event or a cancel reaches it at once.

With ``run --suspend``, a sleep or wait longer than the run's threshold ends the process instead:
the journal is committed, the run is stored with the status ``suspended``, the wake-up time and the
awaited event, and the process exits with ``EXIT_SUSPENDED`` (75) at once, without unwinding the
script (no ``finally`` block runs: the next process continues from this very point).

Timers go by ``clock.now()``, which tests can shift forward.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import clock, context, progress, recording
from .errors import EXIT_CANCELLED, EXIT_SUSPENDED, Cancelled, UsageError
from .model import Policy, Run, RunStatus
from .stores import configured_store
from .stores.base import CANCEL_SIGNAL, CLAIM_WAIT, Claim, Store

DEFAULT_SUSPEND_AFTER = 60.0
SHORT_SLEEP = 1.0  # shorter sleeps just sleep; a cancel is noticed when they end

_WAIT = "durable_python.wait_for_event"
_WAIT_TIMER = recording.call(Policy.TIMER, _WAIT)
_WAIT_EVENT = recording.call(Policy.EVENT, _WAIT)
_SEND = recording.call(Policy.EFFECT, "durable_python.send")


def say(message: str) -> None:
    sys.__stderr__.write(f"durable-python: {message}\n")
    sys.__stderr__.flush()


# ----- sending -----------------------------------------------------------------------------------


def send(
    run_id: str,
    name: str,
    payload: Any = None,
    *,
    event_id: str | None = None,
    store: str | os.PathLike[str] | None = None,
) -> str:
    """Send event ``name`` with a JSON ``payload`` to run ``run_id`` (an id or a unique prefix).

    A waiting run receives it at once; a suspended one when the worker resumes it; a run that
    is not waiting for it yet keeps it until it does. An ``event_id`` makes sending idempotent:
    the same id again is ignored. Returns the event id. ``store`` defaults to the current run's
    store inside a run, else to the one ``durable-python`` would use here. Inside a run the
    send is one recorded effect (a replay does not send again). Raises ``UsageError`` for an
    unknown or finished run.
    """
    return recording.perform(
        _SEND,
        sys._getframe(1),
        (run_id, name, payload),
        {"event_id": event_id},
        lambda: send_event(_store_for(store), run_id, name, payload, event_id)[0],
    )


def _store_for(location: str | os.PathLike[str] | None) -> Store:
    run = context.active()
    if location is None and run is not None and run.store is not None:
        return run.store
    return configured_store(None if location is None else os.fspath(location))


def send_event(
    store: Store, run_id: str, name: str, payload: Any, event_id: str | None
) -> tuple[str, bool, Run]:
    """Keep an event for a run found by id or prefix; refuses unknown and finished runs."""
    if not isinstance(name, str) or not name:
        raise UsageError("an event needs a name, like: durable-python send RUN approval '{...}'")
    run = store.find(run_id)
    if run is None:
        raise UsageError(
            f"unknown run id {run_id!r} in {store.location}: event {name!r} not delivered. List"
            " the runs with: durable-python runs"
        )
    if run.is_final:
        raise UsageError(f"run {run.run_id} is already {run.status}: event {name!r} not delivered")
    event_id, new = store.send_event(run.run_id, name, payload, event_id)
    return event_id, new, run


def cancel(
    store: Store, run: Run, compensate: Callable[[Run, Claim], None] | None = None
) -> tuple[str, Run]:
    """Cancel ``run``; return what happened and its row. ``"requested"``: a process executes
    it, and ``Cancelled`` is raised at its next recorded call; ``"cancelled"``: it had no
    process, and is marked cancelled without running anything (or, given ``compensate``, that
    is called with the claim to resume it so ``Cancelled`` is raised in it); ``"final"``: it had
    ended already (``run.status`` says how)."""
    if run.is_final:
        return "final", run
    store.request_cancel(run.run_id)  # a live process is told at once
    claim = store.claim(run.run_id, wait=CLAIM_WAIT)
    if claim is None:
        return "requested", run
    fresh = store.read(run.run_id)
    if fresh is None or fresh.is_final:
        claim.release()
        store.clear_cancel(run.run_id)
        return "final", fresh or run
    if compensate is not None:
        compensate(fresh, claim)
    fresh = dataclasses.replace(
        fresh,
        status=RunStatus.CANCELLED,
        exit_code=EXIT_CANCELLED,
        error="cancelled",
        wake_at=None,
        waiting_for=None,
        pid=None,
    )
    store.save(fresh)
    store.clear_cancel(run.run_id)
    claim.release()
    store.stopped(fresh)
    return "cancelled", fresh


# ----- the run's side ----------------------------------------------------------------------------


def prepare(run: Run, suspend: bool | None, suspend_after: float | None) -> Run:
    """The run with its suspension setting settled before it executes (the command line wins
    over what the run was started with) and the wait it was suspended in forgotten."""
    if suspend is None and suspend_after is not None:
        suspend = True
    threshold = run.suspend_after
    if suspend:
        if suspend_after is None:
            suspend_after = float(
                os.environ.get("DURABLE_PYTHON_SUSPEND_AFTER") or DEFAULT_SUSPEND_AFTER
            )
        threshold = max(0.0, suspend_after)
    elif suspend is False:
        threshold = None
    return dataclasses.replace(run, suspend_after=threshold, wake_at=None, waiting_for=None)


_wake_pipe: int | None = None  # its write end: the cancel signal's handler writes a byte there


def install_cancel_signal() -> Any:
    """Handle the cancel signal in this process (the main thread); return the handler it had.

    The handler only sets flags and writes a byte to a pipe: it may interrupt the store amid a
    query, or ``Event.clear`` holding the lock ``Event.set`` would take (a deadlock). A thread
    reading the pipe sets ``wakeup``, and the run's next recorded call or wait asks the store
    whether the request stands (``RunContext.confirm_cancel``).
    """
    global _wake_pipe
    if _wake_pipe is None:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        threading.Thread(
            target=_wake_on_signal, args=(read_end,), name="durable-python-cancel", daemon=True
        ).start()
        _wake_pipe = write_end
    return signal.signal(CANCEL_SIGNAL, _on_cancel_signal)


def _on_cancel_signal(signum: int, frame: FrameType | None) -> None:
    run = context.active()
    if run is not None and run.store is not None:
        run.cancel_unconfirmed = run.cancel_requested = True
        try:
            os.write(_wake_pipe, b"!")
        except OSError:
            pass  # the pipe is full: a wake-up is pending already


def _wake_on_signal(read_end: int) -> None:
    while os.read(read_end, 64):
        run = context.active()
        if run is not None:
            run.wakeup.set()


def _cancel_seen(run: context.RunContext) -> bool:
    if not run.cancel_requested and run.store.cancel_requested(run.run_id):
        run.cancel_requested = True
    return run.confirm_cancel()


def wait_for_event(name: str, timeout: float | None = None) -> Any:
    """Wait for the event ``name`` sent to this run and return its payload.

    Events wait in the run's inbox until a wait takes them, oldest first; each is received once.
    With ``timeout`` (seconds), raises ``TimeoutError`` if none arrived in time (a durable timer:
    a resumed run waits only what is left). Which came first, the event or the timeout, is
    recorded: a replay returns the same payload or raises the same ``TimeoutError``.
    Under ``durable-python run --suspend`` a long wait ends the process (status ``suspended``);
    ``durable-python worker`` resumes it when the event arrives or the timeout is due.
    """
    run = context.active()
    if run is None:
        raise RuntimeError(
            "durable_python.wait_for_event() needs a run: durable-python run script.py"
        )
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative or None")
    frame = sys._getframe(1)
    args = (name, timeout)
    deadline = None
    if timeout is not None:
        deadline = recording.perform(_WAIT_TIMER, frame, args, {}, lambda: clock.now() + timeout)
    outcome = recording.perform(
        _WAIT_EVENT, frame, args, {}, lambda: _wait_live(run, name, deadline, timeout)
    )
    if outcome.get("cancelled"):
        run.cancel_delivered()
        raise Cancelled(f"run {run.run_id} was cancelled (durable-python cancel)")
    run.consumed.add(outcome["id"])
    return outcome["payload"]


def _wait_live(
    run: context.RunContext, name: str, deadline: float | None, timeout: float | None
) -> dict[str, Any]:
    """Wait until the event arrives, the deadline passes or a cancel is requested."""
    if not run.live or run.store is None:
        raise RuntimeError("durable_python.wait_for_event() cannot wait here: no run is live")
    with run.store.watch_run(run.run_id) as waiter:
        while True:
            for event in run.store.events(run.run_id):
                if event.name == name and event.event_id not in run.consumed:
                    return {"id": event.event_id, "payload": event.payload}
            if _cancel_seen(run):
                return {"cancelled": True}
            remaining = math.inf if deadline is None else deadline - clock.now()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event arrived within {timeout:g} s")
            if _may_suspend(run, remaining):
                _suspend(run, deadline, name)
            waiter.wait(remaining, run.wakeup)
            run.wakeup.clear()


def sleep_until(
    deadline: float, seconds: float, name: str, frame: FrameType, real_sleep: Callable
) -> None:
    """The waiting half of a durable ``time.sleep`` whose wake-up time is recorded."""
    run = context.active()
    task = recording.current_task()
    if run is None or task is None:  # no run, or inside an effect: a plain sleep
        remaining = deadline - clock.now()
        if remaining > 0:
            real_sleep(min(remaining, seconds))
        return
    args = (seconds,)
    if task.replaying:  # the history goes on past this sleep: it ended (or was cancelled) then
        recording.cancel_point(name, frame, args)
        return
    remaining = deadline - clock.now()
    if remaining <= 0 or not run.live:  # replay-only mode never waits
        return
    _cancel_seen(run)
    recording.cancel_point(name, frame, args)
    if _may_suspend(run, remaining):
        _suspend(run, deadline, None)
    if remaining <= SHORT_SLEEP:
        real_sleep(min(remaining, seconds))
    else:
        with run.store.watch_run(run.run_id) as waiter:
            while not _cancel_seen(run):
                remaining = deadline - clock.now()
                if remaining <= 0:
                    break
                waiter.wait(remaining, run.wakeup)
                run.wakeup.clear()
    _cancel_seen(run)
    recording.cancel_point(name, frame, args)


def _may_suspend(run: context.RunContext, remaining: float) -> bool:
    """Suspend only the main task: other threads and asyncio tasks would die mid-flight."""
    threshold = run.run.suspend_after
    if threshold is None or remaining <= threshold:
        return False
    return threading.current_thread() is threading.main_thread() and context.task_var.get() is None


def _suspend(run: context.RunContext, wake_at: float | None, waiting_for: str | None) -> None:
    """End the process here; the worker (or ``resume``) continues the run from this point."""
    run.run = dataclasses.replace(
        run.run, wake_at=wake_at, waiting_for=waiting_for, consumed=tuple(sorted(run.consumed))
    )
    progress.stop(run.progress)
    run.stop(RunStatus.SUSPENDED, EXIT_SUSPENDED)
    run.store.notify_due(run.run_id)
    what = []
    if waiting_for is not None:
        what.append(f"waiting for event {waiting_for!r}")
    if wake_at is not None:
        what.append(f"until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(wake_at))}")
    say(
        f"run {run.run_id} suspended ({', '.join(what)}); `durable-python worker` resumes it"
        " when it is due (or `durable-python resume --due` from cron)"
    )
    os._exit(EXIT_SUSPENDED)
