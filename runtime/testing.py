"""Test your own scripts' replay determinism: crash them at chosen journal positions, resume them,
and compare with runs that were never interrupted.

In a pytest suite::

    from durable_python.testing import assert_survives_crashes

    def test_nightly_export_survives_crashes():
        assert_survives_crashes("jobs/nightly_export.py", args=["--day", "2026-01-31"], examples=15)

Or with your own property, using the hypothesis strategy of crash schedules::

    from hypothesis import given, settings
    from durable_python.testing import crash_schedules, run_with_crashes

    REFERENCE = run_with_crashes("jobs/nightly_export.py")          # never interrupted

    @settings(max_examples=10, deadline=None)
    @given(crash_schedules(REFERENCE.journal_size))
    def test_output_once(schedule):
        crashed = run_with_crashes("jobs/nightly_export.py", schedule=schedule)
        assert crashed.divergence is None, crashed.divergence
        assert crashed.stdout == REFERENCE.stdout

Every execution runs the installed ``durable-python run`` in a subprocess, with a fresh scratch
store and a fresh working directory (empty, or a copy of ``workdir``), so a run never sees the
files an earlier one wrote. A crash is the test hook ``DURABLE_PYTHON_TEST_KILL_AT=N``: the process
SIGKILLs itself right after the commit that brings its journal to N entries or more; then the
same command is run again, as a user would after a crash.

What "equal to the uninterrupted run" means: the script is first run twice without crashes. What
those two runs agree on (stdout, stderr, exit code, the recorded calls with their arguments, the
names of the recorded calls) is what a crashed and resumed run must reproduce; what they disagree
on depends on recorded values (the time, a uuid) and is not compared. Whatever the script does, no
resume may diverge from its journal.
"""

from __future__ import annotations

import difflib
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._testing_harness import (
    _OWN_FAILURES,
    KILLED,
    TIMED_OUT,
    Attempt,
    CommandNotFound,
    Execution,
    Process,
    Sandbox,
    Witness,
    durable_python_command,
    wait_until,
)

__all__ = [
    "KILLED",
    "TIMED_OUT",
    "Attempt",
    "CheckResult",
    "CommandNotFound",
    "Execution",
    "Process",
    "Sandbox",
    "Witness",
    "assert_survives_crashes",
    "check_script",
    "crash_schedules",
    "durable_python_command",
    "run_with_crashes",
    "wait_until",
]


def crash_schedules(journal_size: int, max_crashes: int = 3) -> Any:
    """A hypothesis strategy of crash schedules: sorted tuples of 1 to ``max_crashes`` distinct
    journal positions in ``1..journal_size``. Position N crashes the process right after the
    commit that brings the journal to N entries; hypothesis shrinks toward fewer, earlier
    crashes."""
    from hypothesis import strategies as st

    return st.lists(
        st.integers(min_value=1, max_value=max(1, journal_size)),
        min_size=1,
        max_size=max(1, max_crashes),
    ).map(lambda positions: tuple(sorted(set(positions))))


def run_with_crashes(
    script: str | os.PathLike[str],
    args: Sequence[str] = (),
    schedule: Sequence[int] = (),
    *,
    workdir: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    hash_seed: int | None = None,
    timeout: float = 120.0,
) -> Execution:
    """Run ``script`` under ``durable-python run`` in a scratch store and working directory,
    crashing it at each position of ``schedule`` and resuming it, until an attempt is not killed.

    A position the journal has already passed when its attempt starts is skipped (the crash
    before it already happened later than that). ``workdir``: a directory whose copy is each
    execution's working directory (default: an empty one). ``hash_seed``: the ``PYTHONHASHSEED``
    of the run (default: random).
    """
    from .model import Entry

    script_path = os.path.abspath(script)
    if not os.path.isfile(script_path):
        raise FileNotFoundError(f"no script at {script_path}")
    scratch = Path(tempfile.mkdtemp(prefix="durable-check-"))
    try:
        work = scratch / "work"
        if workdir is not None:
            shutil.copytree(workdir, work, symlinks=True)
        seed = hash_seed if hash_seed is not None else random.randrange(1, 2**32 - 1)
        sandbox = Sandbox(
            scratch,
            work=work,
            clear=("DURABLE_PYTHON_",),
            unbuffered=True,  # what the script printed before a kill reaches the pipe
            lib=False,
            command=[sys.executable, "-m", "durable_python"],
            env={
                # the user's transpile cache, if they chose one (else the default one)
                "DURABLE_PYTHON_CACHE": os.environ.get("DURABLE_PYTHON_CACHE"),
                **(env or {}),
                "PYTHONUNBUFFERED": "1",
                "DURABLE_PYTHON_SYNC": "0",  # a SIGKILL loses no page cache; fsync is slow
                "DURABLE_PYTHON_TEST_NO_FOLD": "1",  # scratch stores are never folded
                "PYTHONHASHSEED": str(seed),  # also spares each start its re-exec
            },
        )
        store = sandbox.open_store()
        execution: Execution

        def journal_after(attempt: Attempt) -> None:
            runs = store.runs()  # a scratch store is never folded: its live runs' segments
            entries = [Entry(*row) for row in store.entries(runs[-1])] if runs else []
            attempt.journal_size = len(entries)
            if attempt.killed and entries:
                attempt.last_entry = _describe(max(entries, key=lambda e: (e.ended, e.seq)))
            execution.entries = entries

        execution = Execution(script_path, list(args), tuple(sorted(schedule)))
        done = sandbox.resume(
            script_path,
            *args,
            kill_ats=execution.schedule,
            skip_passed=True,
            require_end=False,
            timeout=timeout,
            timed_out=True,
            after_attempt=journal_after,
        )
        execution.attempts = done.attempts
        return execution
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _describe(entry: Any) -> str:
    from .argdiff import recorded_call
    from .frames import short_site

    return (
        f"{entry.task}/{entry.seq}: {entry.policy}"
        f" {recorded_call(entry.name, entry.fingerprint)} at {short_site(entry.site)}"
    )


