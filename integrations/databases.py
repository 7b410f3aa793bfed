"""Databases: ``sqlite3`` connections are resources, statements are effects with usable cursors.

``sqlite3.connect(...)`` returns a :class:`DurableConnection` around a real connection, which is
opened again on replay (a resource). Each ``execute``/``executemany``/``executescript`` (on the
connection or on a cursor) is one effect: the statement runs once, all its rows are fetched at once
and recorded with ``description``, ``rowcount`` and ``lastrowid``, and the cursor the script gets
(:class:`DurableCursor`) serves ``fetchone``/``fetchmany``/``fetchall``/iteration from them, live
and on replay alike. ``commit``/``rollback`` (and ``with conn:``) are effects too.

Transactions: a statement recorded inside a transaction that the crash left uncommitted was rolled
back by SQLite, although its entry replays. So the connection keeps the statements replayed since
the last commit (the entry records whether a transaction was open after each one), and before its
first live statement or commit it executes them again: the transaction is rebuilt as it was, then
goes on. An in-memory database (``":memory:"``, ``mode=memory``) is rebuilt the same way from all
its statements. The one statement that can take effect twice is a ``commit`` in flight at the
crash (SQLite committed, the journal had not recorded it yet): like any call in flight, at least
once.

``row_factory`` (``sqlite3.Row`` or a function) and ``text_factory`` work as usual; other
connection methods (``create_function``, ``backup``, ``iterdump``...) go to the real connection.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any

from durable_python import context, frames, recording
from durable_python.model import Policy

_QUERY_WORDS = ("SELECT", "EXPLAIN", "VALUES")


def _next_key(task: Any) -> str:
    return f"{task.name}/sqlite{context.active().next_number('sqlite', task)}"


def _is_query(sql: str) -> bool:
    return sql.lstrip(" \t\r\n(").upper().startswith(_QUERY_WORDS)


class Row:
    """``sqlite3.Row`` for recorded rows: by index or (case-insensitive) column name."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: tuple[str, ...], values: tuple) -> None:
        self._names, self._values = names, tuple(values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            lowered = key.lower()
            for index, name in enumerate(self._names):
                if name.lower() == lowered:
                    return self._values[index]
            raise IndexError("No item with that key")
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._names == other._names and self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._names, self._values))

    def __repr__(self) -> str:
        return f"<durable_python Row {dict(zip(self._names, self._values, strict=True))!r}>"

    def __getstate__(self) -> tuple:
        return self._names, self._values

    def __setstate__(self, state: tuple) -> None:
        self._names, self._values = state


class DurableCursor:
    """A cursor whose statements are effects and whose rows are recorded (see the module doc)."""

    def __init__(self, connection: DurableConnection) -> None:
        self.connection = connection
        self.row_factory = connection.row_factory
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[tuple] = []
        self._next = 0
        self._closed = False

    def _run(self, method: str, sql: str, parameters: Any) -> DurableCursor:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed cursor.")
        result = self.connection._statement(method, sql, parameters, sys._getframe(2))
        self.description = result["description"]
        self.rowcount = result["rowcount"]
        self.lastrowid = result["lastrowid"]
        self._rows = result["rows"]
        self._next = 0
        return self

    def execute(self, sql: str, parameters: Any = ()) -> DurableCursor:
        return self._run("execute", sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any) -> DurableCursor:
        return self._run("executemany", sql, list(seq_of_parameters))

    def executescript(self, sql_script: str) -> DurableCursor:
        return self._run("executescript", sql_script, None)

    def _row(self, values: tuple) -> Any:
        factory = self.row_factory
        if factory is None:
            return values
        if factory is sqlite3.Row:
            return Row(tuple(d[0] for d in self.description or ()), values)
        return factory(self, values)

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._row(self._rows[self._next - 1])

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self.arraysize if size is None else size
        taken = self._rows[self._next : self._next + size]
        self._next += len(taken)
        return [self._row(values) for values in taken]

    def fetchall(self) -> list[Any]:
        taken = self._rows[self._next :]
        self._next = len(self._rows)
        return [self._row(values) for values in taken]

    def __iter__(self) -> DurableCursor:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        self._closed = True

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass


