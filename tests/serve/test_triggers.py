"""Triggers of ``durable-python serve`` in the real server, on both stores: cron schedules (each
fire once, with two servers on one store too; catch-up after a stop; overlap skip), file
arrivals, a server SIGKILLed mid-way, and webhooks over HTTP.

Schedules fire by the server's clock, ``durable_python.clock.now()``: the tests give the server
``DURABLE_PYTHON_TEST_CLOCK_OFFSET`` so that its "now" is a few seconds before a fire (or hours
after the last one), and compute from that the run ids the fires must have.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from durable_python.testing import Witness, wait_until

from .conftest import Server, ServeSandbox

MINUTE, HOUR = 60, 3600
LEAD = 4.0  # seconds between a server's start and the fire a test waits for
UNFINISHED = ("new", "queued", "running", "suspended")

TICK = """
import sys, urllib.request
import durable_python

trigger = durable_python.trigger()
with urllib.request.urlopen(f"{sys.argv[1]}/fired/{durable_python.run_id()}", data=b"") as r:
    r.read()
print("fired for", trigger["fire_time_iso"])
"""


@pytest.fixture
def witness() -> Iterator[Witness]:
    server = Witness()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_process_left(sandbox: ServeSandbox) -> Iterator[None]:
    """After the test (passed or not): servers stopped, unfinished runs cancelled, so that no
    run's process (a session of its own) outlives the test."""
    yield
    for server in sandbox.servers:
        if server.process.poll() is None:
            stop(server)
    for run in sandbox.runs():
        if run["status"] in UNFINISHED:
            sandbox.cli("cancel", "--wait", run["run_id"], timeout=60)


def clock(offset: float) -> dict[str, str]:
    """The environment that sets a server's (and its runs') clock ``offset`` seconds ahead."""
    return {"DURABLE_PYTHON_TEST_CLOCK_OFFSET": repr(offset)}


def offset_to(moment: float) -> float:
    """The clock offset that makes it ``moment`` now."""
    return moment - time.time()


def fire_id(name: str, fire: float) -> str:
    return f"{name}-{datetime.fromtimestamp(fire, UTC):%Y%m%dT%H%M%SZ}"


def iso(fire: float) -> str:
    return datetime.fromtimestamp(fire, UTC).isoformat()


