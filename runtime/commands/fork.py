"""``durable-python fork RUN --at SEQ``: a new run that replays RUN's first entries, then goes live."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

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


def execute(args: argparse.Namespace) -> int:
    from durable_python import child
    from durable_python.forking import cut_of, fork
    from durable_python.session import say
    from durable_python.stores import configured_store

    store = configured_store(args.store)
    source = store.require(args.run_id)
    forked, kept, total = fork(store, source, args.at)
    cwd = source.cwd if os.path.isdir(source.cwd) else os.getcwd()
    script = source.argv[0] if os.path.isfile(os.path.join(cwd, source.argv[0])) else source.script
    command = child.command("run", "--run-id", forked.run_id, script, *source.argv[1:])
    task, seq = cut_of(args.at)
    say(
        f"forked run {source.run_id} at {task}/{seq} as run {forked.run_id} ({kept} of {total} entries kept)"
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
