"""What the console does to a run, through the API over real HTTP, on both stores: its source
with the lines of its entries, resume now, fork at an entry, replay against the current code
(clean, then diverged after an edit), and finding runs by id, arguments and time."""

from __future__ import annotations

import time

from .conftest import STEPS, ServeSandbox


def test_source_fork_resume_and_replay(sandbox: ServeSandbox) -> None:
    script = sandbox.write("jobs/steps.py", STEPS)
    server = sandbox.serve()
    server.post("/runs", json={"script": "jobs/steps.py", "args": ["out"], "run_id": "steps"})
    view = server.wait_status("steps", ("suspended",))
    assert view["waiting_for"] == "go"

    source = server.get("/runs/steps/source").json()
    assert source["path"] == "jobs/steps.py"
    assert source["text"] == script.read_text()
    assert source["changed"] is False
    write_line = next(
        n for n, text in enumerate(source["text"].splitlines(), 1) if "write_text" in text
    )
    assert source["lines"][str(write_line)] == ["main/1", "main/2", "main/3"]  # 0: mkdir
    print_line = next(
        n for n, text in enumerate(source["text"].splitlines(), 1) if "waiting for go" in text
    )
    assert source["frontier"] == print_line  # its last entry: the wait records when it ends

    clean = server.post("/runs/steps/replay").json()
    assert clean["status"] == "clean", clean
    assert clean["replayed"] == clean["total"] > 0

    resumed = server.post("/runs/steps/resume")  # now, though nothing it waits for arrived
    assert resumed.status_code == 202, resumed.text
    server.wait_status("steps", ("running", "suspended"))
    assert server.wait_status("steps", ("suspended",))["waiting_for"] == "go"
    assert server.post("/runs/nope/resume").status_code == 404

    forked = server.post("/runs/steps/fork", json={"at": "main/3"})
    assert forked.status_code == 202, forked.text
    fork_id = forked.json()["run_id"]
    assert server.wait_status(fork_id, ("suspended",))["waiting_for"] == "go"
    kept = [e for e in server.get(f"/runs/{fork_id}/journal").json() if e["policy"] == "effect"]
    assert [e["seq"] for e in kept] == [0, 1, 2, 3]  # 0-2 copied and replayed, 3 ran again
    assert server.post("/runs/steps/fork", json={"at": "main/99"}).status_code == 422

    script.write_text(script.read_text().replace("step {n}", "STEP {n}"))
    diverged = server.post("/runs/steps/replay").json()
    assert diverged["status"] == "diverged", diverged
    assert diverged["divergence"]["same_callable"] is True
    assert "step 0" in diverged["divergence"]["recorded"]
    assert "STEP 0" in diverged["divergence"]["attempted"]
    assert server.get("/runs/steps/source").json()["changed"] is True

    for run_id in ("steps", fork_id):
        server.post(f"/runs/{run_id}/cancel")
    assert server.post("/runs/steps/resume").status_code == 409  # cancelled: final


def test_runs_are_found_by_id_arguments_and_time(sandbox: ServeSandbox) -> None:
    sandbox.write("jobs/noop.py", "print('ok')\n")
    server = sandbox.serve()
    server.post(
        "/runs", json={"script": "jobs/noop.py", "args": ["invoice", "1138"], "run_id": "a"}
    )
    server.post("/runs", json={"script": "jobs/noop.py", "args": ["refund"], "run_id": "b"})
    middle = time.time()
    time.sleep(0.05)  # the runs' start times fall on either side of it
    server.post("/runs", json={"script": "jobs/noop.py", "args": ["invoice", "7"], "run_id": "c"})
    for run_id in "abc":
        server.wait_status(run_id, ("completed",))

    def ids(**params: object) -> list[str]:
        return [run["run_id"] for run in server.get("/runs", params=params).json()["runs"]]

    assert ids(q="INVOICE") == ["c", "a"]
    assert ids(q="1138") == ["a"]
    assert ids(q="refund") == ["b"]
    assert ids(since=middle) == ["c"]
    assert ids(until=middle) == ["b", "a"]
    assert ids(q="invoice", until=middle) == ["a"]
    assert ids(status="completed", limit=2) == ["c", "b"]
