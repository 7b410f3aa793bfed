"""Harness for the determinism tooling: the installed ``durable-python`` in subprocesses, in a
temporary working directory with its own store, plus a helper library outside the script's tree.

``sidefx`` (on ``PYTHONPATH``, not rewritten, so its functions are effects) appends a line to a
witness file: the witness counts how often an effect really ran, whatever the journal says.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

KILLED = -signal.SIGKILL

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


def command() -> str:
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        pytest.skip("the durable-python command is not installed")
    return found


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == KILLED

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


class Tool:
    """A working directory, a store and a witness file; runs ``durable-python`` as a user."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.work.mkdir()
        self.lib = root / "lib"
        self.lib.mkdir()
        (self.lib / "sidefx.py").write_text(SIDEFX.lstrip())
        (self.lib / "stamps.py").write_text(STAMPS.lstrip())
        self.store = root / "store"
        self.witness = root / "witness.txt"
        self.command = command()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DURABLE_PYTHON_", "PYTHON", "HYPOTHESIS"))
        }
        env.update(
            PYTHONPATH=str(self.lib),
            PYTHONUNBUFFERED="1",
            DURABLE_PYTHON_STORE=str(self.store),
            DURABLE_PYTHON_CACHE=str(cache),
            DURABLE_PYTHON_SYNC="0",
        )
        self.env = env

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def cli(self, *args: str, kill_at: int | None = None, timeout: float = 180) -> Done:
        env = dict(self.env)
        if kill_at is not None:
            env["DURABLE_PYTHON_TEST_KILL_AT"] = str(kill_at)
        done = subprocess.run(
            [self.command, *args],
            cwd=self.work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
        )
        return Done(done.returncode, done.stdout, done.stderr)

    def runs(self) -> list[dict]:
        done = self.cli("runs", "--json")
        assert done.returncode == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def newest_run(self) -> dict:
        return max(self.runs(), key=lambda r: r["started"])

    def show(self, run_id: str) -> list[dict]:
        done = self.cli("show", run_id, "--json")
        assert done.returncode == 0, done
        return [json.loads(line) for line in done.stdout.splitlines()]

    def witnessed(self) -> list[str]:
        return self.witness.read_text().splitlines() if self.witness.exists() else []

    def start(self, *args: str) -> Reader:
        process = subprocess.Popen(
            [self.command, *args],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="backslashreplace",
            start_new_session=True,
        )
        return Reader(process)


class Reader:
    """Reads a background command's output line by line, with timeouts."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = 90) -> list[str]:
        """Lines up to and including the first that matches ``pattern`` (a regex)."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                line = ""
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout} s; got:\n"
                        + "\n".join(self.seen)
                    ) from None
                continue
            if line is None:
                raise AssertionError(
                    f"the command ended before a line matching {pattern!r}:\n"
                    + "\n".join(self.seen)
                )
            self.seen.append(line)
            got.append(line)
            if re.search(pattern, line):
                return got

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session")
def tooling_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tooling_cache")


@pytest.fixture
def tool(tmp_path: Path, tooling_cache: Path) -> Tool:
    return Tool(tmp_path, tooling_cache)
