"""sqlite3: connections are resources, statements effects whose cursors replay their rows; a
transaction the crash rolled back is rebuilt before the run goes on."""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.e2e

# Statements and timers only until the end (no batched entries): every kill is exact, so the
# database must end exactly as uninterrupted, whatever transaction a kill cut.
SCRIPT = """
import sqlite3, time

conn = sqlite3.connect("app.db")
conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, qty INT)")
conn.commit()
for batch in range(3):
    for i in range(3):
        conn.execute("INSERT INTO items (name, qty) VALUES (?, ?)", (f"b{batch}-{i}", i))
        time.sleep(0)
    cur = conn.cursor()
    cur.executemany("UPDATE items SET qty = qty + 10 WHERE name = ?", [(f"b{batch}-0",), (f"b{batch}-2",)])
    conn.commit()
with conn:
    conn.execute("DELETE FROM items WHERE qty = 1")
    time.sleep(0)
conn.execute("INSERT INTO items (name, qty) VALUES ('rolled back', 0)")
conn.rollback()
conn.row_factory = sqlite3.Row
row = conn.execute("SELECT COUNT(*) AS n, SUM(qty) AS total FROM items").fetchone()
print(row["n"], row["TOTAL"], dict(row), row.keys())
print([tuple(r) for r in conn.execute("SELECT name, qty FROM items ORDER BY id")])
memory = sqlite3.connect(":memory:")
memory.execute("CREATE TABLE t (x)")
memory.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
memory.commit()
memory.execute("INSERT INTO t VALUES (40)")
time.sleep(0)
print(memory.execute("SELECT SUM(x) FROM t").fetchone()[0], memory.in_transaction)
"""


def _rows(ih) -> list[tuple]:
    with sqlite3.connect(ih.work / "app.db") as db:
        return db.execute("SELECT id, name, qty FROM items ORDER BY id").fetchall()


def test_database_ends_as_uninterrupted_after_kills_anywhere(ih):
    ih.write("db.py", SCRIPT)
    reference = ih.run("db.py")
    assert reference.returncode == 0, reference
    expected = _rows(ih)
    assert len(expected) == 6 and reference.stdout.splitlines()[-1] == "43 True", reference
    total = len(ih.entries())
    for kill_ats in ([2], [4], [7], [total // 2], [total - 6], [total - 2], [3, 11, 19]):
        ih.fresh()
        (ih.work / "app.db").unlink()
        series = ih.series("db.py", kill_ats=kill_ats)
        assert series.crashes == len(kill_ats), series
        assert _rows(ih) == expected, f"{kill_ats}\n{series}"
        assert series.stdout == reference.stdout, series


def test_cursor_rows_replay_even_after_the_database_changed(ih):
    ih.write(
        "report.py",
        """
        import sqlite3, time
        db = sqlite3.connect("data.db")
        rows = db.execute("SELECT name FROM people ORDER BY name").fetchall()
        time.sleep(0)
        print(rows, db.execute("SELECT COUNT(*) FROM people").fetchone())
        """,
    )
    with sqlite3.connect(ih.work / "data.db") as db:
        db.execute("CREATE TABLE people (name TEXT)")
        db.executemany("INSERT INTO people VALUES (?)", [("ada",), ("bob",)])
    first = ih.run("report.py", kill_at=2)
    assert first.killed, first
    with sqlite3.connect(ih.work / "data.db") as db:
        db.execute("INSERT INTO people VALUES ('cy')")
    second = ih.run("report.py")
    assert second.returncode == 0, second
    # the first query replays (2 names); the second runs live past the frontier (3 rows now)
    assert second.stdout == "[('ada',), ('bob',)] (3,)\n", second
