"""``durable-python run``: run a script durably, resuming its unfinished run."""

from __future__ import annotations

import argparse

from . import add_store_option

PARSER = {
    "help": "run a script durably (resumes its unfinished run if there is one)",
    "description": "Run SCRIPT durably. After a crash, run the same command again to resume.",
    "epilog": "example: durable-python run fetch_reports.py --since 2026-01-01",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument(
        "--new", action="store_true", help="start a new run even if one is unfinished"
    )
    parser.add_argument("--run-id", metavar="ID", help="run (or resume) the run with this id")
    parser.add_argument("-v", "--verbose", action="store_true", help="say when a run starts")
    parser.add_argument(
        "--sync",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fdatasync each commit so a power loss loses nothing (default on)",
    )
    parser.add_argument(
        "--suspend",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="end the process (exit code 75, status suspended) when the script sleeps or waits"
        " longer than --suspend-after; `durable-python worker` resumes it when it is due",
    )
    parser.add_argument(
        "--suspend-after",
        metavar="SECONDS",
        type=float,
        default=None,
        help="with --suspend: shorter waits stay in the process (default 60, or"
        " DURABLE_PYTHON_SUSPEND_AFTER)",
    )
    parser.add_argument("script", help="the Python script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")


def execute(args: argparse.Namespace) -> int:
    from durable_python.session import RunOptions, run

    return run(
        RunOptions(
            script=args.script,
            args=args.args,
            store=args.store,
            new=args.new,
            run_id=args.run_id,
            verbose=args.verbose,
            sync=args.sync,
            suspend=args.suspend,
            suspend_after=args.suspend_after,
        )
    )
