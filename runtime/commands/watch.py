"""``durable-python watch script.py``: on every save, does each run of the script still replay?"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from durable_python import child
from durable_python.model import FINAL

from . import add_store_option

if TYPE_CHECKING:
    from durable_python.model import Run
    from durable_python.stores.base import Store

PARSER = {
    "help": "on every save of a script, replay its runs against the new code",
    "description": (
        "Watch SCRIPT and the Python files beside it. On every save: rewrite the script and"
        " report a syntax error at once; then replay every unfinished run of the script and the"
        " last few finished ones against the new code (as `durable-python replay` does, nothing"
        " is executed) and print one verdict per run. With --run, then run the script too."
    ),
    "epilog": "example: durable-python watch --last 5 nightly_export.py",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)
    parser.add_argument(
        "--last",
        type=int,
        default=3,
        metavar="N",
        help="also replay the N newest finished runs (default 3)",
    )
    parser.add_argument(
        "--run", action="store_true", help="after the verdicts, run the script (durable-python run)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on a replay after this long (default 60)",
    )
    parser.add_argument(
        "--once", action="store_true", help="check once and exit (status 65 if a run diverges)"
    )
    parser.add_argument("script", help="the script to watch; its arguments for --run after --")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def execute(args: argparse.Namespace) -> int:
    from durable_python.stores import configured_store

    path = os.path.abspath(args.script)
    if not os.path.isfile(path):
        print(f"durable-python: can't open file {path!r}: no such file", file=sys.stderr)
        return 2
    store = configured_store(args.store, Path(path).parent)
    shown = os.path.relpath(path)
    if args.once:
        return 65 if _check(store, path, shown, args, "checking") else 0
    import watchfiles

    changes = watchfiles.watch(
        os.path.dirname(path),
        watch_filter=_SourceFilter(store.location),
        rust_timeout=500,
        yield_on_timeout=True,
        raise_interrupt=False,
        debounce=400,
    )
    next(changes)  # the watcher is in place: a save from now on is seen
    _check(store, path, shown, args, "watching")
    say(f"watching {shown} for changes (Ctrl-C to stop)")
    for batch in changes:
        if not batch:
            continue
        changed = sorted({p for _, p in batch})
        if not os.path.exists(path):
            continue  # an editor replacing the file: the next event brings it back
        names = ", ".join(os.path.relpath(p) for p in changed)
        _check(store, path, shown, args, f"changed: {names}", changed)
    return 0


class _SourceFilter:
    """Python files, outside the store and the usual tool directories."""

    def __init__(self, store_location: str) -> None:
        import watchfiles

        self._python = watchfiles.PythonFilter()
        self._store = os.path.join(store_location, "")

    def __call__(self, change: object, path: str) -> bool:
        return not path.startswith(self._store) and self._python(change, path)


def _check(
    store: Store,
    path: str,
    shown: str,
    args: argparse.Namespace,
    reason: str,
    changed: list[str] | None = None,
) -> bool:
    """One round: syntax, then one verdict per run. True if a run diverges."""
    say(f"[{time.strftime('%H:%M:%S')}] {reason}")
    if not _compiles(path, shown, changed or []):
        return False
    runs = _runs_of(store, path, args.last)
    if not runs:
        say(f"  no runs of {shown} in {store.location} yet")
    verdicts = _replay_all(store, path, runs, args.timeout)
    diverged = 0
    for run, verdict in zip(runs, verdicts, strict=True):
        state = "unfinished" if run.status not in FINAL else run.status
        say(f"  run {run.run_id} ({state}): {verdict['summary']}")
        if verdict["status"] != "clean":
            diverged += verdict["status"] == "diverged"
            divergence = verdict.get("divergence")
            if divergence:  # the fields of a model.Divergence
                say(
                    f"    recorded at {divergence['task']}/{divergence['seq']}: {divergence['recorded']}"
                )
                say(f"    attempted now: {divergence['attempted']}")
                for line in divergence["argument_diff"]:
                    say(f"    {line}")
    if runs:
        clean = sum(v["status"] == "clean" for v in verdicts)
        say(f"  {len(runs)} run(s): {clean} replay cleanly, {len(runs) - clean} do not")
    if args.run:
        # the script as typed: the same command as the user's own, so it resumes their run
        command = child.command("run", args.script, *args.args)
        say(f"  running {shown} {' '.join(args.args)}".rstrip())
        done = subprocess.run(
            command, env=child.environment(store.address), stdin=subprocess.DEVNULL
        )
        say(f"  {shown} exited with {done.returncode}")
    return diverged > 0


def _compiles(path: str, shown: str, changed: list[str]) -> bool:
    """Rewrite the script (reporting a syntax error the way Python shows it); check the other
    changed Python files for syntax errors too."""
    from durable_python import runner

    try:
        runner.script_code(path)
        for other in changed:
            if other != path and other.endswith(".py") and os.path.isfile(other):
                with open(other, "rb") as f:
                    compile(f.read(), other, "exec", dont_inherit=True)
    except SyntaxError as exc:
        say(f"  syntax error in {os.path.relpath(exc.filename or path)}; runs not replayed:")
        for line in traceback.format_exception_only(exc):
            for part in line.rstrip("\n").splitlines():
                say(f"    {part}")
        return False
    except OSError as exc:
        say(f"  cannot read {shown}: {exc.strerror}")
        return False
    return True


def _runs_of(store: Store, path: str, last: int) -> list[Run]:
    runs = [r for r in store.runs() if r.script == path]
    unfinished = [r for r in runs if r.status not in FINAL]
    finished = sorted((r for r in runs if r.status in FINAL), key=lambda r: r.created_at)
    return unfinished + finished[-last:] if last > 0 else unfinished


def _replay_all(store: Store, path: str, runs: list[Run], timeout: float) -> list[dict]:
    def replay(run: Run) -> dict:
        env = child.environment(store.address, PYTHONHASHSEED=str(run.hash_seed))  # no re-exec
        command = child.command(
            "replay",
            run.run_id,
            "--script",
            path,
            "--json",
            "--timeout",
            str(timeout),
        )
        try:
            done = subprocess.run(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout + 30,
            )
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "summary": f"no verdict after {timeout + 30:.0f} s"}
        for line in reversed(done.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        error = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"status": "error", "summary": f"replay failed: {error}"}

    if not runs:
        return []
    workers = max(1, min(4, os.cpu_count() or 1, len(runs)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(replay, runs))
