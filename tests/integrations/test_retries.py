"""Retry policies from configuration, a block and a decorator; waits are durable timers and
every attempt is its own journal entry."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = """
import json, sys, urllib.error, urllib.request
import durable_python

base = sys.argv[1]

def get(path):
    with urllib.request.urlopen(base + path) as response:
        return json.loads(response.read())["count"]

with durable_python.retry(max_attempts=4, initial_interval=0.1, backoff_coefficient=2):
    print("block", get("/a?fail=2"))

@durable_python.retry(max_attempts=3, initial_interval=0.1)
@durable_python.activity
def step():
    return get("/b?fail=1")

print("decorated", step())
try:
    with durable_python.retry(max_attempts=2, initial_interval=0.1, exceptions=["HTTPError"]):
        get("/c?fail=9")
except urllib.error.HTTPError as e:
    print("gave up", e.code)
with durable_python.retry(max_attempts=5, non_retryable=[urllib.error.HTTPError]):
    try:
        get("/d?fail=1")
    except urllib.error.HTTPError as e:
        print("not retried", e.code)
print("configured", get("/e?fail=1"))
"""

CONFIG = """
[tool.durable-python]
retry = { max_attempts = 2, initial_interval = 0.1, calls = ["urllib.request.*"], exceptions = ["urllib.error.URLError"] }
"""


def test_retry_scopes_attempts_and_durable_waits(ih):
    ih.write("retries.py", SCRIPT)
    ih.write("pyproject.toml", CONFIG)
    prefix = ih.prefix()
    done = ih.run("retries.py", ih.server.url + prefix)
    assert done.returncode == 0, done
    assert done.stdout == "block 3\ndecorated 2\ngave up 503\nnot retried 503\nconfigured 2\n"
    assert ih.server.counts_under(prefix, by_method=True) == {
        "GET /a": 3,
        "GET /b": 2,
        "GET /c": 2,
        "GET /d": 1,
        "GET /e": 2,
    }
    entries = [e for e in ih.entries() if e["policy"] != "output"]
    opens = [e for e in entries if e["name"] == "urllib.request.urlopen"]
    assert [e["attempt"] for e in opens[:3]] == [0, 1, 2]  # show marks attempts 2 and 3
    assert sum(e["name"] == "durable_python.retry" for e in entries) == 2 + 1 + 1 + 1
    assert all(e["policy"] == "timer" for e in entries if e["name"] == "durable_python.retry")
    shown = ih.cli("show", _run_id(ih))
    assert "(attempt 3)" in shown.stdout, shown


def _run_id(ih) -> str:
    return max(ih.runs(), key=lambda r: r["started"])["run_id"]


def test_a_run_killed_during_a_retry_wait_waits_only_what_is_left(ih):
    ih.write(
        "wait.py",
        """
        import sys, urllib.request
        import durable_python
        with durable_python.retry(max_attempts=3, initial_interval=2.0):
            print(urllib.request.urlopen(sys.argv[1] + "/w?fail=1").status)
        """,
    )
    prefix = ih.prefix()
    first = ih.run("wait.py", ih.server.url + prefix, kill_at=2)  # right after the timer
    assert first.killed, first
    second = ih.run("wait.py", ih.server.url + prefix)
    assert second.returncode == 0 and second.stdout == "200\n", second
    assert ih.server.counts_under(prefix, by_method=True) == {
        "GET /w": 2
    }  # the failed attempt was not repeated
    entries = [e for e in ih.entries() if e["policy"] != "output"]
    failed, timer, succeeded = entries
    assert failed["attempt"] == 0 and succeeded["attempt"] == 1
    assert succeeded["started"] >= failed["ended"] + 2.0 - 0.05  # the wait was kept


def test_a_resume_replays_failed_attempts_through_the_policy_and_goes_on(ih):
    """Replay looks a retry policy up only for an entry that failed (a success replays as it is):
    the failed attempt, its wait and the retried one replay, then the run goes on retrying."""
    ih.write(
        "again.py",
        """
        import sys, urllib.request
        import durable_python
        with durable_python.retry(max_attempts=3, initial_interval=0.05):
            print(urllib.request.urlopen(sys.argv[1] + "/x?fail=1").status)
            print(urllib.request.urlopen(sys.argv[1] + "/y").status)
            print(urllib.request.urlopen(sys.argv[1] + "/z?fail=1").status)
        """,
    )
    prefix = ih.prefix()
    first = ih.run("again.py", ih.server.url + prefix, kill_at=5)  # once /y is committed
    assert first.killed and first.stdout == "200\n", first
    second = ih.run("again.py", ih.server.url + prefix)
    assert second.returncode == 0 and second.stdout == "200\n200\n", second
    assert ih.server.counts_under(prefix, by_method=True) == {"GET /x": 2, "GET /y": 1, "GET /z": 2}
    opens = [e for e in ih.entries() if e["name"] == "urllib.request.urlopen"]
    assert [e["attempt"] for e in opens] == [0, 1, 0, 0, 1]


def test_a_bad_retry_table_is_a_clear_error(ih):
    ih.write("noop.py", "print(1)\n")
    ih.write("pyproject.toml", "[tool.durable-python]\nretry = { max_tries = 3 }\n")
    done = ih.run("noop.py")
    assert done.returncode == 64, done
    assert "unknown key(s) max_tries" in done.stderr and "max_attempts" in done.stderr


def test_a_retried_request_keeps_its_idempotency_key(ih):
    ih.write(
        "pay.py",
        """
        import sys, urllib.request
        import durable_python
        with durable_python.retry(max_attempts=3, initial_interval=0.05):
            request = urllib.request.Request(sys.argv[1] + "/pay?fail=2", data=b"5")
            print(urllib.request.urlopen(request).status)
        """,
    )
    prefix = ih.prefix()
    done = ih.run("pay.py", ih.server.url + prefix, env={"DURABLE_PYTHON_IDEMPOTENCY_KEYS": "1"})
    assert done.returncode == 0 and done.stdout == "200\n", done
    keys = ih.server.keys[f"POST {prefix}/pay"]
    assert len(keys) == 3 and keys[0] is not None and len(set(keys)) == 1, keys
