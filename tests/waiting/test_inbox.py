"""The inbox and the run's waiting state, in process (no subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_python import events
from durable_python.errors import UsageError
from durable_python.store import Run, Store


def make_run(store: Store, run_id: str = "r1", status: str = "suspended") -> Run:
    run = Run(run_id, "/s.py", "", ["s.py"], "/", 1, 2, status)
    store.write_meta(run)
    return run


def test_events_are_kept_in_order_and_an_id_is_delivered_once(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure()
    make_run(store)
    assert events.deliver(store, "r1", "item", {"n": 1}, "a") == ("a", True)
    assert events.deliver(store, "r1", "item", {"n": 99}, "a") == ("a", False)
    second, new = events.deliver(store, "r1", "item", [2])
    assert new and second != "a"
    assert events.deliver(store, "r1", "other", "x", "id with / and spaces")[1]
    inbox = events.read_inbox(store, "r1")
    assert [(e["id"], e["name"], e["payload"]) for e in inbox] == [
        ("a", "item", {"n": 1}),
        (second, "item", [2]),
        ("id with / and spaces", "other", "x"),
    ]
    assert (tmp_path / "wake" / "r1").exists()  # the worker is told
    with pytest.raises(UsageError, match="not JSON"):
        events.deliver(store, "r1", "item", object())


def test_a_suspended_run_is_due_when_its_event_arrives(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure()
    run = make_run(store)
    run.waiting_for, run.consumed = "approval", ["old"]
    assert not events.has_event_for(store, run)
    events.deliver(store, "r1", "approval", True, "old")  # already received before suspending
    events.deliver(store, "r1", "other", True)
    assert not events.has_event_for(store, run)
    events.deliver(store, "r1", "approval", False, "new")
    assert events.has_event_for(store, run)


def test_send_refuses_unknown_and_finished_runs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.ensure()
    make_run(store, "done1", status="completed")
    with pytest.raises(UsageError, match="unknown run id"):
        events.send_event(store, "nope", "x", None, None)
    with pytest.raises(UsageError, match="already completed"):
        events.send_event(store, "done1", "x", None, None)


def test_suspension_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run("r", "/s.py", "", ["s.py"], "/", 1, 2, "suspended", wake_at=5.0, waiting_for="x")
    monkeypatch.delenv("DURABLE_PYTHON_SUSPEND_AFTER", raising=False)
    events.prepare(run, True, None)
    assert (run.suspend_after, run.wake_at, run.waiting_for) == (60.0, None, None)
    events.prepare(run, None, None)  # a resume keeps what the run was started with
    assert run.suspend_after == 60.0
    events.prepare(run, None, 5)  # --suspend-after alone implies --suspend
    assert run.suspend_after == 5
    events.prepare(run, False, None)
    assert run.suspend_after is None
