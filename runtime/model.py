"""The journal's vocabulary: policies, outcomes and statuses, entries, runs, events, divergences.

Enums are string-valued so that what is stored (segments, DuckDB, JSON) stays plain text: an entry
holds ``Policy.EFFECT.value``, and comparing it with ``Policy.EFFECT`` works either way. ``Entry``
is a named tuple because a resume builds one per recorded call (100,000 of them in a second);
``Run`` and ``Event`` are frozen dataclasses changed with ``dataclasses.replace``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

JOURNAL_FORMAT = 2  # how entries are stored; bumped when their layout or meaning changes


class Policy(StrEnum):
    """What a callable is (DESIGN 4), and the kind of a journal entry."""

    INLINE = "inline"  # runs inline, never recorded
    RESOURCE = "resource"  # constructed again on replay, never recorded
    VALUE = "value"  # a nondeterministic read: recorded, batched
    OUTPUT = "output"  # a line written to stdout or stderr: recorded, skipped on replay
    EFFECT = "effect"  # touches the world: recorded and committed before the script goes on
    AWAITED = "awaited"  # an effect whose outcome was awaited (an async client's call)
    TIMER = "timer"  # the wake-up time of a durable sleep or wait
    EVENT = "event"  # which event a wait received (or that its timer won)
    MARKER = "marker"  # durable_python.patched() took the new code path here
    CANCEL = "cancel"  # durable_python.Cancelled was raised at this call


class Outcome(StrEnum):
    """How a recorded call ended, and so what its payload holds."""

    OK = "ok"  # the pickled result
    ERROR = "error"  # the pickled exception
    REBUILT = "rebuilt"  # an exception pickle could not hold: its class, args and attributes
    UNSAVED = "unsaved"  # a result that could not be saved: its type and why (replays a stub)
    CONSTRUCTED = "constructed"  # a library object that could not be saved: made again on replay


class RunStatus(StrEnum):
    NEW = "new"  # created, not yet executing
    RUNNING = "running"  # a process executes it (or did, and died: ``crashed`` in listings)
    SUSPENDED = "suspended"  # waiting for a timer or an event with no process
    COMPLETED = "completed"
    EXITED = "exited"  # the script ended itself with a non-zero code (sys.exit, exit(), argparse)
    FAILED = "failed"  # an uncaught exception: resumable after a fix
    CANCELLED = "cancelled"


# The same command starts anew.
FINAL = frozenset({RunStatus.COMPLETED, RunStatus.EXITED, RunStatus.CANCELLED})
UNFINISHED = frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.SUSPENDED})
RESUMABLE = frozenset({RunStatus.SUSPENDED, RunStatus.RUNNING, RunStatus.NEW})  # by a worker


class Entry(NamedTuple):
    """One recorded call, keyed by ``(task, seq, attempt)`` within its run."""

    task: str
    seq: int
    attempt: int
    policy: str  # a Policy value
    name: str  # the callable's qualified name (the stream's name for output)
    site: str  # file:line of the call in the script
    fingerprint: str  # see argdiff.py: a hash of the arguments, and short renderings
    outcome: str  # an Outcome value
    payload: bytes | None
    started: float
    ended: float


@dataclass(frozen=True)
class Run:
    """A run's row: what it executes, with which seeds, and how far it got."""

    run_id: str
    script: str  # absolute path
    # The hashes of every source the run has executed, space-separated ("" before it started):
    # a resume announces an edit only for a source the journal was never recorded against.
    source_hash: str
    argv: tuple[str, ...]
    cwd: str
    hash_seed: int
    random_seed: int
    status: RunStatus
    exit_code: int | None = None
    error: str | None = None  # "Type: message" of an uncaught exception
    pid: int | None = None  # the process executing it, while one does
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    suspend_after: float | None = None  # --suspend: waits longer than this end the process
    wake_at: float | None = None  # a suspended run's timer
    waiting_for: str | None = None  # a suspended run's awaited event name
    consumed: tuple[str, ...] = ()  # ids of the events it has received
    # Enqueued runs (``durable-python enqueue``; worker.py): the queue, its order among the
    # queue's runs (lower first), a key no other unfinished run of the queue has, when a worker
    # first took it, whether a worker may run it with an edited script, and why workers left it.
    queue: str | None = None
    priority: int = 0
    dedup_key: str | None = None
    dequeued_at: float | None = None
    accept_changes: bool = False
    note: str | None = None
    # What started it, when not a command line: a webhook's request, a schedule's fire, a file
    # that arrived (``durable-python serve``); JSON, read by ``durable_python.trigger()``.
    trigger: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "consumed", tuple(self.consumed))

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def in_queue(self) -> bool:
        """An enqueued run that no worker has admitted yet."""
        return self.queue is not None and self.dequeued_at is None and self.status == RunStatus.NEW

    def executed(self, source_hash: str) -> bool:
        """Whether the run has executed this source before (it did not start yet: nothing)."""
        return source_hash in self.source_hash.split()

    def sources_with(self, source_hash: str) -> str:
        """``source_hash`` for the row once this source executes too."""
        return (
            self.source_hash
            if self.executed(source_hash)
            else f"{self.source_hash} {source_hash}".strip()
        )

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able values (``status`` as its string)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["status"] = self.status.value
        data["argv"], data["consumed"] = list(self.argv), list(self.consumed)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class QueueLimits:
    """What a queue admits across the fleet (``[tool.durable-python.queues]``): at most
    ``concurrency`` of its runs executing at once, and at most ``limit`` started per ``period``
    seconds; ``None``: no such limit."""

    concurrency: int | None = None
    limit: int | None = None
    period: float = 60.0

    @property
    def unlimited(self) -> bool:
        return self.concurrency is None and self.limit is None


@dataclass(frozen=True)
class Event:
    """An event sent to a run (``durable-python send``, ``durable_python.send``)."""

    event_id: str
    name: str
    payload: Any  # JSON
    sent_ns: int


@dataclass(frozen=True)
class Divergence:
    """Where and how a replayed script stopped matching its journal (contract 2.5).

    Errors render it (``NondeterminismError``); tools read its fields (``replay``, ``watch``).
    """

    site: str  # file:line where the script made the call, relative when shorter
    task: str
    seq: int
    recorded: str  # "effect fetch('a') called at job.py:9"
    attempted: str  # "effect fetch('b')"
    same_callable: bool
    argument_diff: tuple[str, ...] = ()  # "argument 1: recorded 'a', now 'b'"

    @property
    def position(self) -> str:
        return f"{self.task}/{self.seq}"

    def summary(self) -> str:
        how = ", same call with other arguments" if self.same_callable else ""
        return f"diverges at {self.site} (journal entry {self.position}{how})"

    def render(self, command: str) -> str:
        """The full message: the two calls, the argument diff, and the ways to go on."""
        same = "  (same callable, different arguments)" if self.same_callable else ""
        return (
            f"{self.site}: this run no longer matches its journal.\n"
            f"  recorded at {self.position}: {self.recorded}\n"
            f"  attempted now:      {self.attempted}{same}\n"
            + "".join(f"    {line}\n" for line in self.argument_diff)
            + "The script was edited in a way that changes its recorded calls, or it depends on"
            " something durable-python does not record. To go on: undo the edit and run again;"
            f" or start afresh with: {command}; or keep old runs on the old path"
            ' with: if durable_python.patched("change-id"): <new code>'
        )
