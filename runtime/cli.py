"""The durable-python command line: parse, dispatch, and turn our own errors into exit codes.

A start imports little: ``durable-python run`` re-executes itself (``hashseed``) before anything
else is imported, and a command's parser is built from its own module only, so a start does not
import the modules of the sixteen other commands (``--help`` and a mistyped command build all).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not ``typing``'s: a run's first interpreter imports only what it needs
if TYPE_CHECKING:
    import argparse


def _parser(command: str | None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it is one, else of every command."""
    import argparse
    import importlib

    from .commands import COMMANDS, SCRIPT_ARGUMENTS_AFTER_DASHES

    parser = argparse.ArgumentParser(
        prog="durable-python",
        description="Run plain Python scripts durably: kill them, run them again, they resume.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [command] if command in COMMANDS else COMMANDS:
        module = importlib.import_module(f"durable_python.commands.{name}")
        sub = subparsers.add_parser(
            name, formatter_class=argparse.RawDescriptionHelpFormatter, **module.PARSER
        )
        module.configure(sub)
        sub.set_defaults(execute=module.execute)
        if name in SCRIPT_ARGUMENTS_AFTER_DASHES:
            sub.set_defaults(args=[])
    return parser


def main(argv: list[str] | None = None) -> int:
    from . import errors
    from .commands import SCRIPT_ARGUMENTS_AFTER_DASHES, split_script_arguments

    own, script_arguments = split_script_arguments(sys.argv[1:] if argv is None else argv)
    parser = _parser(own[0] if own else None)
    args, unknown = parser.parse_known_args(own)
    if unknown:
        hint = ""
        if own[0] in SCRIPT_ARGUMENTS_AFTER_DASHES:
            hint = f"; the script's arguments go after --: durable-python {own[0]} SCRIPT -- ARGS"
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if script_arguments:
        args.args = script_arguments
    try:
        return args.execute(args)
    except errors.DurablePythonError as exc:
        print(f"durable-python: {exc}", file=sys.stderr)
        return exc.exit_code


def console_main() -> None:
    if sys.argv[1:2] == ["run"] and "--help" not in sys.argv and "-h" not in sys.argv:
        from .hashseed import ensure_seeded

        ensure_seeded(sys.argv[2:])  # re-exec before importing anything else
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # ``durable-python show RUN | head``: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
