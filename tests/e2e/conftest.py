"""End-to-end harness: the installed ``durable-python`` in a subprocess, killed and run again.

Built on the public harness of ``durable_python.testing``. Fixtures:

``witness``
    Its :class:`Witness` HTTP server on 127.0.0.1, counting requests per path: the external side
    effect an effect leaves behind, counted outside the process that may be killed.
``dp``
    A :class:`Harness`: a ``Sandbox`` (working directory, private store, shared transpiler cache;
    runs ``durable-python`` to completion, killed at journal entry N through the test hook
    ``DURABLE_PYTHON_TEST_KILL_AT``, or killed at a wall-clock moment), plus this area's witness
    prefixes and the checks that compare a crashed-and-resumed run with an uninterrupted one.

Scripts call the witness through ``witness_client`` (written to its own directory, outside every
script's tree, and put on ``PYTHONPATH``): the transpiler leaves it alone, so its functions are
effects. Its results are plain dicts, so they can be recorded.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from durable_python.testing import Execution, Sandbox, Witness

_PREFIXES = itertools.count()
RESUMED = re.compile(r"resuming run (\w+)")  # durable-python's line on stderr when it resumes

WITNESS_CLIENT = '''
"""The tests' client of the witness server (not rewritten: every function here is an effect)."""

import json
import threading
import urllib.request


class WitnessError(Exception):
    """A failed API call: status and path, the way a client library would raise it."""

    def __init__(self, status, path):
        super().__init__(status, path)
        self.status = status
        self.path = path


class QuotaError(Exception):
    """An exception whose constructor does not take its own args (pickle cannot rebuild it)."""

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class HandleError(Exception):
    """An exception holding something that cannot be saved (a lock)."""

    def __init__(self, message):
        super().__init__(message)
        self.handle = threading.Lock()
        self.code = 7


def hit(url):
    """GET url from the witness (which counts it); the reply as a plain dict."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def fail(url):
    """Hit url, then fail like an API call answered with an error."""
    reply = hit(url)
    raise WitnessError(500, reply["path"])


def quota(url):
    hit(url)
    raise QuotaError("quota exceeded", retry_after=30)


def handle_error(url):
    hit(url)
    raise HandleError("handle broke")


def missing_file(url):
    hit(url)
    raise FileNotFoundError(2, "No such file or directory", "settings.toml")


def flaky(url, marker):
    """Fails until the file ``marker`` exists (an API that is down, then up again)."""
    import os

    reply = hit(url)
    if not os.path.exists(marker):
        raise WitnessError(503, reply["path"])
    return reply


def make_lock(url):
    hit(url)
    return threading.Lock()


def make_generator(url):
    hit(url)
    return (i for i in range(3))


def append_line(path, text):
    """Append a line to a file (a file side effect done by an effect)."""
    with open(path, "a") as f:
        f.write(text + "\\n")
'''


# ----- the witness server ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def witness() -> Witness:
    """One server for the session; each test counts under its own path prefix (``dp.prefix``)."""
    server = Witness()
    yield server
    server.close()


@pytest.fixture(scope="session")
def witness_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``witness_client.py``, outside every script's directory tree."""
    directory = tmp_path_factory.mktemp("witness_lib")
    (directory / "witness_client.py").write_text(WITNESS_CLIENT.lstrip())
    return directory


@pytest.fixture(scope="session")
def transpile_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transpile_cache")


# ----- running the command --------------------------------------------------------------------


@dataclass(repr=False)
class Series(Execution):
    """The attempts of one run, with its journal as ``show --json`` gives it (``entries``)."""

    # For each crash: True when the script cannot have done anything after the last commit
    # before the kill (see Harness.read_journal): nothing may be printed or done twice there.
    exact: list[bool] = field(default_factory=list)


