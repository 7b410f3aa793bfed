"""Chaos: the PostgreSQL server crashes and comes back while a run and a worker use it. Both
wait, retry and go on; nothing committed is lost and no effect runs twice.

The test starts a server of its own on 127.0.0.1 (initdb as the ``postgres`` user when it runs
as root, which PostgreSQL requires, in a directory of /tmp that user can reach), so stopping it
disturbs no other test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_python.testing import wait_until

from .conftest import Node

EFFECTS = 40
JOB = f"""
import sys

from fleet_client import hit

for step in range({EFFECTS}):
    hit(f"{{sys.argv[1]}}/{{step}}?sleep=0.05")
print("done")
"""


class PrivateServer:
    """A PostgreSQL server in a directory of its own, on a free port of 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not versions:
            pytest.fail("no PostgreSQL server binaries in /usr/lib/postgresql", pytrace=False)
        self.bin = versions[-1].parent
        self.root = root
        self.data = root / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        self._as_owner("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, tool: str, *args: object) -> None:
        command = [str(self.bin / tool), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_owner(
            "pg_ctl", "-D", self.data, "-l", self.root / "log", "-o", options, "-w", "start"
        )

    def crash(self) -> None:
        """Stop at once, as a crash does: no checkpoint, recovery at the next start."""
        self._as_owner("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    root = Path(tempfile.mkdtemp(prefix="durable-python-pg-"))
    try:
        found = PrivateServer(root)
        found.start()
        yield found
        try:
            found.crash()
        except subprocess.CalledProcessError:
            pass  # already stopped
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_runs_and_workers_ride_out_a_server_crash(
    server: PrivateServer, tmp_path: Path, witness, durable_python: str
) -> None:
    node = Node(tmp_path / "node", f"{server.url}?schema=chaos", "chaos")
    node.env["DURABLE_PYTHON_SYNC"] = "1"  # a commit is on disk when it returns
    node.write("job.py", JOB)
    prefix = f"/chaos-{tmp_path.name}"
    queued = [
        node.cli("enqueue", "job.py", witness.url + f"{prefix}/queued{n}").stdout.strip()
        for n in range(2)
    ]
    run = node.start("run", "job.py", witness.url + f"{prefix}/direct")
    node.worker()
    wait_until(lambda: len(witness.counts_under(f"{prefix}/direct")) >= 10, 120, "10 effects")
    server.crash()
    time.sleep(2)
    server.start()
    done = run.finish(timeout=180)
    assert done.exit_code == 0, done
    assert done.stdout == "done\n"
    assert "lost the connection to the PostgreSQL store" in done.stderr
    assert "reachable again" in done.stderr
    store = node.open_store()
    wait_until(
        lambda: all(store.read(run_id).status == "completed" for run_id in queued),
        180,
        "the queued runs to complete",
    )
    counts = witness.counts_under(prefix)
    assert counts == {
        f"/{name}/{step}": 1
        for name in ("direct", *[f"queued{n}" for n in range(2)])
        for step in range(EFFECTS)
    }
    for run_row in store.runs():
        assert len(store.entries(run_row)) >= EFFECTS
