"""Harness of the integration tests: the installed ``durable-python`` run, killed and run again.

``ih`` is a :class:`Harness`: a working directory (scripts go in it), a private store and
transpiler cache, a ``lib`` directory on ``PYTHONPATH`` (modules there are not rewritten: their
functions are effects), and the external witnesses: an HTTP server on 127.0.0.1 that counts
requests (``ih.server``), the file system, and whatever the script's processes append to.

Kills use the test hook ``DURABLE_PYTHON_TEST_KILL_AT=N``: the process dies right after the commit
that brings its journal to N entries. When that commit was made by the main thread for an effect
or a timer, nothing after it happened (an *exact* crash); a commit of the background flusher can
kill while an effect is in flight, which may then run twice (at least once, DESIGN 2.2).
"""

from __future__ import annotations

import json
import os
import shutil
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

KILLED = -9
REPO = Path(__file__).resolve().parents[2]


def command() -> str:
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        pytest.skip("the durable-python command is not installed")
    return found


class Server:
    """An HTTP witness: counts ``METHOD /path`` and keeps each request's Idempotency-Key.

    ``?sleep=S`` delays the reply; ``?fail=N`` answers 503 to the first N requests of a path.
    The reply is JSON: path, method, count, key, the request body as text.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.keys: dict[str, list[str | None]] = {}
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                name = f"{self.command} {parts.path}"
                with server.lock:
                    server.counts[name] += 1
                    count = server.counts[name]
                    server.keys.setdefault(name, []).append(self.headers.get("Idempotency-Key"))
                    server.arrived.notify_all()
                if "sleep" in query:
                    time.sleep(float(query["sleep"][0]))
                status = 503 if count <= int(query.get("fail", ["0"])[0]) else 200
                reply = {
                    "path": parts.path,
                    "method": self.command,
                    "count": count,
                    "key": self.headers.get("Idempotency-Key"),
                    "body": body,
                }
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Witness", "yes")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def under(self, prefix: str) -> dict[str, int]:
        """Counts of requests whose path starts with ``prefix``, keyed ``METHOD /rest``."""
        with self.lock:
            found = {}
            for name, n in self.counts.items():
                method, _, path = name.partition(" ")
                if path.startswith(prefix + "/"):
                    found[f"{method} {path[len(prefix) :]}"] = n
            return found

    def wait_for(self, name: str, timeout: float = 30) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.counts[name] > 0, timeout):
                raise AssertionError(f"{name} never arrived")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="session")
def server() -> Server:
    found = Server()
    yield found
    found.close()


@dataclass
class Attempt:
    returncode: int
    stdout: str
    stderr: str
    kill_at: int | None = None

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED

    def __str__(self) -> str:
        return (
            f"exit {self.returncode} (kill_at={self.kill_at})\n--- stdout\n{self.stdout}"
            f"--- stderr\n{self.stderr}"
        )


@dataclass
class Series:
    attempts: list[Attempt] = field(default_factory=list)

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


_prefixes = iter(range(1, 10**9))


class Harness:
    def __init__(self, root: Path, server: Server, cache: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.work.mkdir()
        self.lib = root / "lib"
        self.lib.mkdir()
        self.store = root / "store"
        self.server = server
        self.command = command()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DURABLE_PYTHON_", "PYTHON"))
        }
        env.update(
            PYTHONPATH=str(self.lib),
            PYTHONUNBUFFERED="1",
            DURABLE_PYTHON_STORE=str(self.store),
            DURABLE_PYTHON_CACHE=str(cache),
            DURABLE_PYTHON_SYNC="0",
        )
        self.env = env

    def write(self, name: str, text: str, lib: bool = False) -> Path:
        path = (self.lib if lib else self.work) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def prefix(self) -> str:
        """A URL path prefix of its own (the witness server is shared by the session)."""
        return f"/t{next(_prefixes)}"

    def cli(self, *args: str, env: dict | None = None, timeout: float = 120) -> Attempt:
        done = subprocess.run(
            [self.command, *args],
            cwd=self.work,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
        )
        return Attempt(done.returncode, done.stdout, done.stderr)

    def run(self, *args: str, kill_at: int | None = None, env: dict | None = None) -> Attempt:
        extra = dict(env or {})
        if kill_at is not None:
            extra["DURABLE_PYTHON_TEST_KILL_AT"] = str(kill_at)
        attempt = self.cli("run", *args, env=extra)
        attempt.kill_at = kill_at
        return attempt

    def series(self, *args: str, kill_ats: list[int], env: dict | None = None) -> Series:
        """Attempt i is killed at journal entry ``kill_ats[i]``; then the same command again until
        an attempt is not killed (a kill point past the end lets the first attempt finish)."""
        found = Series()
        for index in range(len(kill_ats) + 2):
            kill_at = kill_ats[index] if index < len(kill_ats) else None
            attempt = self.run(*args, kill_at=kill_at, env=env)
            found.attempts.append(attempt)
            if not attempt.killed:
                assert attempt.returncode == 0, f"the run failed:\n{found}"
                return found
        raise AssertionError(f"the run did not finish:\n{found}")

    def killed_after(self, seconds: float, *args: str, env: dict | None = None) -> Attempt:
        """``durable-python run ARGS``, SIGKILLed ``seconds`` after it started (if still alive)."""
        process = subprocess.Popen(
            [self.command, "run", *args],
            cwd=self.work,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
        stdout, stderr = process.communicate(timeout=60)
        return Attempt(process.returncode, stdout, stderr)

    def killed_once_printed(self, text: str, *args: str, settle: float = 0.6) -> Attempt:
        """``durable-python run ARGS``, SIGKILLed ``settle`` seconds after its stdout showed
        ``text`` (time for the background flusher to commit what came before)."""
        process = subprocess.Popen(
            [self.command, "run", *args],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = []
        for line in process.stdout:
            seen.append(line)
            if text in line:
                time.sleep(settle)
                process.kill()
                break
        stdout, stderr = process.communicate(timeout=60)
        return Attempt(process.returncode, "".join(seen) + stdout, stderr)

    def entries(self) -> list[dict]:
        """The journal of the newest run, as ``show --json`` gives it."""
        runs = [json.loads(line) for line in self.cli("runs", "--json").stdout.splitlines()]
        newest = max(runs, key=lambda r: r["started"])
        shown = self.cli("show", newest["run_id"], "--json")
        assert shown.returncode == 0, shown
        return [json.loads(line) for line in shown.stdout.splitlines()]

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
        """Forget every run (a new store), so the next command starts a new run."""
        shutil.rmtree(self.store, ignore_errors=True)


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dp_cache")


@pytest.fixture
def ih(tmp_path: Path, server: Server, cache: Path) -> Harness:
    return Harness(tmp_path, server, cache)
