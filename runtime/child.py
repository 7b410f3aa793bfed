"""The command line of a durable-python child process (light: the run path imports it)."""

from __future__ import annotations

import os
import sys


def command(*args: str) -> list[str]:
    """``python -m durable_python ARGS`` with this interpreter: a command as a child process."""
    return [sys.executable, "-m", "durable_python", *args]


def environment(store_address: str, **extra: str) -> dict[str, str]:
    """This process's environment for a child that uses the store at ``store_address``: passed
    in the environment, not the command line, where a URL's password would show in ``ps``."""
    return {**os.environ, "DURABLE_PYTHON_STORE": store_address, **extra}
