"""Shared fixtures: run a script under plain ``python`` and under the installed ``durable-python``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


def durable_python_command() -> str:
    """The installed ``durable-python`` next to this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("durable-python")
    if beside.exists():
        return str(beside)
    found = shutil.which("durable-python")
    if found is None:
        pytest.skip("the durable-python command is not installed")
    return found


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


class Scripts:
    """A working directory for scripts, with a private transpiler cache and store."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "work"
        self.dir.mkdir()
        self.env = dict(os.environ)
        for name in list(self.env):
            if name.startswith("DURABLE_PYTHON_"):
                del self.env[name]
        self.env["DURABLE_PYTHON_CACHE"] = str(root / "cache")
        self.env["DURABLE_PYTHON_STORE"] = str(root / "store")
        self.env["DURABLE_PYTHON_SYNC"] = "0"

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        return path

    def _run(self, command: list[str], timeout: float) -> Outcome:
        done = subprocess.run(
            command,
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            errors="backslashreplace",
            timeout=timeout,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def python(self, *args: str, timeout: float = 60) -> Outcome:
        return self._run([sys.executable, *args], timeout)

    def durable(self, *args: str, timeout: float = 60) -> Outcome:
        return self._run([durable_python_command(), *args], timeout)

    def both(self, script: str, *args: str, timeout: float = 60) -> tuple[Outcome, Outcome]:
        """``python script args`` and ``durable-python run script args`` (a new run)."""
        plain = self.python(script, *args, timeout=timeout)
        durable = self.durable("run", "--new", script, *args, timeout=timeout)
        return plain, durable


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    return Scripts(tmp_path)


@pytest.fixture(scope="session")
def durable_python() -> str:
    """The path of the installed ``durable-python`` command."""
    return durable_python_command()
