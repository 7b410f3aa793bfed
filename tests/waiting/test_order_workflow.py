"""scripts/examples/order_processing.py driven through approval, rejection, timeout, cancel and a
SIGKILL in every phase, with send, --suspend and the worker; the shop API counts every call."""

from __future__ import annotations

import json
import time

import pytest

from durable_python.testing import wait_until

from .conftest import ORDER_SCRIPT, Env, Shop

pytestmark = pytest.mark.e2e

START = ["/inventory/reserve", "/payments", "/payments", "/notify"]  # 1st payment: 503, retried
APPROVED = START + ["/inventory/deduct", "/email:confirmation", "/email:follow-up"]
COMPENSATED = START + ["/payments/refund", "/inventory/release"]


def order(*args: str) -> list[str]:
    return ["run", str(ORDER_SCRIPT), *args]


def suspended_order(*args: str) -> list[str]:
    return ["run", "--suspend", "--suspend-after", "0.5", str(ORDER_SCRIPT), *args]


def lines_once(output: str, order_id: str, expected: list[str]) -> None:
    lines = [line for line in output.splitlines() if line.startswith(f"[{order_id}] ")]
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, output)


def test_approved_while_suspended_resumed_by_the_worker(env: Env, shop: Shop) -> None:
    worker = env.worker()
    args = ["o1", "1500", "--follow-up-after", "1.5"]
    first = env.dp(*suspended_order(*args))
    assert first.returncode == 75, first.stderr
    run = env.run_ending(*args)
    assert run["status"] == "suspended" and run["waiting_for"] == "approval"
    assert run["wake_at"] > time.time() + 7000  # the 2-hour timer races the approval
    assert shop.calls("o1") == START

    approval = json.dumps({"approved": True, "by": "alice"})
    sent = env.dp("send", run["run_id"], "approval", approval, "--id", "review-1")
    assert sent.returncode == 0, sent.stderr
    again = env.dp("send", run["run_id"][:6], "approval", approval, "--id", "review-1")
    assert again.returncode == 0 and "already sent" in again.stderr, again.stderr

    env.wait_status(run["run_id"], ("completed",), timeout=40)
    assert shop.calls("o1") == APPROVED
    worker.stop()
    lines_once(
        first.stdout + worker.out,
        "o1",
        [
            "inventory reserved",
            "payment attempt 1 failed",
            "payment pay-o1: review",
            "waiting for approval",
            "payment approved by alice",
            "confirmation sent",
            "follow-up sent; order complete",
        ],
    )
    assert worker.err.count(f"resuming run {run['run_id']} (event 'approval' arrived)") == 1
    assert worker.err.count(f"resuming run {run['run_id']} (timer due)") == 1


def test_rejected_while_waiting_live(env: Env, shop: Shop) -> None:
    process = env.start(*order("o2", "1500"))
    wait_until(lambda: "/notify" in shop.calls("o2"), 30, "the fraud team notification")
    run = env.run_ending("o2", "1500")
    assert run["status"] == "running"
    sent_at = time.monotonic()
    rejection = json.dumps({"approved": False, "by": "bob"})
    assert env.dp("send", run["run_id"], "approval", rejection).returncode == 0
    assert process.wait(30) == 1, process.err
    assert time.monotonic() - sent_at < 5  # a waiting process gets the event at once
    assert shop.calls("o2") == COMPENSATED
    lines_once(
        process.out,
        "o2",
        [
            "order failed: payment rejected by bob; compensating",
            "payment refunded",
            "inventory released",
        ],
    )
    assert env.status(run["run_id"]) == "exited"  # sys.exit(1) after compensating: final


def test_approval_times_out_and_the_timeout_replays(env: Env, shop: Shop) -> None:
    worker = env.worker()
    args = ["o3", "1500", "--approval-timeout", "1.5"]
    before = time.time()
    first = env.dp(*suspended_order(*args))
    after = time.time()
    assert first.returncode == 75, first.stderr
    run = env.run_ending(*args)
    assert before + 1.5 <= run["wake_at"] <= after + 1.5  # the timeout counts from the wait
    env.wait_status(run["run_id"], ("exited",), timeout=30)
    assert shop.calls("o3") == COMPENSATED
    assert "order failed: no approval within 1.5 s; compensating" in worker.out
    worker.stop()
    # The script ended itself (sys.exit(1)): final. Its journal replays the recorded timeout and
    # compensation without calling anything; resuming it only says how it ended.
    env.wait_unlocked(run["run_id"])
    replayed = env.dp("replay", run["run_id"])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replays cleanly to the end of the script" in replayed.stdout, replayed.stdout
    again = env.dp("resume", run["run_id"])
    assert again.returncode == 1 and "already exited" in again.stderr, again.stderr
    assert shop.calls("o3") == COMPENSATED


