"""Waiting durably: events, long timers that end the process (suspension), and cancellation.

What a run waits for lives in the store, next to what store.py keeps::

    live/RUN/inbox/KEY.json   an event sent to RUN (``send``). Events are never removed while the
                              run is unfinished: an event sent before the script waits is there
                              when it does, and a repeated event id finds its file and is refused.
    live/RUN/cancel           written by ``durable-python cancel``; the run raises Cancelled
    wake/RUN                  touched on send, cancel and suspension; ``durable-python worker``
                              watches this directory

Which event a wait received (or that its timer won, as ``TimeoutError``) is a journal entry, so
replay hands the same outcome back and knows which events were consumed. A live run waits with
watchfiles on its own directory, so an event or a cancel reaches it at once.

With ``run --suspend``, a sleep or wait longer than the run's threshold ends the process instead:
the journal is committed, run.json gets the status ``suspended``, the wake-up time and the awaited
event, and the process exits with ``EXIT_SUSPENDED`` (75) at once, without unwinding the script
(no ``finally`` block runs: the next process continues from this very point).

Timers read ``clock()``: the system time plus ``DURABLE_PYTHON_TEST_CLOCK_OFFSET`` seconds, so
tests can move the worker's and the timers' clock forward without waiting.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from . import calls, progress
from .errors import EXIT_SUSPENDED, Cancelled, UsageError
from .store import FINAL, Run, Store

CLOCK_OFFSET = float(os.environ.get("DURABLE_PYTHON_TEST_CLOCK_OFFSET") or 0)
DEFAULT_SUSPEND_AFTER = 60.0
SHORT_SLEEP = 1.0  # shorter sleeps just sleep; a cancel is noticed when they end
WATCH_CAP = 5.0  # re-check at least this often even if no change is reported
CANCEL_SIGNAL = signal.SIGURG  # ignored by default: harmless to a process that is not a run

_WAIT = "durable_python.wait_for_event"


def clock() -> float:
    """The time timers and the worker go by (the system time, shifted in tests)."""
    return time.time() + CLOCK_OFFSET


def say(message: str) -> None:
    sys.__stderr__.write(f"durable-python: {message}\n")
    sys.__stderr__.flush()


# ----- paths -------------------------------------------------------------------------------------


def inbox_dir(store: Store, run_id: str) -> Path:
    return store.live / run_id / "inbox"


def cancel_marker(store: Store, run_id: str) -> Path:
    return store.live / run_id / "cancel"


def wake_dir(store: Store) -> Path:
    return store.root / "wake"


def notify_worker(store: Store, run_id: str) -> None:
    """Tell a watching worker that ``run_id`` may have become due (best effort)."""
    try:
        directory = wake_dir(store)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / run_id).write_text(str(time.time()))
    except OSError:
        pass


# ----- the inbox ---------------------------------------------------------------------------------


def deliver(
    store: Store, run_id: str, name: str, payload: Any, event_id: str | None = None
) -> tuple[str, bool]:
    """Put an event in a run's inbox; return its id and whether it is new (an id seen before
    is not delivered again). The payload must be JSON (it is kept as JSON in the store)."""
    if not isinstance(name, str) or not name:
        raise UsageError("an event needs a name, like: durable-python send RUN approval '{...}'")
    try:
        payload_json = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the payload of event {name!r} is not JSON: {exc}") from exc
    if event_id is None:
        event_id = f"{time.time_ns():x}-{secrets.token_hex(4)}"
    key = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    directory = inbox_dir(store, run_id)
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        f'{{"id": {json.dumps(event_id)}, "name": {json.dumps(name)}, "sent_ns": {time.time_ns()},'
        f' "payload": {payload_json}}}'
    )
    staging = directory / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(staging, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(staging, directory / f"{key}.json")  # atomic, and fails if the id was seen
            new = True
        except FileExistsError:
            new = False
    finally:
        staging.unlink(missing_ok=True)
    if new:
        _sync_directory(directory)
        notify_worker(store, run_id)
    return event_id, new


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_inbox(store: Store, run_id: str, cache: dict[str, dict] | None = None) -> list[dict]:
    """The events sent to a run, oldest first (files never change, so ``cache`` may keep them)."""
    directory = inbox_dir(store, run_id)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    events = []
    for file_name in names:
        if file_name.startswith(".") or not file_name.endswith(".json"):
            continue
        event = cache.get(file_name) if cache is not None else None
        if event is None:
            try:
                event = json.loads((directory / file_name).read_text())
            except (OSError, ValueError):
                continue
            if cache is not None:
                cache[file_name] = event
        events.append(event)
    events.sort(key=lambda e: (e["sent_ns"], e["id"]))
    return events


def has_event_for(store: Store, run: Run) -> bool:
    """Whether a suspended run's awaited event has arrived (for the worker)."""
    if run.waiting_for is None:
        return False
    consumed = set(run.consumed)
    return any(
        e["name"] == run.waiting_for and e["id"] not in consumed
        for e in read_inbox(store, run.run_id)
    )


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
    return calls.perform(
        "effect",
        "durable_python.send",
        True,
        sys._getframe(1),
        (run_id, name, payload),
        {"event_id": event_id},
        lambda: send_event(_store_for(store), run_id, name, payload, event_id)[0],
    )


