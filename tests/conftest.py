"""Shared configuration: the hypothesis profiles, and fixtures built on the public
``durable_python.testing`` harness (every test area's own fixtures build on it too)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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


# ----- the two stores -------------------------------------------------------------------------
#
# Every test that takes ``store_location`` runs once per store: ``local`` (a directory of the
# sandbox's own, ``None`` here) and ``postgresql`` (a schema of its own on the test server).
# A test about the local store's files is marked ``local_store`` and runs with that one only.

POSTGRESQL_SERVER = os.environ.get(
    "DURABLE_PYTHON_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test"
)
STORES = ("local", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_store: about the local store's own files")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        local_only = metafunc.definition.get_closest_marker("local_store") is not None
        metafunc.parametrize("store_kind", ["local"] if local_only else list(STORES))


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """The URL of the PostgreSQL server the tests use; the test fails (never skips) when it
    cannot be reached: a PostgreSQL store test that did not run is not a pass."""
    import psycopg

    try:
        psycopg.connect(POSTGRESQL_SERVER, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"the PostgreSQL test server {POSTGRESQL_SERVER} cannot be reached ({exc})."
            " Start it (.ci/run does), or point the tests at another server with"
            " DURABLE_PYTHON_TEST_POSTGRESQL=postgresql://user@host:port/database",
            pytrace=False,
        )
    return POSTGRESQL_SERVER


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """A store URL with a schema of this test's own, dropped afterwards (with the schemas named
    after it: ``SCHEMA_suffix``, for stores beside it)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{postgresql_server}?schema={schema}"
    with psycopg.connect(postgresql_server, autocommit=True) as connection:
        names = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (schema,)
        ).fetchall()
        for (name,) in names:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def store_location(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    """The store of a sandbox: ``None`` (its own directory) or a PostgreSQL URL."""
    return request.getfixturevalue("postgresql_url") if store_kind == "postgresql" else None
