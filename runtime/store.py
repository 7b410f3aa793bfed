"""The store: DuckDB for runs and entries, and a directory per unfinished run.

Layout of the store directory (``.durable/`` by default)::

    store.duckdb        runs and entries: the queryable record every command reads
    store.lock          flock that serialises the short DuckDB sessions of all processes
    live/RUN/run.json   the run's row while it is unfinished or not yet folded into DuckDB
    live/RUN/lock       flock held by the process executing RUN (free lock = no live process)
    live/RUN/*.seg      journal segments that process appends to (see segments.py)

DuckDB lets one process open a file at a time and spends 0.1 s on import and tens of ms per
session, so the run path avoids it: a new run touches only its own directory, and when a run
stops a detached ``durable-python fold`` moves its segments and row into DuckDB. A resumed run
reads its folded entries in one query. ``runs`` and ``show`` read DuckDB and the live directories
together, so they are right at every moment, before or after a fold.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import errno
import fcntl
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import segments
from .errors import StoreError, UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    script VARCHAR NOT NULL,
    source_hash VARCHAR NOT NULL,
    argv VARCHAR NOT NULL,
    cwd VARCHAR NOT NULL,
    hash_seed BIGINT NOT NULL,
    random_seed BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    exit_code INTEGER,
    error VARCHAR,
    pid INTEGER,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    folded BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    run_id VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    policy VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    site VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    payload BLOB,
    started DOUBLE NOT NULL,
    ended DOUBLE NOT NULL,
    PRIMARY KEY (run_id, task, seq, attempt)
);
"""

ENTRY_COLUMNS = (
    "task, seq, attempt, policy, name, site, fingerprint, outcome, payload, started, ended"
)
UNFINISHED = ("running", "failed", "suspended")
FOLD_BATCH = 8  # stopped runs left unfolded before a run's end starts a fold
FINAL = ("completed", "cancelled")
LOCK_TIMEOUT = float(os.environ.get("DURABLE_PYTHON_LOCK_TIMEOUT", "30"))


@dataclass
class Run:
    """One row of ``runs``."""

    run_id: str
    script: str
    source_hash: str
    argv: list[str]
    cwd: str
    hash_seed: int
    random_seed: int
    status: str
    exit_code: int | None = None
    error: str | None = None
    pid: int | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    folded: int = 0  # entries already in DuckDB
    # Waiting (events.py); kept in run.json only, since a waiting run keeps its live directory.
    suspend_after: float | None = None  # --suspend: waits longer than this end the process
    wake_at: float | None = None  # a suspended run's timer: the worker resumes it then
    waiting_for: str | None = None  # a suspended run's awaited event name
    consumed: list[str] = field(default_factory=list)  # event ids it has already received

    COLUMNS = (
        "run_id, script, source_hash, argv, cwd, hash_seed, random_seed, status, exit_code,"
        " error, pid, created_at, updated_at, folded"
    )

    @classmethod
    def from_row(cls, row: tuple) -> Run:
        values = list(row)
        values[3] = json.loads(values[3])
        return cls(*values)

    def as_row(self) -> tuple:
        return (
            self.run_id,
            self.script,
            self.source_hash,
            json.dumps(self.argv),
            self.cwd,
            self.hash_seed,
            self.random_seed,
            self.status,
            self.exit_code,
            self.error,
            self.pid,
            self.created_at,
            self.updated_at,
            self.folded,
        )