# ----- the property test ---------------------------------------------------------------------


_FEATURES: dict[str, Callable[[Execution], Any]] = {
    "stdout": lambda e: e.stdout,
    "stderr": lambda e: e.stderr,
    "exit code": lambda e: e.exit_code,
    "recorded calls": lambda e: e.calls,
    "recorded call names": lambda e: [c[:4] for c in e.calls],
}


@dataclass
class Failure:
    """A crash schedule under which the script does not behave as uninterrupted."""

    schedule: tuple[int, ...]
    execution: Execution
    problems: list[str]


@dataclass
class CheckResult:
    """What ``check_script`` found; ``report()`` says it for people."""

    script: str
    args: list[str]
    passed: bool
    seed: int
    examples: int  # crash schedules tried before the verdict
    evaluations: int  # executions in all, shrinking included
    journal_size: int
    compared: list[str]  # the features crashed runs were held to
    not_compared: list[str]  # features on which two uninterrupted runs already differ
    reference: Execution | None = None
    failure: Failure | None = None
    error: str | None = None  # the script could not be checked at all

    def report(self) -> str:
        name = os.path.relpath(self.script)
        if self.error:
            return f"durable-python check {name}: cannot check it\n  {self.error}\n"
        lines = [f"durable-python check {name}: {'passed' if self.passed else 'FAILED'}"]
        if self.failure is not None:
            failure = self.failure
            shown = ", ".join(str(p) for p in failure.schedule)
            lines.append(f"  smallest crash schedule: [{shown}]")
            for index, attempt in enumerate(failure.execution.attempts, 1):
                if attempt.killed:
                    lines.append(
                        f"    attempt {index}: killed when the journal reached"
                        f" {attempt.journal_size} entries (kill at {attempt.kill_at});"
                        f" last committed {attempt.last_entry}"
                    )
                else:
                    verb = "ran" if index == 1 else "resumed"
                    lines.append(
                        f"    attempt {index}: {verb} to the end, exit code {attempt.exit_code}"
                    )
            lines.append("  what differs from the uninterrupted run:")
            for problem in failure.problems:
                lines.extend(f"    {line}" for line in problem.rstrip("\n").splitlines())
            lines.append(
                f"  found among {self.examples} crash schedules; {self.evaluations} executions"
                " in all, shrinking included"
            )
        else:
            lines.append(
                f"  {self.examples} crash schedules, each resumed to the end: no divergence,"
                " nothing differs from the uninterrupted run"
            )
        lines.append(
            f"  journal of the uninterrupted run: {self.journal_size} entries; seed {self.seed}"
        )
        lines.append(f"  compared: {', '.join(self.compared) or 'divergence only'}")
        if self.not_compared:
            lines.append(
                f"  not compared (two uninterrupted runs already differ: they depend on recorded"
                f" values such as the time): {', '.join(self.not_compared)}"
            )
        return "\n".join(lines) + "\n"