def _store_for(store: str | os.PathLike[str] | None) -> Store:
    if store is not None:
        return Store(Path(store))
    if _context is not None:
        return _context.store
    from . import config

    return Store(config.load(Path.cwd()).store)


def send_event(
    store: Store, run_id: str, name: str, payload: Any, event_id: str | None
) -> tuple[str, bool, Run]:
    """``deliver`` to a run found by id or prefix; refuses finished runs."""
    run = store.read_meta(run_id) or store.find_run(run_id)
    if run is None:
        raise UsageError(
            f"unknown run id {run_id!r} in {store.root}: event {name!r} not delivered. List the"
            " runs with: durable-python runs"
        )
    if run.status in FINAL:
        raise UsageError(f"run {run.run_id} is already {run.status}: event {name!r} not delivered")
    event_id, new = deliver(store, run.run_id, name, payload, event_id)
    return event_id, new, run


# ----- the run's side ----------------------------------------------------------------------------


@dataclass
class _Context:
    store: Store
    run: Run
    stop: Callable[[str, int], None]  # commit, write run.json with this status, release the lock
    wakeup: threading.Event = field(default_factory=threading.Event)
    consumed: set[str] = field(default_factory=set)
    cache: dict[str, dict] = field(default_factory=dict)


_context: _Context | None = None


def prepare(run: Run, suspend: bool | None, suspend_after: float | None) -> None:
    """Settle a run's suspension setting before it executes (the command line wins over what
    the run was started with) and forget the wait it was suspended in."""
    if suspend is None and suspend_after is not None:
        suspend = True
    if suspend:
        if suspend_after is None:
            suspend_after = float(
                os.environ.get("DURABLE_PYTHON_SUSPEND_AFTER") or DEFAULT_SUSPEND_AFTER
            )
        run.suspend_after = max(0.0, suspend_after)
    elif suspend is False:
        run.suspend_after = None
    run.wake_at = run.waiting_for = None


def begin(store: Store, run: Run, stop: Callable[[str, int], None]) -> None:
    """Called by the session before the script runs (in the main thread)."""
    global _context
    _context = _Context(store, run, stop)
    inbox_dir(store, run.run_id).mkdir(parents=True, exist_ok=True)
    calls.on_cancel_delivered = _cancel_delivered
    calls.cancel_requested = cancel_marker(store, run.run_id).exists()
    try:
        signal.signal(CANCEL_SIGNAL, _on_cancel_signal)
    except ValueError:  # not the main thread (a test harness): the marker is still watched
        pass


def end() -> None:
    global _context
    _context = None
    calls.cancel_requested = False
    calls.on_cancel_delivered = None


def _on_cancel_signal(signum: int, frame: FrameType | None) -> None:
    context = _context
    if context is not None and cancel_marker(context.store, context.run.run_id).exists():
        calls.cancel_requested = True
        context.wakeup.set()


def _cancel_delivered() -> None:
    context = _context
    if context is not None:
        cancel_marker(context.store, context.run.run_id).unlink(missing_ok=True)


def _cancel_seen(context: _Context) -> bool:
    if not calls.cancel_requested and cancel_marker(context.store, context.run.run_id).exists():
        calls.cancel_requested = True
    return calls.cancel_requested


def wait_for_event(name: str, timeout: float | None = None) -> Any:
    """Wait for the event ``name`` sent to this run and return its payload.

    Events wait in the run's inbox until a wait takes them, oldest first; each is received once.
    With ``timeout`` (seconds), raises ``TimeoutError`` if none arrived in time (a durable timer:
    a resumed run waits only what is left). Which came first, the event or the timeout, is
    recorded: a replay returns the same payload or raises the same ``TimeoutError``.
    Under ``durable-python run --suspend`` a long wait ends the process (status ``suspended``);
    ``durable-python worker`` resumes it when the event arrives or the timeout is due.
    """
    journal = calls.journal()
    if journal is None:
        raise RuntimeError(
            "durable_python.wait_for_event() needs a run: durable-python run script.py"
        )
    context = _context  # None when only replaying (durable-python replay): nothing waits live
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative or None")
    frame = sys._getframe(1)
    args = (name, timeout)
    deadline = None
    if timeout is not None:
        deadline = calls.perform("timer", _WAIT, True, frame, args, {}, lambda: clock() + timeout)
    outcome = calls.perform(
        "event", _WAIT, True, frame, args, {}, lambda: _wait_live(context, name, deadline, timeout)
    )
    if outcome.get("cancelled"):
        calls.cancel_delivered()
        raise Cancelled(f"run {journal.run_id} was cancelled (durable-python cancel)")
    if context is not None:
        context.consumed.add(outcome["id"])
    return outcome["payload"]