class Store:
    """A store directory; see the module docstring for its layout."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.database = self.root / "store.duckdb"
        self.live = self.root / "live"

    def ensure(self) -> None:
        try:
            self.live.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store at {self.root}: {exc.strerror}. "
                "Choose a writable place with --store DIR or DURABLE_PYTHON_STORE."
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A DuckDB connection held under ``store.lock``; closed when the block ends."""
        self.ensure()
        with _file_lock(self.root / "store.lock", LOCK_TIMEOUT, self.root):
            import duckdb

            try:
                db = duckdb.connect(str(self.database))
            except duckdb.Error as exc:
                raise StoreError(_open_failure(self.database, exc)) from exc
            try:
                db.execute(SCHEMA)
                yield db
            except duckdb.Error as exc:
                raise StoreError(f"the store {self.database} failed: {exc}") from exc
            finally:
                db.close()

    # ----- runs -------------------------------------------------------------------------------

    def write_meta(self, run: Run) -> None:
        """Save the row of an unfinished or unfolded run (atomically: write, then rename)."""
        run.updated_at = time.time()
        directory = self.live / run.run_id
        directory.mkdir(parents=True, exist_ok=True)
        staging = directory / f".run.json.{os.getpid()}"
        try:
            staging.write_text(json.dumps(dataclasses.asdict(run)))
            os.replace(staging, directory / "run.json")
        except OSError as exc:
            raise StoreError(
                f"cannot write {directory / 'run.json'}: {exc.strerror}. Free space or fix the"
                " permissions of the store, then run the same command again."
            ) from exc

    def read_meta(self, run_id: str) -> Run | None:
        try:
            return Run(**json.loads((self.live / run_id / "run.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def live_runs(self) -> list[Run]:
        """Runs that still have a live directory (unfinished, or finished but not yet folded)."""
        found = []
        if self.live.is_dir():
            for directory in self.live.iterdir():
                run = self.read_meta(directory.name)
                if run is not None:
                    found.append(run)
        return sorted(found, key=lambda r: r.created_at)

    def unfinished_runs(self, script: str, argv: list[str]) -> list[Run]:
        """Resumable runs of this command, newest first."""
        matches = [
            r
            for r in self.live_runs()
            if r.script == script and r.argv == argv and r.status in UNFINISHED + ("new",)
        ]
        return sorted(matches, key=lambda r: r.created_at, reverse=True)

    def find_run(self, run_id: str) -> Run | None:
        """A run by id or unique id prefix, wherever it is; ``UsageError`` if ambiguous."""
        candidates = {r.run_id: r for r in self.all_runs()}
        if run_id in candidates:
            return candidates[run_id]
        matches = [r for key, r in candidates.items() if key.startswith(run_id)]
        if len(matches) > 1:
            raise UsageError(
                f"run id {run_id!r} matches several runs in {self.root}; give more characters."
                " List the runs with: durable-python runs"
            )
        return matches[0] if matches else None

    def require_run(self, run_id: str) -> Run:
        run = self.find_run(run_id)
        if run is None:
            raise UsageError(
                f"unknown run id {run_id!r} in {self.root}. List the runs with: durable-python runs"
                " (or point at another store with --store DIR)"
            )
        return run

    def all_runs(self) -> list[Run]:
        """Every run: DuckDB's rows, overridden by newer live rows."""
        runs: dict[str, Run] = {}
        if self.database.exists():
            with self.session() as db:
                rows = db.execute(f"SELECT {Run.COLUMNS} FROM runs").fetchall()
            runs = {row[0]: Run.from_row(row) for row in rows}
        for run in self.live_runs():
            runs[run.run_id] = run
        return sorted(runs.values(), key=lambda r: r.created_at)

    # ----- entries ----------------------------------------------------------------------------

    def segment_paths(self, run_id: str) -> list[Path]:
        return sorted((self.live / run_id).glob("*.seg"))

    def new_segment_path(self, run_id: str) -> Path:
        return self.live / run_id / f"{time.time_ns():020d}-{os.getpid()}.seg"

    def journal_rows(self, run: Run) -> list[tuple]:
        """Every entry of a run in recording order: folded ones (one query), then segments'.

        A later attempt of a seq comes after the earlier one, which is all replay needs.
        """
        rows: list[tuple] = []
        if run.folded:
            if self.database.exists():
                with self.session() as db:
                    rows = db.execute(
                        f"SELECT {ENTRY_COLUMNS} FROM entries WHERE run_id=?"
                        " ORDER BY task, seq, attempt",
                        (run.run_id,),
                    ).fetchall()
            if not rows:  # never replay from scratch what the journal says already ran
                raise StoreError(
                    f"run {run.run_id} has {run.folded} journal entries in {self.database}, but"
                    " that database does not hold them (was it moved aside or replaced?). Put it"
                    " back and run the same command again, or start afresh with --new."
                )
        pending = [r for path in self.segment_paths(run.run_id) for r in segments.read(path)]
        if pending and rows:  # a fold that stopped between its insert and its deletes
            known = {(r[0], r[1], r[2]) for r in rows}
            pending = [r for r in pending if (r[0], r[1], r[2]) not in known]
        return rows + pending if rows else pending

    def load_entries(self, run: Run, include_attempts: bool = False) -> list[tuple]:
        """Every entry of a run ordered by task, seq and attempt; only the last attempt of each
        seq unless ``include_attempts`` (``show`` wants the earlier ones too)."""
        rows = sorted(self.journal_rows(run), key=lambda r: (r[0], r[1], r[2]))
        if not include_attempts:
            last = {(r[0], r[1]): r for r in rows}
            rows = list(last.values()) if len(last) != len(rows) else rows
        return rows

    def entry_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if self.database.exists():
            with self.session() as db:
                counts = dict(
                    db.execute("SELECT run_id, count(*) FROM entries GROUP BY run_id").fetchall()
                )
        for run in self.live_runs():
            pending = sum(1 for p in self.segment_paths(run.run_id) for _ in segments.read(p))
            counts[run.run_id] = counts.get(run.run_id, 0) + pending
        return counts

    def fold(self) -> int:
        """Move every stopped run's segments and row into DuckDB; return how many runs moved.

        A run is folded while holding its live lock, so a process resuming it never reads half
        a fold. Idempotent: entries already in DuckDB are not inserted twice.
        """
        folded = 0
        with self.session() as db:
            for run in self.live_runs():
                lock_fd = self.claim(run.run_id)
                if lock_fd is None:
                    continue
                marker = self.live / run.run_id / "folding"  # tells claim_when_free to wait
                marker.touch()
                try:
                    # Read the row again now that no process runs it: the one listed above may
                    # predate the end of a run that stopped meanwhile (its status would be lost).
                    fresh = self.read_meta(run.run_id)
                    if fresh is None:  # another fold moved it meanwhile (claim made the dir)
                        self._remove_live_dir(run.run_id)
                        continue
                    run = fresh
                    paths = self.segment_paths(run.run_id)
                    records = [r for path in paths for r in segments.read(path)]
                    if records:
                        _bulk_insert_entries(db, self.root, run.run_id, records)
                        run.folded += len(records)
                    db.execute("DELETE FROM runs WHERE run_id=?", (run.run_id,))
                    placeholders = ",".join("?" * len(run.as_row()))
                    db.execute(f"INSERT INTO runs VALUES ({placeholders})", run.as_row())
                    if run.status in FINAL:
                        for path in paths:
                            path.unlink(missing_ok=True)
                        self._remove_live_dir(run.run_id)
                    else:
                        self.write_meta(run)
                        for path in paths:
                            path.unlink(missing_ok=True)
                    folded += 1
                finally:
                    marker.unlink(missing_ok=True)
                    os.close(lock_fd)
        return folded

    def fold_in_background(self, now: bool = False) -> None:
        """Start a detached ``durable-python fold`` so the script's command returns at once.

        Folding costs a DuckDB import (0.1-0.3 s of CPU), so it waits until ``FOLD_BATCH`` runs
        have stopped unfolded (``now`` for a run with a long journal): until then ``runs``,
        ``show`` and resume read their live directories, which are as good.
        """
        if os.environ.get("DURABLE_PYTHON_TEST_NO_FOLD"):  # scratch stores (durable-python check)
            return
        if not now and self._unfolded_count() < FOLD_BATCH:
            return
        # posix_spawn rather than subprocess.Popen: no Popen object left behind to warn
        # (ResourceWarning) in the script's process; the child outlives us in its own session.
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "durable_python", "fold", "--store", str(self.root)],
            {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_PYTHON_TEST")},
            file_actions=quiet,
            setsid=True,
        )

    def _unfolded_count(self) -> int:
        """How many live directories hold something a fold would move (a cheap estimate)."""
        count = 0
        for directory in self.live.iterdir():
            if next(directory.glob("*.seg"), None) is not None:
                count += 1
            else:
                run = self.read_meta(directory.name)
                count += run is not None and run.status in FINAL
        return count

    # ----- liveness ---------------------------------------------------------------------------

    def claim(self, run_id: str) -> int | None:
        """Take the live lock of a run; ``None`` if another process holds it."""
        directory = self.live / run_id
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def claim_when_free(self, run_id: str, timeout: float = 5.0) -> int | None:
        """``claim``, waiting while a stopped run's lock is held only for a moment (a background
        ``fold``, a worker taking it); ``None`` at once if a process executes the run."""
        deadline = time.monotonic() + timeout
        while True:
            fd = self.claim(run_id)
            if fd is not None:
                return fd
            meta = self.read_meta(run_id)
            held_by_fold = (self.live / run_id / "folding").exists()
            live = meta is None or (meta.status in ("running", "new") and not held_by_fold)
            if live or time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def is_live(self, run_id: str) -> bool:
        try:
            fd = os.open(self.live / run_id / "lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def last_activity(self, run: Run) -> float:
        times = [run.updated_at]
        times.extend(p.stat().st_mtime for p in self.segment_paths(run.run_id))
        return max(times)

    def _remove_live_dir(self, run_id: str) -> None:
        directory = self.live / run_id
        shutil.rmtree(directory / "inbox", ignore_errors=True)  # events (events.py)
        for name in ("run.json", "lock", "cancel", "folding"):
            (directory / name).unlink(missing_ok=True)
        try:
            directory.rmdir()
        except OSError:
            pass


def _bulk_insert_entries(db: Any, root: Path, run_id: str, records: list[tuple]) -> None:
    """Insert many entries at once through a CSV file (parameter binding costs 0.25 ms a row)."""
    staging = root / f"staging-{os.getpid()}.csv"
    with open(staging, "w", newline="") as f:
        writer = csv.writer(f)
        for r in records:
            payload = base64.b64encode(r[8]).decode() if r[8] is not None else ""
            writer.writerow((run_id, *r[:8], payload, *r[9:]))
    try:
        db.execute(
            "INSERT OR IGNORE INTO entries SELECT run_id, task, seq, attempt, policy, name,"
            " coalesce(site, ''), coalesce(fingerprint, ''), outcome,"
            " from_base64(coalesce(payload, '')), started, ended FROM read_csv(?,"
            " header=false, quote='\"', escape='\"', columns={'run_id': 'VARCHAR',"
            " 'task': 'VARCHAR', 'seq': 'BIGINT', 'attempt': 'INTEGER', 'policy': 'VARCHAR',"
            " 'name': 'VARCHAR', 'site': 'VARCHAR', 'fingerprint': 'VARCHAR',"
            " 'outcome': 'VARCHAR', 'payload': 'VARCHAR', 'started': 'DOUBLE',"
            " 'ended': 'DOUBLE'})",
            (str(staging),),
        )
    finally:
        staging.unlink(missing_ok=True)


@contextmanager
def _file_lock(path: Path, timeout: float, root: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            f"cannot open the store lock {path}: {exc.strerror}. "
            "Check the permissions of the store directory, or use --store DIR."
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the store {root} has been locked by another process for {timeout:.0f}"
                        " s. Wait for it to finish, or set DURABLE_PYTHON_LOCK_TIMEOUT."
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)


def _open_failure(database: Path, exc: Exception) -> str:
    text = str(exc)
    if "lock" in text.lower():
        return (
            f"the store {database} is held open by a program that is not durable-python "
            f"({text.splitlines()[0]}). Close it and try again."
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS):
        return f"the store {database} is not writable. Use --store DIR for a writable place."
    return (
        f"the store {database} cannot be opened: {text.splitlines()[0]}. If it is damaged, move it"
        " aside (mv store.duckdb store.duckdb.bad) and run again; journal segments of live runs"
        " in live/ are kept and will be folded into the new store."
    )
