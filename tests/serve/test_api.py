"""The HTTP API of ``durable-python serve``, over real HTTP against a server each test starts,
on both stores: idempotent starts, reading runs and journals, events, cancel, the token, and
scripts outside the scripts directory refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from durable_python.testing import Witness

from .conftest import ServeSandbox

HELLO = """
import sys, urllib.request
import durable_python

trigger = durable_python.trigger()
with urllib.request.urlopen(f"{sys.argv[1]}/hello/{durable_python.run_id()}", data=b"") as r:
    r.read()
print("hello from", durable_python.run_id(), "started by", trigger["kind"])
"""

APPROVE = """
import durable_python

print("waiting for approval")
payload = durable_python.wait_for_event("approval")
print("approved by", payload["by"])
"""


@pytest.fixture
def witness():
    server = Witness()
    yield server
    server.close()


def test_the_same_run_id_twice_starts_one_run(sandbox: ServeSandbox, witness: Witness) -> None:
    sandbox.write("jobs/hello.py", HELLO)
    server = sandbox.serve()
    start = {"script": "jobs/hello.py", "args": [witness.url], "run_id": "hello-1"}
    first = server.post("/runs", json=start)
    assert first.status_code == 202, first.text
    assert first.headers["location"] == "/runs/hello-1"
    assert first.json()["created"] is True
    again = server.post("/runs", json=start)
    assert again.status_code == 202
    assert again.json()["created"] is False
    done = server.wait_status("hello-1", ("completed",))
    assert done["exit_code"] == 0
    assert done["trigger"] == {"kind": "api"}
    assert done["output_tail"] == ["hello from hello-1 started by api"]
    third = server.post("/runs", json=start)  # a finished run is not started again either
    assert third.json()["created"] is False
    assert witness.counts == {"POST /hello/hello-1": 1}

    other = server.post("/runs", json={**start, "args": ["elsewhere"]})
    assert other.status_code == 409
    assert "exists already with another command" in other.json()["detail"]

    journal = server.get("/runs/hello-1/journal").json()
    assert any(e["name"] == "urllib.request.urlopen" and e["policy"] == "effect" for e in journal)
    calls = server.get("/runs/hello-1/journal", params={"calls": "true"}).json()
    assert {e["policy"] for e in calls} <= {"effect", "awaited", "timer", "event", "cancel"}
    assert server.get("/runs/nope").status_code == 404
    assert server.get("/runs/nope/journal").status_code == 404
    assert server.stop() == 0  # SIGTERM: a clean stop
    assert "worker stopped" in server.process.err


def test_events_reach_a_waiting_run_once_and_cancel_stops_one(sandbox: ServeSandbox) -> None:
    sandbox.write("jobs/approve.py", APPROVE)
    server = sandbox.serve()
    for run_id in ("approve-1", "approve-2"):
        response = server.post("/runs", json={"script": "jobs/approve.py", "run_id": run_id})
        assert response.status_code == 202
    for run_id in ("approve-1", "approve-2"):  # a wait with no timeout holds no process
        view = server.wait_status(run_id, ("suspended",))
        assert view["waiting_for"] == "approval"
        assert view["output_tail"] == ["waiting for approval"]
    event = {"json": {"by": "ada"}, "headers": {"Idempotency-Key": "ticket-7"}}
    sent = server.post("/runs/approve-1/events/approval", **event)
    assert sent.status_code == 202
    assert sent.json() == {
        "run_id": "approve-1",
        "event": "approval",
        "event_id": "ticket-7",
        "new": True,
    }
    assert server.post("/runs/approve-1/events/approval", **event).json()["new"] is False
    done = server.wait_status("approve-1", ("completed",))
    assert done["output_tail"] == ["waiting for approval", "approved by ada"]
    late = server.post("/runs/approve-1/events/approval", json={"by": "bob"})
    assert late.status_code == 409
    assert server.post("/runs/nope/events/approval", json={}).status_code == 404
    json_type = {"Content-Type": "application/json"}
    not_json = server.post("/runs/approve-2/events/approval", content=b"{nope", headers=json_type)
    assert not_json.status_code == 422
    as_form = server.post("/runs/approve-2/events/approval", content=b'{"by": "x"}')
    assert as_form.status_code == 415  # what a web page could send to localhost unasked

    cancel = server.post("/runs/approve-2/cancel")
    assert cancel.status_code == 202
    assert cancel.json()["outcome"] == "cancelled"  # it had no process: nothing more ran
    cancelled = server.run("approve-2")
    assert cancelled["status"] == "cancelled"
    assert cancelled["output_tail"] == ["waiting for approval"]
    assert server.post("/runs/approve-1/cancel").status_code == 409  # completed: too late
    assert server.post("/runs/nope/cancel").status_code == 404


BUSY = """
import durable_python

