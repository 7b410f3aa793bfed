"""Focused end-to-end tests of issue 5's mechanics: threads, executor.map, as_completed, nested
pools, asyncio wait(FIRST_COMPLETED), wait_for timeouts, a queue between two tasks.

Each script gets the path of a witness log as its argument and calls effects from ``fx`` (a module
outside the script's tree, see ``cc_harness.FX``): every execution appends a line with a fresh
token to the log and returns ``tag@token``. The scenario runs once uninterrupted (the reference),
then again with SIGKILLs at journal entries a fraction of the way through
(``DURABLE_PYTHON_TEST_KILL_AT``) and is run again until it finishes; ``check_resumed`` compares.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cc_harness import (
    FX,
    Attempt,
    Harness,
    Series,
    check_resumed,
    executions,
    join_attempts,
    printed_results,
)

pytestmark = pytest.mark.e2e


def scenario(
    cc: Harness,
    source: str,
    kill_fractions: list[float],
    in_flight: int,
    ordered: bool = True,
    varying: str | None = None,
) -> tuple[Attempt, Series, Path]:
    """Run ``source`` uninterrupted, then killed at each fraction of its journal, and compare."""
    cc.write_lib("fx.py", FX)
    cc.write("job.py", source)
    reference_log = cc.root / "reference.log"
    reference = cc.run("job.py", str(reference_log))
    assert reference.returncode == 0, reference
    entries = cc.run_of("job.py")["entries"]
    log = cc.root / "resumed.log"
    kill_ats = [max(1, int(entries * fraction)) for fraction in kill_fractions]
    series = cc.run_with_kills("job.py", str(log), kill_ats=kill_ats)
    assert series.crashes >= 1, series
    check_resumed(
        reference, reference_log, series, log, in_flight, ordered=ordered, varying=varying
    )
    return reference, series, log


# ----- threads -----------------------------------------------------------------------------------

THREADS = """
    import sys
    import threading

    import fx

    log = sys.argv[1]
    results = {}


    def worker(number):
        for step in range(6):
            value = fx.effect(log, f"t{number}-{step}", 0.002 * (number + 1))
            sys.stdout.write(f"got {value}\\n")  # one write: print() from threads interleaves
            results[number, step] = value


    workers = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    for key in sorted(results):
        print("summary", key, results[key])
"""


def test_threading_thread_workers(cc):
    scenario(cc, THREADS, [0.3, 0.6], in_flight=4, ordered=False)
    entries = cc.journal_of("job.py")
    tasks = {e["task"] for e in entries if e["name"] == "fx.effect"}
    assert tasks == {f"main/thread{n}" for n in range(4)}


# ----- executor.map and nested pools -------------------------------------------------------------

MAP = """
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import fx

    log = sys.argv[1]


    def work(number):
        return fx.effect(log, f"m{number}", 0.001 * (number % 5))


    with ThreadPoolExecutor(max_workers=4) as pool:
        for number, value in zip(range(40), pool.map(work, range(40))):
            print("got", number, value)
"""


def test_executor_map(cc):
    scenario(cc, MAP, [0.4], in_flight=4)
    tasks = {e["task"] for e in cc.journal_of("job.py") if e["name"] == "fx.effect"}
    assert tasks == {f"main/pool0/{n}" for n in range(40)}


NESTED = """
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import fx

    log = sys.argv[1]


    def leaf(outer, inner):
        return fx.effect(log, f"n{outer}-{inner}", 0.001 * ((outer + inner) % 3))


    def branch(outer):
        with ThreadPoolExecutor(max_workers=2) as inner_pool:
            values = list(inner_pool.map(leaf, [outer] * 5, range(5)))
        return values + [fx.effect(log, f"n{outer}-done")]


    with ThreadPoolExecutor(max_workers=3) as pool:
        for outer, values in enumerate(pool.map(branch, range(6))):
            print("got", outer, " ".join(values))
