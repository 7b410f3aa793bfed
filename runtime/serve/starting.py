"""Starting a run for the server: the one door every trigger goes through.

The HTTP API, webhooks, schedules and file arrivals all start runs here, and only here: the
script must lie under the server's scripts directory (a path outside it is refused, never run),
and the run is enqueued under a deterministic id, so the same request, a redelivered webhook, a
second server or a restart finds the run that exists instead of starting another. The server's
worker (or any worker of the store) then executes it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_python.errors import UsageError
from durable_python.model import Run, RunStatus
from durable_python.stores.base import Store

DEFAULT_QUEUE = "default"
# Runs the server starts end their process during a wait longer than this (seconds): a worker
# resumes them when it is due, so a week of daily reminders holds no process.
DEFAULT_SUSPEND_AFTER = 30.0
Start = Callable[..., tuple[Run, bool]]  # ``start_run`` with its store and scripts bound
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


class StartRefused(Exception):
    """A request the server will not carry out; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Scripts:
    """The directory the server runs scripts from (``serve --scripts``)."""

    root: Path

    @classmethod
    def at(cls, directory: str | os.PathLike[str]) -> Scripts:
        root = Path(directory).resolve()
        if not root.is_dir():
            raise UsageError(f"--scripts {directory}: no such directory")
        return cls(root)

    def resolve(self, script: str) -> Path:
        """The script's real path: 403 outside the directory (``..``, an absolute path, a
        symbolic link out of it), 404 when it is not a file there."""
        if not isinstance(script, str) or not script or "\0" in script:
            raise StartRefused(422, "script must be a path relative to the scripts directory")
        path = (self.root / script).resolve()
        if not path.is_relative_to(self.root):
            raise StartRefused(
                403, f"{script!r} is outside the scripts directory {self.root}: not run"
            )
        if not path.is_file():
            raise StartRefused(404, f"no script {script!r} in the scripts directory {self.root}")
        return path


def require_text(value: Any, what: str) -> None:
    """A 422 for text a run cannot carry, anywhere in ``value`` (JSON): a NUL (no command line
    or PostgreSQL text holds one) or a lone surrogate (not UTF-8)."""
    for text in _texts(value):
        if "\0" in text:
            raise StartRefused(422, f"{what} holds a NUL character")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise StartRefused(422, f"{what} is not UTF-8 text (a lone surrogate)") from None


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can name a run (letters, digits and ``._@+-``, at most 128)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise StartRefused(
            422,
            f"run id {run_id!r} is not usable: use letters, digits and . _ @ + - (at most 128,"
            " starting with a letter or digit)",
        )
    return run_id


def start_run(
    store: Store,
    scripts: Scripts,
    script: str,
    args: Sequence[str] = (),
    run_id: str | None = None,
    trigger: dict[str, Any] | None = None,
    queue: str = DEFAULT_QUEUE,
    dedup_key: str | None = None,
    suspend_after: float | None = DEFAULT_SUSPEND_AFTER,
) -> tuple[Run, bool]:
    """Enqueue a run of ``script`` (relative to the scripts directory); return it and whether
    it is new. An existing ``run_id`` (or an unfinished run of the queue with ``dedup_key``) is
    returned as it is; an existing id that names another script or other arguments is a 409."""
    require_text(script, "the script's path")
    if not all(isinstance(arg, str) for arg in args):
        raise StartRefused(422, "args must be a list of strings")
    require_text(list(args), "an argument")
    require_text(trigger, "the request")
    path = scripts.resolve(script)
    relative = path.relative_to(scripts.root).as_posix()
    wanted = Run(
        run_id=check_run_id(run_id) if run_id is not None else secrets.token_hex(6),
        script=str(path),
        source_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        argv=(relative, *args),
        cwd=str(scripts.root),
        hash_seed=secrets.randbelow(2**32 - 2) + 1,
        random_seed=secrets.randbits(63),
        status=RunStatus.NEW,
        suspend_after=suspend_after,
        queue=queue,
        dedup_key=dedup_key,
        trigger=trigger,
    )
    run, new = store.enqueue(wanted)
    same_id = run.run_id == wanted.run_id
    if not new and same_id and (run.script, run.argv) != (wanted.script, wanted.argv):
        raise StartRefused(
            409,
            f"run {run.run_id} exists already with another command ({' '.join(run.argv)});"
            " choose another run id",
        )
    return run, new