def _wait_live(
    context: _Context | None, name: str, deadline: float | None, timeout: float | None
) -> Any:
    if context is None:
        raise RuntimeError("durable_python.wait_for_event() cannot wait here: no run is live")
    with _watcher(context) as watcher:
        while True:
            for event in read_inbox(context.store, context.run.run_id, context.cache):
                if event["name"] == name and event["id"] not in context.consumed:
                    return event
            if _cancel_seen(context):
                return {"cancelled": True}
            remaining = math.inf if deadline is None else deadline - clock()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event arrived within {timeout:g} s")
            if _may_suspend(context, remaining):
                _suspend(context, deadline, name)
            watcher.wait(remaining, context.wakeup)
            context.wakeup.clear()


def sleep_until(
    deadline: float, seconds: float, name: str, frame: FrameType, real_sleep: Callable
) -> None:
    """The waiting half of a durable ``time.sleep`` whose wake-up time is recorded."""
    context = _context
    task = calls.current_task()
    if context is None or task is None:  # no run, or inside an effect: a plain sleep
        remaining = deadline - clock()
        if remaining > 0:
            real_sleep(min(remaining, seconds))
        return
    args = (seconds,)
    if task.replaying:  # the history goes on past this sleep: it ended (or was cancelled) then
        calls.cancel_point(name, frame, args)
        return
    remaining = deadline - clock()
    if remaining <= 0:
        return
    _cancel_seen(context)
    calls.cancel_point(name, frame, args)
    if _may_suspend(context, remaining):
        _suspend(context, deadline, None)
    if remaining <= SHORT_SLEEP:
        real_sleep(min(remaining, seconds))
    else:
        with _watcher(context) as watcher:
            while not _cancel_seen(context):
                remaining = deadline - clock()
                if remaining <= 0:
                    break
                watcher.wait(remaining, context.wakeup)
                context.wakeup.clear()
    _cancel_seen(context)
    calls.cancel_point(name, frame, args)


def _may_suspend(context: _Context, remaining: float) -> bool:
    """Suspend only the main task: other threads and asyncio tasks would die mid-flight."""
    threshold = context.run.suspend_after
    if threshold is None or remaining <= threshold:
        return False
    return threading.current_thread() is threading.main_thread() and calls.task_var.get() is None


def _suspend(context: _Context, wake_at: float | None, waiting_for: str | None) -> None:
    """End the process here; the worker (or ``resume``) continues the run from this point."""
    run = context.run
    run.wake_at, run.waiting_for, run.consumed = wake_at, waiting_for, sorted(context.consumed)
    progress.stop(progress.current)
    context.stop("suspended", EXIT_SUSPENDED)
    notify_worker(context.store, run.run_id)
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


# ----- watching the run's directory --------------------------------------------------------------


class _Watcher:
    """Wakes on any change in a directory (watchfiles), on ``wakeup`` (the cancel signal), or
    after at most ``WATCH_CAP`` seconds; polls if the file system cannot be watched."""

    def __init__(self, directory: Path) -> None:
        self._notify: Any = None
        try:
            from watchfiles._rust_notify import RustNotify

            self._notify = RustNotify([str(directory)], False, False, 300, True, False)
        except Exception:  # noqa: BLE001 - no inotify (limits, odd file system): poll instead
            self._notify = None

    def wait(self, seconds: float, wakeup: threading.Event) -> None:
        seconds = min(seconds, WATCH_CAP)
        if self._notify is None:
            wakeup.wait(min(seconds, 0.25))
        else:
            result = self._notify.watch(50, 20, max(1, math.ceil(seconds * 1000)), wakeup)
            if result == "signal":  # Ctrl-C while waiting: what Python does in a plain sleep
                raise KeyboardInterrupt

    def __enter__(self) -> _Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._notify is not None:
            self._notify.close()


def _watcher(context: _Context) -> _Watcher:
    return _Watcher(context.store.live / context.run.run_id)


def watcher_for(directory: Path) -> _Watcher:
    """A watcher of ``directory`` (the worker watches the store's wake directory)."""
    return _Watcher(directory)
