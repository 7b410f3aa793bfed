"""The life of one ``durable-python run``: choose the run, fix the hash seed, replay, go live, stop.

The hash seed can only be set when an interpreter starts, so the command re-executes itself with
the seed of the run it expects to resume, or a fresh one (``hashseed``), before anything heavy is
imported; should the run it claims have another seed, it re-executes once more, handing its claim
on the run to the new process. The process that executes the script holds the run's claim for its
whole life.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from . import (
    config,
    context,
    frames,
    hashseed,
    interpose,
    progress,
    retries,
    runner,
    tracing,
    waiting,
)
from .decider import Decider
from .errors import Cancelled, DurablePythonError, StoreError, UsageError
from .journal import Journal
from .model import Run, RunStatus
from .stores import open_store
from .stores.base import CLAIM_WAIT, Claim, Store


@dataclass
class RunOptions:
    script: str
    args: list[str]
    store: str | None = None
    new: bool = False
    run_id: str | None = None
    verbose: bool = False
    sync: bool | None = None
    suspend: bool | None = None  # None: as the run was started
    suspend_after: float | None = None


def say(message: str) -> None:
    """durable-python's own voice: one line on stderr, never mixed into the script's stdout."""
    sys.__stderr__.write(f"durable-python: {message}\n")
    sys.__stderr__.flush()


def run(options: RunOptions) -> int:
    state = hashseed.take_handoff()
    try:
        with open(options.script, "rb") as f:
            source = f.read()
    except OSError as exc:
        sys.stderr.write(
            f"durable-python: can't open file {os.path.abspath(options.script)!r}: "
            f"[Errno {exc.errno}] {exc.strerror}\n"
        )
        return 2
    path = os.path.abspath(options.script)
    try:
        code = runner.script_code(path)
    except SyntaxError as exc:
        exc.__traceback__ = None  # shown exactly as ``python script.py`` shows it
        sys.excepthook(type(exc), exc, None)
        return 1
    settings = config.load(Path(path).parent, options.store, options.sync)
    retry_default = retries.default_policy(settings.retry, settings.source)
    store = open_store(settings.store)
    argv = [options.script, *options.args]
    source_hash = hashlib.sha256(source).hexdigest()

    store.ensure()
    if "claim" in state:  # handed over by the re-exec below or by a worker
        claim = store.adopt(state["claim"])
        the_run = store.read(claim.run_id)
    else:
        chosen = _choose_run(store, options, path, argv, state["seed"])
        if isinstance(chosen, int):
            return chosen
        the_run, claim = chosen
        if the_run.hash_seed != state["seed"]:
            handoff = {"user_seed": state["user_seed"], "claim": claim.handoff()}
            hashseed.reexec(the_run.hash_seed, handoff)
    entries = store.journal(the_run)
    if the_run.source_hash and not the_run.executed(source_hash):
        say(
            f"{options.script} changed since run {the_run.run_id} was recorded; replaying it"
            " against the new code (a divergence will be reported if the edit breaks the run)"
        )
    previous_status = the_run.status
    the_run = dataclasses.replace(
        waiting.prepare(the_run, options.suspend, options.suspend_after),
        source_hash=the_run.sources_with(source_hash),
        status=RunStatus.RUNNING,
        pid=os.getpid(),
    )
    store.save(the_run)
    if entries:
        say(f"resuming run {the_run.run_id} ({len(entries)} recorded entries)")
    elif options.verbose:
        say(f"started run {the_run.run_id} (store {store.location})")
    journal = Journal(the_run.run_id, entries, store.writer(claim, settings.sync))
    if previous_status == RunStatus.FAILED:
        journal.main.retry_last_failed_effect()
    run_context = context.RunContext(
        journal=journal,
        run=the_run,
        settings=settings,
        decider=Decider(settings.policies),
        store=store,
        store_option=options.store,
        cancel_requested=store.cancel_requested(the_run.run_id),
        retry_default=retry_default,
        retry_policy_for=retries.policy_for,
    )
    run_context.stop = lambda status, code: _stop(run_context, claim, status, code, None)
    return _execute(run_context, claim, code, path, argv)


def _choose_run(
    store: Store, options: RunOptions, path: str, argv: list[str], seed: int
) -> tuple[Run, Claim] | int:
    """The run to execute and its claim, or the exit code when there is nothing to do."""
    if options.run_id:
        existing = store.find(options.run_id)
        if existing is not None:
            if existing.is_final:
                say(
                    f"run {existing.run_id} already {existing.status} (exit code"
                    f" {existing.exit_code}); nothing to do. Use --new for a new run."
                )
                return existing.exit_code or 0
            claim = store.claim(existing.run_id, wait=CLAIM_WAIT)
            if claim is None:
                raise UsageError(
                    f"run {existing.run_id} is running now in process {existing.pid}; wait for it"
                    " or stop it before resuming it here."
                )
            return store.read(existing.run_id) or existing, claim  # as the store's upkeep left it
    elif not options.new:
        for candidate in store.unfinished_runs(path, argv):
            claim = store.claim(candidate.run_id, wait=CLAIM_WAIT)
            if claim is not None:
                return store.read(candidate.run_id) or candidate, claim
            say(
                f"run {candidate.run_id} of this command is live (process {candidate.pid});"
                " starting another run beside it"
            )
    fresh = Run(
        run_id=options.run_id or secrets.token_hex(6),
        script=path,
        source_hash="",
        argv=tuple(argv),
        cwd=os.getcwd(),
        hash_seed=seed,
        random_seed=secrets.randbits(63),
        status=RunStatus.NEW,
    )
    return fresh, store.create(fresh)


def _execute(
    run: context.RunContext, claim: Claim, code: object, path: str, argv: list[str]
) -> int:
    """Execute the script under ``run`` and stop the run as the script ended."""
    status, exit_code, uncaught = RunStatus.FAILED, 1, None
    with interpose.activate(run, path, argv) as main_module:
        run.progress = progress.start(run.run_id, run.journal)
        try:
            exec(code, main_module.__dict__)  # noqa: S102 - running the user's script is the job
            status, exit_code = RunStatus.COMPLETED, 0
        except SystemExit as exc:
            exit_code = runner.exit_code_of(exc)
            status = RunStatus.COMPLETED if exit_code == 0 else RunStatus.EXITED
        except BaseException as exc:  # noqa: BLE001 - reported below exactly as Python reports it
            uncaught = exc
        finally:
            progress.stop(run.progress)
    # From here on nothing is recorded: the traceback is not the script's output.
    error = None
    if uncaught is not None:
        error = f"{type(uncaught).__name__}: {uncaught}"
        if isinstance(uncaught, Cancelled):
            say(f"run {run.run_id} cancelled")
            status, exit_code = RunStatus.CANCELLED, uncaught.exit_code
        elif isinstance(uncaught, StoreError):
            say(_at_script_line(uncaught, path))
            exit_code = uncaught.exit_code
        elif isinstance(uncaught, DurablePythonError):
            say(str(uncaught))
            exit_code = uncaught.exit_code
        else:
            exit_code = runner.report_uncaught(uncaught)
    # After a store error the store already said what is wrong: saving how the run ended
    # fails the same way, and the run stays unfinished for the same command to resume.
    _stop(run, claim, status, exit_code, error, quiet=isinstance(uncaught, StoreError))
    if isinstance(uncaught, KeyboardInterrupt):  # like Python: end by the signal itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return exit_code


def _at_script_line(exc: StoreError, path: str) -> str:
    """The message of a store error raised while the script ran, after the script's line it
    was running then (``job.py:12: the disk is full...``)."""
    line = None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == path:
            line = trace.tb_lineno
        trace = trace.tb_next
    if line is None:
        return str(exc)
    return f"{frames.short_site(f'{path}:{line}')}: {exc}"


def _stop(
    run: context.RunContext,
    claim: Claim,
    status: RunStatus,
    exit_code: int,
    error: str | None,
    quiet: bool = False,
) -> None:
    """Commit what is queued and store how the run ended; the store may then do its upkeep."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    store = run.store
    try:
        run.journal.close()
        run.run = dataclasses.replace(
            run.run, status=status, exit_code=exit_code, error=error, pid=None
        )
        store.save(run.run)
        tracing.run_ended(run.settings, store, run.run)  # an ended run as a trace, if asked for
    except StoreError as exc:
        if not quiet:
            say(f"{exc}")  # the run stays unfinished: the same command resumes it
    finally:
        claim.release()
    store.stopped(run.run, run.journal.total_entries)