"""


def test_nested_pools(cc):
    scenario(cc, NESTED, [0.35, 0.7], in_flight=3 * 2)
    tasks = {e["task"] for e in cc.journal_of("job.py") if e["name"] == "fx.effect"}
    expected = {f"main/pool0/{o}/pool0/{i}" for o in range(6) for i in range(5)}
    assert tasks == expected | {f"main/pool0/{o}" for o in range(6)}


# ----- as_completed: the order the first attempt saw is the order every attempt sees -------------

AS_COMPLETED = """
    import sys
    from concurrent.futures import ThreadPoolExecutor, as_completed

    import fx

    log = sys.argv[1]


    def work(number):
        return fx.effect(log, f"c{number}", 0.001 * ((number * 7) % 6))


    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {pool.submit(work, number): number for number in range(30)}
        order = []
        for future in as_completed(futures):
            order.append(futures[future])
            print("got", futures[future], future.result())
    print("order", order)
"""


def test_as_completed_order_is_replayed(cc):
    reference, series, _ = scenario(
        cc, AS_COMPLETED, [0.3, 0.6], in_flight=4, ordered=False, varying="order "
    )
    # The recorded as_completed answers, in the order the main task asked.
    entries = [
        e
        for e in cc.journal_of("job.py")
        if e["task"] == "main" and e["name"] == "concurrent.futures._base.as_completed"
    ]
    entries.sort(key=lambda e: e["seq"])
    recorded = [int(re.fullmatch(r"'main/pool0/(\d+)'", e["summary"]).group(1)) for e in entries]
    assert sorted(recorded) == list(range(30))
    # What the attempts printed, joined: the recorded order, each number once, and the final
    # attempt's full list (built from replayed and live answers) is that same order.
    got = re.compile(r"got (\d+) c")
    printed = [int(m.group(1)) for m in got.finditer(join_attempts(series))]
    deduplicated = [n for i, n in enumerate(printed) if n not in printed[:i]]
    assert deduplicated == recorded, series
    assert join_attempts(series).splitlines()[-1] == f"order {recorded}", series
    # Before the first kill, the first attempt printed a prefix of that same order.
    first = [int(m.group(1)) for m in got.finditer(series.attempts[0].stdout)]
    assert first == recorded[: len(first)], series


FUTURES_WAIT = """
    import sys
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    import fx

    log = sys.argv[1]


    def work(number):
        return fx.effect(log, f"f{number}", 0.002 * ((number * 3) % 5))


    with ThreadPoolExecutor(max_workers=3) as pool:
        names = {pool.submit(work, number): number for number in range(12)}
        pending = set(names)
        rounds = []
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            finished = sorted(names[future] for future in done)
            rounds.append(finished)
            print("round", finished)
            for future in sorted(done, key=names.get):
                print("got", names[future], future.result())
    print("rounds", rounds)
"""


def test_futures_wait_first_completed_is_replayed(cc):
    _, series, _ = scenario(
        cc, FUTURES_WAIT, [0.3, 0.6], in_flight=3, ordered=False, varying="rounds? "
    )
    joined = join_attempts(series)
    printed = [line for line in joined.splitlines() if line.startswith("round ")]
    deduplicated = [line for i, line in enumerate(printed) if line not in printed[:i]]
    rounds = [json.loads(line.split(" ", 1)[1]) for line in deduplicated]
    assert join_attempts(series).splitlines()[-1] == f"rounds {rounds}", series


# ----- asyncio -----------------------------------------------------------------------------------

FIRST_COMPLETED = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def job(number):
        first = await fx.aeffect(log, f"j{number}", 0.002 * ((number * 5) % 7))
        second = await fx.aeffect(log, f"k{number}")
        return f"{first} {second}"


    async def main():
        names = {}
        for number in range(10):
            names[asyncio.create_task(job(number))] = number
        pending = set(names)
        rounds = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finished = sorted(names[task] for task in done)
            rounds.append(finished)
            print("round", finished)
            for task in sorted(done, key=names.get):
                print("got", names[task], task.result())
        print("rounds", rounds)


    asyncio.run(main())
"""