class DurableConnection:
    """A sqlite3 connection (a resource) whose statements are recorded (see the module doc)."""

    def __init__(self, real: sqlite3.Connection, database: Any, task: Any) -> None:
        self._real = real
        self._key = _next_key(task)
        self.row_factory: Any = real.row_factory
        real.row_factory = None  # rows are recorded as tuples; the factory applies on fetch
        text = str(database)
        self._in_memory = text in (":memory:", "") or "mode=memory" in text
        self._pending: list[tuple[str, str, Any]] = []  # replayed, not yet applied to the real db
        self._in_transaction = False

    # ----- the real connection -----------------------------------------------------------------

    def _apply_pending(self) -> None:
        """Before the first live statement: execute what replay skipped but the database needs."""
        pending, self._pending = self._pending, []
        for method, sql, parameters in pending:
            if method == "execute":
                self._real.execute(sql, parameters)
            elif method == "executemany":
                self._real.executemany(sql, parameters)
            elif method == "executescript":
                self._real.executescript(sql)
            else:
                getattr(self._real, method)()  # commit/rollback of an in-memory database

    def _statement(self, method: str, sql: str, parameters: Any, frame: Any) -> dict[str, Any]:
        args = (sql,) if parameters is None else (sql, parameters)

        ran: list[bool] = []

        def live() -> dict[str, Any]:
            ran.append(True)
            self._apply_pending()
            cursor = self._real.cursor()
            try:
                getattr(cursor, method)(*args)
                rows = cursor.fetchall()
                return {
                    "rows": rows,
                    "description": cursor.description,
                    "rowcount": cursor.rowcount,
                    "lastrowid": cursor.lastrowid,
                    "in_transaction": self._real.in_transaction,
                }
            finally:
                cursor.close()

        task = recording.current_task()
        if task is None:
            return live()
        name = f"sqlite3.Cursor.{method}"
        commit = method != "execute" or not _is_query(sql)
        spec = recording.call(Policy.EFFECT, name, commit)
        result = recording.perform(spec, frame, (self._key, *args), {}, live)
        self._in_transaction = result["in_transaction"]
        if not ran:  # replayed: the database has it only if its transaction was committed
            if self._in_memory or self._in_transaction:
                if method == "executescript" and not self._in_memory:
                    self._pending.clear()  # executescript commits what was pending first
                self._pending.append((method, sql, parameters))
            else:
                self._pending.clear()
        return result

    def _end(self, name: str) -> None:
        """``commit`` or ``rollback``."""
        ran: list[bool] = []

        def live() -> None:
            ran.append(True)
            self._apply_pending()
            getattr(self._real, name)()

        if recording.current_task() is None:
            live()
            return
        frame = sys._getframe(2)
        recording.perform(
            recording.call(Policy.EFFECT, f"sqlite3.Connection.{name}"),
            frame,
            (self._key,),
            {},
            live,
        )
        self._in_transaction = False
        if not ran:
            if self._in_memory:
                self._pending.append((name, "", None))
            else:
                self._pending.clear()

    # ----- the sqlite3.Connection interface ----------------------------------------------------

    def cursor(self, factory: Any = None) -> DurableCursor:
        return DurableCursor(self)

    def execute(self, sql: str, parameters: Any = ()) -> DurableCursor:
        return DurableCursor(self)._run("execute", sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any) -> DurableCursor:
        return DurableCursor(self)._run("executemany", sql, list(seq_of_parameters))

    def executescript(self, sql_script: str) -> DurableCursor:
        return DurableCursor(self)._run("executescript", sql_script, None)

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        self._end("rollback")

    def close(self) -> None:
        self._pending.clear()
        self._real.close()

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @property
    def isolation_level(self) -> Any:
        return self._real.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._real.isolation_level = value

    @property
    def text_factory(self) -> Any:
        return self._real.text_factory

    @text_factory.setter
    def text_factory(self, value: Any) -> None:
        self._real.text_factory = value

    @property
    def total_changes(self) -> int:
        return recording.perform(recording.call(Policy.VALUE, "sqlite3.Connection.total_changes"), sys._getframe(1), (self._key,),
            {}, lambda: self._real.total_changes,
        )  # fmt: skip

    def __enter__(self) -> DurableConnection:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> bool:
        if kind is None:
            self.commit()
        else:
            self.rollback()
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<durable_python sqlite3 connection {self._key}>"


def sqlite_connect(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``sqlite3.connect``: a :class:`DurableConnection` in a run (a resource, opened again on
    replay), the plain connection inside an effect or outside a run."""

    def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        real = f(database, *args, **kwargs)
        task = recording.current_task()
        if task is None or not isinstance(real, sqlite3.Connection):
            return real
        return DurableConnection(real, database, task)

    return connect


frames.hide(sqlite_connect)
