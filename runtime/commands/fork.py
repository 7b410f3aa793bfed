"""``durable-python fork RUN --at SEQ``: a new run that replays RUN's first entries, then goes live."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys

from durable_python.errors import UsageError

from . import add_store_option

PARSER = {
    "help": "start a new run that replays the first SEQ entries of RUN, then goes on live",
    "description": (
        "Copy the first SEQ journal entries of RUN (as numbered by `durable-python show RUN`)"
        " into a new run with the same script, arguments, working directory and seeds, and run"
        " it: those entries replay, everything after them runs live again. Use it to redo"
        " work after fixing a bug or after an external service gave a bad answer. The script"
        " as it is now must replay those entries (check with `durable-python replay`).\n\n"
        "--at SEQ cuts the main task; --at TASK/SEQ cuts another task. Entries of other tasks"
        " are kept if they ended before the cut."
    ),
    "epilog": "example: durable-python fork 3f2a --at 12",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", help="a run id or a unique prefix of one")
    add_store_option(parser)
    parser.add_argument(
        "--at", required=True, metavar="SEQ", help="keep the entries before SEQ (main/SEQ)"
    )
    parser.add_argument(
        "--no-run", action="store_true", help="only create the new run; print how to run it"
    )


def _cut(at: str) -> tuple[str, int]:
    task, _, seq = at.rpartition("/")
    try:
        number = int(seq)
    except ValueError:
        number = -1
    if number < 0:
        raise UsageError(f"--at wants a journal position like 12 or main/12, not {at!r}")
    return task or "main", number


def execute(args: argparse.Namespace) -> int:
    from durable_python import child
    from durable_python.model import Run, RunStatus
    from durable_python.session import say
    from durable_python.stores import configured_store

    store = configured_store(args.store)
    source = store.require(args.run_id)
    task, seq = _cut(args.at)
    entries = store.entries(source)
    in_task = [e for e in entries if e.task == task]
    if not in_task and seq > 0:
        tasks = sorted({e.task for e in entries}) or ["main"]
        raise UsageError(f"run {source.run_id} has no task {task!r}; its tasks: {', '.join(tasks)}")
    end = max((e.seq for e in in_task), default=-1) + 1
    if seq > end:
        raise UsageError(
            f"run {source.run_id} has {end} entries in {task} (main/0 to main/{end - 1}); --at"
            f" takes 0 to {end}. See them with: durable-python show {source.run_id}"
        )
    kept_in_task = [e for e in in_task if e.seq < seq]
    if kept_in_task:
        cut_time = max(e.ended for e in kept_in_task)
    else:
        at_cut = [e.started for e in in_task if e.seq >= seq]
        cut_time = min(at_cut) if task != "main" and at_cut else float("-inf")
    kept = [
        e
        for e in entries
        if (e.task == task and e.seq < seq) or (e.task != task and e.ended <= cut_time)
    ]
    fork = Run(
        run_id=secrets.token_hex(6),
        script=source.script,
        source_hash=source.source_hash,
        argv=source.argv,
        cwd=source.cwd,
        hash_seed=source.hash_seed,
        random_seed=source.random_seed,
        status=RunStatus.RUNNING,  # unfinished, with no process: the next start resumes it
    )
    store.ensure()
    claim = store.create(fork)  # held until its journal is written: no fold moves it half made
    try:
        if kept:
            writer = store.writer(claim, sync=True)
            try:
                writer.append([tuple(e) for e in kept])
            finally:
                writer.close()
    finally:
        claim.release()
    cwd = source.cwd if os.path.isdir(source.cwd) else os.getcwd()
    script = source.argv[0] if os.path.isfile(os.path.join(cwd, source.argv[0])) else source.script
    command = child.command("run", "--run-id", fork.run_id, script, *source.argv[1:])
    say(
        f"forked run {source.run_id} at {task}/{seq} as run {fork.run_id}"
        f" ({len(kept)} of {len(entries)} entries kept)"
    )
    if args.no_run:
        shown = ["durable-python", "run", "--store", store.location, *command[4:]]
        say(f"run it with: cd {shlex.quote(cwd)} && {shlex.join(shown)}")
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cwd)
    os.execve(command[0], command, child.environment(store.address))
    return 0  # not reached
