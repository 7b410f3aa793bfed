"""Kill-and-resume for what the other kill tests leave out: temporary files, raw descriptors,
process pools, asyncio timeouts, a work queue served by threads, a SQLite commit at the kill.

Each script runs once under plain ``python`` (the reference: its stdout and the files it leaves)
and once under ``durable-python``, killed by the test hook at chosen journal positions and run
again until it ends: printed once, the same files, effects not repeated.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def check_like_python(
    dp, script: str, source: str, kill_ats: list[int], *args: str, files: bool = True
):
    """Run ``source`` under python and, killed at ``kill_ats``, under durable-python: the same
    stdout printed once, the same (text) files; the series, for more checks."""
    plain = dp.child("plain")
    plain.write(script, source)
    reference = plain.python(script, *args)
    assert reference.exit_code == 0, reference
    dp.write(script, source)
    series = dp.run_with_kills(script, *args, kill_ats=kill_ats)
    assert series.crashes == len(kill_ats) and series.final.exit_code == 0, series
    dp.assert_resumed_output(reference.stdout, series)
    assert not files or dp.files() == plain.files(), series
    return series


TEMPORARY_FILES = """
    import os
    import tempfile

    os.makedirs("scratch", exist_ok=True)
    with tempfile.NamedTemporaryFile("w+", dir="scratch", suffix=".txt") as f:
        for i in range(3):
            f.write(f"line {i}\\n")
            print("wrote", i)
        f.flush()
        f.seek(0)
        print("read back", f.read().split())
        with open(f.name) as again:  # its name passed on
            print("by name", again.readline().strip())
    kept = tempfile.NamedTemporaryFile("wb", dir="scratch", delete=False)
    kept.write(b"kept\\n")
    kept.close()
    os.replace(kept.name, "kept.txt")
    fd, path = tempfile.mkstemp(dir="scratch")
    for i in range(3):
        os.write(fd, f"raw {i}\\n".encode())
        print("raw", i)
    os.lseek(fd, 0, os.SEEK_SET)
    print("mkstemp", os.read(fd, 100).split())
    os.close(fd)
    os.replace(path, "mkstemp.txt")
    with tempfile.TemporaryDirectory(dir="scratch") as d:
        for i in range(2):
            with open(os.path.join(d, f"{i}.txt"), "w") as out:
                out.write(f"in dir {i}\\n")
        print("listing", sorted(os.listdir(d)))
    with tempfile.TemporaryFile("w+") as anonymous:
        anonymous.write("anonymous\\n")
        anonymous.seek(0)
        print("anonymous", anonymous.read().strip())
    print("scratch left", os.listdir("scratch"))
