"""Fixing the hash seed of a run, which Python reads only when the interpreter starts.

A run records its hash seed, so set and dict orders replay. ``durable-python run`` therefore
re-executes itself once with ``PYTHONHASHSEED`` set, before anything heavy is imported: with the
seed of the run it will resume when a glance at the store finds one (``_resumed_seed``), else a
fresh one. Should the run it then claims have another seed (the glance missed it, or another
process took that run meanwhile), ``session.run`` re-executes once more with the run's seed. What
a re-exec hands over travels in ``DURABLE_PYTHON_HANDOFF``.

This module is imported by the first interpreter of every run: it imports nothing it can skip.
"""

from __future__ import annotations

import os
import sys

from . import child

TYPE_CHECKING = False  # not ``typing``'s, which costs the first interpreter milliseconds
if TYPE_CHECKING:
    from typing import NoReturn

HANDOFF = "DURABLE_PYTHON_HANDOFF"

# ``durable-python run``'s options that take a value, and those that do not (commands/run.py).
# An option not listed here makes ``_resumed_seed`` give up: a fresh seed is never wrong.
_VALUED = frozenset({"--store", "--run-id", "--suspend-after"})
_FLAGS = frozenset({"-v", "--verbose", "--sync", "--no-sync", "--suspend", "--no-suspend"})
_FINAL = frozenset({"completed", "exited", "cancelled"})  # model.FINAL's values


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
        from .errors import DurablePythonError

        raise DurablePythonError(f"could not start a process with hash seed {seed}")
    reexec(seed, {"user_seed": None})


def ensure_seeded(arguments: list[str] | None = None) -> None:
    """Re-exec unless a seed is set (by us, or by the user on purpose): with the seed of the run
    ``durable-python run ARGUMENTS`` will resume if it is found, else with a fresh one."""
    if HANDOFF in os.environ:
        return
    user_seed = os.environ.get("PYTHONHASHSEED")
    if user_seed is None or user_seed == "random":
        seed = _resumed_seed(arguments) if arguments is not None else None
        if seed is None:
            seed = int.from_bytes(os.urandom(4)) % (2**32 - 1) + 1
        reexec(seed, {"user_seed": user_seed})


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


def _resumed_seed(arguments: list[str]) -> int | None:
    """The hash seed of the unfinished run ``durable-python run ARGUMENTS`` would resume, read
    from a local store's ``live/RUN/run.json`` files without importing the store (a guess:
    ``session.run`` checks it); ``None`` when it finds none, or the command line is not plain."""
    options: dict[str, str] = {}
    position = 0
    while position < len(arguments) and arguments[position].startswith("-"):
        name, equals, value = arguments[position].partition("=")
        if name in _VALUED and not equals:
            position += 1
            if position == len(arguments):
                return None
            value = arguments[position]
        elif name not in _VALUED and (equals or name not in _FLAGS):
            return None  # --new, or what argparse may read otherwise (--st for --store)
        options[name] = value
        position += 1
    if position == len(arguments):
        return None
    script = os.path.abspath(arguments[position])
    argv = arguments[position:]
    live = _store_directory(os.path.dirname(script), options.get("--store"))
    if live is None:
        return None
    import json

    try:
        names = [options["--run-id"]] if "--run-id" in options else os.listdir(live)
    except OSError:
        return None
    newest = None
    for name in names:
        try:
            with open(os.path.join(live, name, "run.json"), "rb") as file:
                run = json.loads(file.read())
            if run["status"] in _FINAL or (
                "--run-id" not in options
                and (run["script"] != script or run["argv"] != argv or run["queue"] is not None)
            ):
                continue
            if newest is None or run["created_at"] > newest["created_at"]:
                newest = run
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not a run: session.run decides
    return newest["hash_seed"] if newest is not None else None


def _store_directory(script_dir: str, option: str | None) -> str | None:
    """The ``live`` directory of the store ``config.load`` would choose, in its order (the
    command line, ``DURABLE_PYTHON_STORE``, the nearest pyproject.toml, ``.durable``); ``None``
    for a store that is not a directory."""
    location = option or os.environ.get("DURABLE_PYTHON_STORE")
    if not location:
        location = ".durable"
        directory = script_dir
        while not os.path.isfile(os.path.join(directory, "pyproject.toml")):
            directory, child_dir = os.path.dirname(directory), directory
            if directory == child_dir:
                return os.path.join(location, "live")
        try:
            with open(os.path.join(directory, "pyproject.toml"), "rb") as file:
                text = file.read()
            if b"durable-python" in text:  # else no [tool.durable-python]: no tomllib
                import tomllib

                table = tomllib.loads(text.decode()).get("tool", {}).get("durable-python", {})
                if "store" in table:
                    location = os.path.join(directory, table["store"])
        except (OSError, ValueError, AttributeError, TypeError):
            return None
    if "://" in str(location):
        return None
    return os.path.join(location, "live")
