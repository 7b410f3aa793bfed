"""Group commit of awaited entries (loop_commits.py): tasks of one loop share writes, each goes on
only once its entry is durable, and a cancel that arrives while a task waits for the disk lands
at the task's next ``await``, where it would have landed under python."""

import asyncio
import threading

import pytest

from durable_python.errors import StoreError
from durable_python.journal import Journal
from durable_python.model import Policy
from durable_python.recording import Call

AWAITED = Call(Policy.AWAITED.value, "m.f", True)


class HeldWriter:
    """A journal writer whose first write blocks until ``release`` is set (a slow disk)."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def append(self, records, sync=True) -> None:
        if not self.batches and not self.release.is_set():
            self.holding.set()
            self.release.wait(10)
        if self.fail:
            raise StoreError("cannot write the journal: the disk is full")
        self.batches.append([record[1] for record in records])

    def written(self) -> list[int]:
        return [seq for batch in self.batches for seq in batch]

    def close(self) -> None:
        pass


@pytest.fixture
def journal(monkeypatch):
    """A journal on a held writer, handing every awaited entry to the committer thread."""
    monkeypatch.setenv("DURABLE_PYTHON_TEST_HAND_OVER", "1")
    made = Journal("r1", [], HeldWriter())
    yield made
    made.close()


def record(journal: Journal, seq: int):
    return journal.record_awaited(journal.main, seq, AWAITED, "s.py:1", "", "ok", b"", 0.0)


async def until(condition) -> None:
    """Let the loop run (and the committer thread work) until ``condition()`` holds."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def test_tasks_share_writes_and_each_goes_on_once_its_entry_is_durable(journal):
    writer = journal._writer
    went_on: dict[int, list[int]] = {}

    async def one(seq):
        await record(journal, seq)
        went_on[seq] = writer.written()

    async def release_once_all_queued():
        await until(lambda: journal._enqueued == 8 and writer.holding.is_set())
        writer.release.set()

    async def main():
        await asyncio.gather(release_once_all_queued(), *(one(seq) for seq in range(8)))

    asyncio.run(main())
    assert sorted(writer.written()) == list(range(8))
    assert len(writer.batches) <= 2, writer.batches  # the first write, then all the others
    assert all(seq in written for seq, written in went_on.items()), went_on


def test_a_cancel_during_the_wait_lands_at_the_next_await_and_the_result_is_kept(journal):
    writer = journal._writer
    steps = []

    async def script():
        await record(journal, 0)
        steps.append(("returned", writer.written()))
        await asyncio.sleep(10)
        steps.append("not reached")

    async def main():
        task = asyncio.create_task(script())
        await until(writer.holding.is_set)
        task.cancel("stop")
        await asyncio.sleep(0.01)
        assert not steps  # still waiting for the disk, cancel or not
        writer.release.set()
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task
        return cancelled.value

    cancelled = asyncio.run(main())
    assert steps == [("returned", [0])]
    assert cancelled.args == ("stop",)


def test_an_asyncio_timeout_that_expires_during_the_wait_still_raises_timeout_error(journal):
    writer = journal._writer
    steps = []

    async def script(scopes):
        try:
            async with asyncio.timeout(None) as scope:
                scopes.append(scope)
                await record(journal, 0)
                steps.append("returned")
                await asyncio.sleep(10)
        except TimeoutError:
            steps.append("timeout")
        await asyncio.sleep(0)  # no cancel left over outside the block
        steps.append("after")

    assert asyncio.run(expire_while_held(writer, script)) == 0
    assert steps == ["returned", "timeout", "after"]


def test_a_timeout_block_that_ends_before_the_next_await_withdraws_the_cancel(journal):
    """Under python the call returned and the block ended before the timer fired: no timeout."""
    writer = journal._writer
    steps = []

    async def script(scopes):
        async with asyncio.timeout(None) as scope:
            scopes.append(scope)
            await record(journal, 0)
        steps.append("block ended")
        await asyncio.sleep(0.01)
        steps.append("after")

    assert asyncio.run(expire_while_held(writer, script)) == 0
    assert steps == ["block ended", "after"]


async def expire_while_held(writer: HeldWriter, script) -> int:
    """Run ``script(scopes)``, which enters an ``asyncio.timeout`` block (added to ``scopes``)
    and records; make the block's timer fire while the entry waits for the disk, then let the
    write through. The task's cancel requests left at its end."""
    scopes = []
    task = asyncio.create_task(script(scopes))
    await until(writer.holding.is_set)
    scopes[0].reschedule(asyncio.get_running_loop().time())
    await until(scopes[0].expired)
    writer.release.set()
    await task
    return task.cancelling()


def test_a_failed_commit_is_raised_in_every_waiting_task(monkeypatch):
    monkeypatch.setenv("DURABLE_PYTHON_TEST_HAND_OVER", "1")
    writer = HeldWriter(fail=True)
    journal = Journal("r1", [], writer)

    async def main():
        tasks = [asyncio.create_task(record(journal, seq)) for seq in range(3)]
        await until(writer.holding.is_set)
        writer.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert "disk is full" in str(outcomes[0])
    journal._loop_committer.stop()


def test_a_coroutine_driven_without_an_asyncio_task_commits_in_place(journal):
    journal._writer.release.set()
    coroutine = record(journal, 0)
    with pytest.raises(StopIteration):
        coroutine.send(None)  # done in one step: nothing to wait on
    assert journal._writer.written() == [0]
    assert journal._loop_committer is None