"""


@pytest.mark.parametrize("kill_ats", [[1, 4, 7, 10, 13], [16, 19, 22, 25, 28, 31, 34]])
def test_temporary_files_work_after_a_kill(dp, kill_ats):
    """NamedTemporaryFile (written, read back, its name passed on, removed), mkstemp's
    descriptor, TemporaryDirectory and TemporaryFile work the same on a resumed run (replaying
    a NamedTemporaryFile once failed with ``KeyError: 'file'``) and leave nothing behind."""
    check_like_python(dp, "temporary.py", TEMPORARY_FILES, kill_ats)


RAW_DESCRIPTORS = """
    import os

    with open("existing.txt", "w") as f:
        f.write("0123456789\\n")
    fd = os.open("raw.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(4):
        os.write(fd, f"line {i}\\n".encode())
        print("wrote", i)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"LINE")
    os.close(fd)
    fd = os.open("raw.txt", os.O_RDONLY)
    print(os.read(fd, 9))
    os.lseek(fd, 2, os.SEEK_CUR)
    print(os.read(fd, 100))
    os.close(fd)
    fd = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(3):
        os.write(fd, f"append {i}\\n".encode())
        print("appended", i)
    os.close(fd)
    fd = os.open("existing.txt", os.O_RDWR)  # no O_TRUNC: written over in place
    os.lseek(fd, 3, os.SEEK_SET)
    os.write(fd, b"abc")
    os.fsync(fd)
    print("size", os.fstat(fd).st_size)
    os.close(fd)
    fd = os.open("fresh.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"created once\\n")
    os.close(fd)
    print("done")
"""


@pytest.mark.parametrize("kill_ats", [[1, 3, 5, 7, 9, 11], [13, 15, 17, 19, 21, 23, 25, 27]])
def test_raw_descriptors_are_opened_again_after_a_kill(dp, kill_ats):
    """``os.open`` descriptors live on past a kill (they were replayed as numbers not open in
    the new process: EBADF): opened again without O_TRUNC or O_EXCL, at the recorded position,
    and no write done before the kill is in the file twice (O_APPEND included)."""
    check_like_python(dp, "raw.py", RAW_DESCRIPTORS, kill_ats)


def assert_each_done(counts: dict[str, int], expected: list[str], series, in_flight: int) -> None:
    """Every effect in ``expected`` was done; again only if in flight at a kill (at most
    ``in_flight`` of them per kill: the threads or workers that were busy then)."""
    assert sorted(counts) == sorted(expected), f"{counts}\n{series}"
    repeats = sum(counts.values()) - len(counts)
    assert repeats <= in_flight * series.crashes, f"{counts}\n{series}"


def not_exact(series):
    """The series with no crash taken as exact: with work finishing in other threads, the main
    thread may have printed after the last commit before the kill (printed again on resume)."""
    series.exact = [False] * len(series.exact)
    return series


PROCESS_POOL = """
    import sys
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import witness_client

    base = sys.argv[1]


    def cube(n):
        witness_client.hit(f"{base}/cube/{n}")
        return n**3


    if __name__ == "__main__":
        urls = [f"{base}/square/{n}" for n in range(6)]
        with ProcessPoolExecutor(2) as pool:
            for url, reply in zip(urls, pool.map(witness_client.hit, urls)):
                print("hit", reply["path"].rsplit("/", 1)[-1])
            futures = [pool.submit(cube, n) for n in range(4)]
            print("cubes", sorted(future.result() for future in as_completed(futures)))
        print("done")
"""


@pytest.mark.parametrize("kill_ats", [[2, 5], [4, 8, 11]])
def test_process_pool_work_is_not_done_again(dp, kill_ats):
    """A library function and one of the script's own, run in a ProcessPoolExecutor and killed
    mid-way: finished work items are replayed, not sent to a worker again. (Forked workers once
    recorded into the parent's journal, and held its claim after the parent died.)"""
    prefix = dp.prefix("procs")
    plain = dp.child("plain")
    plain.write("pool.py", PROCESS_POOL)
    reference = plain.python("pool.py", dp.url(dp.prefix("plain")))
    assert reference.exit_code == 0, reference
    dp.write("pool.py", PROCESS_POOL)
    series = not_exact(dp.run_with_kills("pool.py", dp.url(prefix), kill_ats=kill_ats))
    assert series.crashes == len(kill_ats) and series.final.exit_code == 0, series
    dp.assert_resumed_output(reference.stdout, series)
    work = [f"/square/{n}" for n in range(6)] + [f"/cube/{n}" for n in range(4)]
    # In flight at a kill: what the pool had handed out and not seen recorded. The pool's
    # thread records each outcome and meanwhile the 2 workers go on with what its call queue
    # holds (2 + 1 more), so: 1 being recorded, 2 in the workers, 3 queued.
    assert_each_done(dp.counts(prefix), work, series, in_flight=6)
    finished = [e for e in series.entries if e["name"] in ("witness_client.hit", "__main__.cube")]
    assert len(finished) == len(work), series.entries


WORK_QUEUE = """
    import queue
    import sys
    import threading

    import witness_client

    base = sys.argv[1]
    work = queue.Queue()
    done = {}
    lock = threading.Lock()


    def consume():
        while True:
            item = work.get()
            if item is None:
                work.task_done()
                return
            reply = witness_client.hit(f"{base}/item/{item}")
            with lock:
                done[item] = reply["path"].rsplit("/", 1)[-1]
            work.task_done()


    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for consumer in consumers:
        consumer.start()
    for item in range(12):
        work.put(item)
    for _ in consumers:
        work.put(None)
    work.join()
    for consumer in consumers:
        consumer.join()
    print(sorted(done.items()))
    print("done")
"""


@pytest.mark.parametrize("kill_ats", [[3, 9, 15], [6, 20, 26]])
def test_queue_consumer_threads_each_do_an_item_once(dp, kill_ats):
    """Three threads taking work items from one queue.Queue, killed mid-way: on replay each
    thread takes the items it took before (else it diverged, and join() waited forever), and
    each item's effect is done once."""
    prefix = dp.prefix("queue")
    dp.write("consumers.py", WORK_QUEUE)
    series = not_exact(dp.run_with_kills("consumers.py", dp.url(prefix), kill_ats=kill_ats))
    assert series.crashes == len(kill_ats) and series.final.exit_code == 0, series
    items = sorted((n, str(n)) for n in range(12))
    dp.assert_resumed_output(f"{items}\ndone\n", series)
    assert_each_done(dp.counts(prefix), [f"/item/{n}" for n in range(12)], series, in_flight=3)


ASYNC_TIMEOUTS = """
    import asyncio
    import sys

    import witness_client

    base = sys.argv[1]


    async def call(path):
        reply = await asyncio.to_thread(witness_client.hit, f"{base}/{path}")
        return reply["path"].rsplit("/", 1)[-1]


    async def main():
        async with asyncio.timeout(60):
            print("in time", await call("first"))
        try:
            async with asyncio.timeout(0.3):
                print("never", await call("slow?sleep=2"))
        except TimeoutError:
            print("timed out")
        print("wait_for", await asyncio.wait_for(call("second"), 60))
        try:
            await asyncio.wait_for(call("slower?sleep=2"), 0.3)
        except TimeoutError:
            print("wait_for timed out")
        print("after", await call("last"))


    asyncio.run(main())
    print("done")
"""


@pytest.mark.parametrize("kill_ats", [[2, 6], [4, 9], [11]])
def test_asyncio_timeouts_replay_the_same_way(dp, kill_ats):
    """Awaited effects inside ``asyncio.timeout()`` blocks and ``asyncio.wait_for``, one of
    each timing out, killed at points around them: the resumed run takes the same branches
    (a timeout that fired fires again, one that did not does not) and sends nothing twice."""
    prefix = dp.prefix("timeouts")
    dp.write("timeouts.py", ASYNC_TIMEOUTS)
    # The requests that timed out finish in their threads later, and are committed there.
    series = not_exact(dp.run_with_kills("timeouts.py", dp.url(prefix), kill_ats=kill_ats))
    assert series.crashes == len(kill_ats) and series.final.exit_code == 0, series
    expected = "in time first\ntimed out\nwait_for second\nwait_for timed out\nafter last\ndone\n"
    dp.assert_resumed_output(expected, series)
    paths = ["/first", "/slow", "/second", "/slower", "/last"]
    assert_each_done(dp.counts(prefix), paths, series, in_flight=2)


SQLITE_BATCHES = """
    import sqlite3

    conn = sqlite3.connect("app.db")
    conn.execute("CREATE TABLE IF NOT EXISTS items (name TEXT)")
    conn.commit()
    for batch in range(4):
        for i in range(3):
            conn.execute("INSERT INTO items VALUES (?)", (f"b{batch}-{i}",))
        conn.commit()
        print("committed", batch)
    names = [name for (name,) in conn.execute("SELECT name FROM items ORDER BY rowid")]
    print(len(names), len(set(names)))
"""


@pytest.mark.parametrize("kill_ats", [[2], [6], [11, 16], [21]])
def test_sqlite_rows_are_there_once_after_a_kill_right_after_a_commit(dp, kill_ats):
    """Killed right after ``conn.commit()`` (the table's, then a batch's three inserts and
    commit, the batch's line committed with the next insert): the resumed run neither inserts
    a committed row again nor loses one, and completes."""
    import sqlite3

    series = check_like_python(dp, "batches.py", SQLITE_BATCHES, kill_ats, files=False)
    for attempt in series.attempts[:-1]:
        before = [e for e in series.entries if e["ended"] <= attempt.ended_at]
        last = max(before, key=lambda e: e["ended"])
        assert last["name"] == "sqlite3.Connection.commit", (last, series)
    with sqlite3.connect(dp.work / "app.db") as db:
        names = [name for (name,) in db.execute("SELECT name FROM items ORDER BY rowid")]
    assert names == [f"b{batch}-{i}" for batch in range(4) for i in range(3)]
