"""The ``durable-python`` command line: parse, dispatch, and turn our own errors into exit codes."""

from __future__ import annotations

import argparse
import os
import sys

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
    run.add_argument("script", help="the Python script to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")

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
            return _run(args.script, args.args)
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


def _run(script: str, script_args: list[str]) -> int:
    from . import runner

    if _read_script(script) is None:
        return errors.EXIT_MISSING_SCRIPT
    path = os.path.abspath(script)
    try:
        code = runner.script_code(path)
    except SyntaxError as exc:
        import traceback

        traceback.print_exception(exc, limit=0)
        return 1
    main_module = runner.prepare_main(path, [script, *script_args])
    try:
        exec(code, main_module.__dict__)
    except SystemExit as exc:
        return runner.exit_code_of(exc)
    except BaseException as exc:  # noqa: BLE001 - reported exactly as Python reports it
        return runner.report_uncaught(exc)
    return 0


def console_main() -> None:
    sys.exit(main())
