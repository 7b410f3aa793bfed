"""Fixtures for ``durable-python serve``: a sandbox (its own store directory, or a PostgreSQL
schema of its own) whose ``serve`` starts the real server on a free port of 127.0.0.1, and a
client that talks to it over real HTTP."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable_python.testing import Process, Sandbox

REPO = Path(__file__).resolve().parents[2]

# Three file writes, a line, then a wait for "go": a run with a journal to show, replay and
# fork, that stays suspended until it is sent "go".
STEPS = """
import sys
from pathlib import Path

import durable_python

out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
for n in range(3):
    (out / f"step-{n}.txt").write_text(f"step {n}\\n")
print("waiting for go")
durable_python.wait_for_event("go")
print("done")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A running ``durable-python serve`` and an HTTP client for it."""

    def __init__(self, process: Process, port: int, token: str | None) -> None:
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve ended with {process.poll()}:\n{process.err}")
            try:
                self.http.get("/runs", params={"limit": 1})
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer in 60 s:\n{process.err}") from None
                time.sleep(0.1)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_status(self, run_id: str, statuses: tuple[str, ...], timeout: float = 60) -> dict:
        """The run's view once its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(f"/runs/{run_id}")
            if response.status_code == 200 and response.json()["status"] in statuses:
                return response.json()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} did not reach {statuses} in {timeout} s: {response.text}\n"
                    f"server said:\n{self.process.err}"
                )
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; its exit code. (Only the server process is
        waited for: the runs it started hold its output pipes open while they go on.)"""
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        return self.process.popen.wait(60)

    def kill(self) -> None:
        """SIGKILL the server (its runs are processes of their own and go on)."""
        self.http.close()
        self.process.kill()
        self.process.popen.wait(60)


class ServeSandbox(Sandbox):
    """A project directory (``work``) that ``serve`` serves scripts from."""

    def __init__(self, root: Path, store: str | None) -> None:
        super().__init__(root, clear=("DURABLE_PYTHON_",), store=store, unbuffered=True)
        self.servers: list[Server] = []

    def serve(
        self,
        *extra: str,
        token: str | None = None,
        env: dict[str, str | None] | None = None,
        port: int | None = None,
    ) -> Server:
        port = port or free_port()
        args = ["serve", "--port", str(port), "--poll", "0.2", *extra]
        if token is not None:
            args += ["--token", token]
        server = Server(self.start(*args, env=env), port, token)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.http.close()
        super().close()


@pytest.fixture
def sandbox(
    tmp_path: Path, durable_python: str, store_location: str | None
) -> Iterator[ServeSandbox]:
    box = ServeSandbox(tmp_path, store_location)
    yield box
    box.close()
