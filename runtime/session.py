"""The life of one ``durable-python run``: choose the run, fix the hash seed, replay, go live, stop.

The hash seed can only be set when an interpreter starts, so a run whose seed differs from this
process's re-executes the command once with ``PYTHONHASHSEED`` set (before anything heavy is
imported for a new run; after reading the store for a resumed one). The process that executes the
script holds the run's live lock for its whole life.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from durable_python.integrations import threads

from . import calls, config, environ, events, hashseed, hot, progress, runner, streams
from .errors import Cancelled, DurablePythonError, StoreError, UsageError
from .journal import Journal
from .store import FINAL, Run, Store


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
    store = Store(settings.store)
    argv = [options.script, *options.args]
    source_hash = hashlib.sha256(source).hexdigest()

    store.ensure()
    if "run_id" in state:
        the_run, lock_fd = store.read_meta(state["run_id"]), state["lock_fd"]
    else:
        chosen = _choose_run(store, options, path, argv, state["seed"])
        if isinstance(chosen, int):
            return chosen
        the_run, lock_fd = chosen
        if the_run.hash_seed != state["seed"]:
            os.set_inheritable(lock_fd, True)
            handoff = {
                "user_seed": state["user_seed"],
                "run_id": the_run.run_id,
                "lock_fd": lock_fd,
            }
            hashseed.reexec(the_run.hash_seed, handoff)
    rows = store.journal_rows(the_run)
    if the_run.source_hash not in ("", source_hash):
        say(
            f"{options.script} changed since run {the_run.run_id} was recorded; replaying it"
            " against the new code (a divergence will be reported if the edit breaks the run)"
        )
    previous_status = the_run.status
    events.prepare(the_run, options.suspend, options.suspend_after)
    the_run.source_hash, the_run.status, the_run.pid = source_hash, "running", os.getpid()
    store.write_meta(the_run)
    if rows:
        say(f"resuming run {the_run.run_id} ({len(rows)} recorded entries)")
    elif options.verbose:
        say(f"started run {the_run.run_id} (store {store.root})")
    return _execute(store, the_run, lock_fd, code, path, argv, rows, previous_status, settings)


def _choose_run(
    store: Store, options: RunOptions, path: str, argv: list[str], seed: int
) -> tuple[Run, int] | int:
    """The run to execute and its live lock, or the exit code when there is nothing to do."""
    if options.run_id:
        existing = store.find_run(options.run_id)
        if existing is not None:
            if existing.status in FINAL:
                say(
                    f"run {existing.run_id} already {existing.status} (exit code"
                    f" {existing.exit_code}); nothing to do. Use --new for a new run."
                )
                return existing.exit_code or 0
            lock_fd = store.claim_when_free(existing.run_id)
            if lock_fd is None:
                raise UsageError(
                    f"run {existing.run_id} is running now in process {existing.pid}; wait for it"
                    " or stop it before resuming it here."
                )
            return store.read_meta(existing.run_id) or existing, lock_fd  # as a fold left it
    elif not options.new:
        for candidate in store.unfinished_runs(path, argv):
            lock_fd = store.claim_when_free(candidate.run_id)
            if lock_fd is not None:
                return store.read_meta(candidate.run_id) or candidate, lock_fd  # as a fold left it
            say(
                f"run {candidate.run_id} of this command is live (process {candidate.pid});"
                " starting another run beside it"
            )
    fresh = Run(
        run_id=options.run_id or secrets.token_hex(6),
        script=path,
        source_hash="",
        argv=argv,
        cwd=os.getcwd(),
        hash_seed=seed,
        random_seed=secrets.randbits(63),
        status="new",
    )
    lock_fd = store.claim(fresh.run_id)
    if lock_fd is None:
        raise StoreError(f"could not take the live lock of the new run {fresh.run_id}")
    store.write_meta(fresh)
    return fresh, lock_fd


def _execute(
    store: Store,
    the_run: Run,
    lock_fd: int,
    code: object,
    path: str,
    argv: list[str],
    rows: list[tuple],
    previous_status: str,
    settings: config.Config,
) -> int:
    from .policy import Knowledge

    journal = Journal(the_run.run_id, store.new_segment_path(the_run.run_id), rows, settings.sync)
    if previous_status == "failed":
        journal.main.retry_last_failed_effect()
    main_module = runner.prepare_main(path, argv)
    random.seed(the_run.random_seed)
    streams.install()
    environ.install()
    knowledge = Knowledge(settings.policies)
    hot.install(knowledge.decide, knowledge.all_methods_inline)
    threads.install()
    calls.attach(journal)
    events.begin(
        store, the_run, lambda st, code: _stop(store, the_run, lock_fd, journal, st, code, None)
    )
    replay_progress = progress.start(the_run.run_id, journal)
    status, exit_code, uncaught = "failed", 1, None
    try:
        exec(code, main_module.__dict__)  # noqa: S102 - running the user's script is the job
        status, exit_code = "completed", 0
    except SystemExit as exc:
        exit_code = runner.exit_code_of(exc)
        status = "completed" if exit_code == 0 else "failed"
    except BaseException as exc:  # noqa: BLE001 - reported below exactly as Python reports it
        uncaught = exc
    finally:
        calls.attach(None)  # from here on nothing is recorded: the traceback is not script output
        events.end()
        progress.stop(replay_progress)
    error = None
    if uncaught is not None:
        error = f"{type(uncaught).__name__}: {uncaught}"
        if isinstance(uncaught, Cancelled):
            say(f"run {the_run.run_id} cancelled")
            status, exit_code = "cancelled", uncaught.exit_code
        elif isinstance(uncaught, DurablePythonError):
            say(str(uncaught))
            exit_code = uncaught.exit_code
        else:
            exit_code = runner.report_uncaught(uncaught)
    _stop(store, the_run, lock_fd, journal, status, exit_code, error)
    if isinstance(uncaught, KeyboardInterrupt):  # like Python: end by the signal itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return exit_code


def _stop(
    store: Store,
    the_run: Run,
    lock_fd: int,
    journal: Journal,
    status: str,
    exit_code: int,
    error: str | None,
) -> None:
    """Commit what is queued, fold the segments into DuckDB and record how the run ended."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        journal.close()
        the_run.status, the_run.exit_code, the_run.error = status, exit_code, error
        the_run.pid = None
        store.write_meta(the_run)
    except StoreError as exc:
        say(f"{exc}")  # the run stays unfinished: the same command resumes it
    finally:
        os.close(lock_fd)
    store.fold_in_background(now=journal.total_entries >= 10_000)
