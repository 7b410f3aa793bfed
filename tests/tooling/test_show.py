"""``durable-python show``: what a person debugging a run reads, and what tools parse."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.e2e

REVIEW = """
    import time

    import durable_python


    class QuotaError(Exception):
        pass


    @durable_python.activity
    def fetch(n):
        raise QuotaError(f"quota hit for {n}")


    try:
        fetch(3)
    except QuotaError as exc:
        print("caught", exc)
    time.sleep(0.25)
    decision = durable_python.wait_for_event("approval", timeout=600)
    print("approved by", decision["by"])
"""

PAYLOAD = {"approved": True, "by": "alice", "notes": "looked at it " * 20, "score": [1, 2.5, None]}


def policy_of(line: str) -> str:
    """The policy column of a line of the text view (``main/4  +  0.539s  event  ...``)."""
    return line.split("s  ", 1)[1].split()[0]


def test_show_renders_errors_timers_and_events_and_json_carries_values(tool):
    tool.write("review.py", REVIEW)
    suspended = tool.cli("run", "--suspend", "--suspend-after", "0", "review.py")
    assert suspended.returncode == 75, suspended
    run_id = tool.newest_run()["run_id"]
    sent = tool.cli("send", run_id, "approval", json.dumps(PAYLOAD), "--id", "review-1")
    assert sent.returncode == 0, sent
    # Resumed before its 0.25 s sleep is due, the run would suspend in it again.
    (sleep,) = [e for e in tool.show(run_id) if e["name"] == "time.sleep"]
    time.sleep(max(0.0, sleep["value"] - time.time()))
    resumed = tool.cli("resume", run_id)
    assert resumed.returncode == 0, resumed

    shown = tool.show(run_id)
    entries = {e["name"] + ":" + e["policy"]: e for e in shown}
    failed = entries["__main__.fetch:effect"]
    assert failed["error"] == "QuotaError: quota hit for 3", failed  # the script's own class
    assert failed["summary"] == "raised QuotaError: quota hit for 3" and failed["value"] is None
    slept = entries["time.sleep:timer"]
    assert slept["value"] == pytest.approx(slept["started"] + 0.25, abs=0.01)
    assert slept["summary"].startswith("0.250 s, due "), slept
    event = entries["durable_python.wait_for_event:event"]
    assert event["value"] == {"id": "review-1", "payload": PAYLOAD}, event  # whole, as JSON
    lines = [e["value"] for e in shown if e["policy"] == "output"]
    assert lines == ["caught quota hit for 3\n", "approved by alice\n"]

    text = tool.cli("show", run_id)
    assert text.returncode == 0, text
    assert "-> raised QuotaError: quota hit for 3" in text.stdout, text.stdout
    event_line = next(x for x in text.stdout.splitlines()[2:] if policy_of(x) == "event")
    assert event_line.endswith("..."), event_line  # the text view cuts long values

    calls = tool.cli("show", run_id, "--calls")
    assert calls.returncode == 0, calls
    body = calls.stdout.splitlines()[2:]
    assert [policy_of(x) for x in body] == ["effect", "timer", "timer", "event"], calls.stdout
    as_json = tool.cli("show", run_id, "--calls", "--json")
    policies = [json.loads(x)["policy"] for x in as_json.stdout.splitlines()]
    assert policies == ["effect", "timer", "timer", "event"], as_json.stdout