def test_asyncio_wait_first_completed_is_replayed(cc):
    _, series, _ = scenario(
        cc, FIRST_COMPLETED, [0.3, 0.6], in_flight=10, ordered=False, varying="rounds? "
    )
    # The rounds printed as they happened, across the attempts, are the rounds the final
    # attempt saw: the ones recorded before a kill were replayed, not waited for again.
    joined = join_attempts(series)
    printed = [line for line in joined.splitlines() if line.startswith("round ")]
    deduplicated = [line for i, line in enumerate(printed) if line not in printed[:i]]
    rounds = [json.loads(line.split(" ", 1)[1]) for line in deduplicated]
    assert join_attempts(series).splitlines()[-1] == f"rounds {rounds}", series
    waits = [
        e
        for e in cc.journal_of("job.py")
        if e["task"] == "main/async0" and e["name"] == "asyncio.tasks.wait"
    ]
    assert len(waits) == len(rounds)


GATHER_DIRECT = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def main():
        # Library coroutines gathered straight from one task: their seqs are claimed in this task
        # when called, their outcomes recorded when each finishes, in whatever order.
        for batch in range(3):
            values = await asyncio.gather(
                *(fx.aeffect(log, f"d{batch}-{n}", 0.003 * ((n * 5) % 4)) for n in range(6))
            )
            print("got", batch, " ".join(values))


    asyncio.run(main())
"""


def test_asyncio_gather_of_library_coroutines(cc):
    _, series, _ = scenario(cc, GATHER_DIRECT, [0.25, 0.6], in_flight=6)
    assert series.final.returncode == 0, series  # scenario compares output and effects


FAN_OUT = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def worker(number):
        # Effects that finish at once: the eight tasks' entries wait for the disk together and
        # are written by shared commits (loop_commits.py).
        for step in range(12):
            value = await fx.aeffect(log, f"a{number}-{step}")
            sys.stdout.write(f"got {value}\\n")


    async def main():
        await asyncio.gather(*(worker(number) for number in range(8)))


    asyncio.run(main())
"""


def test_asyncio_fan_out_sharing_commits_is_resumed(cc):
    """A kill after any shared commit: what it carried replays, what was still waiting for the
    disk runs again (one effect per task at most), everything is printed once."""
    _, series, _ = scenario(cc, FAN_OUT, [0.1, 0.35, 0.6, 0.85], in_flight=8, ordered=False)
    assert series.final.returncode == 0, series  # scenario compares output and effects


WAIT_FOR = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def main():
        outcomes = []
        for number in range(8):
            slow = 0.5 if number % 2 else 0.0
            try:
                value = await asyncio.wait_for(fx.aeffect(log, f"w{number}", slow), timeout=0.1)
            except TimeoutError:
                print("timeout", number)
                outcomes.append(f"{number}:timeout")
            else:
                print("got", number, value)
                outcomes.append(f"{number}:{value}")
            await fx.aeffect(log, f"after{number}")
        print("outcomes", " ".join(outcomes))


    asyncio.run(main())
