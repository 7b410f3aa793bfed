"""Fixtures for the waiting tests: a ``durable_python.testing.Sandbox`` (a store in a temporary
directory, the installed command, workers in the background) and a local shop API that counts
requests (the witness of external calls)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_python.testing import Attempt, Process, Sandbox

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


class Env(Sandbox):
    """A sandbox whose ``lib`` holds the witness module, with fast order retries; commands get
    60 s; background processes are stopped at the end of the test."""

    def __init__(self, root: Path, store: str | None = None) -> None:
        super().__init__(
            root,
            clear=("DURABLE_PYTHON_",),
            dedent=False,
            env={"ORDER_RETRY_DELAY": "0.1"},
            store=store,
        )
        self.dir = self.work
        self.write_lib("witness.py", WITNESS)
        self.witness_log = root / "witness.log"

    def dp(self, *args: str, env: dict | None = None, timeout: float = 60) -> Attempt:
        return self.cli(*args, env=env, timeout=timeout)

    def worker(self, *extra: str, env: dict | None = None) -> Process:
        return self.start("worker", "--poll", "0.2", *extra, env=env)

    def run_ending(self, *argv_tail: str) -> dict:
        """The run whose argv ends with ``argv_tail``."""
        matches = [r for r in self.runs() if r["argv"][-len(argv_tail) :] == list(argv_tail)]
        assert len(matches) == 1, matches
        return matches[0]

    def marks(self) -> list[str]:
        try:
            return self.witness_log.read_text().splitlines()
        except FileNotFoundError:
            return []


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
def env(tmp_path: Path, durable_python: str, store_location: str | None) -> Iterator[Env]:
    environment = Env(tmp_path, store_location)
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
