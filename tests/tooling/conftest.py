"""Harness for the determinism tooling: a ``durable_python.testing.Sandbox`` (the installed
``durable-python`` in subprocesses, a temporary working directory with its own store) whose
``lib``, outside the script's tree, holds the helper libraries below.

``sidefx`` (on ``PYTHONPATH``, not rewritten, so its functions are effects) appends a line to a
witness file: the witness counts how often an effect really ran, whatever the journal says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_python.testing import Process, Sandbox

SIDEFX = '''
"""Effects for the tests: not rewritten, so every call is recorded (and never re-run on replay)."""


def record(path, text):
    with open(path, "a") as f:
        f.write(text + "\\n")
    return len(text)
'''

STAMPS = '''
"""A helper library the tests declare pure: its calls run inline and are not recorded."""

import time


def now():
    return time.time()
'''


class Tool(Sandbox):
    """A sandbox with the helper libraries and a witness file."""

    def __init__(self, root: Path, cache: Path, store: str | None = None) -> None:
        super().__init__(
            root,
            cache=cache,
            clear=("DURABLE_PYTHON_", "PYTHON", "HYPOTHESIS"),
            unbuffered=True,
            store=store,
        )
        self.write_lib("sidefx.py", SIDEFX)
        self.write_lib("stamps.py", STAMPS)
        self.witness = root / "witness.txt"

    def cli(self, *args: str, kill_at: int | None = None, timeout: float = 180, **options):
        return super().cli(*args, kill_at=kill_at, timeout=timeout, **options)

    def newest_run(self) -> dict:
        return max(self.runs(), key=lambda r: r["started"])

    def witnessed(self) -> list[str]:
        return self.witness.read_text().splitlines() if self.witness.exists() else []

    def start(self, *args: str, **options) -> Process:
        """In the background, stderr with stdout, in a process group of its own."""
        return super().start(*args, merge_stderr=True, new_session=True, **options)


@pytest.fixture(scope="session")
def tooling_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tooling_cache")


@pytest.fixture
def tool(
    tmp_path: Path, tooling_cache: Path, durable_python: str, store_location: str | None
) -> Tool:
    found = Tool(tmp_path, tooling_cache, store_location)
    yield found
    found.close()
