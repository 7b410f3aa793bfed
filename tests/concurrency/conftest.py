"""Harness of the concurrency tests (issue 5): the installed ``durable-python`` in a subprocess,
killed with SIGKILL and run again, against a witness that counts side effects from outside.

Fixtures:

``doc_api``
    ``scripts/examples/doc_api.py`` started as its own process on 127.0.0.1 (a free port): the
    document-indexing API of the examples, counting requests per document id.
``cc``
    A :class:`Harness`: a working directory for scripts, a private store, a directory outside the
    scripts' tree on ``PYTHONPATH`` for client modules (not rewritten, so their functions are
    effects), and helpers to run ``durable-python`` to completion, killed at journal entry N
    (``DURABLE_PYTHON_TEST_KILL_AT``) or killed when a condition on the witness holds.
``as_completed_is_linear``, ``async_as_completed_is_linear``
    Session-wide probes that as_completed is linear in the number of futures / tasks (it was
    quadratic once): the tests that would take minutes otherwise are skipped, and the probes'
    own tests fail.

The helpers and checks live in ``cc_harness.py`` (imported by name: pytest puts this directory
on ``sys.path``).

Every command runs with ``DURABLE_PYTHON_SYNC=0``: a SIGKILL does not lose the page cache, and
fdatasync per commit would only make these tests slower (``scripts/bench/fanout.py`` measures
both). Stdout is unbuffered so that what a killed attempt printed reaches the pipe. With writes
that cheap, awaited entries would be committed in place; ``DURABLE_PYTHON_TEST_HAND_OVER=1`` has
the committer thread write every one of them (group commit, ``loop_commits.py``), as on a slow disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_harness import (
    AS_COMPLETED_PROBE,
    ASYNC_AS_COMPLETED_PROBE,
    DocAPI,
    Harness,
    Probe,
    probe,
)


@pytest.fixture
def doc_api():
    server = DocAPI()
    yield server
    server.close()


@pytest.fixture
def cc(tmp_path: Path, store_location: str | None) -> Harness:
    return Harness(tmp_path, store_location)


@pytest.fixture(scope="session")
def as_completed_is_linear(tmp_path_factory) -> Probe:
    """2,000 trivial futures through ``as_completed``: linear, not quadratic, in their number."""
    return probe(tmp_path_factory, AS_COMPLETED_PROBE, 2000)


@pytest.fixture(scope="session")
def async_as_completed_is_linear(tmp_path_factory) -> Probe:
    """2,000 trivial tasks through ``asyncio.as_completed``: linear in their number."""
    return probe(tmp_path_factory, ASYNC_AS_COMPLETED_PROBE, 2000)