"""


def test_asyncio_wait_for_timeout_is_replayed(cc):
    """Attempt 1 times out on the slow effects; later attempts are fast (``LOG.fast``): the
    timeouts already recorded stay timeouts, the ones not reached yet are now results."""
    cc.write_lib("fx.py", FX)
    cc.write("job.py", WAIT_FOR)
    log = cc.root / "resumed.log"
    first = cc.run("job.py", str(log), kill_at=10)
    assert first.killed, first
    assert re.match(r"got 0 w0@\S+\ntimeout 1\n", first.stdout), first
    Path(f"{log}.fast").touch()
    series = cc.run_with_kills("job.py", str(log), kill_ats=[])
    series.attempts.insert(0, first)
    assert series.final.returncode == 0, series
    joined = join_attempts(series)
    outcomes = joined.splitlines()[-1].split()[1:]
    timed_out = {int(o.split(":")[0]) for o in outcomes if o.endswith(":timeout")}
    before = {int(n) for n in re.findall(r"^timeout (\d+)$", first.stdout, re.M)}
    assert before and before <= timed_out, series
    assert timed_out == before, f"a timeout not reached before the kill happened live: {series}"
    # Everything printed once; every result printed is the one recorded.
    printed = joined.splitlines()
    assert len(printed) == len(set(printed)) == 8 + 1, series
    assert all(len(tokens) == 1 for tokens in printed_results(joined).values()), series
    done = executions(log)
    assert not {f"w{n}" for n in timed_out} & set(done), "a timed-out effect completed"


QUEUE = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def producer(queue):
        for number in range(12):
            item = await fx.aeffect(log, f"p{number}", 0.002 * (number % 3))
            await queue.put(item)
        await queue.put(None)


    async def consumer(queue):
        handled = []
        while (item := await queue.get()) is not None:
            tag = item.split("@")[0]
            value = await fx.aeffect(log, f"c-{tag}", 0.001 * (len(handled) % 4))
            print("got", item, value)
            handled.append(value)
        return handled


    async def main():
        queue = asyncio.Queue(maxsize=3)
        _, handled = await asyncio.gather(producer(queue), consumer(queue))
        print("handled", len(handled))


    asyncio.run(main())
"""


def test_asyncio_queue_between_two_tasks(cc):
    _, series, _ = scenario(cc, QUEUE, [0.3, 0.65], in_flight=2)
    assert series.final.returncode == 0, series  # scenario compares output and effects


GATHER_TASKGROUP = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def fetch(number):
        value = await fx.aeffect(log, f"g{number}", 0.001 * (number % 4))
        await asyncio.sleep(0.001)
        return value


    async def group(number):
        async with asyncio.TaskGroup() as tasks:
            parts = [tasks.create_task(fetch(number * 10 + part)) for part in range(3)]
        return [part.result() for part in parts]


    async def main():
        for number, values in enumerate(await asyncio.gather(*(group(n) for n in range(6)))):
            print("got", number, " ".join(values))


    asyncio.run(main())
"""


def test_asyncio_gather_and_taskgroup(cc):
    _, series, _ = scenario(cc, GATHER_TASKGROUP, [0.3, 0.6], in_flight=18)
    assert series.final.returncode == 0, series  # scenario compares output and effects


RAISING = """
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import fx

    log = sys.argv[1]


    def work(number):
        try:
            return fx.effect(log, f"r{number}", 0.001, fail=number % 3 == 0)
        except fx.FxError as exc:
            return f"error {exc.tag}@{exc.token}"


    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(work, number) for number in range(18)]
        for number, future in enumerate(futures):
            print("got", number, future.result())


    def fail_loudly():
        fx.effect(log, "loud", 0, True)


    with ThreadPoolExecutor(max_workers=2) as pool:
        failing = pool.submit(fail_loudly)
    try:
        failing.result()
    except fx.FxError as exc:
        print("raised", type(exc).__name__, exc.tag)
"""


def test_raising_effects_in_pool_tasks(cc):
    _, series, _ = scenario(cc, RAISING, [0.4], in_flight=3)
    assert series.final.returncode == 0, series  # scenario compares output and effects


# ----- a resumed run is as concurrent as the first ------------------------------------------------

SLOW_POOL = """
    import asyncio
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import fx

    log, kind = sys.argv[1], sys.argv[2]


    def work(number):
        return fx.effect(log, f"s{number}", 0.02 if number < 4 else 0.6)


    async def awork(number):
        return await fx.aeffect(log, f"s{number}", 0.02 if number < 4 else 0.6)


    async def fan_out():
        return await asyncio.gather(*(awork(number) for number in range(8)))


    if kind == "pool":
        with ThreadPoolExecutor(max_workers=4) as pool:
            values = list(pool.map(work, range(8)))
    else:
        values = asyncio.run(fan_out())
    print(" ".join(values))
