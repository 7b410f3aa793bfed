"""A progress line on stderr while a resumed run fast-forwards through a long journal.

Shown only when stderr is a terminal and the replay has taken more than a second
(``DURABLE_PYTHON_PROGRESS_AFTER`` seconds), redrawn in place a few times a second, and replaced by
a one-line summary when the run reaches the end of its journal::

    durable-python: replaying 3f2a9c [##########..........]  52%  10,400/20,000 calls  9,800/s
    durable-python: replayed 20,000 calls of run 3f2a9c in 2.1 s (9,500 calls/s)
"""

from __future__ import annotations

import os
import sys
import threading
import time

from .journal import Journal

AFTER = float(os.environ.get("DURABLE_PYTHON_PROGRESS_AFTER") or 1.0)
INTERVAL = 0.1
WIDTH = 20


class Progress:
    def __init__(self, run_id: str, journal: Journal, stream: object) -> None:
        self.run_id = run_id
        self.journal = journal
        self.stream = stream
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.drawn = False
        self.thread = threading.Thread(
            target=self._loop, name="durable-python-progress", daemon=True
        )

    def _done(self) -> int:
        """Entries replayed so far (the main task's position counts recorded entries passed)."""
        return sum(min(t.seq, t.last_recorded + 1) for t in list(self.journal.tasks.values()))

    def _replaying(self) -> bool:
        return self.journal.main.replaying

    def _loop(self) -> None:
        if self.stopping.wait(AFTER) or not self._replaying():
            return
        self._draw()
        while not self.stopping.wait(INTERVAL) and self._replaying():
            self._draw()
        self._finish()

    def _draw(self) -> None:
        total = max(self.journal.replayed_total, 1)
        done = min(self._done(), total)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        filled = int(WIDTH * done / total)
        line = (
            f"\rdurable-python: replaying {self.run_id} [{'#' * filled}{'.' * (WIDTH - filled)}]"
            f" {100 * done // total:3d}%  {done:,}/{total:,} calls  {done / elapsed:,.0f}/s\x1b[K"
        )
        self._write(line)
        self.drawn = True

    def _finish(self) -> None:
        if not self.drawn:
            return
        self.drawn = False
        done = min(self._done(), self.journal.replayed_total)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self._write(
            f"\rdurable-python: replayed {done:,} calls of run {self.run_id} in {elapsed:.1f} s"
            f" ({done / elapsed:,.0f} calls/s)\x1b[K\n"
        )

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.stopping.set()


def start(run_id: str, journal: Journal) -> Progress | None:
    """Start watching a replay, if there is one and stderr is a terminal."""
    stream = sys.__stderr__
    if not journal.replayed_total or stream is None:
        return None
    try:
        if not stream.isatty():
            return None
    except (OSError, ValueError):
        return None
    progress = Progress(run_id, journal, stream)
    progress.thread.start()
    return progress


def stop(progress: Progress | None) -> None:
    """The run is ending: finish the line if one is shown."""
    if progress is None:
        return
    progress.stopping.set()
    progress.thread.join(1.0)
    if progress.thread.is_alive():
        return
    progress._finish()
