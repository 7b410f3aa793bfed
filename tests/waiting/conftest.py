"""Fixtures for the waiting tests: a store in a temporary directory, the installed command, a
local shop API that counts requests (the witness of external calls), and workers."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ORDER_SCRIPT = REPO / "scripts" / "examples" / "order_processing.py"
SHOP_SCRIPT = REPO / "scripts" / "examples" / "shop_api.py"

# A module outside the scripts' directory: what it does is an effect, recorded once.
WITNESS = """
def mark(path, text):
    with open(path, "a") as f:
        f.write(text + "\\n")
    return text
"""


def command() -> str:
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        pytest.skip("the durable-python command is not installed")
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Env:
    """A working directory, a store and the environment every command runs with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "work"
        self.dir.mkdir()
        self.store = root / "store"
        self.lib = root / "lib"
        self.lib.mkdir()
        (self.lib / "witness.py").write_text(WITNESS)
        self.witness_log = root / "witness.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_PYTHON_")}
        self.env.update(
            DURABLE_PYTHON_STORE=str(self.store),
            DURABLE_PYTHON_CACHE=str(root / "cache"),
            DURABLE_PYTHON_SYNC="0",
            PYTHONPATH=os.pathsep.join(filter(None, [str(self.lib), os.environ.get("PYTHONPATH")])),
            ORDER_RETRY_DELAY="0.1",
        )
        self.processes: list[subprocess.Popen] = []

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    def dp(
        self, *args: str, env: dict | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [command(), *args],
            cwd=self.dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, env: dict | None = None, name: str = "proc") -> Proc:
        out = self.root / f"{name}-{len(self.processes)}.out"
        err = self.root / f"{name}-{len(self.processes)}.err"
        with open(out, "ab") as stdout, open(err, "ab") as stderr:
            process = subprocess.Popen(
                [command(), *args],
                cwd=self.dir,
                env={**self.env, **(env or {})},
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        self.processes.append(process)
        return Proc(process, out, err)

    def worker(self, *extra: str, env: dict | None = None) -> Proc:
        return self.start("worker", "--poll", "0.2", *extra, env=env, name="worker")

    def runs(self) -> dict[str, dict]:
        done = self.dp("runs", "--json")
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        return {row["run_id"]: row for row in rows}

    def run_of(self, *argv_tail: str) -> dict:
        """The run whose argv ends with ``argv_tail``."""
        matches = [
            r for r in self.runs().values() if r["argv"][-len(argv_tail) :] == list(argv_tail)
        ]
        assert len(matches) == 1, matches
        return matches[0]

    def status(self, run_id: str) -> str:
        """A run's status: from its run.json while it has one (cheap), else from DuckDB."""
        try:
            return json.loads((self.store / "live" / run_id / "run.json").read_text())["status"]
        except (OSError, ValueError, KeyError):
            return self.runs()[run_id]["status"]

    def wait_status(self, run_id: str, statuses: tuple[str, ...], timeout: float = 30) -> str:
        def reached() -> str | None:
            status = self.status(run_id)
            return status if status in statuses else None

        return wait_until(reached, timeout, f"run {run_id} to become {statuses}")

    def wait_unlocked(self, run_id: str, timeout: float = 30) -> None:
        """Wait until no process holds the run's live lock (a stopped run's background ``fold``
        holds it for a moment; ``run`` waits for that too, this keeps the tests' timing plain)."""

        def free() -> bool:
            try:
                fd = os.open(self.store / "live" / run_id / "lock", os.O_RDONLY)
            except FileNotFoundError:
                return True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            finally:
                os.close(fd)

        wait_until(free, timeout, f"the lock of run {run_id}")

    def marks(self) -> list[str]:
        try:
            return self.witness_log.read_text().splitlines()
        except FileNotFoundError:
            return []

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Proc:
    def __init__(self, process: subprocess.Popen, out: Path, err: Path) -> None:
        self.process, self.out_path, self.err_path = process, out, err

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Shop:
    """scripts/examples/shop_api.py on 127.0.0.1: the witness of the order workflow's calls."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process, self.url = process, url

    def log(self) -> list[dict]:
        with urllib.request.urlopen(self.url + "/_log", timeout=10) as response:
            return json.load(response)

    def calls(self, order: str) -> list[str]:
        """The calls made for ``order``: path, plus the kind of an e-mail."""
        found = []
        for request in self.log():
            body = request["body"]
            if body.get("order") == order:
                kind = body.get("kind")
                found.append(request["path"] + (f":{kind}" if kind else ""))
        return found


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    environment = Env(tmp_path)
    try:
        yield environment
    finally:
        environment.close()


@pytest.fixture
def shop(env: Env) -> Iterator[Shop]:
    process = subprocess.Popen(
        [sys.executable, str(SHOP_SCRIPT), "--port", "0", "--flaky-payments", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), line
        env.env["SHOP_API"] = url
        yield Shop(process, url)
    finally:
        process.terminate()
        process.wait(10)
