"""The Store interface: everything a run, a command, the worker or a server asks of storage.

Commands, the worker and the runtime speak only to this interface, so a new kind of store is one
new module. Implementations: ``local.py`` (a directory: live segments per run, folded into
DuckDB), the default; ``postgresql.py`` (a database for a fleet of machines).

A run is executed only under a ``Claim``: the exclusive right to execute it, held from
``claim``/``create`` until ``release``. A claim can be handed to a child process (the hash-seed
re-exec, a worker starting a run) through ``handoff()`` and ``adopt()``. Journal entries are
appended through the ``JournalWriter`` of a claim, one durable write per ``append``; what is
stored is each entry's fields as a plain tuple (pickling named tuples costs a hundred times more).

A store records the ``JOURNAL_FORMAT`` it was written in and refuses to read another one with the
single ``StoreError`` of ``wrong_format``.
"""

from __future__ import annotations

import gc
import json
import secrets
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from durable_python.errors import StoreError, UsageError
from durable_python.model import JOURNAL_FORMAT, Entry, Event, QueueLimits, Run

CLAIM_WAIT = 5.0  # seconds a command waits for a claim that upkeep or a hand-over holds briefly
# Sent to the process executing a run when a cancel is requested: the run installs a handler
# that reads ``cancel_requested``; ignored by default, so harmless to a process that is not a run.
CANCEL_SIGNAL = signal.SIGURG


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a journal is read. Decoding makes a few objects
    per entry, none of them in a cycle, yet every collection those allocations trigger walks all
    the entries made so far: half the time of reading 100,000 entries goes there otherwise."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def entries_of(records: Iterable[tuple]) -> list[Entry]:
    """Entries of stored records (tuples in ``Entry``'s field order), made in C: a resume makes
    one per recorded call, and ``Entry._make`` is a Python call each."""
    return list(map(tuple.__new__, repeat(Entry), records))


def wrong_format(where: str, found: int) -> StoreError:
    """The error for journal data (a store, a segment) written in another journal format."""
    return StoreError(
        f"{where} was written in journal format {found}, but this durable-python reads format"
        f" {JOURNAL_FORMAT}. Finish or prune those runs with the durable-python version that"
        " wrote them, or use a new store with --store DIR."
    )


def event_fields(name: str, payload: Any, event_id: str | None) -> tuple[str, str]:
    """An event's id (a new one if ``None``) and its payload as JSON; ``UsageError`` for a
    payload that is not JSON."""
    try:
        payload_json = json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"the payload of event {name!r} is not JSON: {exc}") from exc
    if event_id is None:
        event_id = f"{time.time_ns():x}-{secrets.token_hex(4)}"
    return event_id, payload_json


@dataclass(frozen=True)
class RunQuery:
    """Which runs a listing wants (``GET /runs``, the console), newest first."""

    limit: int = 50
    before: tuple[float, str] | None = None  # (created_at, run_id): the page after that run
    since: float | None = None  # started at or after
    until: float | None = None  # started before
    script: str | None = None  # text in the script's path
    text: str | None = None  # text in the id or the arguments, in any case
    statuses: frozenset[str] | None = None  # stored statuses (RunStatus values)

    def matches(self, run: Run) -> bool:
        """The query's test of one run, the same as every store's own."""
        return (
            (self.before is None or (run.created_at, run.run_id) < self.before)
            and (self.since is None or run.created_at >= self.since)
            and (self.until is None or run.created_at < self.until)
            and (self.script is None or self.script in run.script)
            and (self.text is None or self.text.lower() in search_text(run))
            and (self.statuses is None or run.status.value in self.statuses)
        )

    def sql(self, mark: str, joined_argv: str, status_in: str) -> tuple[str, list[Any]]:
        """The query as a SQL ``WHERE`` condition over a runs table (columns run_id,
        created_at, script, status) and its parameters, for a store's one query: ``mark`` is the
        driver's placeholder, ``joined_argv`` the SQL of the arguments joined by spaces,
        ``status_in`` the condition that ``status`` is in the list parameter ``{mark}``."""
        where, params = ["true"], []
        if self.before is not None:
            where.append(f"(created_at, run_id) < ({mark}, {mark})")
            params += list(self.before)
        if self.since is not None:
            where.append(f"created_at >= {mark}")
            params.append(self.since)
        if self.until is not None:
            where.append(f"created_at < {mark}")
            params.append(self.until)
        if self.script is not None:
            where.append(f"strpos(script, {mark}) > 0")
            params.append(self.script)
        if self.text is not None:  # as search_text makes it
            where.append(f"strpos(lower(run_id || ' ' || {joined_argv}), {mark}) > 0")
            params.append(self.text.lower())
        if self.statuses is not None:
            where.append(status_in.format(mark=mark))
            params.append(sorted(self.statuses))
        return " AND ".join(where), params


