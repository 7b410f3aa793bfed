"""Resuming runs that are due and starting enqueued ones: the worker, ``resume`` and ``cancel``'s
side of it.

A run is due when it is suspended and its timer has passed, its awaited event has arrived or it
was asked to cancel; or when its status says running but no process holds its claim (the
process died: a crash, a reboot, a machine gone). Resuming a run means claiming it in the store
(atomic: of two workers, one gets it) and handing that claim to a ``durable-python run --run-id``
process through the same hand-off the hash-seed re-exec uses. The claim is held from then until
that process ends, so a run is never executed by two processes at once.

An enqueued run (``durable-python enqueue``) waits in its queue until a worker's ``dequeue``
admits it under the queue's limits. Its script is deployed code: a worker runs it from the
recorded path, or from the same place relative to its own working directory (its copy of the
project), and only where that file has the recorded source hash (or the run accepts changes).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from . import child, clock
from .errors import EXIT_SUSPENDED
from .hashseed import HANDOFF
from .model import RESUMABLE, QueueLimits, Run, RunStatus
from .stores.base import Claim, Store

MAX_BACKOFF = 300.0


def say(message: str) -> None:
    sys.stderr.write(f"durable-python: {message}\n")
    sys.stderr.flush()


def has_awaited_event(store: Store, run: Run) -> bool:
    """Whether a suspended run's awaited event has arrived."""
    if run.waiting_for is None:
        return False
    consumed = set(run.consumed)
    return any(
        e.name == run.waiting_for and e.event_id not in consumed for e in store.events(run.run_id)
    )


def due_reason(store: Store, run: Run, now: float) -> str | None:
    """Why ``run`` should be resumed now, or ``None``."""
    if run.in_queue:
        return None  # the queue admits it (Worker._start_queued)
    if run.status == RunStatus.SUSPENDED:
        if store.cancel_requested(run.run_id):
            return "cancel requested"
        if run.wake_at is not None and run.wake_at <= now:
            return "timer due"
        if has_awaited_event(store, run):
            return f"event {run.waiting_for!r} arrived"
        return None
    if run.status in (RunStatus.RUNNING, RunStatus.NEW) and not store.is_live(run.run_id):
        return "its process died"
    return None


def claim(store: Store, run_id: str, now: float) -> tuple[Run, Claim, str] | None:
    """Claim a due run; check again, holding the claim, that it is still due."""
    claimed = store.claim(run_id)
    if claimed is None:
        return None
    run = store.read(run_id)
    reason = None
    if run is not None:
        if run.status == RunStatus.SUSPENDED:
            reason = due_reason(store, run, now)
        elif run.status in (RunStatus.RUNNING, RunStatus.NEW):
            reason = "its process died"  # we hold its claim: no process is executing it
    if reason is None:
        claimed.release()
        return None
    return run, claimed, reason


def deployed_script(run: Run) -> tuple[str, str] | str:
    """The script (as the command line gives it) and the directory to run ``run`` in on this
    machine: the recorded path, or the same place under this worker's working directory (its
    checkout of the project). An enqueued run only runs where that file has the recorded source
    (or it accepts changes; a run started by ``run`` does, as ``run`` itself does). Else: why
    this worker cannot run it."""
    here = os.getcwd()
    places = [
        (run.script, run.cwd),
        (os.path.join(here, os.path.relpath(run.script, run.cwd)), here),
    ]
    any_source = run.accept_changes or run.queue is None
    wanted = run.source_hash.split()
    other = None
    for script, cwd in places:
        try:
            with open(script, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            continue
        if any_source or digest in wanted:
            return _as_typed(run, script, cwd)
        other = other or (script, digest)
    worker = f"worker {socket.gethostname()}:{os.getpid()}"
    if other is None:
        return f"{worker} has no script at {places[-1][0]}"
    return (
        f"{worker} has another version of the script at {other[0]} (sha256 {other[1][:12]}, the"
        f" run needs {wanted[-1][:12] if wanted else '?'}): deploy that version there, or enqueue"
        " with --accept-changes"
    )


def _as_typed(run: Run, script: str, cwd: str) -> tuple[str, str]:
    """The script as the run's command line named it, in ``cwd``, when that still names it (the
    script sees the same ``sys.argv``); else its path, in its own directory."""
    typed = run.argv[0] if run.argv else script
    if os.path.isdir(cwd) and os.path.realpath(os.path.join(cwd, typed)) == os.path.realpath(
        script
    ):
        return typed, cwd
    return script, os.path.dirname(script)


def command(run: Run, extra: list[str] | None = None) -> tuple[list[str], str]:
    """The ``durable-python run`` command line and working directory that continue ``run``
    (the store is passed in the environment: its address may hold a password)."""
    deployed = deployed_script(run)
    script, cwd = deployed if isinstance(deployed, tuple) else _as_typed(run, run.script, run.cwd)
    argv = child.command("run", *(extra or []), "--run-id", run.run_id, script, *run.argv[1:])
    return argv, cwd


def handoff_env(store: Store, run: Run, claim: Claim) -> dict[str, str]:
    env = child.environment(store.address)
    env.pop("DURABLE_PYTHON_TEST_KILL_AT", None)
    env["PYTHONHASHSEED"] = str(run.hash_seed)
    env[HANDOFF] = json.dumps({"user_seed": None, "claim": claim.handoff()})
    return env


def spawn(store: Store, run: Run, claim: Claim) -> subprocess.Popen:
    """Start a process that continues ``run`` with the claim we hold, then let go of ours."""
    argv, cwd = command(run)
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=handoff_env(store, run, claim),
            pass_fds=claim.descriptors(),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C on the worker does not interrupt its runs
        )
    finally:
        claim.release()


