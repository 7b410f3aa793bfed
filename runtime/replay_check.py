"""Replay-only execution: run a script against a run's journal, executing no recorded call.

``durable-python replay RUN`` (and ``watch``, and ``check``) answer one question: does the current
code still match what this run recorded? The script runs as on a resume (same hash seed, random
seed, argv, working directory, policies), but in a mode where every recorded call must come from
the journal: the first call that would run live (the frontier) stops the script cleanly, and a
call that does not match its entry is the divergence ``NondeterminismError`` reports on a resume.
Nothing is written to the store, sleeps do not wait, and what the script prints is kept aside.

It must run in a process whose hash seed is the run's (``hashseed.ensure``), so set and dict
orders come out as recorded; the ``replay`` command re-executes itself when needed.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from . import config, context, frames, interpose, retries, runner
from .argdiff import recorded_call
from .decider import Decider
from .errors import EXIT_DIVERGENCE, EXIT_INTERNAL, DurablePythonError, NondeterminismError
from .journal import Journal, TaskJournal
from .model import Policy, Run, RunStatus
from .stores.base import JournalWriter, Store

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
    divergence: dict[str, Any] | None = None  # the fields of a model.Divergence

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


class _NoWrites(JournalWriter):
    """Replay-only mode writes nothing."""

    def append(self, records: Sequence[tuple], sync: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def replay_run(store: Store, run: Run, script: str | None = None, timeout: float = 120) -> Verdict:
    """Replay ``run``'s journal against the code at ``script`` (default: the run's script)."""
    path = os.path.abspath(script) if script else run.script
    shown = script or os.path.relpath(run.script)
    entries = store.journal(run)

    def verdict(status: str, summary: str, detail: str = "") -> Verdict:
        return Verdict(run.run_id, path, status, summary, detail, 0, len(entries))

    if not os.path.exists(path):
        return verdict("missing", f"the script {shown} does not exist (use --script PATH)")
    try:
        code = runner.script_code(path)
    except SyntaxError as exc:
        text = "".join(traceback.format_exception_only(exc))
        return verdict("syntax", f"syntax error in {shown}: {exc.msg} (line {exc.lineno})", text)
    settings = config.load(Path(path).parent, store.location)
    journal = Journal(run.run_id, entries, _NoWrites())
    if run.status == RunStatus.FAILED:
        journal.main.retry_last_failed_effect()  # a resume would run that effect again
    total = sum(len(t.recorded) for t in journal.tasks.values())
    argv = [script if path != run.script else run.argv[0], *run.argv[1:]]
    frontier = _Frontier()
    replaying = context.RunContext(
        journal=journal,
        run=run,
        settings=settings,
        decider=Decider(settings.policies),
        live=False,
        at_frontier=frontier.reached,
        retry_default=retries.default_policy(settings.retry, settings.source),
        retry_policy_for=retries.policy_for,
    )
    outcome = _execute(replaying, code, path, argv, timeout)
    result = _classify(frontier, outcome, run, journal, _replayed(journal), total)
    result.script = path
    return result


class _Frontier:
    """Where the replay reached a call it would have to run live."""

    def __init__(self) -> None:
        self.where: str | None = None
        self.gap = False

    def reached(self, task: TaskJournal, seq: int, policy: str, name: str, site: str) -> None:
        if self.where is None:
            self.gap = task.replaying  # a seq with no entry amid recorded ones: it was in flight
            self.where = f"{task.name}/{seq}: {policy} {name}() at {frames.short_site(site)}"
        raise FrontierReached(self.where)


def _execute(
    replaying: context.RunContext, code: Any, path: str, argv: list[str], timeout: float
) -> BaseException | None:
    """Run the script in replay-only mode in this process; put the process back as it was."""
    cwd, stdout, stderr = os.getcwd(), sys.stdout, sys.stderr
    if replaying.run.cwd and os.path.isdir(replaying.run.cwd):
        os.chdir(replaying.run.cwd)
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()  # what the script prints is not ours
    previous_alarm = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    outcome: BaseException | None = None
    try:
        with interpose.activate(replaying, path, argv) as main_module:
            exec(code, main_module.__dict__)  # noqa: S102 - replaying the user's script
    except BaseException as exc:  # noqa: BLE001 - classified by the caller
        outcome = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        sys.stdout, sys.stderr = stdout, stderr
        os.chdir(cwd)
    return outcome


def _alarm(signum: int, frame: Any) -> None:
    raise ReplayTimeout()


def _replayed(journal: Journal) -> int:
    return sum(sum(1 for s in t.recorded if s < t.seq) for t in journal.tasks.values())


def _left_over(journal: Journal) -> list:
    """Recorded calls (not outputs) the code did not reach, in task order."""
    left = []
    for task in journal.tasks.values():
        left.extend(
            e
            for s, e in sorted(task.recorded.items())
            if s >= task.seq and e.policy != Policy.OUTPUT
        )
    return left


def _user_site(tb: TracebackType | None) -> str:
    tb = frames.without_own_frames(tb)
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return "?"
    return frames.short_site(f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}")


def _classify(
    frontier: _Frontier,
    outcome: BaseException | None,
    run: Run,
    journal: Journal,
    replayed: int,
    total: int,
) -> Verdict:
    def verdict(status: str, summary: str, detail: str = "") -> Verdict:
        return Verdict(
            run.run_id, run.script, status, summary, detail, replayed, total, frontier.where
        )

    counted = f"{replayed} of {total} entries"
    if isinstance(outcome, NondeterminismError):
        replayed = max(0, replayed - 1)  # the entry it diverged at was taken, not replayed
        found = verdict("diverged", outcome.divergence.summary(), str(outcome))
        found.divergence = asdict(outcome.divergence)
        return found
    if frontier.where is not None:
        position, _, call = frontier.where.partition(": ")
        if frontier.gap:
            return verdict(
                "clean",
                f"replays cleanly up to {position}, a call that was in flight when the run"
                f" stopped ({counted} replayed; a resume runs it again)",
            )
        return verdict(
            "clean",
            f"replays cleanly up to the frontier ({counted}); a resume goes on live with {call}",
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
            f" {frames.short_site(entry.site)} ({len(left)} recorded calls not made)"
        )
        return verdict("diverged", message, message)
    if ended:
        return verdict("clean", f"replays cleanly to the end of the script ({counted})")
    site = _user_site(outcome.__traceback__)
    if isinstance(outcome, DurablePythonError):
        first_line = (str(outcome).splitlines() or [type(outcome).__name__])[0]
        return verdict("raised", f"{site}: {first_line}", str(outcome))
    error = f"{type(outcome).__name__}: {outcome}"
    if not left and run.status == RunStatus.FAILED and run.error == error:
        return verdict(
            "clean", f"replays cleanly to the end ({counted}), failing as the run did: {error}"
        )
    return verdict(
        "raised",
        f"{site}: the script raises {error} during the replay ({counted})",
        _format(outcome),
    )


def _format(exc: BaseException) -> str:
    tb = frames.without_own_frames(exc.__traceback__)
    return "".join(traceback.format_exception(type(exc), exc, tb))
