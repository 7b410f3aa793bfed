"""The journal of a live run: replay positions per task, and the commit discipline of DESIGN 5.

Recorded entries are served from memory (loaded in one query at start). New entries are
queued; an effect commits the queue together with its own entry in one write of the store
before the script goes on. An awaited effect's task waits for that write without blocking its
event loop: a committer thread makes it (``loop_commits.py``). Values and outputs only queue: a
background flusher commits them within ``FLUSH_INTERVAL`` seconds, and everything left is committed
when the run stops.

Batched entries (values, markers) wait in ``values``, a deque appended to without a lock; a plain
value (``recording.values``) waits there raw, as ``(task, seq, code, lasti, name,
fingerprint, result, time)``, and is made a record (its site, its pickle) in bulk by the commit
that writes it: per value, the script's thread pays a tuple and an append.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import threading
import time
from collections import deque
from types import CodeType
from typing import TYPE_CHECKING

from .errors import StoreError
from .model import Entry, Outcome, Policy

if TYPE_CHECKING:
    from .loop_commits import LoopCommitter
    from .recording import Call
    from .stores.base import JournalWriter

FLUSH_INTERVAL = 0.2
# About what handing a commit to another thread and back costs a coroutine: a write that takes
# less is done in place (record_awaited).
_HAND_OVER_SECONDS = 0.0001
_OUTPUT, _OK = Policy.OUTPUT.value, Outcome.OK.value  # plain strings: compared per entry
_VALUE = Policy.VALUE.value
_RAW_VALUE_LENGTH = 8  # a raw value in ``Journal.values``; a record has 11 fields
# A float's pickle (protocol 2: PROTO, BINFLOAT, the double, STOP) packed in one call: a third
# of what ``pickle.dumps`` costs for the readings of clocks, the commonest values.
_FLOAT_PICKLE = struct.Struct(">3sdc")


def _flush_real_streams() -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


class TaskJournal:
    """One task's recorded entries and its position in them.

    Every recorded call claims the task's next ``seq`` when it is made, on replay and live alike;
    the entry recorded at that seq (if any) is its outcome. A seq with no entry (a crash lost it,
    or an awaited call had not finished) simply runs live and is recorded at that seq.
    """

    __slots__ = (
        "name",
        "recorded",
        "last_recorded",
        "seq",
        "retry_attempts",
        "lines_replaying",
        "printed_after_failure",
        "children",
    )

    def __init__(self, name: str, recorded: dict[int, Entry]) -> None:
        self.name = name
        self.recorded = recorded
        self.last_recorded = max(self.recorded, default=-1)
        self.seq = 0
        self.retry_attempts: dict[int, int] = {}  # seq -> attempt, for a retried failed effect
        self.lines_replaying: set[str] = set()  # streams amid a line whose entry was replayed
        # seq -> (stream, text) of the lines a failed run printed after the effect it retries
        self.printed_after_failure: dict[int, tuple[str, str]] = {}
        self.children: dict[str, int] = {}  # how many child tasks of each kind were started

    @property
    def replaying(self) -> bool:
        return self.seq <= self.last_recorded

    def claim(self) -> tuple[int, Entry | None]:
        """Take the seq of the next call, past recorded outputs, and the entry recorded there.

        The hot path of every recorded call: the loop is written here, not called."""
        seq, recorded = self.seq, self.recorded
        entry = recorded.get(seq)
        while entry is not None and entry.policy == _OUTPUT:
            seq += 1
            entry = recorded.get(seq)
        self.seq = seq + 1
        return seq, entry

    def peek(self) -> Entry | None:
        return self.recorded.get(self.seq)

    def next_call(self) -> tuple[int, Entry | None]:
        """The seq and entry of the next recorded call past recorded outputs, not taken."""
        position = self.seq
        found = self.claim()
        self.seq = position
        return found

    def child(self, kind: str) -> str:
        """The path of the next child task of ``kind`` (deterministic: numbered in start order)."""
        number = self.children.get(kind, 0)
        self.children[kind] = number + 1
        return f"{self.name}/{kind}{number}"

    def retry_last_failed_effect(self) -> None:
        """Drop a final failed effect from replay so it runs again (fix-and-resume, DESIGN 6).

        What the failed run printed after it (a ``finally``, an ``except`` that re-raised) is
        kept aside: the retried code does not print those lines again (see streams.py).
        """
        for seq in sorted(self.recorded, reverse=True):
            entry = self.recorded[seq]
            if entry.policy == _OUTPUT:
                continue
            if entry.policy == Policy.EFFECT and entry.outcome != Outcome.OK:
                for later in [s for s in self.recorded if s >= seq]:
                    dropped = self.recorded.pop(later)
                    if dropped.policy == _OUTPUT:
                        text = (dropped.payload or b"").decode("utf-8", "surrogatepass")
                        self.printed_after_failure[later] = (dropped.name, text)
                self.last_recorded = max(self.recorded, default=-1)
                self.retry_attempts[seq] = entry.attempt + 1
            return


class Journal:
    """Everything recorded and to be recorded for one run in this process."""

    def __init__(self, run_id: str, entries: list[Entry], writer: JournalWriter) -> None:
        self.run_id = run_id
        by_task: dict[str, dict[int, Entry]] = {}
        for entry in entries:  # in recording order, so a later attempt of a seq replaces an earlier
            by_task.setdefault(entry.task, {})[entry.seq] = entry
        self.tasks = {name: TaskJournal(name, recorded) for name, recorded in by_task.items()}
        self.main = self.task("main")
        self.replayed_total = len(entries)
        self.recorded_count = 0
        self._writer = writer
        self._queue: deque[tuple[int, tuple]] = deque()  # committing entries and outputs
        self.values: deque[tuple] = deque()  # batched entries: raw values and records
        self._enqueue_lock = threading.Lock()
        self._enqueued = 0  # tickets handed out
        self._written = 0  # every ticket up to this one is in the segment
        # Lines being written, one per (task, stream), each recorded as one entry at its newline.
        self._open_lines: dict[tuple[str, str], list] = {}
        self._output_queued = False  # real streams are flushed before output entries commit
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        self._loop_committer: LoopCommitter | None = None
        self._last_write_seconds = _HAND_OVER_SECONDS  # until a write says how long one takes
        kill_at = os.environ.get("DURABLE_PYTHON_TEST_KILL_AT")
        self._kill_at = int(kill_at) if kill_at else None
        # Tests on a fast disk would never hand an awaited entry to the committer otherwise.
        self._always_hand_over = bool(os.environ.get("DURABLE_PYTHON_TEST_HAND_OVER"))

    def task(self, name: str) -> TaskJournal:
        found = self.tasks.get(name)
        if found is None:
            found = self.tasks[name] = TaskJournal(name, {})
        return found

    @property
    def total_entries(self) -> int:
        return self.replayed_total + self.recorded_count

    def record(
        self,
        task: TaskJournal,
        seq: int,
        spec: Call,
        site: str,
        fingerprint: str,
        outcome: str,
        payload: bytes | None,
        started: float,
    ) -> None:
        """Record the outcome of the call that claimed ``seq``; a committing ``spec`` writes it
        out (and everything queued before it) before returning."""
        record = _record_of(task, seq, spec, site, fingerprint, outcome, payload, started)
        if spec.commit:
            self.commit(self._enqueue(record))
            return
        self.values.append(record)
        if self._flusher is None:
            self.start_flusher()

    async def record_awaited(
        self,
        task: TaskJournal,
        seq: int,
        spec: Call,
        site: str,
        fingerprint: str,
        outcome: str,
        payload: bytes | None,
        started: float,
    ) -> None:
        """``record`` for a call awaited on an event loop: the committer thread writes the entry
        while the loop runs other tasks (group commit, loop_commits.py); this returns once it is
        durable.

        It commits in place, without the hand-over to the committer, when a write costs less
        than the hand-over (``--no-sync`` on a local disk), when no other task is ready to run
        (nothing could share the write; tasks woken by I/O meanwhile share the next one), and
        when no asyncio task runs this coroutine."""
        ticket = self._enqueue(
            _record_of(task, seq, spec, site, fingerprint, outcome, payload, started)
        )
        asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop runs this
        loop = asyncio and asyncio._get_running_loop()
        if (
            loop is None
            or not asyncio.current_task()
            or not self._always_hand_over
            and (
                self._last_write_seconds < _HAND_OVER_SECONDS
                or not getattr(loop, "_ready", True)  # the loop's run queue (uvloop has none)
            )
        ):
            self.commit(ticket)
            return
        if self._loop_committer is None:
            from .loop_commits import LoopCommitter  # imports asyncio, which only this needs

            with self._enqueue_lock:
                if self._loop_committer is None:
                    self._loop_committer = LoopCommitter(self)
        await self._loop_committer.wait(ticket)

    @property
    def written(self) -> int:
        """The last ticket the store holds: every entry queued up to it is durable."""
        return self._written

    def write_batched(self) -> None:
        """An effect is about to run live, or text to reach the real stream: what the script
        read before is written first, so a value the effect sends or the output shows is the
        value a resume replays (the effect may still run again after a crash, and the line be
        printed again, but with the same values). Written without fdatasync: it must survive
        the process, which is what dies mid-effect."""
        if self.values:
            self.commit(sync=False)

    def _enqueue(self, record: tuple) -> int:
        with self._enqueue_lock:
            self._enqueued += 1
            self._queue.append((self._enqueued, record))
            return self._enqueued

    def record_output(
        self, task: TaskJournal, stream: str, site: str, text: str, seq: int | None = None
    ) -> None:
        """Record written text; the writes of one line (``print``'s pieces) make one entry, even
        when recorded calls happen between them: the line claimed its seq when it began (or
        ``seq``, already claimed, for a line that begins now)."""
        key = (task.name, stream)
        with self._write_lock:
            line = self._open_lines.get(key)
            if line is None:
                if seq is None:
                    seq = task.seq
                    task.seq = seq + 1
                line = self._open_lines[key] = [task.name, seq, site, [], time.time()]
            line[3].append(text)
            if text.endswith("\n"):
                self._close_line(key)
        if self._flusher is None:
            self.start_flusher()

    def end_line(self, task: TaskJournal, stream: str) -> None:
        """Queue ``task``'s open line on ``stream`` as it is so far (the script flushed it)."""
        key = (task.name, stream)
        with self._write_lock:
            if key in self._open_lines:
                self._close_line(key)

    def _close_line(self, key: tuple[str, str]) -> None:
        """Queue an open line as an entry (the caller holds the write lock)."""
        task_name, seq, site, pieces, started = self._open_lines.pop(key)
        text = "".join(pieces).encode("utf-8", "surrogatepass")
        record = (task_name, seq, 0, _OUTPUT, key[1], site, "", _OK, text, started, time.time())
        self._enqueue(record)
        self._output_queued = True

    def commit(self, ticket: int | None = None, sync: bool = True) -> None:
        """Write every queued entry with one system call (and fdatasync if configured and
        ``sync``).

        Group commit: a task whose entry (``ticket``) another task's write already carried
        returns at once, so concurrent tasks share writes and syncs.
        """
        with self._write_lock:
            if ticket is not None and self._written >= ticket:
                return
            queue, records, last = self._queue, [], self._written
            while queue:
                last, record = queue.popleft()
                records.append(record)
            # Values after the queue: every value read before a queued entry was made (the
            # value an effect sends, a line shows) is in the deque by now, so in this write.
            if self.values:
                records[:0] = _take_batched(self.values)
            if not records:
                return
            if self._output_queued:
                self._output_queued = False
                _flush_real_streams()  # the text is out before the journal says it was written
            began = time.perf_counter()
            self._writer.append(records, sync)  # a StoreError says what failed and what to do
            self._last_write_seconds = time.perf_counter() - began
            self.recorded_count += len(records)
            self._written = last
        if self._kill_at is not None and self.total_entries >= self._kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join()
        if self._loop_committer is not None:
            self._loop_committer.stop()
        with self._write_lock:
            for key in list(self._open_lines):  # a last line without its newline
                self._close_line(key)
        self.commit()
        self._writer.close()

    def start_flusher(self) -> None:
        """Start the thread that commits batched entries every ``FLUSH_INTERVAL`` seconds."""
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="durable-python-flusher", daemon=True
        )
        self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._stopping.wait(FLUSH_INTERVAL):
            if self._queue or self.values:
                try:
                    self.commit()
                except StoreError:
                    return  # the script's own next commit raises it where the user sees it


