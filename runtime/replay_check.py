"""Replay-only execution: run a script against a run's journal, executing no recorded call.

``durable-python replay RUN`` (and ``watch``, and ``check``) answer one question: does the current
code still match what this run recorded? The script runs as on a resume (same hash seed, random
seed, argv, working directory, policies), but in a mode where every recorded call must come from
the journal: the first call that would run live (the frontier) stops the script cleanly, and a
call that does not match its entry is the divergence ``NondeterminismError`` reports on a resume.
Nothing is written to the store, sleeps do not wait, and what the script prints is kept aside.

It must run in a process whose hash seed is the run's (``ensure_hash_seed``), so set and dict
orders come out as recorded; the ``replay`` command re-executes itself when needed.
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import signal
import sys
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from . import calls, config, environ, events, hot, runner, streams
from .argdiff import recorded_call
from .errors import EXIT_DIVERGENCE, EXIT_INTERNAL, DurablePythonError, NondeterminismError
from .journal import Journal, TaskJournal
from .store import Run, Store

EXIT_RAISED = 1  # the script raised during replay, before the frontier


class FrontierReached(BaseException):  # noqa: N818 - a signal, not an error
    """Raised where a recorded call would run live: the end of what replay can check."""


class ReplayTimeout(BaseException):  # noqa: N818
    """The script ran longer than the replay allows (pure code looping past the journal)."""


@dataclass
class Verdict:
    """The outcome of replaying one run against the current code."""

    run_id: str
    script: str
    status: str  # "clean", "diverged", "raised", "timeout", "syntax", "missing"
    summary: str  # one line
    detail: str  # the full divergence message or traceback ("" when clean)
    replayed: int  # journal entries the code went through
    total: int  # entries in the journal
    frontier: str | None = None  # where it stopped: "main/12: effect foo() at job.py:9"

    @property
    def exit_code(self) -> int:
        return {"clean": 0, "diverged": EXIT_DIVERGENCE, "missing": 2}.get(
            self.status, EXIT_RAISED if self.status != "timeout" else EXIT_INTERNAL
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"exit_code": self.exit_code})

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        data = json.loads(text)
        data.pop("exit_code", None)
        return cls(**data)


class _ReplayJournal(Journal):
    """A journal that serves recorded entries and never writes anything."""

    def __init__(self, run_id: str, rows: list[tuple]) -> None:
        super().__init__(run_id, Path(os.devnull), rows, sync=False)

    def record(self, *args: Any, **kwargs: Any) -> None:
        pass

    def record_output(self, *args: Any, **kwargs: Any) -> None:
        pass

    def commit(self, ticket: int | None = None) -> None:
        self._queue.clear()

    def close(self) -> None:
        self._stopping.set()


def ensure_hash_seed(seed: int) -> None:
    """Re-execute this command with ``PYTHONHASHSEED=seed`` unless this process already has it."""
    if os.environ.get("PYTHONHASHSEED") == str(seed):
        return
    if os.environ.get("DURABLE_PYTHON_REPLAY_REEXEC") == str(seed):
        raise DurablePythonError(f"could not start a process with hash seed {seed}")
    env = dict(os.environ, PYTHONHASHSEED=str(seed), DURABLE_PYTHON_REPLAY_REEXEC=str(seed))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "durable_python", *sys.argv[1:]], env)


def replay_run(store: Store, run: Run, script: str | None = None, timeout: float = 120) -> Verdict:
    """Replay ``run``'s journal against the code at ``script`` (default: the run's script)."""
    path = os.path.abspath(script) if script else run.script
    shown = script or os.path.relpath(run.script)
    rows = store.load_entries(run)
    total = len(rows)

    def verdict(status: str, summary: str, detail: str = "", replayed: int = 0) -> Verdict:
        return Verdict(run.run_id, path, status, summary, detail, replayed, total)

    if not os.path.exists(path):
        return verdict("missing", f"the script {shown} does not exist (use --script PATH)")
    try:
        code = runner.script_code(path)
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(exc))
        return verdict("syntax", f"syntax error in {shown}: {exc.msg} (line {exc.lineno})", text)
    settings = config.load(Path(path).parent, str(store.root))
    journal = _ReplayJournal(run.run_id, rows)
    if run.status == "failed":
        journal.main.retry_last_failed_effect()  # a resume would run that effect again
    total = sum(len(t.recorded) for t in journal.tasks.values())
    argv = [script if path != run.script else run.argv[0], *run.argv[1:]]
    session = _Session(store, run, journal)
    outcome = session.execute(code, path, argv, settings, timeout)
    replayed = _replayed(journal)
    result = _classify(session, outcome, run, journal, replayed, total)
    result.script = path
    return result


class _Session:
    """The interpreter state of one replay, set up and torn down around the script."""

    def __init__(self, store: Store, run: Run, journal: _ReplayJournal) -> None:
        self.store, self.run, self.journal = store, run, journal
        self.frontier: str | None = None
        self.gap = False

    def at_frontier(self, task: TaskJournal, seq: int, policy: str, name: str, site: str) -> None:
        if self.frontier is None:
            self.gap = task.replaying  # a seq with no entry amid recorded ones: it was in flight
            self.frontier = f"{task.name}/{seq}: {policy} {name}() at {calls.short_site(site)}"
        raise FrontierReached(self.frontier)

    def execute(
        self, code: Any, path: str, argv: list[str], settings: config.Config, timeout: float
    ) -> BaseException | None:
        from .policy import Knowledge

        saved = (
            os.getcwd(),
            sys.stdout,
            sys.stderr,
            list(sys.argv),
            list(sys.path),
            sys.modules.get("__main__"),
            os.environ,
        )
        if self.run.cwd and os.path.isdir(self.run.cwd):
            os.chdir(self.run.cwd)
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()  # what the script prints is not ours
        main_module = runner.prepare_main(path, argv)
        random.seed(self.run.random_seed)
        streams.install()
        environ.install()
        hot.install(_replay_decide(Knowledge(settings.policies).decide))
        from durable_python.integrations import threads

        threads.install()
        calls.attach(self.journal)
        calls.stop_at_frontier = self.at_frontier
        quiet_run = copy.copy(self.run)
        quiet_run.suspend_after = None  # never suspend: nothing waits in a replay
        events._context = events._Context(self.store, quiet_run, lambda status, code: None)
        previous_alarm = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        outcome: BaseException | None = None
        try:
            exec(code, main_module.__dict__)  # noqa: S102 - replaying the user's script
        except BaseException as exc:  # noqa: BLE001 - classified by the caller
            outcome = exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm)
            calls.stop_at_frontier = None
            calls.attach(None)
            events.end()
            cwd, sys.stdout, sys.stderr, sys.argv[:], sys.path[:], main, os.environ = saved
            if main is not None:
                sys.modules["__main__"] = main
            os.chdir(cwd)
        return outcome


def _alarm(signum: int, frame: Any) -> None:
    raise ReplayTimeout()


def _replay_decide(decide: Any) -> Any:
    """The policies of a resume, except that a durable sleep never waits: it takes its timer
    entry from the journal, and where it has none, the frontier stops the script."""

    def replay_decide(f: Any) -> Any:
        decision = decide(f)
        handler = getattr(decision, "func", None)
        kind = getattr(handler, "__name__", "")
        if kind in ("durable_sleep", "async_sleep"):
            name = decision.args[0]
            return lambda real: _replayed_sleep(name, real, kind == "async_sleep")
        return decision

    return replay_decide


def _replayed_sleep(name: str, real: Any, is_async: bool) -> Any:
    def sleep(seconds: float, result: Any = None) -> Any:
        if not (is_async and seconds <= 0):
            frame = sys._getframe(1)
            calls.perform("timer", name, True, frame, (seconds,), {}, lambda: 0.0)
        return real(0, result) if is_async else None

    return sleep


def _replayed(journal: Journal) -> int:
    return sum(sum(1 for s in t.recorded if s < t.seq) for t in journal.tasks.values())


def _left_over(journal: Journal) -> list:
    """Recorded calls (not outputs) the code did not reach, in task order."""
    left = []
    for task in journal.tasks.values():
        left.extend(
            e for s, e in sorted(task.recorded.items()) if s >= task.seq and e.policy != "output"
        )
    return left


def _user_site(tb: TracebackType | None) -> str:
    tb = runner.without_own_frames(tb)
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return "?"
    return calls.short_site(f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}")


def _classify(
    session: _Session,
    outcome: BaseException | None,
    run: Run,
    journal: Journal,
    replayed: int,
    total: int,
) -> Verdict:
    def verdict(status: str, summary: str, detail: str = "") -> Verdict:
        return Verdict(
            run.run_id, run.script, status, summary, detail, replayed, total, session.frontier
        )

    counted = f"{replayed} of {total} entries"
    if isinstance(outcome, NondeterminismError):
        message = str(outcome)
        replayed = max(0, replayed - 1)  # the entry it diverged at was taken, not replayed
        return verdict("diverged", _one_line(message), message)
    if session.frontier is not None:
        if session.gap:
            return verdict(
                "clean",
                f"replays cleanly up to {session.frontier.split(':')[0]}, a call that was in"
                f" flight when the run stopped ({counted} replayed; a resume runs it again)",
            )
        return verdict(
            "clean",
            f"replays cleanly up to the frontier ({counted}); a resume goes on live with"
            f" {session.frontier.partition(': ')[2]}",
        )
    if isinstance(outcome, ReplayTimeout):
        return verdict(
            "timeout", "the script ran past the time limit without reaching a recorded call"
        )
    ended = outcome is None or isinstance(outcome, SystemExit)
    left = _left_over(journal)
    if ended and left:
        entry = left[0]
        message = (
            f"the script ends, but its journal goes on: recorded at {entry.task}/{entry.seq}:"
            f" {entry.policy} {recorded_call(entry.name, entry.fingerprint)} called at"
            f" {calls.short_site(entry.site)} ({len(left)} recorded calls not made)"
        )
        return verdict("diverged", message, message)
    if ended:
        return verdict("clean", f"replays cleanly to the end of the script ({counted})")
    site = _user_site(outcome.__traceback__)
    if isinstance(outcome, DurablePythonError):
        return verdict("raised", f"{site}: {_one_line(str(outcome))}", str(outcome))
    error = f"{type(outcome).__name__}: {outcome}"
    if not left and run.status == "failed" and run.error == error:
        return verdict(
            "clean", f"replays cleanly to the end ({counted}), failing as the run did: {error}"
        )
    return verdict(
        "raised",
        f"{site}: the script raises {error} during the replay ({counted})",
        _format(outcome),
    )


def _format(exc: BaseException) -> str:
    tb = runner.without_own_frames(exc.__traceback__)
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _one_line(message: str) -> str:
    """``diverges at site (journal entry main/7)`` from a divergence message."""
    lines = message.splitlines()
    site = lines[0].split(": ", 1)[0] if lines else "?"
    recorded = next((x.strip() for x in lines if x.strip().startswith("recorded at ")), "")
    if not recorded:
        return lines[0] if lines else message
    entry = recorded.removeprefix("recorded at ").split(":", 1)[0]
    how = ", same call with other arguments" if "(same callable" in message else ""
    return f"diverges at {site} (journal entry {entry}{how})"
