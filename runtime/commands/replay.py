"""``durable-python replay RUN``: does the current code still match what a run recorded?"""

from __future__ import annotations

import argparse
import sys

from . import add_store_option

PARSER = {
    "help": "replay a run's journal against the current code, executing nothing",
    "description": (
        "Replay RUN's journal against the script as it is now (or --script PATH), with no"
        " recorded call executed: recorded results come from the journal, and the first call"
        " that would run live (the frontier) stops the script. Says 'replays cleanly up to the"
        " frontier', or shows the first divergence: file:line, what was recorded and what the"
        " code attempts, and which arguments changed.\n\n"
        "Exit codes: 0 replays cleanly, 65 diverges, 1 the script raises or has a syntax error,"
        " 2 the script is missing, 64 unknown run."
    ),
    "epilog": "example: durable-python replay 3f2a --script new/job.py",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", help="a run id or a unique prefix of one")
    add_store_option(parser)
    parser.add_argument("--script", metavar="PATH", help="replay against this file instead")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="give up if the script runs this long (default 120)",
    )


def execute(args: argparse.Namespace) -> int:
    from durable_python import hashseed
    from durable_python.replay_check import replay_run
    from durable_python.stores import configured_store

    store = configured_store(args.store)
    run = store.read(args.run_id)  # by its full id: the local store reads no DuckDB for a live run
    if run is None:
        run = store.require(args.run_id)
    hashseed.ensure(run.hash_seed)
    verdict = replay_run(store, run, args.script, args.timeout)
    out = sys.__stdout__
    if args.json:
        out.write(verdict.to_json() + "\n")
    else:
        out.write(f"run {verdict.run_id}: {verdict.summary}\n")
        if verdict.status != "clean" and verdict.detail:
            out.write(verdict.detail.rstrip("\n") + "\n")
    out.flush()
    return verdict.exit_code
