"""wait_for_event and send: early events are kept, ids make sending idempotent, the outcome
(event or timeout) is recorded and replayed; errors; cancel of a sleeping run; prune; the
progress line."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from durable_python.testing import wait_until

from .conftest import Env

pytestmark = pytest.mark.e2e

INBOX = """
import sys
import durable_python
import witness

log = sys.argv[1]
witness.mark(log, "begin")
go = durable_python.wait_for_event("go")
a = durable_python.wait_for_event("item")
witness.mark(log, f"a={a}")
b = durable_python.wait_for_event("item")
witness.mark(log, f"b={b}")
try:
    c = durable_python.wait_for_event("item", timeout=0.3)
except TimeoutError as exc:
    c = f"timeout ({exc})"
witness.mark(log, f"c={c}")
print("go:", go, "a:", a, "b:", b, "c:", c)
"""

SENDER = """
import sys
import durable_python

print(durable_python.send(sys.argv[1], "go", {"from": "python"}, store=sys.argv[2]))
"""


def test_events_wait_in_the_inbox_are_idempotent_and_replay(env: Env) -> None:
    env.write("inbox.py", INBOX)
    command_line = ["run", "--suspend", "--suspend-after", "1", "inbox.py", str(env.witness_log)]
    first = env.dp(*command_line)
    assert first.returncode == 75, first.stderr  # waiting for "go", with no timeout
    run_id = env.run_ending("inbox.py", str(env.witness_log))["run_id"]
    # Sent before the script waits for them; the repeated id is not delivered twice.
    for payload, event_id in (('{"n": 1}', "i1"), ('{"n": 1}', "i1"), ('{"n": 2}', "i2")):
        assert env.dp("send", run_id, "item", payload, "--id", event_id).returncode == 0
    env.write("sender.py", SENDER)
    sender = env.python("sender.py", run_id, str(env.store))
    assert sender.returncode == 0, sender.stderr
    # Resumed by the same command, killed right after the first item's mark is committed.
    env.wait_unlocked(run_id)
    killed = env.dp(*command_line, env={"DURABLE_PYTHON_TEST_KILL_AT": "4"})
    assert killed.returncode == -9, killed.stderr
    assert env.marks() == ["begin", "a={'n': 1}"]
    last = env.dp(*command_line)
    assert last.returncode == 0, last.stderr
    assert last.stdout == (
        "go: {'from': 'python'} a: {'n': 1} b: {'n': 2} c: timeout (no 'item' event arrived"
        " within 0.3 s)\n"
    )
    assert env.marks() == [
        "begin",
        "a={'n': 1}",
        "b={'n': 2}",
        "c=timeout (no 'item' event arrived within 0.3 s)",
    ]
    shown = [json.loads(line) for line in env.dp("show", run_id, "--json").stdout.splitlines()]
    outcomes = [e["summary"] for e in shown if e["policy"] == "event"]
    assert outcomes[-1] == "raised TimeoutError: no 'item' event arrived within 0.3 s"


def test_send_errors(env: Env) -> None:
    env.write("quick.py", "print('hi')\n")
    assert env.dp("run", "quick.py").returncode == 0
    run_id = env.run_ending("quick.py")["run_id"]
    unknown = env.dp("send", "nosuchrun", "go")
    assert unknown.returncode == 64 and "unknown run id 'nosuchrun'" in unknown.stderr
    finished = env.dp("send", run_id, "go")
    assert finished.returncode == 64 and "already completed" in finished.stderr
    bad = env.dp("send", run_id, "go", "{not json")
    assert bad.returncode == 64 and "not JSON" in bad.stderr
    outside = env.python("-c", "import durable_python; durable_python.wait_for_event('x')")
    assert outside.returncode == 1 and "needs a run" in outside.stderr


CANCELLABLE = """
import sys, time
import durable_python
import witness

log = sys.argv[1]
witness.mark(log, "charged")
try:
    time.sleep(60)
    witness.mark(log, "shipped")
except durable_python.Cancelled:
    witness.mark(log, "refunded")
    raise
