"""``durable-python check script.py``: a property test of a script's replay determinism."""

from __future__ import annotations

import argparse
import shlex
import sys

PARSER = {
    "help": "crash a script at many journal positions, resume it, compare with an uninterrupted run",
    "description": (
        "A property test of SCRIPT, powered by hypothesis. Each example runs the script under"
        " `durable-python run` in a scratch store and a fresh working directory, kills it"
        " (SIGKILL) at one to --max-crashes journal positions chosen by hypothesis, resumes it"
        " after each kill, and checks that no resume diverges and that stdout, stderr, the exit"
        " code and the recorded calls equal those of an uninterrupted run (whatever two"
        " uninterrupted runs agree on). A failing crash schedule is shrunk to the smallest one"
        " and printed with what went wrong.\n\n"
        "The script really runs, many times: point its effects at test services. Exit codes:"
        " 0 passed, 1 a crash schedule breaks the script, 64 the script cannot be checked."
    ),
    "epilog": "example: durable-python check nightly_export.py --examples 30 -- --day 2026-01-31",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--examples", type=int, default=20, metavar="N", help="crash schedules to try (default 20)"
    )
    parser.add_argument(
        "--max-crashes",
        type=int,
        default=3,
        metavar="K",
        help="crashes per schedule, at most (default 3)",
    )
    parser.add_argument("--seed", type=int, help="hypothesis seed, to repeat a check exactly")
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        help="each execution works in a fresh copy of DIR (default: a fresh empty directory)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="give up on one execution after this long (default 120)",
    )
    parser.add_argument(
        "--shrink-budget",
        type=int,
        default=30,
        metavar="N",
        help="executions to spend shrinking a failing schedule (default 30)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="say each schedule tried")
    parser.add_argument("script", help="the script to check; its arguments after --")


def execute(args: argparse.Namespace) -> int:
    import os

    from durable_python.errors import EXIT_USAGE
    from durable_python.testing import check_script

    if not os.path.isfile(args.script):
        print(f"durable-python: can't open file {os.path.abspath(args.script)!r}", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        if args.verbose:
            print(f"durable-python check: {text}", file=sys.stderr, flush=True)

    result = check_script(
        args.script,
        args.args,
        examples=args.examples,
        max_crashes=args.max_crashes,
        seed=args.seed,
        workdir=args.workdir,
        timeout=args.timeout,
        shrink_budget=args.shrink_budget,
        progress=progress,
    )
    sys.stdout.write(result.report())
    dashes = ["--"] if args.args else []
    if not result.passed and result.failure is not None:
        sys.stdout.write(
            f"  repeat it with: durable-python check --seed {result.seed}"
            f" --examples {args.examples} {shlex.join([args.script, *dashes, *args.args])}\n"
        )
    if result.error:
        return EXIT_USAGE
    return 0 if result.passed else 1
