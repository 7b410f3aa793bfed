"""The inbox and the run's waiting state, in process (no subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_python import waiting, worker
from durable_python.errors import UsageError
from durable_python.model import Run
from durable_python.stores import open_store
from durable_python.stores.base import Store


def make_store(tmp_path: Path) -> Store:
    store = open_store(tmp_path)
    store.ensure()
    return store


def make_run(store: Store, run_id: str = "r1", status: str = "suspended", **fields) -> Run:
    run = Run(run_id, "/s.py", "", ["s.py"], "/", 1, 2, status, **fields)
    store.create(run).release()
    return run


def test_events_are_kept_in_order_and_an_id_is_delivered_once(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    make_run(store)
    assert waiting.send_event(store, "r1", "item", {"n": 1}, "a")[:2] == ("a", True)
    assert waiting.send_event(store, "r1", "item", {"n": 99}, "a")[:2] == ("a", False)
    second, new, _ = waiting.send_event(store, "r1", "item", [2], None)
    assert new and second != "a"
    assert waiting.send_event(store, "r1", "other", "x", "id with / and spaces")[1]
    assert [(e.event_id, e.name, e.payload) for e in store.events("r1")] == [
        ("a", "item", {"n": 1}),
        (second, "item", [2]),
        ("id with / and spaces", "other", "x"),
    ]
    assert (tmp_path / "wake" / "r1").exists()  # the worker is told
    with pytest.raises(UsageError, match="not JSON"):
        waiting.send_event(store, "r1", "item", object(), None)
    with pytest.raises(UsageError, match="needs a name"):
        waiting.send_event(store, "r1", "", None, None)


def test_a_suspended_run_is_due_when_its_event_arrives(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    run = make_run(store, waiting_for="approval", consumed=["old"])
    assert not worker.has_awaited_event(store, run)
    store.send_event("r1", "approval", True, "old")  # already received before suspending
    store.send_event("r1", "other", True)
    assert not worker.has_awaited_event(store, run)
    store.send_event("r1", "approval", False, "new")
    assert worker.has_awaited_event(store, run)


def test_send_refuses_unknown_and_finished_runs(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    make_run(store, "done1", status="completed")
    with pytest.raises(UsageError, match="unknown run id"):
        waiting.send_event(store, "nope", "x", None, None)
    with pytest.raises(UsageError, match="already completed"):
        waiting.send_event(store, "done1", "x", None, None)


def test_suspension_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run("r", "/s.py", "", ["s.py"], "/", 1, 2, "suspended", wake_at=5.0, waiting_for="x")
    monkeypatch.delenv("DURABLE_PYTHON_SUSPEND_AFTER", raising=False)
    run = waiting.prepare(run, True, None)
    assert (run.suspend_after, run.wake_at, run.waiting_for) == (60.0, None, None)
    run = waiting.prepare(run, None, None)  # a resume keeps what the run was started with
    assert run.suspend_after == 60.0
    run = waiting.prepare(run, None, 5)  # --suspend-after alone implies --suspend
    assert run.suspend_after == 5
    run = waiting.prepare(run, False, None)
    assert run.suspend_after is None
