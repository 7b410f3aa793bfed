"""Shared configuration: the hypothesis profiles, and fixtures built on the public
``durable_python.testing`` harness (every test area's own fixtures build on it too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from durable_python.testing import Attempt, CommandNotFound, Sandbox, durable_python_command

# CI: the same examples on every run (derandomized, no example database), no deadlines (the
# property tests run subprocesses), and the blob to reproduce a failure printed. Per-test
# ``max_examples`` budgets stay as they are. ``HYPOTHESIS_PROFILE=dev`` explores: random
# examples, several times the budget of tests that keep the default one.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def durable_python() -> str:
    """The path of the installed ``durable-python`` command; the test is skipped without it."""
    try:
        return durable_python_command()
    except CommandNotFound as exc:
        pytest.skip(str(exc))


class Scripts(Sandbox):
    """Scripts written as given (not dedented), run under plain ``python`` and under
    ``durable-python``, with nothing but ``DURABLE_PYTHON_*`` left out of the environment."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, clear=("DURABLE_PYTHON_",), dedent=False, lib=False)
        self.dir = self.work

    def durable(self, *args: str, timeout: float = 60) -> Attempt:
        return self.cli(*args, timeout=timeout)

    def both(self, script: str, *args: str, timeout: float = 60) -> tuple[Attempt, Attempt]:
        """``python script args`` and ``durable-python run script args`` (a new run)."""
        plain = self.python(script, *args, timeout=timeout)
        durable = self.durable("run", "--new", script, *args, timeout=timeout)
        return plain, durable


@pytest.fixture
def scripts(tmp_path: Path, durable_python: str) -> Scripts:
    return Scripts(tmp_path)
