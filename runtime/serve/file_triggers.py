"""File arrival: ``[tool.durable-python.watch]`` starts a run for each new file in a directory.

    [tool.durable-python.watch]
    invoices = { directory = "inbox", glob = "*.csv", script = "jobs/import_invoice.py" }

Each file matching the glob gets one run, whose id is the watch's name and a hash of the file's
path and content: a file seen again (a rescan, a restart, a second server) starts nothing new,
and a file written anew with other content is a new run. The script gets the file's path as its
argument (``args`` templates: ``{path}``, ``{name}``, ``{sha256}``) and everything in
``durable_python.trigger()``. The directory is scanned when the server starts (files that
arrived while it was down) and on every change watchfiles reports. A file still being written
is left until it has not changed for ``settle`` seconds (default 1; a rename keeps the time of
the last write, so a file written elsewhere and renamed in is taken as soon as that is long
enough ago). Names starting with a dot are never taken: write ``.name.part``, then rename.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from durable_python.errors import DurablePythonError, UsageError

from .starting import DEFAULT_QUEUE, Start, StartRefused

_KEYS = {"directory", "glob", "script", "args", "settle", "queue"}
EXAMPLE = 'invoices = { directory = "inbox", glob = "*.csv", script = "jobs/import_invoice.py" }'
RESCAN = 1.0  # seconds between rescans while some file is settling
SAFETY_RESCAN = 30.0


@dataclass(frozen=True)
class Watch:
    name: str
    directory: Path
    glob: str
    script: str
    args: tuple[str, ...] = ("{path}",)
    settle: float = 1.0
    queue: str = DEFAULT_QUEUE


def parse(table: dict[str, Any], source: Path | None) -> list[Watch]:
    """The watches of ``[tool.durable-python.watch]`` (directories relative to the pyproject's
    own); ``UsageError`` naming the mistake."""
    base = source.parent if source is not None else Path.cwd()
    watches = []
    for name, entry in table.items():
        where = f"{source}: [tool.durable-python.watch] {name}"
        if (
            not isinstance(entry, dict)
            or set(entry) - _KEYS
            or not {"directory", "script"} <= set(entry)
        ):
            raise UsageError(f"{where}: a watch needs directory and script, like {EXAMPLE}")
        args = entry.get("args", ["{path}"])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise UsageError(f'{where}: args must be a list of strings, like ["{{path}}"]')
        settle = entry.get("settle", 1.0)
        if not isinstance(settle, int | float) or settle < 0:
            raise UsageError(f"{where}: settle is in seconds, at least 0")
        watches.append(
            Watch(
                name=name,
                directory=(base / entry["directory"]).resolve(),
                glob=str(entry.get("glob", "*")),
                script=str(entry["script"]),
                args=tuple(args),
                settle=float(settle),
                queue=str(entry.get("queue", DEFAULT_QUEUE)),
            )
        )
    return watches


class FileTriggers:
    """Scans the watched directories and starts a run per new file."""

    def __init__(self, watches: list[Watch], start: Start) -> None:
        self.watches = watches
        self.start = start
        self._seen: dict[Path, tuple[int, int]] = {}  # started files: (size, mtime_ns)

    def scan(self, now: float | None = None) -> bool:
        """Start a run for every matching file not started yet; ``True`` if some file is
        still settling (scan again soon)."""
        now = time.time() if now is None else now
        settling = False
        for watch in self.watches:
            try:
                names = sorted(os.listdir(watch.directory))
            except OSError:
                continue  # not there (yet): nothing arrived
            for name in names:
                if name.startswith(".") or not fnmatch.fnmatch(name, watch.glob):
                    continue
                path = watch.directory / name
                try:
                    stat = path.stat()
                except OSError:
                    continue
                if not path.is_file() or self._seen.get(path) == (stat.st_size, stat.st_mtime_ns):
                    continue
                if now - stat.st_mtime < watch.settle:
                    settling = True
                    continue
                if self._start(watch, path):
                    self._seen[path] = (stat.st_size, stat.st_mtime_ns)
        return settling

    def _start(self, watch: Watch, path: Path) -> bool:
        try:
            content = path.read_bytes()
        except OSError:
            return False  # gone meanwhile
        sha256 = hashlib.sha256(content).hexdigest()
        identity = hashlib.sha256(f"{path}\0{sha256}".encode()).hexdigest()[:20]
        fields = {"path": str(path), "name": path.name, "sha256": sha256}
        trigger = {"kind": "file", "watch": watch.name, **fields, "size": len(content)}
        try:
            run, created = self.start(
                script=watch.script,
                args=[arg.format(**fields) for arg in watch.args],
                run_id=f"{watch.name}-{identity}",
                trigger=trigger,
                queue=watch.queue,
            )
        except (StartRefused, DurablePythonError) as exc:
            _say(f"watch {watch.name}: {path.name} not started: {exc}")
            return True  # told once; a new version of the file is a new try
        if created:
            _say(f"watch {watch.name}: {path.name} arrived: run {run.run_id}")
        return True

    def serve(self, stopping: threading.Event) -> None:
        """Scan now, then on every change in the directories until ``stopping`` is set; also
        every second while a file settles or a directory is missing, and every half minute
        in any case (a change a network file system did not report)."""
        import watchfiles

        for watch in self.watches:
            if not watch.directory.is_dir():
                _say(f"watch {watch.name}: {watch.directory} does not exist yet; waiting for it")
        while not stopping.is_set():
            settling = self.scan()
            directories = [str(w.directory) for w in self.watches if w.directory.is_dir()]
            quiet = not settling and len(directories) == len(self.watches)
            if not directories:
                stopping.wait(RESCAN)
                continue
            for _ in watchfiles.watch(
                *directories,
                stop_event=stopping,
                rust_timeout=int((SAFETY_RESCAN if quiet else RESCAN) * 1000),
                yield_on_timeout=True,
                debounce=200,
            ):
                break


def _say(message: str) -> None:
    sys.stderr.write(f"durable-python: {message}\n")
    sys.stderr.flush()
