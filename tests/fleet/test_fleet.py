"""A fleet on PostgreSQL: three workers in separate working directories (three machines, no
shared file), 50 enqueued runs of 20 effects each; one worker is SIGKILLed with its runs twice
mid-way and started again. Every run completes, every effect reached the witness once but the
ones in flight at a kill, and no run was executed by two processes at once."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

from durable_python.testing import wait_until

from .conftest import Node, kill_with_descendants

RUNS, EFFECTS = 50, 20
JOB = f"""
import sys

import durable_python
from fleet_client import hit

for step in range({EFFECTS}):
    hit(f"{{sys.argv[1]}}/{{durable_python.run_id()}}/{{step}}?sleep=0.01")
"""


def test_a_fleet_survives_a_worker_killed_twice(
    tmp_path: Path, postgresql_url: str, witness, durable_python: str
) -> None:
    prefix = f"/fleet-{tmp_path.name}"
    enqueuer = Node(tmp_path / "enqueuer", postgresql_url, "enqueuer")
    machines = [Node(tmp_path / f"machine{n}", postgresql_url, f"machine{n}") for n in range(3)]
    for node in (enqueuer, *machines):
        node.write("job.py", JOB)
    ids = []
    for _ in range(RUNS):
        done = enqueuer.cli("enqueue", "job.py", witness.url + prefix)
        assert done.exit_code == 0, done
        ids.append(done.stdout.strip())
    options = ("--concurrency", "3", "--lease-timeout", "3")
    workers = [node.worker(*options) for node in machines]
    store = enqueuer.open_store()

    def midway_on_machine0(enough: int) -> bool:
        """At least ``enough`` effects so far, and a run of machine0 amid its effects."""
        progress: dict[str, tuple[int, str]] = {}
        for name, headers in list(witness.requests):
            if name.startswith(f"GET {prefix}/"):
                run_id = name.split("/")[2]
                progress[run_id] = (progress.get(run_id, (0, ""))[0] + 1, headers["X-Holder"])
        total = sum(count for count, _ in progress.values())
        return total >= enough and any(
            count < EFFECTS and holder.startswith("machine0/")
            for count, holder in progress.values()
        )

    killed = 0
    for when in (RUNS * EFFECTS // 4, RUNS * EFFECTS // 2):
        wait_until(lambda when=when: midway_on_machine0(when), 240, f"{when} effects")
        killed += kill_with_descendants(workers[0])
        workers[0] = machines[0].worker(*options)

    def all_completed() -> bool:
        return all(run.status == "completed" for run in store.pending() + store.runs())

    wait_until(all_completed, 300, "every run to complete", poll=0.5)
    assert sorted(run.run_id for run in store.runs()) == sorted(ids)
    counts = witness.counts_under(prefix)
    expected = {f"/{run_id}/{step}" for run_id in ids for step in range(EFFECTS)}
    assert set(counts) == expected
    repeated = {path: n for path, n in counts.items() if n > 1}
    assert sum(n - 1 for n in repeated.values()) <= killed, repeated  # one in flight per process

    holders: dict[str, list[str]] = defaultdict(list)
    for name, headers in witness.requests:
        if name.startswith(f"GET {prefix}/"):
            holders[name.split("/")[2]].append(headers["X-Holder"])
    for run_id, sequence in holders.items():
        turns = [holder for holder, _ in itertools.groupby(sequence)]
        assert len(turns) == len(set(turns)), f"run {run_id} went back to a holder: {turns}"
    assert any(len(set(sequence)) > 1 for sequence in holders.values())  # taken over midway