def search_text(run: Run) -> str:
    """What ``RunQuery.text`` is looked for in: the id and the arguments, lower case."""
    return " ".join([run.run_id, *run.argv]).lower()


def newest_first(runs: list[Run]) -> list[Run]:
    return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)


class Claim(ABC):
    """The exclusive right to execute one run, until ``release``."""

    run_id: str

    @abstractmethod
    def handoff(self) -> dict[str, Any]:
        """JSON-able state that lets a child process ``adopt`` this claim (it stays held).

        The child is this process after ``exec``, or one it starts passing it ``descriptors()``.
        From then on ``release`` only lets go of this process's share: the claim stays with the
        process that adopts it.
        """

    def descriptors(self) -> tuple[int, ...]:
        """File descriptors a child process must inherit to adopt the claim (none by default)."""
        return ()

    @abstractmethod
    def release(self) -> None:
        """Give the claim up (idempotent)."""


class JournalWriter(ABC):
    """Appends a run's entries; each ``append`` is durable when it returns."""

    @abstractmethod
    def append(self, records: Sequence[tuple], sync: bool = True) -> None:
        """Write ``records`` (entries' fields as plain tuples) in one durable write; with
        ``sync=False`` they need only survive the process (a crash), not the machine (a power
        loss): what the script read before it prints, say.

        Raises ``StoreError`` naming the store and what to do when the write fails.
        """

    @abstractmethod
    def close(self) -> None: ...


