"""Harness of the integration tests: the installed ``durable-python`` run, killed and run again.

``ih`` is a :class:`Harness`, a ``durable_python.testing.Sandbox``: a working directory (scripts
go in it), a private store and a shared transpiler cache, a ``lib`` directory on ``PYTHONPATH``
(modules there are not rewritten: their functions are effects), and the external witnesses: the
shared ``Witness`` HTTP server on 127.0.0.1 that counts requests (``ih.server``), the file
system, and whatever the script's processes append to.

Kills use the test hook ``DURABLE_PYTHON_TEST_KILL_AT=N``: the process dies right after the commit
that brings its journal to N entries. When that commit was made by the main thread for an effect
or a timer, nothing after it happened (an *exact* crash); a commit of the background flusher can
kill while an effect is in flight, which may then run twice (at least once, DESIGN 2.2).
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import pytest

from durable_python.testing import Attempt, Execution, Sandbox, Witness

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server() -> Witness:
    found = Witness()
    yield found
    found.close()


_prefixes = itertools.count(1)


class Harness(Sandbox):
    def __init__(self, root: Path, server: Witness, cache: Path, store: str | None = None) -> None:
        super().__init__(root, cache=cache, unbuffered=True, store=store)
        self.server = server

    def prefix(self) -> str:
        """A URL path prefix of its own (the witness server is shared by the session)."""
        return f"/t{next(_prefixes)}"

    def series(self, *args: str, kill_ats: list[int], env: dict | None = None) -> Execution:
        """Attempt i is killed at journal entry ``kill_ats[i]``; then the same command again until
        an attempt is not killed (a kill point past the end lets the first attempt finish), which
        must succeed."""
        found = self.resume(*args, kill_ats=kill_ats, env=env)
        assert found.final.exit_code == 0, f"the run failed:\n{found}"
        return found

    def killed_once_printed(self, text: str, *args: str, settle: float = 0.6) -> Attempt:
        """``durable-python run ARGS``, SIGKILLed ``settle`` seconds after its stdout showed
        ``text`` (time for the background flusher to commit what came before)."""
        process = self.start("run", *args)
        process.expect(text)
        time.sleep(settle)
        process.kill()
        return process.finish(timeout=60)

    def entries(self) -> list[dict]:
        """The journal of the newest run, as ``show --json`` gives it."""
        newest = max(self.runs(), key=lambda r: r["started"])
        return self.show(newest["run_id"])

    @staticmethod
    def assert_repeats_at_most(expected: dict, actual: dict, allowed: int, context: object) -> None:
        """Every counted side effect happened, none less often than uninterrupted, and all
        repeats together at most ``allowed`` (one per crash that could interrupt one in flight)."""
        assert set(actual) == set(expected), f"{expected} != {actual}\n{context}"
        short = {k: (n, actual[k]) for k, n in expected.items() if actual[k] < n}
        assert not short, f"missing side effects (expected, got): {short}\n{context}"
        extra = sum(actual[k] - n for k, n in expected.items())
        assert extra <= allowed, f"{extra} repeated side effects, {allowed} allowed\n{context}"

    def fresh(self) -> None:
        """Forget every run, so the next command starts a new run."""
        if self.local_store:
            shutil.rmtree(self.store, ignore_errors=True)
        else:
            store = self.open_store()
            store.delete([run.run_id for run in store.runs()])


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dp_cache")


@pytest.fixture
def ih(
    tmp_path: Path, server: Witness, cache: Path, durable_python: str, store_location: str | None
) -> Harness:
    harness = Harness(tmp_path, server, cache, store_location)
    yield harness
    harness.close()