def test_cancel_a_live_order_compensates(env: Env, shop: Shop) -> None:
    process = env.start(*order("o4", "1500"))
    wait_until(lambda: "/notify" in shop.calls("o4"), 30, "the fraud team notification")
    run = env.run_ending("o4", "1500")
    cancel = env.dp("cancel", run["run_id"], "--wait")
    assert cancel.returncode == 0, cancel.stderr
    assert process.wait(30) == 79, process.err
    assert shop.calls("o4") == COMPENSATED
    assert "order failed: run" in process.out and "was cancelled" in process.out
    assert env.status(run["run_id"]) == "cancelled"
    again = env.dp(*suspended_order("o4", "1500"))  # final: the same command starts a new run
    assert again.returncode == 75, again.stderr
    assert len([r for r in env.runs() if r["argv"][1:] == ["o4", "1500"]]) == 2


def test_cancel_suspended_orders(env: Env, shop: Shop) -> None:
    assert env.dp(*suspended_order("o5", "1500")).returncode == 75
    assert env.dp(*suspended_order("o6", "1500")).returncode == 75
    o5, o6 = env.run_ending("o5", "1500"), env.run_ending("o6", "1500")

    cancel = env.dp("cancel", o5["run_id"])  # no process: marked cancelled, nothing runs
    assert cancel.returncode == 0, cancel.stderr
    assert env.status(o5["run_id"]) == "cancelled"
    assert shop.calls("o5") == START
    resume = env.dp("resume", o5["run_id"])
    assert resume.returncode == 79 and "already cancelled" in resume.stderr

    compensate = env.dp("cancel", o6["run_id"], "--compensate")  # resumed to raise Cancelled
    assert compensate.returncode == 79, compensate.stderr
    assert shop.calls("o6") == COMPENSATED
    assert env.status(o6["run_id"]) == "cancelled"


def test_sigkill_in_every_phase(env: Env, shop: Shop) -> None:
    """Kill a process right after each external call, timer and event is committed: the first
    process for the phases up to the wait, a resumed one (the same command again, after the
    approval was sent to the suspended run) for the phases after it. Then the worker resumes
    every dead run. Every call happens once, every line is printed once."""
    tail = ["1500", "--follow-up-after", "1"]

    def run(name: str, kill_at: int | None = None):
        extra = {} if kill_at is None else {"DURABLE_PYTHON_TEST_KILL_AT": str(kill_at)}
        return env.start(
            *["run", "--suspend", "--suspend-after", "2", "--run-id", name, str(ORDER_SCRIPT)],
            *[name, *tail],
            env=extra,
        )

    def approve(names: list[str]) -> None:
        """Send the approvals from Python (durable_python.send), the second time ignored."""
        code = (
            "import sys, durable_python\n"
            "for name in sys.argv[1:] * 2:\n"
            "    durable_python.send(name, 'approval', {'approved': True, 'by': 'carol'},"
            " event_id='review-' + name)\n"
        )
        sent = env.python("-c", code, *names)
        assert sent.returncode == 0, sent.stderr

    reference = run("ref")
    assert reference.wait(30) == 75, reference.err  # suspended: waiting for the approval
    approve(["ref"])
    env.wait_unlocked("ref")
    resumed = run("ref")
    assert resumed.wait(30) == 0, resumed.err
    assert shop.calls("ref") == APPROVED
    entries = [json.loads(line) for line in env.dp("show", "ref", "--json").stdout.splitlines()]
    phases = [e["seq"] + 1 for e in entries if e["policy"] in ("effect", "timer", "event")]
    names = [e["name"] for e in entries if e["policy"] in ("effect", "timer", "event")]
    assert len(phases) == 11, names  # 7 calls, a failed payment, its retry sleep, the follow-up
    wait = max(i for i, e in enumerate(entries) if e["policy"] == "event")
    before = [n for n in phases if n <= entries[wait]["seq"]]  # up to the wait's own timer
    after = [n for n in phases if n > entries[wait]["seq"]]

    first = {n: run(f"k{n}", n if n in before else None) for n in phases}
    for n, process in first.items():
        assert process.wait(30) == (-9 if n in before else 75), (n, process.err)
    approve([f"k{n}" for n in phases])
    for n in after:
        env.wait_unlocked(f"k{n}")
    second = {n: run(f"k{n}", n) for n in after}
    for n, process in second.items():
        assert process.wait(30) == -9, (n, process.err)

    worker = env.worker()
    for n in phases:
        env.wait_status(f"k{n}", ("completed",), timeout=60)
    worker.stop()
    assert worker.err.count("(its process died)") == len(phases)
    printed = worker.out + "".join(p.out for p in [*first.values(), *second.values()])
    for n in phases:
        name = f"k{n}"
        assert shop.calls(name) == APPROVED, (name, shop.calls(name))
        lines_once(
            printed,
            name,
            [
                "inventory reserved",
                "payment attempt 1 failed",
                f"payment pay-{name}: review",
                "waiting for approval",
                "payment approved by carol",
                "confirmation sent",
                "follow-up sent; order complete",
            ],
        )
