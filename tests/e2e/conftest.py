"""End-to-end harness: the installed ``durable-python`` in a subprocess, killed and run again.

Fixtures:

``witness``
    A threading HTTP server on 127.0.0.1 that counts requests per path: the external side effect
    an effect leaves behind, counted outside the process that may be killed.
``dp``
    A :class:`Harness`: a working directory, a private store and transpiler cache, helpers to run
    ``durable-python`` (to completion, killed at journal entry N through the test hook
    ``DURABLE_PYTHON_TEST_KILL_AT``, or killed at a wall-clock moment), and the checks that
    compare a crashed-and-resumed run with an uninterrupted one.

Scripts call the witness through ``witness_client`` (written to its own directory, outside every
script's tree, and put on ``PYTHONPATH``): the transpiler leaves it alone, so its functions are
effects. Its results are plain dicts, so they can be recorded.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

KILLED = -signal.SIGKILL
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


class Witness:
    """Counts GET requests per path; ``?sleep=S`` makes a reply slow (an effect in flight)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
                parts = urlsplit(self.path)
                with witness._lock:
                    witness.counts[parts.path] += 1
                    count = witness.counts[parts.path]
                delay = parse_qs(parts.query).get("sleep")
                if delay:
                    time.sleep(float(delay[0]))
                body = json.dumps({"path": parts.path, "count": count}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def counts_under(self, prefix: str) -> dict[str, int]:
        """Counts of the paths under ``prefix``, keyed by the rest of the path."""
        with self._lock:
            return {
                path[len(prefix) :]: n
                for path, n in self.counts.items()
                if path.startswith(prefix + "/")
            }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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


def durable_python_command() -> str:
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        pytest.skip("the durable-python command is not installed")
    return found


@dataclass
class Attempt:
    """One execution of a command: how it ended and what it wrote."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    kill_at: int | None = None
    ended_at: float = field(default_factory=time.time)  # wall clock, as the journal's times

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED

    def __str__(self) -> str:
        return (
            f"exit {self.returncode} after {self.seconds:.2f}s (kill_at={self.kill_at})\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


@dataclass
class Series:
    """The attempts of one run, from the first start to the attempt that was not killed."""

    attempts: list[Attempt] = field(default_factory=list)
    # For each crash: True when the script cannot have done anything after the last commit
    # before the kill (see Harness.read_journal): nothing may be printed or done twice there.
    exact: list[bool] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)  # the run's journal (show --json)

    @property
    def crashes(self) -> int:
        return sum(a.killed for a in self.attempts)

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def stdout(self) -> str:
        return "".join(a.stdout for a in self.attempts)

    def __str__(self) -> str:
        return "\n".join(f"=== attempt {i + 1}: {a}" for i, a in enumerate(self.attempts))


class Harness:
    """A working directory with a private store; runs ``durable-python`` as a user would."""

    def __init__(
        self, root: Path, witness: Witness, witness_lib: Path, transpile_cache: Path
    ) -> None:
        self.root = root
        self.witness_lib, self.transpile_cache = witness_lib, transpile_cache
        self.work = root / "work"
        self.work.mkdir(parents=True)
        self.store = root / "store"
        self.witness = witness
        self.command = durable_python_command()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DURABLE_PYTHON_", "PYTHON", "E2E_"))
        }
        env["PYTHONPATH"] = str(witness_lib)
        env["DURABLE_PYTHON_STORE"] = str(self.store)
        env["DURABLE_PYTHON_CACHE"] = str(transpile_cache)
        env["DURABLE_PYTHON_SYNC"] = "0"  # a SIGKILL does not lose the page cache; fsync is slow
        # stdout is a pipe, so block-buffered as for a user who redirects it: what the script
        # printed reaches the pipe when durable-python flushes it (before committing it).
        self.env = env

    # -- files ---------------------------------------------------------------------------------

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def child(self, name: str) -> Harness:
        """Another harness (own working directory and store) beside this one."""
        return Harness(self.root / name, self.witness, self.witness_lib, self.transpile_cache)

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

    # -- commands ------------------------------------------------------------------------------

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(self.env)
        if extra:
            for key, value in extra.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
        return env

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        kill_at: int | None = None,
    ) -> Attempt:
        """Run ``durable-python ARGS`` to its end (or to the kill that ``kill_at`` asks for)."""
        extra = dict(env or {})
        if kill_at is not None:
            extra["DURABLE_PYTHON_TEST_KILL_AT"] = str(kill_at)
        started = time.monotonic()
        done = subprocess.run(
            [self.command, *args],
            cwd=cwd or self.work,
            env=self.environment(extra),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
        )
        return Attempt(
            done.returncode, done.stdout, done.stderr, time.monotonic() - started, kill_at
        )

    def run(self, *args: str, **kwargs: object) -> Attempt:
        return self.cli("run", *args, **kwargs)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``durable-python ARGS`` in the background (stdout and stderr piped)."""
        return subprocess.Popen(
            [self.command, *args],
            cwd=self.work,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="backslashreplace",
        )

    @staticmethod
    def finish(process: subprocess.Popen[str], started: float, timeout: float = 120) -> Attempt:
        stdout, stderr = process.communicate(timeout=timeout)
        return Attempt(process.returncode, stdout, stderr, time.monotonic() - started)

    def run_killed_after(
        self, delay: float, *args: str, env: dict[str, str] | None = None
    ) -> Attempt:
        """Start ``durable-python run ARGS`` and SIGKILL it ``delay`` seconds later if alive."""
        started = time.monotonic()
        process = self.start("run", *args, env=env)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        return self.finish(process, started)

    def settle(self, timeout: float = 60) -> None:
        """Wait until no background ``durable-python fold`` of this store is running.

        Every run that stops may start one, and while it folds a stopped run it holds that
        run's live lock. Tests that run a command again right after a run stopped by itself
        (not killed) settle first, so they do not depend on how the command copes with a fold
        in progress: test_a_run_whose_lock_a_fold_holds_is_resumed_not_duplicated tests that.
        """
        if not os.path.isdir("/proc"):
            time.sleep(3)
            return
        marker = [b"fold", b"--store", str(self.store).encode()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = False
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                        words = f.read().split(b"\0")
                except OSError:
                    continue
                if all(m in words for m in marker):
                    busy = True
                    break
            if not busy:
                return
            time.sleep(0.02)
        raise AssertionError(f"a fold of {self.store} still runs after {timeout} s")

    def runs(self, env: dict[str, str] | None = None) -> list[dict]:
        done = self.cli("runs", "--json", env=env)
        assert done.returncode == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def show(self, run_id: str) -> list[dict]:
        done = self.cli("show", run_id, "--json")
        assert done.returncode == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def run_of(self, script: str) -> dict:
        """The newest run of ``script`` (a path relative to the working directory)."""
        path = str(self.work / script)
        found = [r for r in self.runs() if r["script"] == path]
        assert found, f"no run of {path} in {self.runs()}"
        return max(found, key=lambda r: r["started"])

    def status_of(self, script: str) -> str | None:
        """The status of the newest run of ``script``, ``None`` if it has none (yet)."""
        path = str(self.work / script)
        found = [r for r in self.runs() if r["script"] == path]
        return max(found, key=lambda r: r["started"])["status"] if found else None

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
        series = Series()
        for index in range(len(kill_ats) + 2):
            kill_at = kill_ats[index] if index < len(kill_ats) else None
            env = env_per_attempt[index] if env_per_attempt else None
            attempt = self.run(script, *args, kill_at=kill_at, env=env)
            series.attempts.append(attempt)
            if not attempt.killed:
                self.read_journal(series, script, hook_kills=True)
                return series
            assert kill_at is not None, f"killed without a kill point:\n{series}"
        raise AssertionError(f"the run did not finish:\n{series}")

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
        series = Series()
        for index in range(max_attempts):
            env = env_per_attempt[index] if env_per_attempt else None
            if index < len(delays):
                attempt = self.run_killed_after(delays[index], script, *args, env=env)
            else:
                attempt = self.run(script, *args, env=env)
            series.attempts.append(attempt)
            if not attempt.killed or self.status_of(script) == "completed":
                self.read_journal(series, script, hook_kills=False)
                return series
        raise AssertionError(f"the run did not finish:\n{series}")

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
def dp(tmp_path: Path, witness: Witness, witness_lib: Path, transpile_cache: Path) -> Harness:
    return Harness(tmp_path, witness, witness_lib, transpile_cache)


@pytest.fixture(scope="session")
def new_harness(
    tmp_path_factory: pytest.TempPathFactory,
    witness: Witness,
    witness_lib: Path,
    transpile_cache: Path,
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