class Waiter(ABC):
    """Sleeps until something a run or the worker waits for may have changed."""

    @abstractmethod
    def wait(self, seconds: float, wakeup: threading.Event) -> None:
        """Return after ``seconds`` at most, on a change, or when ``wakeup`` is set."""

    @abstractmethod
    def close(self) -> None:
        """Stop watching."""

    def __enter__(self) -> Waiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store(ABC):
    """Runs, their journals, their events and cancel requests, and their wake-ups."""

    location: str  # what messages call the store (a directory, a URL without password)
    address: str  # what opens the same store in another process (a URL may hold a password)

    # ----- runs ---------------------------------------------------------------------------------

    @abstractmethod
    def ensure(self) -> None:
        """Make the store usable (create it); ``StoreError`` with what to do when it cannot."""

    @abstractmethod
    def create(self, run: Run) -> Claim:
        """Record a new run and claim it."""

    @abstractmethod
    def claim(self, run_id: str, wait: float = 0.0) -> Claim | None:
        """Claim a run; ``None`` if a process executes it. ``wait``: seconds to wait while the
        claim is held only for a moment by the store's own upkeep or a hand-over."""

    @abstractmethod
    def adopt(self, handoff: dict[str, Any]) -> Claim:
        """The claim a parent process handed over (``Claim.handoff``)."""

    @abstractmethod
    def read(self, run_id: str) -> Run | None:
        """The current row of the run with this full id."""

    @abstractmethod
    def save(self, run: Run) -> None:
        """Write a run's row (the caller holds its claim, or the run has no process)."""

    @abstractmethod
    def runs(self) -> list[Run]:
        """Every run, oldest first."""

    def runs_page(self, query: RunQuery) -> list[Run]:
        """Up to ``query.limit`` runs that match ``query``, newest first (by start, then id).
        Stores answer it with one query where they can: a store of 10,000 runs is listed a page
        at a time."""
        return newest_first([run for run in self.runs() if query.matches(run)])[: query.limit]

    @abstractmethod
    def pending(self) -> list[Run]:
        """The runs that are not final, oldest first: what the worker looks at every pass, so
        cheap (the local store reads no DuckDB for it)."""

    def find(self, id_or_prefix: str) -> Run | None:
        """A run by its id or a unique prefix of it; ``UsageError`` if several runs match."""
        runs = self.runs()
        matches = [run for run in runs if run.run_id.startswith(id_or_prefix)]
        exact = [run for run in matches if run.run_id == id_or_prefix]
        if exact:
            return exact[0]
        if len(matches) > 1:
            raise UsageError(
                f"run id {id_or_prefix!r} matches several runs in {self.location}; give more"
                " characters. List the runs with: durable-python runs"
            )
        return matches[0] if matches else None

    def require(self, id_or_prefix: str) -> Run:
        """``find``, or ``UsageError`` naming the store and how to list its runs."""
        run = self.find(id_or_prefix)
        if run is None:
            raise UsageError(
                f"unknown run id {id_or_prefix!r} in {self.location}. List the runs with:"
                " durable-python runs (or point at another store with --store DIR)"
            )
        return run

    def unfinished_runs(self, script: str, argv: Sequence[str]) -> list[Run]:
        """The unfinished runs of this command (same script path and argv), newest first;
        enqueued runs are the workers', not this command's."""
        argv = tuple(argv)
        matches = [
            r for r in self.pending() if r.script == script and r.argv == argv and r.queue is None
        ]
        return sorted(matches, key=lambda r: r.created_at, reverse=True)

    @abstractmethod
    def is_live(self, run_id: str) -> bool:
        """Whether a process holds the run's claim now."""

    @abstractmethod
    def last_activity(self, run: Run) -> float:
        """When the run last recorded or changed anything (epoch seconds)."""

    # ----- queues -------------------------------------------------------------------------------

    @abstractmethod
    def enqueue(self, run: Run) -> tuple[Run, bool]:
        """Record a run for the workers (no process has it yet); return it and whether it is
        new: a run with its id, or an unfinished run of its queue with its dedup key, is
        returned instead of recording another."""

    @abstractmethod
    def dequeue(
        self,
        queue: str,
        limits: QueueLimits,
        slots: int,
        runnable: Callable[[Run], str | None],
    ) -> list[tuple[Run, Claim]]:
        """Claim up to ``slots`` of the queue's runs that never started, lowest priority number
        first, then oldest, as far as ``limits`` admit across every worker of the store.
        ``runnable(run)`` says why this worker cannot execute a run (``None``: it can); such a
        run is left for another worker, with the reason as its ``note``."""

    # ----- journals -----------------------------------------------------------------------------

    @abstractmethod
    def journal(self, run: Run) -> list[Entry]:
        """Every entry of the run in recording order (a later attempt of a seq after the
        earlier one), in one read."""

    def entries(self, run: Run, attempts: bool = False) -> list[Entry]:
        """The run's entries ordered by task, seq and attempt; only each seq's last attempt
        unless ``attempts`` (``show`` wants the earlier ones too)."""
        entries = sorted(self.journal(run), key=lambda e: (e.task, e.seq, e.attempt))
        if not attempts:
            last = {(e.task, e.seq): e for e in entries}
            if len(last) != len(entries):
                entries = list(last.values())
        return entries

    @abstractmethod
    def writer(self, claim: Claim, sync: bool) -> JournalWriter:
        """Where the claimed run's new entries go; ``sync``: survive a power loss."""

    @abstractmethod
    def entry_counts(self, run_ids: Sequence[str] | None = None) -> dict[str, int]:
        """How many entries each run has (each of ``run_ids``, when given)."""

    # ----- events, cancel requests, wake-ups -----------------------------------------------------

    @abstractmethod
    def send_event(
        self, run_id: str, name: str, payload: Any, event_id: str | None = None
    ) -> tuple[str, bool]:
        """Keep an event for a run; return its id and whether it is new (an id seen before
        is not kept again). ``UsageError`` for a payload that is not JSON."""

    @abstractmethod
    def events(self, run_id: str) -> list[Event]:
        """The events sent to a run, oldest first (received ones included)."""

    @abstractmethod
    def request_cancel(self, run_id: str) -> None:
        """Ask the run to cancel, and wake the process executing it if there is one."""

    @abstractmethod
    def cancel_requested(self, run_id: str) -> bool: ...

    @abstractmethod
    def clear_cancel(self, run_id: str) -> None: ...

    @abstractmethod
    def watch_run(self, run_id: str) -> Waiter:
        """Wakes when an event or a cancel request reaches the run."""

    @abstractmethod
    def watch_due(self) -> Waiter:
        """Wakes when any run may have become due (for the worker)."""

    @abstractmethod
    def notify_due(self, run_id: str) -> None:
        """Tell watching workers that a run may have become due."""

    # ----- schedules (``durable-python serve``) -------------------------------------------------

    @abstractmethod
    def schedule_cursor(self, name: str) -> float | None:
        """Until when (epoch seconds) the schedule ``name`` has fired; ``None``: never."""

    @abstractmethod
    def advance_schedule(self, name: str, seen: float | None, until: float) -> bool:
        """Move the schedule's cursor from ``seen`` to ``until``; ``False`` (nothing changed)
        when another server moved it first, so of two servers one fires each time."""

    # ----- upkeep -------------------------------------------------------------------------------

    @abstractmethod
    def stopped(self, run: Run, entries: int = 0) -> None:
        """A run's process is done with it (``entries``: its journal's size, when known): upkeep
        may follow."""

    @abstractmethod
    def compact(self) -> int:
        """Move stopped runs into long-term storage; return how many moved (0 if none needed)."""

    @abstractmethod
    def delete(self, run_ids: Sequence[str]) -> list[str]:
        """Forget finished runs and their journals (retention), in one transaction; return the
        ids forgotten (a run a process has now is kept)."""
