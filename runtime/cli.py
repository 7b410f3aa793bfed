"""The ``durable-python`` command line: parse, dispatch, and turn our own errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import errors

RUN_EXAMPLE = "example: durable-python run fetch_reports.py --since 2026-01-01"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-python",
        description="Run plain Python scripts durably: kill them, run them again, they resume.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a script durably (resumes its unfinished run if there is one)",
        description="Run SCRIPT durably. Run the same command again after a crash to resume.",
        epilog=RUN_EXAMPLE,
    )
    run.add_argument("--store", metavar="DIR", help="store directory (default .durable)")
    run.add_argument("--new", action="store_true", help="start a new run even if one is unfinished")
    run.add_argument("--run-id", metavar="ID", help="run (or resume) the run with this id")
    run.add_argument("-v", "--verbose", action="store_true", help="say when a run starts")
    run.add_argument(
        "--sync",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fdatasync each commit so a power loss loses nothing (default on)",
    )
    run.add_argument("script", help="the Python script to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")

    runs = commands.add_parser(
        "runs",
        help="list the runs in the store (live ones too)",
        description="List runs: id, status, start, entries, last activity, command.",
        epilog="example: durable-python runs --json | jq .status",
    )
    runs.add_argument("--store", metavar="DIR", help="store directory (default .durable)")
    runs.add_argument("--json", action="store_true", help="one JSON object per run")

    show = commands.add_parser(
        "show",
        help="show a run's journal as a timeline",
        description="Show every recorded call of RUN (an id or a unique prefix of one).",
        epilog="example: durable-python show 3f2a",
    )
    show.add_argument("run_id", metavar="RUN")
    show.add_argument("--store", metavar="DIR", help="store directory (default .durable)")
    show.add_argument("--json", action="store_true", help="one JSON object per entry")

    fold = commands.add_parser(
        "fold",
        help="move stopped runs' journals into the store's DuckDB (runs do this by themselves)",
        description="Fold the journal segments of every stopped run into store.duckdb.",
        epilog="example: durable-python fold --store .durable",
    )
    fold.add_argument("--store", metavar="DIR", help="store directory (default .durable)")

    transpile = commands.add_parser(
        "transpile",
        help="print a script as durable-python rewrites it",
        description="Print SCRIPT as rewritten for durable execution (a debugging aid).",
        epilog="example: durable-python transpile fetch_reports.py | less",
    )
    transpile.add_argument("script")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "transpile":
            return _transpile(args.script)
        if args.command == "run":
            return _run(args)
        if args.command in ("runs", "show"):
            from . import inspect_runs
            from .store import Store

            store = Store(_store_root(args.store))
            if args.command == "runs":
                return inspect_runs.list_runs(store, args.json)
            return inspect_runs.show_run(store, args.run_id, args.json)
        if args.command == "fold":
            from .store import Store

            Store(_store_root(args.store)).fold()
            return 0
    except errors.DurablePythonError as exc:
        print(f"durable-python: {exc}", file=sys.stderr)
        return exc.exit_code
    raise AssertionError(args.command)


def _read_script(script: str) -> bytes | None:
    try:
        with open(script, "rb") as f:
            return f.read()
    except OSError as exc:
        print(
            f"durable-python: can't open file {os.path.abspath(script)!r}: "
            f"[Errno {exc.errno}] {exc.strerror}",
            file=sys.stderr,
        )
        return None


def _transpile(script: str) -> int:
    from durable_python.transpiler import decode, transpile

    source = _read_script(script)
    if source is None:
        return errors.EXIT_MISSING_SCRIPT
    sys.stdout.write(transpile(decode(source)))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .session import RunOptions, run

    options = RunOptions(
        script=args.script,
        args=args.args,
        store=args.store,
        new=args.new,
        run_id=args.run_id,
        verbose=args.verbose,
        sync=args.sync,
    )
    return run(options)


def _store_root(option: str | None) -> Path:
    from . import config

    return config.load(Path.cwd(), option).store


def console_main() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # ``durable-python show RUN | head``: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
