"""``durable-python runs`` and ``durable-python show RUN``: read-only views, live runs included."""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
from typing import Any

from .model import Entry, Outcome, Policy, Run, RunStatus
from .stores.base import Store


def _status(store: Store, run: Run) -> str:
    if run.status in (RunStatus.RUNNING, RunStatus.NEW) and not store.is_live(run.run_id):
        return "crashed"
    return run.status.value


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _script(run: Run) -> str:
    try:
        relative = os.path.relpath(run.script)
    except ValueError:
        relative = run.script
    shown = relative if len(relative) < len(run.script) else run.script
    return " ".join([shown, *run.argv[1:]])


def list_runs(store: Store, as_json: bool) -> int:
    runs = store.runs()
    counts = store.entry_counts() if runs else {}
    rows = []
    for run in runs:
        rows.append(
            {
                "run_id": run.run_id,
                "script": run.script,
                "argv": list(run.argv),
                "status": _status(store, run),
                "exit_code": run.exit_code,
                "started": run.created_at,
                "entries": counts.get(run.run_id, 0),
                "last_activity": store.last_activity(run),
                "pid": run.pid,
                "wake_at": run.wake_at,  # a suspended run's timer (waiting.py)
                "waiting_for": run.waiting_for,
            }
        )
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print(f"no runs in {store.location}", file=sys.stderr)
        return 0
    header = ("RUN", "STATUS", "STARTED", "ENTRIES", "LAST ACTIVITY", "SCRIPT")
    table = [header] + [
        (
            r["run_id"],
            r["status"]
            + (f" ({r['exit_code']})" if r["exit_code"] not in (None, 0, 75) else "")
            + (
                f" until {_when(r['wake_at'])}"
                if r["status"] == RunStatus.SUSPENDED and r["wake_at"]
                else ""
            ),
            _when(r["started"]),
            str(r["entries"]),
            _when(r["last_activity"]),
            _script(run),
        )
        for r, run in zip(rows, runs, strict=True)
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
            + "  "
            + row[-1]
        )
    return 0


def _summary(entry: Entry) -> str:
    if entry.policy == Policy.OUTPUT:
        return repr(entry.payload.decode("utf-8", "replace"))
    try:
        value: Any = pickle.loads(entry.payload) if entry.payload else None
    except Exception:  # noqa: BLE001 - a class that is gone: show the size instead
        return f"<{len(entry.payload or b'')} bytes>"
    if entry.outcome == Outcome.ERROR:
        return f"raised {type(value).__name__}: {value}"
    if entry.outcome == Outcome.REBUILT:
        return f"raised {value['qualname']}: {value['message']}"
    if entry.outcome == Outcome.UNSAVED:
        return f"unsaved {value[0]} ({value[1]})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def show_run(store: Store, run_id: str, as_json: bool) -> int:
    run = store.require(run_id)
    entries = store.entries(run, attempts=True)
    if as_json:
        for entry in entries:
            print(
                json.dumps(
                    {
                        "task": entry.task,
                        "seq": entry.seq,
                        "attempt": entry.attempt,
                        "policy": entry.policy,
                        "name": entry.name,
                        "site": entry.site,
                        "outcome": entry.outcome,
                        "started": entry.started,
                        "ended": entry.ended,
                        "summary": _summary(entry),
                    }
                )
            )
        return 0
    print(f"run {run.run_id}  {_status(store, run)}  {_script(run)}")
    print(f"started {_when(run.created_at)}  cwd {run.cwd}  {len(entries)} entries")
    for entry in entries:
        offset = entry.started - run.created_at
        attempt = f" (attempt {entry.attempt + 1})" if entry.attempt else ""
        site = os.path.basename(entry.site.rpartition(":")[0]) + ":" + entry.site.rpartition(":")[2]
        print(
            f"{entry.task}/{entry.seq:<5} +{offset:9.3f}s  {entry.policy:<6}  {entry.name}"
            f"{attempt}  {site}  -> {_summary(entry)}"
        )
    return 0
