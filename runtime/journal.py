"""The journal of a live run: replay cursors per task, and the commit discipline of DESIGN 5.

Recorded entries are served from memory (loaded in one query at start). New entries are encoded
at once and queued; an effect commits the queue together with its own entry in one segment write
before the script goes on. Values and outputs only queue: a background flusher commits them within
``FLUSH_INTERVAL`` seconds, and everything left is committed when the run stops.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

from . import segments

FLUSH_INTERVAL = 0.2


class Entry(NamedTuple):
    task: str
    seq: int
    attempt: int
    policy: str
    name: str
    site: str
    fingerprint: str
    outcome: str  # "ok", "error", "unsaved" or "rebuilt" (an exception pickle could not hold)
    payload: bytes | None
    started: float
    ended: float


class TaskJournal:
    """One task's recorded entries (latest attempt of each seq) and its replay position."""

    __slots__ = ("name", "recorded", "cursor", "next_seq", "next_attempt", "output_to_skip")

    def __init__(self, name: str, recorded: list[Entry]) -> None:
        self.name = name
        self.recorded = recorded
        self.cursor = 0
        self.next_seq = recorded[-1].seq + 1 if recorded else 0
        self.next_attempt = 0
        self.output_to_skip: dict[str, int] = {}  # characters of a replayed output entry left

    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.recorded)

    def take(self, skip_outputs: bool) -> Entry | None:
        """The next recorded entry (``None`` at the frontier), skipping outputs if asked."""
        recorded, cursor = self.recorded, self.cursor
        if skip_outputs:
            while cursor < len(recorded) and recorded[cursor].policy == "output":
                cursor += 1
        if cursor >= len(recorded):
            self.cursor = cursor
            return None
        self.cursor = cursor + 1
        return recorded[cursor]

    def peek(self) -> Entry | None:
        return self.recorded[self.cursor] if self.cursor < len(self.recorded) else None

    def retry_last_failed_effect(self) -> None:
        """Drop a final failed effect from replay so it runs again (fix-and-resume, DESIGN 6)."""
        for index in range(len(self.recorded) - 1, -1, -1):
            entry = self.recorded[index]
            if entry.policy == "output":
                continue
            if entry.policy == "effect" and entry.outcome != "ok":
                del self.recorded[index:]
                self.next_seq = entry.seq
                self.next_attempt = entry.attempt + 1
            return


class Journal:
    """Everything recorded and to be recorded for one run in this process."""

    def __init__(self, run_id: str, segment_path: Path, rows: list[tuple], sync: bool) -> None:
        self.run_id = run_id
        by_task: dict[str, dict[int, Entry]] = {}
        for row in rows:
            entry = Entry(*row)
            by_task.setdefault(entry.task, {})[entry.seq] = entry  # last attempt wins
        self.tasks = {
            name: TaskJournal(name, [entries[seq] for seq in sorted(entries)])
            for name, entries in by_task.items()
        }
        self.main = self.task("main")
        self.replayed_total = sum(len(t.recorded) for t in self.tasks.values())
        self.recorded_count = 0
        self._segment_path = segment_path
        self._sync = sync
        self._writer: segments.SegmentWriter | None = None
        self._queue: deque[bytes] = deque()
        self._open_output: list | None = None  # a line being written, recorded when complete
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        kill_at = os.environ.get("DURABLE_PYTHON_TEST_KILL_AT")
        self._kill_at = int(kill_at) if kill_at else None

    def task(self, name: str) -> TaskJournal:
        found = self.tasks.get(name)
        if found is None:
            found = self.tasks[name] = TaskJournal(name, [])
        return found

    @property
    def total_entries(self) -> int:
        return self.replayed_total + self.recorded_count

    def record(
        self,
        task: TaskJournal,
        policy: str,
        name: str,
        site: str,
        fingerprint: str,
        outcome: str,
        payload: bytes | None,
        started: float,
        commit: bool,
    ) -> None:
        """Add a new entry at the task's frontier; ``commit`` writes it out before returning."""
        if self._open_output is not None:
            with self._write_lock:
                self._close_output()
        seq = task.next_seq
        task.next_seq = seq + 1
        attempt, task.next_attempt = task.next_attempt, 0
        record = (
            task.name,
            seq,
            attempt,
            policy,
            name,
            site,
            fingerprint,
            outcome,
            payload,
            started,
            time.time(),
        )
        self._queue.append(segments.encode(record))
        self.recorded_count += 1
        if commit:
            self.commit()
        elif self._flusher is None:
            self._start_flusher()

    def record_output(self, task: TaskJournal, stream: str, site: str, text: str) -> None:
        """Record written text; the writes of one line (``print``'s pieces) make one entry."""
        with self._write_lock:
            pending = self._open_output
            if pending is not None and (pending[0] is not task or pending[1] != stream):
                self._close_output()
                pending = None
            if pending is None:
                pending = self._open_output = [task, stream, site, [], time.time()]
            pending[3].append(text)
            if text.endswith("\n"):
                self._close_output()
        if self._flusher is None:
            self._start_flusher()

    def _close_output(self) -> None:
        """Queue the open output line as an entry (the caller holds the write lock)."""
        task, stream, site, pieces, started = self._open_output
        self._open_output = None
        seq = task.next_seq
        task.next_seq = seq + 1
        text = "".join(pieces).encode("utf-8", "surrogatepass")
        record = (task.name, seq, 0, "output", stream, site, "", "ok", text, started, started)
        self._queue.append(segments.encode(record))
        self.recorded_count += 1

    def commit(self) -> None:
        """Write every queued entry with one system call (and fdatasync if configured)."""
        with self._write_lock:
            if self._open_output is not None:
                self._close_output()
            queue, chunks = self._queue, []
            while queue:
                chunks.append(queue.popleft())
            if not chunks:
                return
            if self._writer is None:
                self._writer = segments.SegmentWriter(self._segment_path, self._sync)
            self._writer.write(b"".join(chunks))
        if self._kill_at is not None and self.total_entries >= self._kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join()
        self.commit()
        if self._writer is not None:
            self._writer.close()

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="durable-python-flusher", daemon=True
        )
        self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stopping.wait(FLUSH_INTERVAL):
            if self._queue:
                self.commit()
