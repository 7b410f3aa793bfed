"""``durable-python transpile``: print a script as rewritten (a debugging aid)."""

from __future__ import annotations

import argparse
import os
import sys

from durable_python.errors import EXIT_MISSING_SCRIPT

PARSER = {
    "help": "print a script as durable-python rewrites it",
    "description": "Print SCRIPT as rewritten for durable execution (a debugging aid).",
    "epilog": "example: durable-python transpile fetch_reports.py | less",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("script")


def execute(args: argparse.Namespace) -> int:
    from durable_python.transpiler import decode, transpile

    try:
        with open(args.script, "rb") as f:
            source = f.read()
    except OSError as exc:
        print(
            f"durable-python: can't open file {os.path.abspath(args.script)!r}: "
            f"[Errno {exc.errno}] {exc.strerror}",
            file=sys.stderr,
        )
        return EXIT_MISSING_SCRIPT
    sys.stdout.write(transpile(decode(source)))
    return 0
