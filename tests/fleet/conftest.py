"""Fleet harness: workers in separate working directories on one store, killed with their runs.

Each ``Node`` is a machine of the fleet: a working directory of its own with its copy of the
project (``job.py`` and whatever else the test writes), a ``lib`` holding ``fleet_client``, and
a machine name of its own (``DURABLE_PYTHON_TEST_MACHINE``), so a lease one node's processes
hold is, to the other nodes, held on another machine: taken over when it expires.

``fleet_client.hit(url)`` is an effect (``lib`` is not rewritten) that tells the witness which
process executes the run, in its ``X-Holder`` header.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_python.testing import Process, Sandbox, Witness

FLEET_CLIENT = '''
"""The fleet tests' client of the witness (not rewritten: its functions are effects)."""

import json
import os
import urllib.request


def hit(url):
    """GET url from the witness, saying which machine and process executes the run."""
    holder = f"{os.environ.get('DURABLE_PYTHON_TEST_MACHINE')}/{os.getpid()}"
    request = urllib.request.Request(url, headers={"X-Holder": holder})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
'''


class Node(Sandbox):
    """One machine of the fleet: its own working directory and machine name, the shared store."""

    def __init__(self, root: Path, store: str, machine: str) -> None:
        super().__init__(root, store=store, env={"DURABLE_PYTHON_TEST_MACHINE": machine})
        self.machine = machine
        self.write_lib("fleet_client.py", FLEET_CLIENT)

    def worker(self, *options: str) -> Process:
        return self.start("worker", "--poll", "0.2", *options, new_session=True)


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and by them, and so on (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        parent = int(stat[stat.rfind(b")") + 2 :].split()[1])
        parents.setdefault(parent, []).append(int(entry))
    found, frontier = [], [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.extend(children)
        frontier.extend(children)
    return found


def kill_with_descendants(process: Process) -> int:
    """SIGKILL a worker and every process it started (its runs): a machine that is gone. The
    number of processes killed beside the worker."""
    doomed = descendants(process.pid)
    for pid in [process.pid, *doomed]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.finish(timeout=30)
    return len(doomed)


@pytest.fixture(scope="module")
def witness() -> Iterator[Witness]:
    server = Witness()
    yield server
    server.close()


@pytest.fixture
def nodes(tmp_path: Path, store_location: str | None, durable_python: str) -> Iterator:
    """``nodes(name)``: a Node on this test's store (a shared directory, or PostgreSQL)."""
    store = store_location or str(tmp_path / "shared-store")
    made: list[Node] = []

    def make(name: str) -> Node:
        node = Node(tmp_path / name, store, machine=f"{tmp_path.name}-{name}")
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()