def next_minute() -> float:
    """The start of a minute at least a minute away: a fire time no real clock has reached."""
    return (time.time() // MINUTE + 2) * MINUTE


def run_ids(server: Server, prefix: str = "") -> list[str]:
    runs = server.get("/runs", params={"limit": 500}).json()["runs"]
    return sorted(run["run_id"] for run in runs if run["run_id"].startswith(prefix))


def wait_runs(server: Server, prefix: str, count: int, timeout: float = 120) -> list[str]:
    """The ids of the runs whose id starts with ``prefix``, once there are ``count``."""

    def enough() -> list[str] | None:
        ids = run_ids(server, prefix)
        return ids if len(ids) >= count else None

    try:
        return wait_until(enough, timeout, f"{count} run(s) {prefix}*", poll=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; server said:\n{server.process.err}") from None


def fired_until(sandbox: ServeSandbox, name: str, moment: float) -> None:
    """Set the schedule's cursor in the store, as a server that ran until ``moment`` would. A
    server started afterwards fires the next fire whether it is up before the fire or slower
    to start (catch_up = "last"); one that never fired would only set the cursor at its first
    tick (the catch-up test covers that), and miss a fire it is late for."""
    store = sandbox.open_store()
    store.ensure()
    assert store.advance_schedule(name, None, moment)


def cursors(sandbox: ServeSandbox) -> dict[str, float | None]:
    """How far each schedule has fired, as ``durable-python schedules --json`` says."""
    done = sandbox.cli("schedules", "--json")
    assert done.exit_code == 0, done
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return {
        r["name"]: None
        if r["fired_until"] is None
        else datetime.fromisoformat(r["fired_until"]).timestamp()
        for r in records
    }


def stop(server: Server, sig: int = signal.SIGTERM) -> None:
    """Stop (SIGTERM) or kill (SIGKILL) the server and wait for its end, not for the runs it
    started: they hold its output pipes until they end (``Server.stop`` waits for those)."""
    server.http.close()
    server.process.send_signal(sig)
    server.process.popen.wait(60)


def hand_over(sandbox: ServeSandbox, name: str, text: str, directory: str = "inbox") -> Path:
    """Write a file elsewhere and rename it into ``directory``: it arrives whole."""
    temporary = sandbox.work / "incoming" / name
    temporary.parent.mkdir(exist_ok=True)
    temporary.write_text(text)
    target = sandbox.work / directory / name
    target.parent.mkdir(exist_ok=True)
    os.rename(temporary, target)
    return target


# ----- schedules --------------------------------------------------------------------------------


def test_a_schedule_fires_once_and_moves_its_cursor(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/tick.py", TICK)
    sandbox.write(
        "pyproject.toml",
        f"""
        [tool.durable-python.schedules]
        every = {{ cron = "* * * * *", script = "jobs/tick.py", args = ["{witness.url}"] }}
        """,
    )
    fire = next_minute()
    fired_until(sandbox, "every", fire - 30)
    server = sandbox.serve(env=clock(offset_to(fire - LEAD)))
    (run_id,) = wait_runs(server, "every-", 1)
    assert run_id == fire_id("every", fire)
    done = server.wait_status(run_id, ("completed",))
    assert done["trigger"] == {
        "kind": "schedule",
        "schedule": "every",
        "fire_time": fire,
        "fire_time_iso": iso(fire),
        "cron": "* * * * *",
        "timezone": "UTC",
    }
    assert done["args"] == [witness.url]
    assert done["output_tail"] == [f"fired for {iso(fire)}"]
    assert witness.counts == {f"POST /fired/{run_id}": 1}
    assert [run["run_id"] for run in sandbox.runs()] == [run_id]
    assert cursors(sandbox)["every"] >= fire
    assert f"schedule every fired for {iso(fire)[:16].replace('T', ' ')} UTC: run {run_id}" in (
        server.process.err
    )


def test_two_servers_on_one_store_start_each_fire_once(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/tick.py", TICK)
    sandbox.write(  # overlap = "allow": no dedup key hides a second start, only the run id
        "pyproject.toml",
        f"""
        [tool.durable-python.schedules]
        every = {{ cron = "* * * * *", script = "jobs/tick.py", args = ["{witness.url}"], overlap = "allow" }}
        """,
    )
    fire = next_minute()
    fired_until(sandbox, "every", fire - 30)
    env = clock(offset_to(fire - LEAD))
    with ThreadPoolExecutor(2) as pool:  # both wake up for the fire at the same moment
        first, second = pool.map(lambda _: sandbox.serve(env=env), range(2))
    (run_id,) = wait_runs(first, "every-", 1)
    assert run_id == fire_id("every", fire)
    first.wait_status(run_id, ("completed",))
    assert second.run(run_id)["status"] == "completed"
    assert witness.counts == {f"POST /fired/{run_id}": 1}
    assert [run["run_id"] for run in sandbox.runs()] == [run_id]
    said = [f": run {run_id}\n" in server.process.err for server in (first, second)]
    assert said.count(True) <= 1, said  # the other found it started, or the cursor moved


def test_catch_up_after_a_stop_starts_all_missed_fires_or_the_last(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/tick.py", TICK)
    sandbox.write(
        "pyproject.toml",
        f"""
        [tool.durable-python.schedules]
        all = {{ cron = "0 * * * *", script = "jobs/tick.py", args = ["{witness.url}"], overlap = "allow", catch_up = "all" }}
        last = {{ cron = "0 * * * *", script = "jobs/tick.py", args = ["{witness.url}"], catch_up = "last" }}
        """,
    )
    hour = (time.time() // HOUR + 1) * HOUR  # an hour no real clock has reached
    server = sandbox.serve(env=clock(offset_to(hour + 10 * MINUTE)))  # 10 past: nothing due
    wait_until(lambda: None not in cursors(sandbox).values(), 60, "the first ticks")
    stop(server)
    assert sandbox.runs() == []

    server = sandbox.serve(env=clock(offset_to(hour + 3 * HOUR + 10 * MINUTE)))  # 3 hours on
    missed = [hour + n * HOUR for n in (1, 2, 3)]  # 1, 2 and 3 o'clock; "last": 3 o'clock
    expected = {fire_id("all", fire): fire for fire in missed}
    expected[fire_id("last", missed[-1])] = missed[-1]
    assert wait_runs(server, "", 4) == sorted(expected)
    for run_id, fire in expected.items():
        done = server.wait_status(run_id, ("completed",))
        assert (done["trigger"]["fire_time"], done["output_tail"]) == (
            fire,
            [f"fired for {iso(fire)}"],
        )
    assert witness.counts == {f"POST /fired/{run_id}": 1 for run_id in expected}
    assert run_ids(server) == sorted(expected)
    assert all(cursor >= missed[-1] for cursor in cursors(sandbox).values())


SLOW = """
import sys, urllib.request
import durable_python

with urllib.request.urlopen(f"{sys.argv[1]}/fired/{durable_python.run_id()}", data=b"") as r:
    r.read()
print("started")
durable_python.wait_for_event("done", timeout=90)  # below --suspend-after: holds its process
print("done")
"""


def test_overlap_skip_starts_no_fire_while_the_last_run_is_unfinished(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/slow.py", SLOW)
    sandbox.write(
        "pyproject.toml",
        f"""
        [tool.durable-python.schedules]
        every = {{ cron = "* * * * *", script = "jobs/slow.py", args = ["{witness.url}"], overlap = "skip" }}
        """,
    )
    fire = next_minute()
    fired_until(sandbox, "every", fire - 30)
    server = sandbox.serve("--suspend-after", "120", env=clock(offset_to(fire - LEAD)))
    (running,) = wait_runs(server, "every-", 1)
    assert running == fire_id("every", fire)
    server.wait_status(running, ("running",))
    stop(server)  # the run goes on in its own process

    # A minute on (the clock jumps: a server started later): the next fire finds it unfinished.
    server = sandbox.serve("--suspend-after", "120", env=clock(offset_to(fire + MINUTE + 5)))
    skipped = f"skipped: run {running} of the schedule is still unfinished"
    wait_until(lambda: skipped in server.process.err, 60, "the skipped fire")
    assert cursors(sandbox)["every"] >= fire + MINUTE
    assert run_ids(server) == [running]
    assert server.run(running)["status"] == "running"
    sent = server.post(f"/runs/{running}/events/done", json={})
    assert sent.status_code == 202, sent.text
    assert server.wait_status(running, ("completed",))["output_tail"] == ["started", "done"]
    stop(server)

    # Once it has finished, the next fire starts a run again.
    server = sandbox.serve("--suspend-after", "120", env=clock(offset_to(fire + 2 * MINUTE + 5)))
    following = fire_id("every", fire + 2 * MINUTE)
    assert wait_runs(server, "every-", 2) == [running, following]
    server.wait_status(following, ("running",))
    server.post(f"/runs/{following}/events/done", json={})
    server.wait_status(following, ("completed",))
    assert witness.counts == {f"POST /fired/{running}": 1, f"POST /fired/{following}": 1}


# ----- file arrival -----------------------------------------------------------------------------

INGEST = """
import os, sys, urllib.request
import durable_python

path, witness = sys.argv[1], sys.argv[2]
name = os.path.basename(path)
url = f"{witness}/ingest/{durable_python.run_id()}/{name}"
with urllib.request.urlopen(url, data=name.encode()) as r:
    r.read()
with open(path) as f:
    print(name, f.read().strip())
"""


def watch_config(witness: Witness) -> str:
    return f"""
        [tool.durable-python.watch]
        inbox = {{ directory = "inbox", glob = "*.csv", script = "jobs/ingest.py", args = ["{{path}}", "{witness.url}"] }}
        """


def ingested(server: Server, ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each run's file name and content, as it printed them once it completed."""
    found = {}
    for run_id in ids:
        done = server.wait_status(run_id, ("completed",))
        (line,) = done["output_tail"]
        name, _, content = line.partition(" ")
        found[run_id] = (name, content)
    return found


def test_each_file_that_arrives_starts_one_run_even_across_a_restart(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/ingest.py", INGEST)
    sandbox.write("pyproject.toml", watch_config(witness))
    sandbox.write("inbox/a.csv", "alpha\n")  # there before the server starts
    sandbox.write("inbox/b.csv", "bravo\n")
    sandbox.write("inbox/notes.txt", "not a csv\n")
    server = sandbox.serve()
    before = wait_runs(server, "inbox-", 2)
    assert sorted(ingested(server, before).values()) == [("a.csv", "alpha"), ("b.csv", "bravo")]

    hand_over(sandbox, "readme.txt", "not a csv either\n")  # arrives, does not match the glob
    hand_over(sandbox, "c.csv", "charlie\n")  # written outside the directory, renamed in
    (sandbox.work / "inbox/.d.csv.part").write_text("delta\n")  # a hidden name is never taken
    os.rename(sandbox.work / "inbox/.d.csv.part", sandbox.work / "inbox/d.csv")
    arrived = [i for i in wait_runs(server, "inbox-", 4) if i not in before]
    assert sorted(ingested(server, arrived).values()) == [("c.csv", "charlie"), ("d.csv", "delta")]
    runs = {run_id: server.run(run_id) for run_id in before + arrived}
    for run_id, run in runs.items():
        path = Path(run["args"][0])
        content = path.read_bytes()
        assert run["args"] == [str(path), witness.url]
        assert path.parent == (sandbox.work / "inbox").resolve()
        assert run["trigger"] == {
            "kind": "file",
            "watch": "inbox",
            "path": str(path),
            "name": path.name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
        }
        assert witness.counts[f"POST /ingest/{run_id}/{path.name}"] == 1
    stop(server)

    # A restart scans the directory again: the same files start nothing new. A file that
    # arrives afterwards shows that the scan at the start is over.
    server = sandbox.serve()
    hand_over(sandbox, "e.csv", "echo\n")
    (after,) = [i for i in wait_runs(server, "inbox-", 5) if i not in runs]
    assert ingested(server, [after]) == {after: ("e.csv", "echo")}
    assert len(run_ids(server)) == 5

    # The same file again: the same content starts nothing; new content is a new run.
    b = sandbox.work / "inbox/b.csv"
    os.utime(b, (time.time() - 60, time.time() - 60))  # changed, and settled long ago
    hand_over(sandbox, "a.csv", "alpha, corrected\n")
    (again,) = [i for i in wait_runs(server, "inbox-", 6) if i not in runs and i != after]
    assert ingested(server, [again]) == {again: ("a.csv", "alpha, corrected")}
    assert (
        server.run(again)["trigger"]["sha256"] == hashlib.sha256(b"alpha, corrected\n").hexdigest()
    )
    expected = {f"POST /ingest/{i}/{server.run(i)['trigger']['name']}": 1 for i in run_ids(server)}
    assert len(expected) == 6
    assert witness.counts == expected
    assert not any(name.endswith(".txt") for name in witness.counts)


# ----- a server killed mid-way ------------------------------------------------------------------

STEPS = """
import sys, time, urllib.request
import durable_python

witness, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
me = durable_python.run_id()
for step in range(steps):
    with urllib.request.urlopen(f"{witness}/step/{me}/{step}", data=b"") as r:
        r.read()
    print("step", step)
    time.sleep(pause)  # below --suspend-after: the process sleeps
print("done")
"""


def test_a_server_killed_mid_way_loses_nothing_and_starts_nothing_twice(
    sandbox: ServeSandbox, witness: Witness
) -> None:
    sandbox.write("jobs/steps.py", STEPS)
    sandbox.write("jobs/ingest.py", INGEST)
    sandbox.write("pyproject.toml", watch_config(witness))
    server = sandbox.serve()
    steps = {"steps-0": 10, "steps-1": 5, "steps-2": 5, "steps-3": 5}  # steps-0 gets killed too
    starts = {
        run_id: {"script": "jobs/steps.py", "args": [witness.url, str(n), "0.6"], "run_id": run_id}
        for run_id, n in steps.items()
    }
    for start in starts.values():
        assert server.post("/runs", json=start).json()["created"] is True
    for run_id in steps:
        witness.wait_for(f"POST /step/{run_id}/1")
    stop(server, signal.SIGKILL)

    # The runs go on without the server, each in a session of its own; one of them dies too.
    victim = sandbox.open_store().read("steps-0")
    assert (victim.status, victim.pid is not None) == ("running", True), victim
    os.kill(victim.pid, signal.SIGKILL)
    assert witness.counts[f"POST /step/steps-0/{steps['steps-0'] - 1}"] == 0  # killed mid-way
    for run_id in ("steps-1", "steps-2", "steps-3"):
        sandbox.wait_status(run_id, ("completed",), timeout=60)
    hand_over(sandbox, "late.csv", "arrived while no server ran\n")
    assert sandbox.status("steps-0") == "running"  # says its record; its process is gone

    server = sandbox.serve()
    (late,) = wait_runs(server, "inbox-", 1)
    assert ingested(server, [late]) == {late: ("late.csv", "arrived while no server ran")}
    resumed = server.wait_status("steps-0", ("completed",))
    assert "resuming run steps-0 (its process died)" in server.process.err
    assert resumed["output_tail"] == [f"step {n}" for n in range(steps["steps-0"])] + ["done"]
    for run_id, n in steps.items():
        done = server.run(run_id)
        assert (done["status"], done["exit_code"]) == ("completed", 0)
        assert done["output_tail"] == [f"step {step}" for step in range(n)] + ["done"]
        again = server.post("/runs", json=starts[run_id])
        assert (again.status_code, again.json()["created"]) == (202, False)
    # Each effect happened once; only the one in flight when steps-0 was killed may have
    # happened twice (it had not been recorded): the journal replayed the others.
    counts = witness.counts_under("/step")
    for run_id, n in steps.items():
        done = {step: counts.get(f"/{run_id}/{step}", 0) for step in range(n)}
        if run_id == "steps-0":
            assert set(done.values()) <= {1, 2} and sum(done.values()) <= n + 1, done
        else:
            assert set(done.values()) == {1}, (run_id, done)
    assert sorted(run_ids(server)) == sorted([*steps, late])


# ----- webhooks ---------------------------------------------------------------------------------

PULL_REQUEST = """
import sys
import durable_python

opened = durable_python.trigger()
print("opened:", sys.argv[1], "delivery", opened["headers"]["x-github-delivery"])
closed = durable_python.wait_for_event("closed")
print("closed:", closed["body"]["action"], "delivery", closed["headers"]["x-github-delivery"])
durable_python.wait_for_event("merged")
try:
    durable_python.wait_for_event("closed", timeout=0)
    print("closed twice")
except TimeoutError:
    print("closed once")
"""

ECHO = """
import durable_python

print("echo:", durable_python.trigger()["body"]["title"])
"""

HOOKS = """
[[tool.durable-python.webhooks."/github"]]
when = { "headers.x-github-event" = "pull_request", "body.action" = "opened" }
script = "jobs/pr.py"
run_id = "pr-{body.number}"
args = ["{body.pull_request.title}"]
secret = "hush"

[[tool.durable-python.webhooks."/github"]]
when = { "headers.x-github-event" = "pull_request", "body.action" = "closed" }
event = "closed"
run_id = "pr-{body.number}"
secret = "hush"

[tool.durable-python.webhooks."/plain"]
script = "jobs/echo.py"
run_id = "plain-{query.id}"
"""


def delivery(
    body: dict, delivery_id: str, secret: str | None = "hush", event: str = "pull_request"
) -> dict:
    """The keyword arguments of a POST as GitHub sends it: the body signed with ``secret``."""
    content = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), content, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return {"content": content, "headers": headers}


def test_webhooks_check_signatures_start_runs_and_send_events_once(
    sandbox: ServeSandbox,
) -> None:
    sandbox.write("jobs/pr.py", PULL_REQUEST)
    sandbox.write("jobs/echo.py", ECHO)
    sandbox.write("pyproject.toml", HOOKS)
    server = sandbox.serve(token="t0ken")  # a path with a secret needs no token: it is signed
    github = httpx.Client(base_url=server.url, timeout=30)
    opened = {"action": "opened", "number": 7, "pull_request": {"title": "Fix the fee"}}

    for unsigned in (
        delivery(opened, "d-1", secret=None),
        delivery(opened, "d-1", secret="wrong"),
        {**delivery(opened, "d-1"), "content": json.dumps({**opened, "number": 8}).encode()},
    ):
        refused = github.post("/github", **unsigned)
        assert refused.status_code == 401, refused.text
    assert run_ids(server) == []

    first = github.post("/github", **delivery(opened, "d-1"))
    assert (first.status_code, first.json()) == (202, {"run_id": "pr-7", "created": True})
    assert first.headers["location"] == "/runs/pr-7"
    again = github.post("/github", **delivery(opened, "d-1"))  # redelivered
    assert (again.status_code, again.json()) == (202, {"run_id": "pr-7", "created": False})
    waiting = server.wait_status("pr-7", ("suspended",))
    assert waiting["waiting_for"] == "closed"
    assert waiting["args"] == ["Fix the fee"]
    trigger = waiting["trigger"]
    assert (trigger["kind"], trigger["path"], trigger["body"]) == ("webhook", "/github", opened)
    assert trigger["headers"]["x-github-delivery"] == "d-1"

    labeled = github.post("/github", **delivery({**opened, "action": "labeled"}, "d-2"))
    assert labeled.status_code == 200
    assert "no rule of /github matches" in labeled.json()["ignored"]
    pushed = github.post("/github", **delivery(opened, "d-3", event="push"))
    assert pushed.status_code == 200 and "ignored" in pushed.json()
    nameless = github.post("/github", **delivery({"action": "opened"}, "d-4"))
    assert nameless.status_code == 422
    assert "body.number" in nameless.json()["detail"]
    assert run_ids(server) == ["pr-7"]

    closed = {"action": "closed", "number": 7}
    sent = github.post("/github", **delivery(closed, "d-5"))
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"run_id": "pr-7", "event": "closed", "event_id": "d-5", "new": True}
    resent = github.post("/github", **delivery(closed, "d-5"))  # the run still waits: merged
    assert resent.status_code == 202, resent.text
    assert resent.json()["new"] is False
    nobody = github.post("/github", **delivery({**closed, "number": 99}, "d-6"))
    assert nobody.status_code == 200
    assert "no such run" in nobody.json()["ignored"]
    server.wait_status("pr-7", ("suspended",))
    wait_until(lambda: server.run("pr-7")["waiting_for"] == "merged", 60, "the wait for merged")
    assert server.post("/runs/pr-7/events/merged", json={}).status_code == 202
    done = server.wait_status("pr-7", ("completed",))
    assert done["output_tail"] == [
        "opened: Fix the fee delivery d-1",
        "closed: closed delivery d-5",
        "closed once",
    ]

    # A path without a secret is the API's: it needs the token.
    plain = {"json": {"title": "hello"}, "params": {"id": "1"}}
    assert github.post("/plain", **plain).status_code == 401
    assert (
        github.post("/plain", headers={"Authorization": "Bearer nope"}, **plain).status_code == 401
    )
    started = server.post("/plain", **plain)
    assert (started.status_code, started.json()) == (202, {"run_id": "plain-1", "created": True})
    plain = server.wait_status("plain-1", ("completed",))
    assert plain["output_tail"] == ["echo: hello"]
    assert "authorization" not in plain["trigger"]["headers"]  # checked, never kept
    assert run_ids(server) == ["plain-1", "pr-7"]
    github.close()
