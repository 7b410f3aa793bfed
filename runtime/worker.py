"""Resuming runs that are due: the worker, ``resume`` and ``cancel``'s side of it.

A run is due when it is suspended and its timer has passed, its awaited event has arrived or it
was asked to cancel; or when its status says running but no process holds its live lock (the
process died: a crash, a reboot). Resuming a run means taking its live lock (``flock``, atomic:
of two workers, one gets it) and handing that lock to a ``durable-python run --run-id`` process
through the same hand-off the hash-seed re-exec uses. The lock is held from the claim until that
process ends, so a run is never executed by two processes at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import events
from .errors import EXIT_SUSPENDED
from .hashseed import HANDOFF
from .store import Run, Store

RESUMABLE = ("suspended", "running", "new")
MAX_BACKOFF = 300.0


def say(message: str) -> None:
    sys.stderr.write(f"durable-python: {message}\n")
    sys.stderr.flush()


def due_reason(store: Store, run: Run, now: float) -> str | None:
    """Why ``run`` should be resumed now, or ``None``."""
    if run.status == "suspended":
        if events.cancel_marker(store, run.run_id).exists():
            return "cancel requested"
        if run.wake_at is not None and run.wake_at <= now:
            return "timer due"
        if events.has_event_for(store, run):
            return f"event {run.waiting_for!r} arrived"
        return None
    if run.status in ("running", "new") and not store.is_live(run.run_id):
        return "its process died"
    return None


def claim(store: Store, run_id: str, now: float) -> tuple[Run, int, str] | None:
    """Take the live lock of a due run; check again under the lock that it is still due."""
    lock_fd = store.claim(run_id)
    if lock_fd is None:
        return None
    run = store.read_meta(run_id)
    reason = None
    if run is not None:
        if run.status == "suspended":
            reason = due_reason(store, run, now)
        elif run.status in ("running", "new"):
            reason = "its process died"  # we hold its lock: no process is executing it
    if reason is None:
        os.close(lock_fd)
        return None
    return run, lock_fd, reason


def command(store: Store, run: Run, extra: list[str] | None = None) -> tuple[list[str], str]:
    """The ``durable-python run`` command line and working directory that continue ``run``."""
    script = run.argv[0] if run.argv else run.script
    cwd = run.cwd
    if not os.path.isdir(cwd) or os.path.realpath(os.path.join(cwd, script)) != os.path.realpath(
        run.script
    ):
        script, cwd = run.script, os.path.dirname(run.script)
    argv = [sys.executable, "-m", "durable_python", "run", "--store", str(store.root)]
    argv += [*(extra or []), "--run-id", run.run_id, script, *run.argv[1:]]
    return argv, cwd


def handoff_env(run: Run, lock_fd: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_PYTHON_TEST_KILL_AT"}
    env["PYTHONHASHSEED"] = str(run.hash_seed)
    env[HANDOFF] = json.dumps({"user_seed": None, "run_id": run.run_id, "lock_fd": lock_fd})
    return env


def spawn(store: Store, run: Run, lock_fd: int) -> subprocess.Popen:
    """Start a process that continues ``run`` with the lock we hold; our copy is closed."""
    argv, cwd = command(store, run)
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=handoff_env(run, lock_fd),
            pass_fds=(lock_fd,),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C on the worker does not interrupt its runs
        )
    finally:
        os.close(lock_fd)


def exec_run(store: Store, run: Run, lock_fd: int, extra: list[str] | None = None) -> None:
    """Become the process that continues ``run`` (``resume RUN``: its exit code is ours)."""
    argv, cwd = command(store, run, extra)
    os.set_inheritable(lock_fd, True)
    os.chdir(cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, handoff_env(run, lock_fd))


def resume_due(store: Store, quiet_if_none: bool = False) -> list[tuple[str, subprocess.Popen]]:
    """One pass: start a process for every due run (``resume --due``)."""
    started = []
    now = events.clock()
    for run in store.live_runs():
        if run.status not in RESUMABLE or due_reason(store, run, now) is None:
            continue
        claimed = claim(store, run.run_id, now)
        if claimed is None:
            continue
        fresh, lock_fd, reason = claimed
        say(f"resuming run {fresh.run_id} ({reason})")
        started.append((fresh.run_id, spawn(store, fresh, lock_fd)))
    if not started and not quiet_if_none:
        say(f"no runs are due in {store.root}")
    return started


class Worker:
    """``durable-python worker``: resume due runs as they become due, until stopped."""

    def __init__(self, store: Store, max_parallel: int, poll: float) -> None:
        self.store = store
        self.max_parallel = max_parallel
        self.poll = poll
        self.children: dict[str, subprocess.Popen] = {}
        # run -> (repeated resumes so far, not again before this monotonic time, its updated_at)
        self.retries: dict[str, tuple[int, float, float]] = {}
        self.stopping = threading.Event()

    def serve(self) -> int:
        store = self.store
        store.ensure()
        wake = events.wake_dir(store)
        wake.mkdir(parents=True, exist_ok=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        say(f"worker watching {store.root} (process {os.getpid()})")
        with events.watcher_for(wake) as watcher:
            while not self.stopping.is_set():
                self._reap()
                next_due = self._pass()
                wait = max(0.02, min(next_due - events.clock(), self.poll))
                if self.children:
                    wait = min(wait, 0.25)  # notice finished runs soon
                watcher.wait(wait, self.stopping)
        self._reap()
        if self.children:
            say(f"worker stopped; {len(self.children)} resumed run(s) go on in their own processes")
        else:
            say("worker stopped")
        return 0

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping.set()

    def _reap(self) -> None:
        for run_id, child in list(self.children.items()):
            code = child.poll()
            if code is None:
                continue
            del self.children[run_id]
            if code < 0:
                say(f"run {run_id} was killed by signal {-code}")
            elif code == EXIT_SUSPENDED:
                pass  # it said so itself
            else:
                say(f"run {run_id} ended with exit code {code}")

    def _pass(self) -> float:
        """Resume what is due; return when the next timer falls due."""
        store, now = self.store, events.clock()
        next_due = now + self.poll
        seen = set()
        for run in store.live_runs():
            run_id = run.run_id
            seen.add(run_id)
            if run.status not in RESUMABLE or run_id in self.children:
                continue
            if run.status == "suspended" and run.wake_at is not None:
                next_due = min(next_due, run.wake_at)
            reason = due_reason(store, run, now)
            if reason is None or len(self.children) >= self.max_parallel:
                continue
            if self._backing_off(run, reason):
                continue
            claimed = claim(store, run_id, now)
            if claimed is None:
                continue
            fresh, lock_fd, reason = claimed
            say(f"resuming run {run_id} ({reason})")
            try:
                self.children[run_id] = spawn(store, fresh, lock_fd)
            except OSError as exc:
                say(f"could not resume run {run_id}: {exc}")
            self._resumed(fresh)
        for run_id in set(self.retries) - seen:
            del self.retries[run_id]
        self._forget_wake_files()
        return next_due

    def _backing_off(self, run: Run, reason: str) -> bool:
        """A run we resumed before that died again, or that its process left untouched (it
        could not start): try again after 1 s, 2 s, 4 s, ... up to 5 minutes."""
        entry = self.retries.get(run.run_id)
        if entry is None:
            return False
        if reason != "its process died" and run.updated_at != entry[2]:
            del self.retries[run.run_id]  # it went on since: this is a new wait falling due
            return False
        return time.monotonic() < entry[1]

    def _resumed(self, run: Run) -> None:
        entry = self.retries.get(run.run_id)
        count = entry[0] + 1 if entry is not None else 0
        delay = min(2.0**count, MAX_BACKOFF)
        self.retries[run.run_id] = (count, time.monotonic() + delay, run.updated_at)

    def _forget_wake_files(self) -> None:
        wake = events.wake_dir(self.store)
        try:
            names = os.listdir(wake)
        except OSError:
            return
        for name in names:
            if not (self.store.live / name).is_dir():
                Path(wake, name).unlink(missing_ok=True)
