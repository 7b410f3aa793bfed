"""``durable-python runs`` and ``durable-python show RUN``: read-only views, live runs included."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
import time
from typing import Any, NamedTuple

from . import argdiff
from .model import Entry, Outcome, Policy, Run, RunStatus
from .stores.base import Store


def status_of(store: Store, run: Run) -> str:
    """The status a person sees: an enqueued run is `queued`, one whose process died `crashed`."""
    if run.in_queue:
        return "queued"
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


def run_record(store: Store, run: Run, entries: int) -> dict[str, Any]:
    """A run as ``runs --json`` and the server show it."""
    return {
        "run_id": run.run_id,
        "script": run.script,
        "argv": list(run.argv),
        "status": status_of(store, run),
        "exit_code": run.exit_code,
        "error": run.error,
        "started": run.created_at,
        "updated": run.updated_at,
        "entries": entries,
        "last_activity": store.last_activity(run),
        "pid": run.pid,
        "wake_at": run.wake_at,  # a suspended run's timer (waiting.py)
        "waiting_for": run.waiting_for,
        "queue": run.queue,
        "note": run.note,  # why workers left it (an enqueued run)
        "trigger": run.trigger,  # what started it, under serve
    }


def list_runs(store: Store, as_json: bool) -> int:
    runs = store.runs()
    counts = store.entry_counts() if runs else {}
    rows = [run_record(store, run, counts.get(run.run_id, 0)) for run in runs]
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
            _script(run) + (f"  [{r['note']}]" if r["note"] else ""),
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


class _Missing(Exception):  # noqa: N818 - stands in for a class this process cannot import
    """An object of a class that is not importable here (defined in the script, say)."""

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__}>"


class _Reader(pickle.Unpickler):
    """Unpickles a recorded value outside its script: a class that cannot be imported here
    becomes a stand-in of the same name, so a failed call still reads ``raised Type: message``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Missing,), {"__module__": module, "__qualname__": name})


class _Unreadable(NamedTuple):
    """A payload this process cannot read at all (damaged, or of a newer pickle protocol)."""

    size: int


def _value(entry: Entry) -> Any:
    """The recorded value, read as well as this process can (``None`` if it cannot)."""
    if entry.policy == Policy.OUTPUT:
        return entry.payload.decode("utf-8", "replace")
    if not entry.payload:
        return None
    try:
        return _Reader(io.BytesIO(entry.payload)).load()
    except Exception:  # noqa: BLE001 - damaged or of an unknown protocol: shown by its size
        return _Unreadable(len(entry.payload))


def _error_text(entry: Entry, value: Any) -> str | None:
    """``Type: message`` of a failed call, or ``None`` for a call that returned."""
    if entry.outcome == Outcome.ERROR and isinstance(value, BaseException):
        return f"{type(value).__qualname__}: {value}"
    if entry.outcome == Outcome.REBUILT and isinstance(value, dict):
        return f"{value['qualname']}: {value['message']}"
    return None


def _summary(entry: Entry, value: Any, cut: bool) -> str:
    """One line for an entry's outcome; ``cut`` keeps it short (the text view)."""
    error = _error_text(entry, value)
    if error is not None:
        text = f"raised {error}"
    elif isinstance(value, _Unreadable):
        text = f"<{value.size} bytes>"
    elif entry.outcome == Outcome.UNSAVED:
        text = f"unsaved {value[0]} ({value[1]})"
    elif entry.outcome == Outcome.CONSTRUCTED:
        text = f"constructed again on replay: a {value[0]} ({value[1]})"
    elif entry.policy == Policy.TIMER and isinstance(value, float):
        text = f"{value - entry.started:.3f} s, due {_when(value)}"
    else:
        text = repr(value)
    return text[:77] + "..." if cut and len(text) > 80 else text


_NOT_VALUES = frozenset({Outcome.UNSAVED, Outcome.CONSTRUCTED})  # their payload is a description


def _json_value(entry: Entry, value: Any) -> Any:
    """The recorded value as JSON where it is JSON (``None`` otherwise; the summary says it)."""
    if _error_text(entry, value) is not None or entry.outcome in _NOT_VALUES:
        return None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


# What ``show --calls`` keeps: what the script did to the world and what it waited for.
_CALLS = frozenset({Policy.EFFECT, Policy.AWAITED, Policy.TIMER, Policy.EVENT, Policy.CANCEL})


def entry_record(entry: Entry) -> dict[str, Any]:
    """A journal entry as ``show --json`` and the server show it."""
    value = _value(entry)
    return {
        "task": entry.task,
        "seq": entry.seq,
        "attempt": entry.attempt,
        "policy": entry.policy,
        "name": entry.name,
        "arguments": argdiff.recorded_parts(entry.fingerprint),  # short renderings, or None
        "site": entry.site,
        "outcome": entry.outcome,
        "started": entry.started,
        "ended": entry.ended,
        "error": _error_text(entry, value),
        "value": _json_value(entry, value),
        "summary": _summary(entry, value, cut=False),
    }


def journal_view(store: Store, run: Run, calls_only: bool = False) -> list[Entry]:
    """The entries ``show`` lists: every attempt; with ``calls_only``, what the script did to
    the world and waited for, and every call that failed."""
    entries = store.entries(run, attempts=True)
    if calls_only:
        entries = [e for e in entries if e.policy in _CALLS or e.outcome != Outcome.OK]
    return entries


def show_run(store: Store, run_id: str, as_json: bool, calls_only: bool = False) -> int:
    run = store.require(run_id)
    entries = journal_view(store, run, calls_only)
    if as_json:
        for entry in entries:
            print(json.dumps(entry_record(entry)))
        return 0
    print(f"run {run.run_id}  {status_of(store, run)}  {_script(run)}")
    print(f"started {_when(run.created_at)}  cwd {run.cwd}  {len(entries)} entries")
    for entry in entries:
        offset = entry.started - run.created_at
        attempt = f" (attempt {entry.attempt + 1})" if entry.attempt else ""
        site = os.path.basename(entry.site.rpartition(":")[0]) + ":" + entry.site.rpartition(":")[2]
        print(
            f"{entry.task}/{entry.seq:<5} +{offset:9.3f}s  {entry.policy:<6}  {entry.name}"
            f"{attempt}  {site}  -> {_summary(entry, _value(entry), cut=True)}"
        )
    return 0