"""


@pytest.mark.parametrize("kind", ["pool", "asyncio"])
def test_resumed_run_is_as_concurrent_as_the_first(cc, kind):
    """Four quick effects commit, the kill comes while four slow ones are in flight; on resume
    the four quick ones replay and the four slow ones run again, together (not one by one)."""
    cc.write_lib("fx.py", FX)
    cc.write("job.py", SLOW_POOL)
    log = cc.root / "run.log"
    series = cc.run_with_kills("job.py", str(log), kind, kill_ats=[4])
    assert series.crashes == 1 and series.final.returncode == 0, series
    done = executions(log)
    assert all(len(done[f"s{n}"]) == 1 for n in range(4)), done
    entries = [e for e in cc.journal_of("job.py") if e["name"] in ("fx.effect", "fx.aeffect")]
    slow = [e for e in entries if e["summary"].startswith("'s") and int(e["summary"][2]) >= 4]
    assert len(slow) == 4, entries
    # All four slow effects of the resumed attempt were running at the same moment.
    assert max(e["started"] for e in slow) < min(e["ended"] for e in slow), slow


# ----- library functions run by pools and threads; as_completed over many items ----------------

SUBMITTED = """
    import asyncio
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import fx

    log = sys.argv[1]
    mode = sys.argv[2]
    if mode == "submit":
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(fx.effect, log, f"s{n}", 0.002) for n in range(8)]
        values = [future.result() for future in futures]
    elif mode == "map":
        with ThreadPoolExecutor(max_workers=2) as pool:
            values = list(pool.map(fx.effect, [log] * 8, [f"s{n}" for n in range(8)]))
    elif mode == "thread":
        threads = [threading.Thread(target=fx.effect, args=(log, f"s{n}")) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        values = []
    elif mode == "to_thread":
        async def main():
            return await asyncio.gather(
                *(asyncio.to_thread(fx.effect, log, f"s{n}", 0.002) for n in range(8))
            )

        values = asyncio.run(main())
    else:
        async def main():
            loop = asyncio.get_running_loop()
            return await asyncio.gather(
                *(loop.run_in_executor(None, fx.effect, log, f"s{n}", 0.002) for n in range(8))
            )

        values = asyncio.run(main())
    for value in values:
        print("got", value)
    print("done")
"""


@pytest.mark.parametrize("mode", ["submit", "map", "thread", "to_thread", "run_in_executor"])
def test_library_function_run_by_a_pool_or_thread_is_recorded(cc, mode):
    """A library function handed to a pool, a thread, asyncio.to_thread or the event loop's
    default executor is an effect."""
    cc.write_lib("fx.py", FX)
    cc.write("job.py", SUBMITTED)
    log = cc.root / "run.log"
    done = cc.run("job.py", str(log), mode)
    assert done.returncode == 0, done
    recorded = [e for e in cc.journal_of("job.py") if e["name"] == "fx.effect"]
    assert len(recorded) == 8, f"{len(recorded)} of 8 fx.effect calls recorded"


def test_as_completed_over_many_futures_is_linear(as_completed_is_linear):
    assert as_completed_is_linear.ok, as_completed_is_linear.detail


def test_asyncio_as_completed_over_many_tasks_is_linear(async_as_completed_is_linear):
    assert async_as_completed_is_linear.ok, async_as_completed_is_linear.detail


ASYNC_AS_COMPLETED = """
    import asyncio
    import sys

    import fx

    log = sys.argv[1]


    async def main():
        tasks = [
            asyncio.create_task(fx.aeffect(log, f"a{n}", 0.002 * ((n * 3) % 5)))
            for n in range(12)
        ]
        for next_done in asyncio.as_completed(tasks):
            print("got", await next_done)


    asyncio.run(main())
"""


def test_asyncio_as_completed_order_is_replayed(cc):
    _, series, _ = scenario(cc, ASYNC_AS_COMPLETED, [0.3, 0.6], in_flight=12, ordered=False)
    recorded = [
        e["summary"]
        for e in sorted(cc.journal_of("job.py"), key=lambda e: e["seq"])
        if e["task"] == "main/async0" and e["name"] == "asyncio.tasks.as_completed"
    ]
    assert len(recorded) == 12