try:
    durable_python.wait_for_event("stop", timeout=25)  # below the 30 s suspension threshold
except durable_python.Cancelled:
    print("cancelled while waiting")
    raise
"""


def test_a_live_run_and_a_queued_run_are_cancelled(sandbox: ServeSandbox, witness) -> None:
    sandbox.write("jobs/hello.py", HELLO)
    sandbox.write("jobs/busy.py", BUSY)
    server = sandbox.serve("--concurrency", "1")
    server.post("/runs", json={"script": "jobs/busy.py", "run_id": "busy"})
    server.wait_status("busy", ("running",))  # the only slot is taken
    server.post("/runs", json={"script": "jobs/hello.py", "args": [witness.url], "run_id": "q"})
    assert server.run("q")["status"] == "queued"
    cancel = server.post("/runs/q/cancel").json()
    assert cancel == {"run_id": "q", "outcome": "cancelled", "status": "cancelled"}
    assert server.post("/runs/busy/cancel").json()["outcome"] == "requested"
    assert server.wait_status("busy", ("cancelled",))["output_tail"] == ["cancelled while waiting"]
    assert witness.counts == {}


def test_runs_are_listed_newest_first_a_page_at_a_time(sandbox: ServeSandbox) -> None:
    sandbox.write("jobs/noop.py", "print('ok')\n")
    sandbox.write("jobs/other.py", "print('other')\n")
    server = sandbox.serve()
    ids = [f"noop-{n}" for n in range(7)]
    for run_id in ids:
        server.post("/runs", json={"script": "jobs/noop.py", "run_id": run_id})
    server.post("/runs", json={"script": "jobs/other.py", "run_id": "other"})
    for run_id in [*ids, "other"]:
        server.wait_status(run_id, ("completed",))
    seen, cursor = [], None
    while True:
        params = {"script": "jobs/noop.py", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = server.get("/runs", params=params).json()
        assert len(page["runs"]) <= 3
        seen += [run["run_id"] for run in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    completed = server.get("/runs", params={"status": "completed", "limit": 500}).json()
    assert len(completed["runs"]) == 8
    assert server.get("/runs", params={"status": "failed"}).json()["runs"] == []
    assert server.get("/runs", params={"cursor": "garbage!"}).status_code == 422
    assert server.get("/runs", params={"limit": 0}).status_code == 422


def test_every_request_needs_the_token(sandbox: ServeSandbox) -> None:
    sandbox.write("jobs/noop.py", "print('ok')\n")
    server = sandbox.serve(token="s3cret")
    assert server.get("/runs").status_code == 200
    assert server.get("/openapi.json").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        server.http.headers.pop("Authorization", None)
        server.http.headers.update(headers)
        for method, path in (("GET", "/runs"), ("GET", "/openapi.json"), ("POST", "/runs")):
            response = server.http.request(method, path, json={"script": "jobs/noop.py"})
            assert response.status_code in (401, 403), (method, path, response.text)
    assert sandbox.runs() == []


def test_serving_off_loopback_without_a_token_is_refused(sandbox: ServeSandbox) -> None:
    refused = sandbox.cli("serve", "--host", "0.0.0.0", "--port", "1", timeout=60)
    assert refused.returncode == 64
    assert "without a token" in refused.stderr


def test_scripts_outside_the_scripts_directory_are_never_run(
    sandbox: ServeSandbox, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    outside = tmp_path / "outside.py"
    outside.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    sandbox.write("jobs/noop.py", "print('ok')\n")
    os.symlink(outside, sandbox.work / "jobs" / "link.py")
    server = sandbox.serve("--scripts", "jobs")
    for script in ("../outside.py", str(outside), "jobs/../../outside.py", "link.py"):
        response = server.post("/runs", json={"script": script})
        assert response.status_code == 403, (script, response.text)
        assert "outside the scripts directory" in response.json()["detail"]
    assert server.post("/runs", json={"script": "missing.py"}).status_code == 404
    assert server.post("/runs", json={"script": "noop.py", "run_id": "../x"}).status_code == 422
    ok = server.post("/runs", json={"script": "noop.py", "run_id": "fine"})
    assert ok.status_code == 202
    server.wait_status("fine", ("completed",))
    assert not marker.exists()
    assert [run["run_id"] for run in sandbox.runs()] == ["fine"]
