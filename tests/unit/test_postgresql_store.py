"""What only the PostgreSQL store has: leases that expire and are taken over, fencing, the
schema's version, and one clear error for a server that cannot be used."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from durable_python.errors import EXIT_STORE, StoreError
from durable_python.model import Run, RunStatus
from durable_python.stores import open_store
from durable_python.stores.postgresql import SCHEMA_VERSION, LeaseLost, PostgresStore


def _run(run_id: str = "lease1") -> Run:
    return Run(run_id, "/job.py", "", ("job.py",), "/", 7, 9, RunStatus.RUNNING)


def _as_if_held_elsewhere(store: PostgresStore, run_id: str, expired: bool) -> None:
    """Make the lease look held by a process of another machine (whose death this machine
    cannot see), expired or not."""
    store.db.transact(
        lambda cursor: cursor.execute(
            "UPDATE runs SET lease_holder = 'elsewhere:1/4242/1', lease_expires ="
            " extract(epoch FROM clock_timestamp()) + %s WHERE run_id = %s",
            (-1 if expired else 60, run_id),
        )
    )


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_commit(
    postgresql_url: str,
) -> None:
    old, new = open_store(postgresql_url), open_store(postgresql_url)
    old_claim = old.create(_run())
    writer = old.writer(old_claim, sync=True)
    writer.append([("main", 0, 0, "effect", "m.f", "job.py:1", "", "ok", b"1", 1.0, 2.0)])
    try:
        _as_if_held_elsewhere(old, "lease1", expired=False)
        assert new.claim("lease1") is None and new.is_live("lease1")  # alive elsewhere
        _as_if_held_elsewhere(old, "lease1", expired=True)
        assert not new.is_live("lease1")
        new_claim = new.claim("lease1")
        assert new_claim is not None
        with pytest.raises(LeaseLost, match="taken over by another process"):
            writer.append([("main", 1, 0, "effect", "m.f", "job.py:2", "", "ok", b"2", 3.0, 4.0)])
        with pytest.raises(LeaseLost):
            old.save(replace(_run(), status=RunStatus.COMPLETED))
        assert [e.seq for e in new.journal(_run())] == [0]
        assert new.read("lease1").status == RunStatus.RUNNING
    finally:
        old_claim.release()  # its heartbeat would end this process on finding the lease gone
    assert new.is_live("lease1")  # the old holder's release did not free the new one's lease
    new_claim.release()
    assert not new.is_live("lease1")


def test_the_lease_of_a_process_of_this_machine_that_died_is_free_at_once(
    postgresql_url: str,
) -> None:
    code = (
        "import sys, os; from durable_python.stores import open_store;"
        "from durable_python.model import Run, RunStatus;"
        "s = open_store(sys.argv[1]);"
        "s.create(Run('dead01', '/job.py', '', ('job.py',), '/', 7, 9, RunStatus.RUNNING));"
        "os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", code, postgresql_url], check=False)
    store = open_store(postgresql_url)
    assert not store.is_live("dead01")
    claim = store.claim("dead01")
    assert claim is not None
    claim.release()


def test_processes_creating_the_schema_at_once_agree(postgresql_url: str) -> None:
    failures: list[BaseException] = []

    def prepare() -> None:
        try:
            open_store(postgresql_url).runs()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=prepare) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_schema_written_by_a_newer_version_is_refused(postgresql_url: str) -> None:
    store = open_store(postgresql_url)
    store.ensure()
    store.db.transact(
        lambda cursor: cursor.execute("UPDATE meta SET schema_version = %s", (SCHEMA_VERSION + 1,))
    )
    with pytest.raises(StoreError, match=r"newer durable-python.*pip install -U durable-python"):
        open_store(postgresql_url).runs()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("postgresql://postgres@127.0.0.1:1/test", "Connection refused"),
        ("postgresql://nobody_here@127.0.0.1:5432/test", 'role "nobody_here" does not exist'),
        ("postgresql://postgres:secret@127.0.0.1:5432/no_such_db", "no_such_db"),
    ],
)
def test_a_server_that_cannot_be_used_is_one_clear_error(
    where: str, why: str, durable_python: str, postgresql_server: str, tmp_path
) -> None:
    job = tmp_path / "job.py"
    job.write_text("print('never')\n")
    for command in (["runs"], ["run", str(job)], ["enqueue", str(job)]):
        done = subprocess.run(
            [durable_python, command[0], "--store", where, *command[1:]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == EXIT_STORE, done
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("durable-python: cannot connect to the PostgreSQL store")
        assert why in line and "secret" not in line and "--store DIR" in line
