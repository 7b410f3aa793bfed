"""Fixing the hash seed of a run, which Python reads only when the interpreter starts.

A run records its hash seed, so set and dict orders replay. ``durable-python run`` therefore
re-executes itself once with ``PYTHONHASHSEED`` set: at once with a fresh seed (before anything
heavy is imported), and again with the recorded seed if it turns out to resume a run whose seed
differs. What a re-exec hands over travels in ``DURABLE_PYTHON_HANDOFF``.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from . import child
from .errors import DurablePythonError

HANDOFF = "DURABLE_PYTHON_HANDOFF"


def reexec(seed: int, handoff: dict) -> NoReturn:
    """Replace this process by the same command with ``PYTHONHASHSEED=seed``; ``handoff`` is
    what the new process finds in ``take_handoff``."""
    import json

    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    env[HANDOFF] = json.dumps(handoff)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, child.command(*sys.argv[1:]), env)


def ensure(seed: int) -> None:
    """Re-exec this command with ``PYTHONHASHSEED=seed`` unless this process already has it
    (``durable-python replay``: the run's set and dict orders)."""
    if os.environ.get("PYTHONHASHSEED") == str(seed):
        os.environ.pop(HANDOFF, None)  # not for the script to see
        return
    if HANDOFF in os.environ:
        raise DurablePythonError(f"could not start a process with hash seed {seed}")
    reexec(seed, {"user_seed": None})


def ensure_seeded() -> None:
    """Re-exec with a fresh seed unless a seed is set (by us, or by the user on purpose)."""
    if HANDOFF in os.environ:
        return
    user_seed = os.environ.get("PYTHONHASHSEED")
    if user_seed is None or user_seed == "random":
        reexec(int.from_bytes(os.urandom(4)) % (2**32 - 1) + 1, {"user_seed": user_seed})


def take_handoff() -> dict:
    """What the re-exec handed over, with this process's ``seed``; the script's environment gets
    back the ``PYTHONHASHSEED`` the user had (or none)."""
    import json

    ensure_seeded()
    handoff = os.environ.pop(HANDOFF, None)
    state = (
        json.loads(handoff) if handoff is not None else {"user_seed": os.environ["PYTHONHASHSEED"]}
    )
    if state["user_seed"] is None:
        state["seed"] = int(os.environ.pop("PYTHONHASHSEED"))
    else:
        state["seed"] = int(os.environ["PYTHONHASHSEED"])
        os.environ["PYTHONHASHSEED"] = state["user_seed"]
    return state
