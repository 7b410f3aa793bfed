"""``runs`` and ``show`` on live and finished runs, and one clear message for each bad input:
unknown run id, missing or deleted script, corrupt, unwritable or locked store (DESIGN 2.8)."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = pytest.mark.e2e

LIVE = """
    import sys
    import time

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/start")
    print("ready")
    time.sleep(float(sys.argv[2]))
    witness_client.hit(base + "/end")
    print("done")
"""


def test_runs_and_show_while_a_run_is_live_and_after_it_ends(dp):
    dp.write("live.py", LIVE)
    prefix = dp.prefix("live")
    # It sleeps 15 s: long enough for the commands below to find it live on a loaded machine.
    process = dp.start("run", "live.py", dp.url(prefix), "15")
    assert process.readline() == "ready\n"
    time.sleep(0.1)  # the timer is committed right after "ready"

    (run,) = dp.runs()
    assert run["status"] == "running", run
    assert run["pid"] is not None
    assert run["script"] == str(dp.work / "live.py")
    assert run["argv"] == ["live.py", dp.url(prefix), "15"]
    assert run["entries"] >= 2
    table = dp.cli("runs")
    assert table.returncode == 0, table
    assert run["run_id"] in table.stdout and "running" in table.stdout

    entries = dp.show(run["run_id"])
    policies = [(e["policy"], e["name"]) for e in entries]
    assert policies[:3] == [
        ("effect", "witness_client.hit"),
        ("output", "sys.stdout"),
        ("timer", "time.sleep"),
    ], policies
    assert entries[0]["outcome"] == "ok"
    assert entries[0]["site"].endswith("live.py:7")
    text = dp.cli("show", run["run_id"][:6])  # a unique prefix is enough
    assert text.returncode == 0, text
    assert "witness_client.hit" in text.stdout and "time.sleep" in text.stdout

    done = process.finish()
    assert done.returncode == 0, done
    (run,) = dp.runs()
    assert (run["status"], run["exit_code"], run["pid"]) == ("completed", 0, None)
    assert run["entries"] == 5  # effect, output, timer, effect, output
    assert [e["policy"] for e in dp.show(run["run_id"])][-2:] == ["effect", "output"]
    assert dp.cli("fold").returncode == 0  # what the background fold does; the views agree
    (folded,) = dp.runs()
    assert folded["run_id"] == run["run_id"]
    assert (folded["status"], folded["entries"]) == ("completed", 5)
    assert len(dp.show(run["run_id"])) == 5


def test_runs_and_show_json_is_one_object_per_line(dp):
    dp.write("live.py", LIVE)
    prefix = dp.prefix("json")
    for _ in range(2):
        assert dp.run("live.py", dp.url(prefix), "0").returncode == 0
    listing = dp.cli("runs", "--json")
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"run_id", "status", "started", "entries", "last_activity"} <= row.keys()
        shown = dp.cli("show", row["run_id"], "--json")
        assert shown.returncode == 0, shown
        entries = [json.loads(line) for line in shown.stdout.splitlines()]
        assert [e["seq"] for e in entries] == list(range(len(entries)))
        assert {"policy", "name", "site", "outcome", "started", "ended"} <= entries[0].keys()


def test_unknown_run_id_is_a_usage_error(dp):
    dp.write("live.py", LIVE)
    assert dp.run("live.py", dp.url(dp.prefix("unknown")), "0").returncode == 0
    for command in (["show", "no-such-run"], ["show", "no-such-run", "--json"]):
        done = dp.cli(*command)
        assert done.returncode == 64, done
        assert "unknown run id 'no-such-run'" in done.stderr, done.stderr
        assert "durable-python runs" in done.stderr
        assert done.stdout == ""


def test_missing_script_is_reported_like_python_does(dp):
    done = dp.run("nowhere.py", "arg")
    assert done.returncode == 2, done
    assert "can't open file" in done.stderr and "nowhere.py" in done.stderr, done.stderr
    assert "No such file or directory" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert dp.runs() == []


def test_script_deleted_between_runs(dp):
    script = dp.write("gone.py", LIVE)
    prefix = dp.prefix("gone")
    assert dp.run("gone.py", dp.url(prefix), "0", kill_at=3).killed
    script.unlink()
    done = dp.run("gone.py", dp.url(prefix), "0")
    assert done.returncode == 2, done
    assert "can't open file" in done.stderr and "gone.py" in done.stderr, done.stderr
    (run,) = dp.runs()  # the crashed run and its journal are still there
    assert run["status"] == "crashed" and run["entries"] >= 3, run
    dp.write("gone.py", LIVE)
    resumed = dp.run("gone.py", dp.url(prefix), "0")
    assert resumed.returncode == 0 and resumed.stdout == "done\n", resumed
    assert dp.counts(prefix) == {"/start": 1, "/end": 1}


def _make_store(dp) -> str:
    """A store with one completed run folded into its DuckDB file; returns the run id."""
    dp.write("live.py", LIVE)
    assert dp.run("live.py", dp.url(dp.prefix("store")), "0").returncode == 0
    assert dp.cli("fold").returncode == 0
    assert (dp.store / "store.duckdb").is_file()
    (run,) = dp.runs()
    return run["run_id"]


@pytest.mark.local_store  # the local store's files
def test_corrupt_store_gives_a_clear_message_and_loses_no_live_journal(dp):
    _make_store(dp)
    (dp.store / "store.duckdb").write_bytes(b"this is not a DuckDB database\n" * 1000)

    listing = dp.cli("runs")
    assert listing.returncode == 74, listing
    assert "store.duckdb" in listing.stderr and "cannot be opened" in listing.stderr
    assert len(listing.stderr.strip().splitlines()) == 1, listing.stderr

    # A new run does not need the damaged file; it keeps its journal in the live directory.
    prefix = dp.prefix("corrupt")
    dp.write("after.py", LIVE)
    done = dp.run("after.py", dp.url(prefix), "0")
    assert done.returncode in (0, 74), done
    if done.returncode == 74:
        assert "store" in done.stderr and "Traceback" not in done.stderr, done.stderr
    else:
        assert done.stdout == "ready\ndone\n"

    # Moving the damaged file aside, as the message says, brings everything live back.
    os.replace(dp.store / "store.duckdb", dp.store / "store.duckdb.bad")
    runs = dp.runs()
    if done.returncode == 0:
        assert [r["script"].rsplit("/", 1)[-1] for r in runs] == ["after.py"]
        assert runs[0]["status"] == "completed" and runs[0]["entries"] == 5


def test_unwritable_store_is_a_store_error(dp, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's parent directory should be\n")
    dp.write("live.py", LIVE)
    prefix = dp.prefix("unwritable")
    done = dp.run(
        "live.py",
        dp.url(prefix),
        "0",
        env={"DURABLE_PYTHON_STORE": str(blocker / "store")},
    )
    assert done.returncode == 74, done
    assert str(blocker / "store") in done.stderr, done.stderr
    assert "--store" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert dp.counts(prefix) == {}, "the script ran although its journal could not be kept"


@pytest.mark.local_store  # the local store's files
def test_locked_store_times_out_with_a_clear_message(dp, flock):
    _make_store(dp)
    with flock(dp.store / "store.lock"):
        started = time.monotonic()
        done = dp.cli("runs", env={"DURABLE_PYTHON_LOCK_TIMEOUT": "1"})
        elapsed = time.monotonic() - started
    assert done.returncode == 74, done
    assert "locked" in done.stderr and "DURABLE_PYTHON_LOCK_TIMEOUT" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 10, elapsed
    assert len(dp.runs()) == 1  # and once the lock is free, everything is there


STEPS = """
    import sys

    import witness_client

    base = sys.argv[1]
    for name in ["a", "b", "c"]:
        witness_client.hit(f"{base}/{name}")
        print("did", name)
"""


@pytest.mark.local_store  # the local store's files
def test_a_run_whose_folded_journal_is_missing_is_not_resumed_from_scratch(dp):
    """Moving a damaged store.duckdb aside (as its message advises) loses the journals folded
    into it; a crashed run whose entries were there must not then replay nothing and run its
    finished effects again."""
    dp.write("steps.py", STEPS)
    prefix = dp.prefix("folded")
    assert dp.run("steps.py", dp.url(prefix), kill_at=3).killed
    assert dp.cli("fold").returncode == 0  # what any run's stop does in the background
    os.replace(dp.store / "store.duckdb", dp.store / "store.duckdb.bad")
    again = dp.run("steps.py", dp.url(prefix))
    assert dp.counts(prefix) == {"/a": 1, "/b": 1}, "finished effects ran again"
    assert again.returncode == 74, again
    assert "store" in again.stderr