class Harness(Sandbox):
    """A sandbox whose scripts import ``witness_client`` and count on the session's witness.

    stdout is a pipe, so block-buffered as for a user who redirects it: what the script printed
    reaches the pipe when durable-python flushes it (before committing it).
    """

    def __init__(
        self,
        root: Path,
        witness: Witness,
        witness_lib: Path,
        transpile_cache: Path,
        store: str | None = None,
    ) -> None:
        super().__init__(
            root,
            cache=transpile_cache,
            clear=("DURABLE_PYTHON_", "PYTHON", "E2E_"),
            lib=False,
            env={"PYTHONPATH": str(witness_lib)},
            store=store,
        )
        self.witness, self.witness_lib = witness, witness_lib

    def child(self, name: str) -> Harness:
        """Another harness (own working directory and store, of the same kind) beside this one."""
        store = None if self.local_store else f"{self.store}_{name}"  # a schema of the same prefix
        return Harness(self.root / name, self.witness, self.witness_lib, self.cache, store)

    def prefix(self, label: str = "p") -> str:
        """A path prefix no other series in this session uses: its counts are its own."""
        return f"/{label}{next(_PREFIXES)}"

    def url(self, prefix: str) -> str:
        return self.witness.url + prefix

    def counts(self, prefix: str) -> dict[str, int]:
        return self.witness.counts_under(prefix)

    def files(self, directory: str = ".") -> dict[str, str]:
        """The text files the script wrote (relative path -> content), scripts excluded."""
        base = self.work / directory
        return {
            str(p.relative_to(base)): p.read_text()
            for p in sorted(base.rglob("*"))
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
        }

    def status_of(self, script: str) -> str | None:
        """The status of the newest run of ``script``, ``None`` if it has none (yet)."""
        found = self.runs_of(script)
        return found[-1]["status"] if found else None

    # -- series of attempts --------------------------------------------------------------------

    def read_journal(self, series: Series, script: str, hook_kills: bool) -> None:
        """Fill ``series.entries`` (the run's journal, from ``show --json``) and ``series.exact``:
        could the script have gone on after the last commit before each kill?

        The entry committed last before a kill is the one with the latest end time before the
        killed process ended. With the test hook, an effect or timer is committed by the main
        thread itself, which the hook kills right after; so is the final commit of a run whose
        script has ended: exact. An output or value amid the run is committed by the background
        flusher, while the main thread may go on for a moment (print, or start an effect); and a
        wall-clock kill can come at any moment: not exact.
        """
        resumed = [m for a in series.attempts for m in RESUMED.findall(a.stderr)]
        run_id = resumed[-1] if resumed else self.run_of(script)["run_id"]
        series.entries = self.show(run_id)
        final = max(series.entries, key=lambda e: e["ended"], default=None)
        series.exact = []
        for attempt in series.attempts:
            if not attempt.killed:
                continue
            before = [e for e in series.entries if e["ended"] <= attempt.ended_at]
            last = max(before, key=lambda e: e["ended"], default=None)
            series.exact.append(
                hook_kills
                and last is not None
                and (last["policy"] in ("effect", "timer") or last == final)
            )

    def run_with_kills(
        self,
        script: str,
        *args: str,
        kill_ats: list[int],
        env_per_attempt: list[dict[str, str]] | None = None,
    ) -> Series:
        """Run with the test hook killing attempt i at journal entry ``kill_ats[i]``; then run the
        same command again until an attempt is not killed."""
        done = self.resume(script, *args, kill_ats=kill_ats, env_per_attempt=env_per_attempt)
        series = Series(attempts=done.attempts)
        self.read_journal(series, script, hook_kills=True)
        return series

    def run_with_random_kills(
        self,
        script: str,
        *args: str,
        delays: list[float],
        env_per_attempt: list[dict[str, str]] | None = None,
        max_attempts: int = 8,
    ) -> Series:
        """Kill attempt i ``delays[i]`` seconds after its start; rerun until a run completes.

        After a kill the run may already have been recorded as completed (the kill landed after
        the script's end): then it is final, as ``runs`` tells, and the series stops there.
        """
        done = self.resume(
            script,
            *args,
            delays=delays,
            env_per_attempt=env_per_attempt,
            finished=lambda: self.status_of(script) == "completed",
            max_attempts=max_attempts,
        )
        series = Series(attempts=done.attempts)
        self.read_journal(series, script, hook_kills=False)
        return series

    # -- comparisons ---------------------------------------------------------------------------

    @staticmethod
    def assert_resumed_output(expected: str, series: Series, normalize=lambda text: text) -> None:
        """Printed once across crashes: ``expected`` is what the killed attempts printed and
        recorded, followed by what the last attempt printed.

        A killed attempt's stdout is the text its journal holds (committed output entries)
        and then a tail printed after its last commit. The tail was not recorded (DESIGN 5: a
        crash loses uncommitted outputs), so the next attempt prints it again; it must still
        be what the script prints there. At an exact crash the tail must be empty: everything
        printed was committed before the kill. ``normalize`` masks values (they differ from
        the uninterrupted run's).
        """
        outputs = sorted(
            (e for e in series.entries if e["policy"] == "output" and e["name"] == "sys.stdout"),
            key=lambda e: e["ended"],
        )
        wanted = normalize(expected)
        joined, previous_end, crash = "", float("-inf"), 0
        for index, attempt in enumerate(series.attempts):
            where = f"attempt {index + 1} of\n{series}"
            if attempt is series.final and not attempt.killed:
                joined += attempt.stdout
                break
            recorded = "".join(
                ast.literal_eval(e["summary"])
                for e in outputs
                if previous_end < e["ended"] <= attempt.ended_at
            )
            previous_end = attempt.ended_at
            assert attempt.stdout.startswith(recorded), f"journal holds {recorded!r}; {where}"
            tail = attempt.stdout[len(recorded) :]
            assert wanted.startswith(normalize(joined + attempt.stdout)), (
                f"printed what the script does not print:\n--- expected\n{wanted}--- {where}"
            )
            if series.exact[crash]:
                assert tail == "", f"printed {tail!r} after the last commit; {where}"
            crash += 1
            joined += recorded
        assert normalize(joined) == wanted, (
            f"not printed once:\n--- expected\n{wanted}--- got\n{normalize(joined)}--- {series}"
        )

    @staticmethod
    def assert_effects(expected: dict[str, int], actual: dict[str, int], series: Series) -> None:
        """Every effect happened as often as in the uninterrupted run. An effect ran again only
        where a crash could have caught it in flight (not at an exact crash: there every
        finished effect was committed), at most one repeat per such crash."""
        assert set(actual) == set(expected), (
            f"different effects: missing {set(expected) - set(actual)},"
            f" extra {set(actual) - set(expected)}\n{series}"
        )
        short = {p: (n, actual[p]) for p, n in expected.items() if actual[p] < n}
        assert not short, f"effects that did not happen (expected, got): {short}\n{series}"
        repeats = {p: actual[p] - n for p, n in expected.items() if actual[p] > n}
        inexact = series.exact.count(False)
        assert sum(repeats.values()) <= inexact, (
            f"effects repeated {repeats} with {series.crashes} crashes of which {inexact} could"
            f" interrupt an effect in flight\n{series}"
        )


@pytest.fixture
def dp(
    tmp_path: Path,
    witness: Witness,
    witness_lib: Path,
    transpile_cache: Path,
    durable_python,
    store_location: str | None,
) -> Harness:
    harness = Harness(tmp_path, witness, witness_lib, transpile_cache, store_location)
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def new_harness(
    tmp_path_factory: pytest.TempPathFactory,
    witness: Witness,
    witness_lib: Path,
    transpile_cache: Path,
    durable_python: str,
):
    """``new_harness(name)``: a harness in a fresh directory, for module-scoped fixtures."""

    def make(name: str) -> Harness:
        return Harness(tmp_path_factory.mktemp(name), witness, witness_lib, transpile_cache)

    return make


@contextlib.contextmanager
def held_flock(path: Path):
    """Hold an exclusive flock on ``path`` (as another durable-python process would)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@pytest.fixture
def flock():
    return held_flock
