"""``durable-python serve``: a worker plus an HTTP API, webhooks, schedules and file triggers."""

from __future__ import annotations

import argparse
import textwrap

from . import add_store_option, add_worker_options

PARSER = {
    "help": "serve an HTTP API, webhooks, schedules and file triggers, with a worker",
    "description": textwrap.fill(
        (
            "Run a worker (see `durable-python worker`) and an HTTP server: POST /runs starts a"
            " run of a script under --scripts (the same run_id twice starts one run), GET"
            " /runs/ID and /runs/ID/journal follow it, POST /runs/ID/events/NAME and"
            " /runs/ID/cancel steer it; /openapi.json describes the API. Webhooks, cron"
            " schedules and file watches from [tool.durable-python.webhooks], .schedules and"
            " .watch start runs with deterministic ids, so nothing starts twice, even with two"
            " servers on one store or after a restart. Ctrl-C or SIGTERM stops it; the runs it"
            " started go on in their own processes, or are resumed later."
        ),
        90,
    ),
    "epilog": (
        "example: durable-python serve --port 8080 --scripts jobs\n"
        '         curl localhost:8080/runs --json \'{"script": "report.py"}\''
    ),
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--token",
        help="every request needs Authorization: Bearer TOKEN (default: DURABLE_PYTHON_TOKEN,"
        " which ps does not show, or token in [tool.durable-python]); required off loopback",
    )
    parser.add_argument(
        "--scripts",
        default=".",
        metavar="DIR",
        help="run only scripts under DIR (default: the working directory)",
    )
    add_worker_options(parser)
    parser.add_argument(
        "--suspend-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a run's sleep or wait longer than this ends its process until it is due; the"
        " worker resumes it then (default 30)",
    )


def execute(args: argparse.Namespace) -> int:
    from durable_python import config
    from durable_python.errors import UsageError
    from durable_python.stores import open_store

    try:
        from durable_python.serve import server
        from durable_python.serve.starting import Scripts
    except ImportError as exc:
        raise UsageError(
            f"durable-python serve needs {exc.name}: pip install 'durable-python[serve]'"
        ) from None
    scripts = Scripts.at(args.scripts)
    settings = config.load(scripts.root, args.store)
    options = server.Options(
        host=args.host,
        port=args.port,
        token=args.token or settings.token,
        concurrency=max(1, args.concurrency),
        poll=max(0.05, args.poll),
        suspend_after=max(0.0, args.suspend_after),
    )
    return server.serve(settings, open_store(settings.store), scripts, options)