def check_script(
    script: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    examples: int = 20,
    max_crashes: int = 3,
    seed: int | None = None,
    workdir: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    shrink_budget: int = 30,
    progress: Callable[[str], None] | None = None,
) -> CheckResult:
    """Property test: for ``examples`` crash schedules chosen by hypothesis, crashing and resuming
    the script gives what the uninterrupted run gives. A failing schedule is shrunk (within
    ``shrink_budget`` further executions) to the smallest one hypothesis can find."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    seed = seed if seed is not None else random.randrange(2**32)
    hash_seed = random.Random(seed).randrange(1, 2**32 - 1)
    say = progress or (lambda text: None)
    run = lambda schedule: run_with_crashes(  # noqa: E731
        script, args, schedule, workdir=workdir, env=env, hash_seed=hash_seed, timeout=timeout
    )
    result = CheckResult(os.path.abspath(script), list(args), True, seed, 0, 2, 0, [], [])
    say("running it twice uninterrupted")
    first, second = run(()), run(())
    result.reference = first
    for reference in (first, second):
        if reference.exit_code in _OWN_FAILURES:
            result.passed = False
            result.error = (
                f"uninterrupted, it does not finish within {timeout:g} s (see --timeout)"
                if reference.exit_code == TIMED_OUT
                else f"uninterrupted, it ends with durable-python's exit code"
                f" {reference.exit_code}:\n"
                + (reference.attempts[-1].notes or reference.stderr).strip()
            )
            return result
    result.journal_size = first.journal_size
    for feature, value in _FEATURES.items():
        stable = value(first) == value(second)
        (result.compared if stable else result.not_compared).append(feature)
    if first.journal_size == 0:
        return result  # nothing recorded, nothing to crash at

    seen: dict[tuple[int, ...], Failure | None] = {}
    found: list[Failure] = []

    def fails(schedule: tuple[int, ...], within_budget: bool = True) -> bool:
        if schedule in seen:
            return seen[schedule] is not None
        if within_budget and found and result.evaluations >= spent_when_found[0] + shrink_budget:
            return False  # out of budget: what is not known to fail counts as passing
        if not found:
            result.examples += 1
        result.evaluations += 1
        execution = run(schedule)
        problems = _problems(execution, first, result.compared)
        failure = Failure(schedule, execution, problems) if problems else None
        seen[schedule] = failure
        say(f"crash schedule {list(schedule)}: {'FAILS' if failure else 'ok'}")
        if failure is not None:
            if not found:
                spent_when_found[0] = result.evaluations
            found.append(failure)
        return failure is not None

    spent_when_found = [0]
    try:
        find(
            crash_schedules(first.journal_size, max_crashes),
            fails,
            settings=settings(
                max_examples=max(1, examples),
                deadline=None,
                database=None,
                phases=(Phase.generate, Phase.shrink),
                suppress_health_check=list(HealthCheck),
            ),
            random=random.Random(seed),
        )
    except NoSuchExample:
        pass
    if found:
        # Hypothesis shrinks toward fewer and earlier crashes; finish by dropping single crashes
        # while the schedule still fails (cheap, and it makes the result reliably minimal).
        best = min(found, key=lambda f: (len(f.schedule), f.schedule))
        improved = True
        while improved and len(best.schedule) > 1:
            improved = False
            for index in range(len(best.schedule)):
                smaller = best.schedule[:index] + best.schedule[index + 1 :]
                if fails(smaller, within_budget=False):
                    best, improved = seen[smaller], True
                    break
        # ... and by moving each crash one position earlier while it still fails.
        for index in range(len(best.schedule)):
            for _ in range(4):  # a few steps: hypothesis has done the bulk
                position = best.schedule[index]
                floor = best.schedule[index - 1] if index else 0
                if position - 1 <= floor:
                    break
                earlier = (*best.schedule[:index], position - 1, *best.schedule[index + 1 :])
                if not fails(earlier, within_budget=False):
                    break
                best = seen[earlier]
        result.passed = False
        result.failure = best
    return result


def _problems(execution: Execution, reference: Execution, compared: list[str]) -> list[str]:
    problems = []
    divergence = execution.divergence
    if divergence is not None:
        problems.append(
            "a resume diverged from its journal, with the script unchanged: it depends on"
            " something durable-python does not record (a module declared pure that is not, a"
            " file it reads, an id or address):\n"
            + "".join(f"  {line}\n" for line in divergence.splitlines())
        )
    elif execution.exit_code in _OWN_FAILURES:
        problems.append(
            f"durable-python failed with exit code {execution.exit_code}:\n"
            + execution.attempts[-1].notes
        )
    elif execution.attempts and execution.attempts[-1].killed:
        problems.append("the run was still being killed when the schedule ended")
    if problems:
        return problems
    for feature in compared:
        value = _FEATURES[feature]
        if value(execution) != value(reference):
            problems.append(_difference(feature, value(reference), value(execution)))
    return problems


def _difference(feature: str, expected: Any, actual: Any) -> str:
    if isinstance(expected, str):
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            "uninterrupted",
            "crashed and resumed",
            n=1,
        )
        shown = "".join(list(diff)[:30])
        return f"{feature} differs:\n{shown}"
    if isinstance(expected, list):
        for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
            if want != got:
                return f"{feature} differ at #{index}: uninterrupted {want}, crashed {got}"
        return f"{feature} differ in number: uninterrupted {len(expected)}, crashed {len(actual)}"
    return f"{feature} differs: uninterrupted {expected!r}, crashed and resumed {actual!r}"


def assert_survives_crashes(
    script: str | os.PathLike[str], args: Sequence[str] = (), **options: Any
) -> CheckResult:
    """``check_script`` for a test suite: raises ``AssertionError`` with the report on failure."""
    result = check_script(script, args, **options)
    if not result.passed:
        raise AssertionError(result.report())
    return result
