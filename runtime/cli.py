"""The ``durable-python`` command line: parse, dispatch, and turn our own errors into exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import errors
from .commands import COMMANDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-python",
        description="Run plain Python scripts durably: kill them, run them again, they resume.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"durable_python.commands.{name}")
        sub = subparsers.add_parser(
            name, formatter_class=argparse.RawDescriptionHelpFormatter, **module.PARSER
        )
        module.configure(sub)
        sub.set_defaults(execute=module.execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.execute(args)
    except errors.DurablePythonError as exc:
        print(f"durable-python: {exc}", file=sys.stderr)
        return exc.exit_code


def console_main() -> None:
    if sys.argv[1:2] == ["run"] and "--help" not in sys.argv and "-h" not in sys.argv:
        from .hashseed import ensure_seeded

        ensure_seeded()  # re-exec before importing anything else: a new run starts faster
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # ``durable-python show RUN | head``: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