def exec_run(store: Store, run: Run, claim: Claim, extra: list[str] | None = None) -> None:
    """Become the process that continues ``run`` (``resume RUN``: its exit code is ours)."""
    argv, cwd = command(run, extra)
    env = handoff_env(store, run, claim)
    os.chdir(cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def resume_due(store: Store, quiet_if_none: bool = False) -> list[tuple[str, subprocess.Popen]]:
    """One pass: start a process for every due run (``resume --due``)."""
    started = []
    now = clock.now()
    for run in store.pending():
        if run.status not in RESUMABLE or due_reason(store, run, now) is None:
            continue
        claimed = claim(store, run.run_id, now)
        if claimed is None:
            continue
        fresh, held, reason = claimed
        say(f"resuming run {fresh.run_id} ({reason})")
        started.append((fresh.run_id, spawn(store, fresh, held)))
    if not started and not quiet_if_none:
        say(f"no runs are due in {store.location}")
    return started


class Worker:
    """``durable-python worker``: resume due runs as they become due and start enqueued ones,
    until stopped. ``queues``: the limits of queues; ``only``: the queues it serves (all when
    ``None``)."""

    def __init__(
        self,
        store: Store,
        max_parallel: int,
        poll: float,
        queues: dict[str, QueueLimits] | None = None,
        only: set[str] | None = None,
    ) -> None:
        self.store = store
        self.max_parallel = max_parallel
        self.poll = poll
        self.queues = queues or {}
        self.only = only
        self.children: dict[str, subprocess.Popen] = {}
        # run -> (repeated resumes so far, not again before this monotonic time, its updated_at)
        self.retries: dict[str, tuple[int, float, float]] = {}
        self.stopping = threading.Event()

    def serve(self) -> int:
        """Work until SIGTERM or Ctrl-C (``durable-python worker``)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        return self.work()

    def work(self) -> int:
        """Work until ``stopping`` is set (from a signal, or by the server it is part of)."""
        store = self.store
        store.ensure()
        say(f"worker watching {store.location} (process {os.getpid()})")
        with store.watch_due() as watcher:
            while not self.stopping.is_set():
                self._reap()
                next_due = self._pass()
                wait = max(0.02, min(next_due - clock.now(), self.poll))
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
        for run_id, process in list(self.children.items()):
            code = process.poll()
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
        """Resume what is due, then start what the queues admit; return when the next timer
        falls due."""
        store, now = self.store, clock.now()
        next_due = now + self.poll
        seen = set()
        pending = store.pending()
        for run in pending:
            run_id = run.run_id
            seen.add(run_id)
            if run.status not in RESUMABLE or run_id in self.children:
                continue
            if not run.in_queue and self._cannot_run(run):
                continue  # another machine's (or a script deleted here): not this worker's
            if run.status == RunStatus.SUSPENDED and run.wake_at is not None:
                next_due = min(next_due, run.wake_at)
            reason = due_reason(store, run, now)
            if reason is None or len(self.children) >= self.max_parallel:
                continue
            if self._backing_off(run, reason):
                continue
            claimed = claim(store, run_id, now)
            if claimed is None:
                continue
            fresh, held, reason = claimed
            say(f"resuming run {run_id} ({reason})")
            self._start(fresh, held)
            self._resumed(fresh)
        self._start_queued(pending)
        for run_id in set(self.retries) - seen:
            del self.retries[run_id]
        return next_due

    def _start(self, run: Run, claim: Claim) -> None:
        try:
            self.children[run.run_id] = spawn(self.store, run, claim)
        except (OSError, ValueError) as exc:  # ValueError: an argument no command line can hold
            say(f"could not start run {run.run_id}: {exc}")

    def _start_queued(self, pending: list[Run]) -> None:
        """Start the enqueued runs the queues admit, as long as this worker has room."""
        names = sorted({run.queue for run in pending if run.in_queue})
        for name in names:
            if self.only is not None and name not in self.only:
                continue
            slots = self.max_parallel - len(self.children)
            if slots <= 0:
                return
            limits = self.queues.get(name, QueueLimits())
            for run, claim in self.store.dequeue(name, limits, slots, self._why_not):
                say(f"starting run {run.run_id} from queue {name!r}")
                self._start(run, claim)

    @staticmethod
    def _why_not(run: Run) -> str | None:
        deployed = deployed_script(run)
        return deployed if isinstance(deployed, str) else None

    def _cannot_run(self, run: Run) -> bool:
        """A run whose script this worker does not have (in its recorded version, for an
        enqueued run): another worker's."""
        return self._why_not(run) is not None

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
