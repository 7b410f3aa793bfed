"""The worker and ``resume --due``: two workers racing for the same due runs, and a one-hour
timer that comes due when the (injected) clock passes it."""

from __future__ import annotations

import time

import pytest

from durable_python.testing import wait_until

from .conftest import Env

pytestmark = pytest.mark.e2e

NAP = """
import sys, time
import witness

log, name = sys.argv[1], sys.argv[2]
witness.mark(log, f"before {name}")
time.sleep(float(sys.argv[3]))
witness.mark(log, f"after {name}")
print(f"{name} done")
"""


def test_two_workers_race_for_the_same_due_runs(env: Env) -> None:
    env.write("nap.py", NAP)
    names = [f"r{i}" for i in range(6)]
    runs = [
        env.start(
            *["run", "--suspend", "--suspend-after", "0", "--run-id", name, "nap.py"],
            *[str(env.witness_log), name, "3"],
        )
        for name in names
    ]
    assert [r.wait() for r in runs] == [75] * len(names), [r.err for r in runs]
    assert sorted(env.marks()) == sorted(f"before {n}" for n in names)
    # Both workers are watching before the timers fall due: they race for every run.
    workers = [env.worker(), env.worker()]
    for name in names:
        env.wait_status(name, ("completed",), timeout=40)
    for worker in workers:
        worker.stop()
    assert sorted(env.marks()) == sorted(
        [f"before {n}" for n in names] + [f"after {n}" for n in names]
    )
    errors = workers[0].err + workers[1].err
    outputs = workers[0].out + workers[1].out
    for name in names:
        assert errors.count(f"resuming run {name} (timer due)") == 1, errors
        assert outputs.count(f"{name} done") == 1, outputs


def test_one_hour_timer_comes_due_with_the_clock(env: Env) -> None:
    env.write("nap.py", NAP)
    started = time.time()
    first = env.dp("run", "--suspend", "nap.py", str(env.witness_log), "hour", "3600")
    assert first.returncode == 75, first.stderr
    assert "suspended (until" in first.stderr
    run = env.run_ending("hour", "3600")
    assert run["status"] == "suspended"
    assert run["wake_at"] == pytest.approx(started + 3600, abs=30)  # recorded in run.json

    not_yet = env.dp("resume", "--due")
    assert not_yet.returncode == 0 and "no runs are due" in not_yet.stderr
    almost = env.dp("resume", "--due", env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": "3000"})
    assert "no runs are due" in almost.stderr
    assert env.status(run["run_id"]) == "suspended"
    assert env.marks() == ["before hour"]

    later = env.dp("resume", "--due", env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": "3610"})
    assert later.returncode == 0, later.stderr
    assert f"resuming run {run['run_id']} (timer due)" in later.stderr
    assert later.stdout == "hour done\n"
    assert env.status(run["run_id"]) == "completed"
    assert env.marks() == ["before hour", "after hour"]


def test_worker_resumes_a_run_whose_process_died(env: Env) -> None:
    env.write("nap.py", NAP)
    process = env.start("run", "--run-id", "dies", "nap.py", str(env.witness_log), "dies", "30")
    wait_until(lambda: env.marks() == ["before dies"], 30, "the first mark")
    process.kill()
    assert process.wait() == -9
    assert env.runs_by_id()["dies"]["status"] == "crashed"
    worker = env.worker(env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": "40"})  # past its 30 s sleep
    env.wait_status("dies", ("completed",), timeout=30)
    worker.stop()
    assert "resuming run dies (its process died)" in worker.err
    assert env.marks() == ["before dies", "after dies"]
    assert worker.out == "dies done\n"