def _record_of(
    task: TaskJournal,
    seq: int,
    spec: Call,
    site: str,
    fingerprint: str,
    outcome: str,
    payload: bytes | None,
    started: float,
) -> tuple:
    """The record of a call's outcome, in the order of the journal's columns."""
    attempt = task.retry_attempts.pop(seq, 0) if task.retry_attempts else 0
    return (
        task.name, seq, attempt, spec.policy, spec.name, site, fingerprint, outcome, payload,
        started, time.time(),
    )  # fmt: skip


def _take_batched(values: deque[tuple]) -> list[tuple]:
    """Take the batched entries queued so far (appends may go on meanwhile) as records: a raw
    value gets its site and its pickle here."""
    sites, dumps, protocol = _sites, pickle.dumps, pickle.HIGHEST_PROTOCOL
    pack, take = _FLOAT_PICKLE.pack, values.popleft
    records = []
    for _ in range(len(values)):
        entry = take()
        if len(entry) == _RAW_VALUE_LENGTH:
            task, seq, code, lasti, name, fingerprint, result, now = entry
            site = sites.get((id(code), lasti)) or _site(code, lasti)
            if type(result) is float:
                payload = pack(b"\x80\x02G", result, b".")
            else:
                payload = dumps(result, protocol)
            entry = (task, seq, 0, _VALUE, name, site, fingerprint, _OK, payload, now, now)
        records.append(entry)
    return records


# (id(code), lasti) -> "file:line"; the codes are kept alive in _codes, so no id is reused.
_sites: dict[tuple[int, int], str] = {}
_codes: dict[int, CodeType] = {}


def _site(code: CodeType, lasti: int) -> str:
    """``file:line`` of the instruction at byte offset ``lasti`` of ``code`` (a frame's
    ``f_lasti``), as ``frames.site_of`` gives it for a frame stopped there."""
    line = code.co_firstlineno
    for start, end, found in code.co_lines():
        if start <= lasti < end and found is not None:
            line = found
            break
    _codes[id(code)] = code
    site = _sites[id(code), lasti] = f"{code.co_filename}:{line}"
    return site
