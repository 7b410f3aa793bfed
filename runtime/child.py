"""The command line of a durable-python child process (light: the run path imports it)."""

from __future__ import annotations

import sys


def command(*args: str) -> list[str]:
    """``python -m durable_python ARGS`` with this interpreter: a command as a child process."""
    return [sys.executable, "-m", "durable_python", *args]