"""


def test_cancel_interrupts_a_sleep_and_replays_the_same_way(env: Env) -> None:
    env.write("cancel_me.py", CANCELLABLE)
    process = env.start("run", "--run-id", "c1", "cancel_me.py", str(env.witness_log))
    wait_until(lambda: env.marks() == ["charged"], 30, "the charge")
    time.sleep(0.3)  # asleep now
    started = time.monotonic()
    assert env.dp("cancel", "c1").returncode == 0
    assert process.wait(30) == 79, process.err
    assert time.monotonic() - started < 5
    assert "run c1 cancelled" in process.err
    assert env.marks() == ["charged", "refunded"]
    assert env.status("c1") == "cancelled"
    again = env.dp("run", "--run-id", "c1", "cancel_me.py", str(env.witness_log))
    assert again.returncode == 79 and "already cancelled" in again.stderr
    shown = [json.loads(line) for line in env.dp("show", "c1", "--json").stdout.splitlines()]
    assert [e["policy"] for e in shown] == ["effect", "timer", "cancel", "effect"]


def test_prune_keeps_finished_runs_for_their_retention(env: Env) -> None:
    env.write("ok.py", "print('ok')\n")
    env.write("bad.py", "raise RuntimeError('bad')\n")  # failed: kept longer
    env.write("wait.py", "import time\ntime.sleep(3600)\n")
    env.write("exits.py", "raise SystemExit(3)\n")  # exited: final, pruned like completed
    assert env.dp("run", "ok.py").returncode == 0
    assert env.dp("run", "exits.py").returncode == 3
    assert env.dp("run", "bad.py").returncode == 1
    assert env.dp("run", "--suspend", "wait.py").returncode == 75
    assert env.dp("prune").stderr.strip().endswith(f"deleted no runs in {env.store}")
    days = 86400
    dry = env.dp("prune", "--dry-run", env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": str(8 * days)})
    assert "would delete" in dry.stdout and "ok.py" in dry.stdout and "bad.py" not in dry.stdout
    assert "exits.py" in dry.stdout, dry.stdout
    every = [r["run_id"] for r in env.runs()]
    assert len(every) == 4
    week = env.dp("prune", env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": str(8 * days)})
    assert week.returncode == 0 and "deleted 1 completed, 1 exited" in week.stderr, week.stderr
    assert sorted(r["argv"][0] for r in env.runs()) == ["bad.py", "wait.py"]
    month = env.dp(
        "prune", "--failed-days", "2", env={"DURABLE_PYTHON_TEST_CLOCK_OFFSET": str(3 * days)}
    )
    assert "deleted 1 failed" in month.stderr, month.stderr
    assert [r["argv"][0] for r in env.runs()] == ["wait.py"]  # suspended: never pruned
    store = env.open_store()  # no pruned run left events behind
    assert not any(store.events(run_id) for run_id in every) or len(env.runs()) == 1


MANY = """
import sys, time
import witness

total = 0.0
for i in range(20000):
    total += time.time()
witness.mark(sys.argv[1], "end")
print("finished")
"""


def test_progress_line_when_a_long_replay_runs_on_a_terminal(env: Env) -> None:
    env.write("many.py", MANY)
    line = ["run", "many.py", str(env.witness_log)]
    killed = env.dp(*line, env={"DURABLE_PYTHON_TEST_KILL_AT": "20001"})  # after the mark
    assert killed.returncode == -9
    assert env.marks() == ["end"]
    piped = env.dp(*line, env={"DURABLE_PYTHON_PROGRESS_AFTER": "0"})
    assert piped.returncode == 0 and piped.stdout == "finished\n", piped.stderr
    assert "replaying" not in piped.stderr and "replayed" not in piped.stderr  # not a terminal

    again = ["run", "--run-id", "second", "many.py", str(env.witness_log)]
    assert env.dp(*again, env={"DURABLE_PYTHON_TEST_KILL_AT": "20001"}).returncode == -9
    env.wait_unlocked("second")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*env.command, *again],
        cwd=env.dir,
        env={**env.env, "DURABLE_PYTHON_PROGRESS_AFTER": "0"},
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    assert process.wait(30) == 0
    text = seen.decode(errors="replace")
    assert "durable-python: replaying" in text or "durable-python: replayed" in text, text
    assert "calls/s" in text, text
