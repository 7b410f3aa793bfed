"""``enqueue`` and ``worker`` on either store: ids and dedup keys, priority, limits across
workers, deployed code checked by its source hash, and a worker killed with its runs."""

from __future__ import annotations

from durable_python.testing import wait_until

from .conftest import kill_with_descendants

JOB = """
import sys
import time

from fleet_client import hit

hit(f"{sys.argv[1]}/begin")
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
hit(f"{sys.argv[1]}/end")
"""
QUEUES = """
[tool.durable-python.queues]
jobs = {{ concurrency = {concurrency} }}
"""


def _enqueue(node, *args: str) -> str:
    done = node.cli("enqueue", *args)
    assert done.exit_code == 0, done
    return done.stdout.strip()


def _statuses(node) -> dict[str, str]:
    return {row["run_id"]: row["status"] for row in node.runs()}


def _wait_completed(node, run_ids, timeout: float = 120) -> None:
    wanted = set(run_ids)
    wait_until(
        lambda: all(_statuses(node).get(r) == "completed" for r in wanted),
        timeout,
        f"runs {sorted(wanted)} to complete",
    )


def test_enqueued_runs_start_once_in_priority_order(nodes, witness) -> None:
    node = nodes("a")
    node.write("job.py", JOB)
    node.write("pyproject.toml", QUEUES.format(concurrency=1))
    url = witness.url + f"/order-{node.machine}"
    ids = {
        "late": _enqueue(node, "--queue", "jobs", "--priority", "5", "job.py", f"{url}/late"),
        "first": _enqueue(node, "--queue", "jobs", "--priority", "-1", "job.py", f"{url}/first"),
        "fixed": _enqueue(node, "--queue", "jobs", "--run-id", "fixed1", "job.py", f"{url}/fixed"),
        "keyed": _enqueue(node, "--queue", "jobs", "--dedup", "k1", "job.py", f"{url}/keyed"),
    }
    assert ids["fixed"] == "fixed1"
    again = node.cli("enqueue", "--queue", "jobs", "--run-id", "fixed1", "job.py", f"{url}/x")
    assert again.stdout.strip() == "fixed1" and "nothing new recorded" in again.stderr
    dedup = node.cli("enqueue", "--queue", "jobs", "--dedup", "k1", "job.py", f"{url}/y")
    assert dedup.stdout.strip() == ids["keyed"] and "dedup key 'k1'" in dedup.stderr
    assert set(_statuses(node).values()) == {"queued"}
    node.worker()
    _wait_completed(node, ids.values())
    order = [name for name, _ in witness.requests if name.startswith(f"GET /order-{node.machine}")]
    assert order == [
        f"GET /order-{node.machine}/{which}/{step}"
        for which in ("first", "fixed", "keyed", "late")
        for step in ("begin", "end")
    ]


def test_a_queue_runs_at_most_its_concurrency_across_workers(nodes, witness) -> None:
    workers = [nodes(f"w{n}") for n in range(2)]
    for node in workers:
        node.write("job.py", JOB)
        node.write("pyproject.toml", QUEUES.format(concurrency=2))
    url = witness.url + f"/limit-{workers[0].machine}"
    ids = [_enqueue(workers[0], "--queue", "jobs", "job.py", f"{url}/{n}", "0.5") for n in range(6)]
    for node in workers:
        node.worker()
    _wait_completed(workers[0], ids)
    executing, most = 0, 0
    for name, _ in witness.requests:
        if name.startswith(f"GET /limit-{workers[0].machine}/"):
            executing += 1 if name.endswith("/begin") else -1
            most = max(most, executing)
    assert most <= 2 and executing == 0
    assert len(witness.counts_under(f"/limit-{workers[0].machine}")) == 12


def test_a_worker_runs_only_the_version_of_the_script_that_was_enqueued(nodes, witness) -> None:
    enqueuer, stale, current = nodes("enqueuer"), nodes("stale"), nodes("current")
    for node in (enqueuer, current):
        node.write("job.py", JOB)
    stale.write("job.py", JOB + "\nprint('an older version')\n")
    url = witness.url + f"/deploy-{enqueuer.machine}"
    run_id = _enqueue(enqueuer, "job.py", f"{url}/strict")
    lenient = _enqueue(enqueuer, "--accept-changes", "job.py", f"{url}/lenient")
    (enqueuer.work / "job.py").unlink()  # workers have only their own copies of the project
    stale_worker = stale.worker()
    _wait_completed(stale, [lenient])
    left = {row["run_id"]: row for row in stale.runs()}[run_id]
    assert left["status"] == "queued"
    assert "has another version of the script" in left["note"], left
    assert "--accept-changes" in left["note"]
    listing = stale.cli("runs").stdout
    assert "another version of the script" in listing
    kill_with_descendants(stale_worker)
    current.worker()
    _wait_completed(current, [run_id])
    assert {row["run_id"]: row["note"] for row in current.runs()}[run_id] is None
    assert witness.counts_under(f"/deploy-{enqueuer.machine}") == {
        "/strict/begin": 1,
        "/strict/end": 1,
        "/lenient/begin": 1,
        "/lenient/end": 1,
    }


def test_the_run_of_a_killed_worker_resumes_from_its_journal_elsewhere(nodes, witness) -> None:
    first, second = nodes("first"), nodes("second")
    for node in (first, second):
        node.write("job.py", JOB)
    url = witness.url + f"/takeover-{first.machine}"
    run_id = _enqueue(first, "job.py", url, "3")
    worker = first.worker("--lease-timeout", "2")
    wait_until(lambda: len(first.show(run_id)) >= 1, 60, "the first effect to be recorded")
    assert kill_with_descendants(worker) >= 1  # the worker and the run's process
    second.worker("--lease-timeout", "2")
    _wait_completed(second, [run_id])
    assert witness.counts_under(f"/takeover-{first.machine}") == {"/begin": 1, "/end": 1}
    assert {row["run_id"]: row["queue"] for row in second.runs()}[run_id] == "default"
