"""Unit tests: argument renderings and diffs, and ``patched`` against journals in memory."""

from __future__ import annotations

import pytest

from durable_python import argdiff, codec, context, recording, versioning
from durable_python.config import Config
from durable_python.decider import Decider
from durable_python.fingerprint import fingerprint
from durable_python.journal import Journal
from durable_python.model import Entry, Policy, Run
from durable_python.stores.base import JournalWriter


class Client:
    def __repr__(self) -> str:
        return f"<Client at {id(self):#x}>"  # differs between processes


def test_renderings_follow_the_fingerprint_view_of_values():
    assert argdiff.parts((1, "a" * 100, Client()), {"fee": 10}) == [
        "1",
        "'" + "a" * 30 + "..." + "a" * 30 + "'",
        f"<{Client.__module__}.Client>",  # by type, as the fingerprint sees it
        "fee=10",
    ]
    assert argdiff.with_renderings("", (), {}) == ""
    column = argdiff.with_renderings(fingerprint((1,), {"fee": 10}), (1,), {"fee": 10})
    assert column.startswith(fingerprint((1,), {"fee": 10}) + "|")
    assert argdiff.same(column, fingerprint((1,), {"fee": 10}))
    assert argdiff.same("abc", "abc")  # an entry recorded before renderings existed
    assert not argdiff.same(column, fingerprint((1,), {"fee": 12}))
    assert argdiff.recorded_call("billing.charge", column) == "billing.charge(1, fee=10)"
    assert argdiff.diff(column, (1,), {"fee": 12}) == ["argument 2: recorded fee=10, now fee=12"]
    assert argdiff.diff(column, (1, 2), {"fee": 10})[0].startswith("argument 2: recorded fee=10")
    assert "only a hash" in argdiff.diff("abc", (1,), {})[0]


def test_renderings_are_bounded():
    column = argdiff.with_renderings("f", tuple(range(20)), {"big": b"x" * 10_000_000})
    assert len(column) < 500
    assert argdiff.recorded_parts(column)[-1] == "..."
    assert argdiff.render(10**5000) == "<int of 16610 bits>"
    assert argdiff.render(b"y" * 100) == "b'" + "y" * 30 + "..." + "y" * 30 + "'"
    assert argdiff.render({3, 1, 2}) == "set({1, 2, 3})"
    assert argdiff.render([[[[1]]]]) == "[[[list(...)]]]"
    assert argdiff.render((1,)) == "(1,)"


class Written(JournalWriter):
    """Keeps what the journal writes, as entries."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def append(self, records, sync=True) -> None:
        self.entries.extend(Entry._make(r) for r in records)

    def close(self) -> None:
        pass


def _journal(written: Written, entries: list[Entry]) -> Journal:
    journal = Journal("run1", entries, written)
    run = Run("run1", "job.py", "", ("job.py",), ".", 1, 2, "running")
    context.set_active(context.RunContext(journal, run, Config(), Decider()))
    return journal


def _row(seq: int, policy: str, name: str, args: tuple, value: object) -> Entry:
    fp = argdiff.with_renderings(fingerprint(args, {}), args, {})
    outcome, payload = codec.encode_result(value)
    return Entry("main", seq, 0, policy, name, "job.py:1", fp, outcome, payload, 0.0, 0.0)


@pytest.fixture
def written():
    yield Written()
    context.set_active(None)


def test_patched_in_a_new_run_records_one_marker(written):
    journal = _journal(written, [])
    assert versioning.patched("fee-v2") is True
    assert versioning.patched("fee-v2") is True  # seen in this task: no second marker
    assert versioning.patched("other") is True
    journal.close()
    recorded = written.entries
    assert [(r.seq, r.policy, r.name) for r in recorded] == [
        (0, "marker", "durable_python.patched"),
        (1, "marker", "durable_python.patched"),
    ]
    assert argdiff.recorded_parts(recorded[0].fingerprint) == ["'fee-v2'"]


def test_patched_is_false_where_an_old_run_made_another_call(written):
    journal = _journal(written, [_row(0, "effect", "billing.charge", (10,), None)])
    assert versioning.patched("fee-v2") is False
    assert journal.main.seq == 0  # nothing taken: the old code made no call here
    versioning.deprecate_patch("fee-v2")
    assert journal.main.seq == 0


def test_patched_takes_its_marker_on_replay(written):
    marker = _row(0, "marker", "durable_python.patched", ("fee-v2",), True)
    journal = _journal(written, [marker, _row(1, "effect", "billing.charge", (12,), None)])
    assert versioning.patched("other") is False  # another change's marker is not this one
    assert versioning.patched("fee-v2") is True
    assert journal.main.seq == 1
    assert versioning.patched("fee-v2") is True  # seen: true without taking anything
    assert journal.main.seq == 1


def test_patched_at_the_frontier_of_a_replayed_run(written):
    journal = _journal(written, [_row(0, "effect", "billing.charge", (10,), None)])
    assert versioning.patched("fee-v2") is False  # replaying: the old path
    charge = recording.call(Policy.EFFECT, "billing.charge")
    recording.perform(charge, _frame(), (10,), {}, lambda: None)
    assert versioning.patched("fee-v2") is True  # past the journal: the new path, recorded
    journal.close()
    assert [r.policy for r in written.entries] == ["marker"]


def test_change_ids_are_strings():
    with pytest.raises(TypeError):
        versioning.patched("")


def _frame():
    import sys

    return sys._getframe(1)
