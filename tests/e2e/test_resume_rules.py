"""The resume rules of DESIGN 6, divergence (DESIGN 2.5) and concurrent runs in one store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from durable_python.testing import Process

pytestmark = pytest.mark.e2e

STEPS = """
    import sys

    import witness_client

    base = sys.argv[1]
    for name in ["a", "b", "c"]:
        witness_client.hit(f"{base}/{name}")
        print("did", name)
"""


def test_completed_run_is_final_so_the_same_command_starts_a_new_run(dp):
    dp.write("steps.py", STEPS)
    prefix = dp.prefix("final")
    first = dp.run("steps.py", dp.url(prefix))
    second = dp.run("steps.py", dp.url(prefix))
    assert first.returncode == second.returncode == 0, (first, second)
    assert first.stdout == second.stdout == "did a\ndid b\ndid c\n"
    assert "resuming" not in second.stderr
    assert dp.counts(prefix) == {"/a": 2, "/b": 2, "/c": 2}
    runs = [r for r in dp.runs() if r["script"].endswith("steps.py")]
    assert [r["status"] for r in runs] == ["completed", "completed"]


def test_new_starts_afresh_and_leaves_the_unfinished_run_resumable(dp):
    dp.write("steps.py", STEPS)
    prefix = dp.prefix("new")
    crashed = dp.run("steps.py", dp.url(prefix), kill_at=3)
    assert crashed.killed and crashed.stdout == "did a\n", crashed
    old_id = dp.run_of("steps.py")["run_id"]

    fresh = dp.run("--new", "steps.py", dp.url(prefix))
    assert fresh.returncode == 0 and fresh.stdout == "did a\ndid b\ndid c\n", fresh
    assert "resuming" not in fresh.stderr
    assert dp.counts(prefix) == {"/a": 2, "/b": 2, "/c": 1}

    dp.settle()
    resumed = dp.run("steps.py", dp.url(prefix))  # the same command resumes the crashed run
    assert resumed.returncode == 0, resumed
    assert old_id in resumed.stderr, resumed.stderr
    assert resumed.stdout == "did b\ndid c\n"
    assert dp.counts(prefix) == {"/a": 2, "/b": 2, "/c": 2}
    assert sorted(r["status"] for r in dp.runs()) == ["completed", "completed"]


EXITS = """
    import sys

    import witness_client

    witness_client.hit(sys.argv[1] + "/work")
    print("worked")
    sys.exit(int(sys.argv[2]))
"""


def test_run_id_names_a_run_and_a_completed_one_is_not_executed_again(dp):
    dp.write("job.py", EXITS)
    prefix = dp.prefix("runid")
    first = dp.run("--run-id", "nightly-1", "job.py", dp.url(prefix), "0")
    assert first.returncode == 0 and first.stdout == "worked\n", first
    assert [r["run_id"] for r in dp.runs()] == ["nightly-1"]

    again = dp.run("--run-id", "nightly-1", "job.py", dp.url(prefix), "0")
    assert again.returncode == 0, again
    assert again.stdout == ""
    assert "nightly-1" in again.stderr and "completed" in again.stderr, again.stderr
    assert dp.counts(prefix) == {"/work": 1}
    assert len(dp.runs()) == 1


def test_run_id_resumes_a_crashed_run_and_keeps_the_scripts_exit_code(dp):
    dp.write("job.py", EXITS)
    prefix = dp.prefix("runid-exit")
    crashed = dp.run("--run-id", "job-7", "job.py", dp.url(prefix), "3", kill_at=1)
    assert crashed.killed, crashed
    resumed = dp.run("--run-id", "job-7", "job.py", dp.url(prefix), "3")
    assert resumed.returncode == 3, resumed
    assert resumed.stdout == "worked\n"
    assert dp.counts(prefix) == {"/work": 1}
    dp.settle()
    # It exited (sys.exit(3)): final. Running it once more executes nothing, and gives its code.
    again = dp.run("--run-id", "job-7", "job.py", dp.url(prefix), "3")
    assert again.returncode == 3 and again.stdout == "", again
    assert dp.counts(prefix) == {"/work": 1}


FAILING = """
    import sys

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/a")
    print("did a")
    witness_client.hit(base + "/b")
    print("did b")
    raise RuntimeError("bug in step c")
"""

FIXED = FAILING.replace(
    'raise RuntimeError("bug in step c")',
    'witness_client.hit(base + "/c")\n    print("did c")',
)


def test_fix_and_resume_a_failed_run(dp):
    """A run that failed with an uncaught exception resumes after the script is fixed: the
    finished effects are replayed, not repeated, and the edit is announced once."""
    dp.write("failing.py", FAILING)
    prefix = dp.prefix("fix")
    failed = dp.run("failing.py", dp.url(prefix))
    assert failed.returncode == 1, failed
    assert failed.stdout == "did a\ndid b\n"
    assert "RuntimeError: bug in step c" in failed.stderr
    assert 'failing.py", line 10' in failed.stderr, failed.stderr
    run = dp.run_of("failing.py")
    assert (run["status"], run["exit_code"]) == ("failed", 1)

    dp.write("failing.py", FIXED)
    dp.settle()
    fixed = dp.run("failing.py", dp.url(prefix))
    assert fixed.returncode == 0, fixed
    assert fixed.stdout == "did c\n"
    assert fixed.stderr.count("changed since") == 1, fixed.stderr
    assert run["run_id"] in fixed.stderr
    assert dp.counts(prefix) == {"/a": 1, "/b": 1, "/c": 1}
    assert dp.run_of("failing.py")["status"] == "completed"


FLAKY = """
    import sys

    import witness_client

    base, marker = sys.argv[1], sys.argv[2]
    witness_client.hit(base + "/a")
    reply = witness_client.flaky(base + "/b", marker)
    print("b answered", reply["count"])
"""


def test_failed_last_effect_is_retried_when_the_run_is_resumed(dp):
    """The recorded exception of the effect that failed the run is retried, not replayed."""
    dp.write("flaky.py", FLAKY)
    prefix = dp.prefix("flaky")
    failed = dp.run("flaky.py", dp.url(prefix), "up.marker")
    assert failed.returncode == 1, failed
    assert "WitnessError: (503," in failed.stderr, failed.stderr
    (dp.work / "up.marker").write_text("the service is back\n")
    dp.settle()
    resumed = dp.run("flaky.py", dp.url(prefix), "up.marker")
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == "b answered 2\n"
    assert "changed" not in resumed.stderr
    assert dp.counts(prefix) == {"/a": 1, "/b": 2}


PRINTS_WHILE_FAILING = """
    import sys

    import witness_client

    base, marker = sys.argv[1], sys.argv[2]
    witness_client.hit(base + "/a")
    print("did a")
    try:
        reply = witness_client.flaky(base + "/b", marker)
    finally:
        print("cleaning up")
    print("b answered", reply["count"])
"""


# The except prints another line than the finally did; the resumed run's last line begins like
# the recorded one ("cleaning up ", in print's pieces) and then differs.
REPORTS_WHILE_FAILING = PRINTS_WHILE_FAILING.replace(
    'finally:\n        print("cleaning up")',
    'except Exception as exc:\n        print("cleaning up after", type(exc).__name__)\n        raise',
).replace('print("b answered"', 'print("cleaning up", "done; b answered"')


@pytest.mark.parametrize(
    ("source", "printed_failing", "printed_resumed"),
    [
        (PRINTS_WHILE_FAILING, "did a\ncleaning up\n", "b answered 2\n"),
        (
            REPORTS_WHILE_FAILING,
            "did a\ncleaning up after WitnessError\n",
            "cleaning up done; b answered 2\n",
        ),
    ],
    ids=["same-line-again", "another-line"],
)
def test_a_failed_run_resumed_after_a_fix_prints_nothing_twice(
    dp, source, printed_failing, printed_resumed
):
    """The lines the failed run printed after its failed effect are in the journal: when the
    retried code prints them again, the same, they are not shown twice; a line that differs (even
    one that begins the same) is printed whole."""
    dp.write("cleanup.py", source)
    prefix = dp.prefix("printed")
    failed = dp.run("cleanup.py", dp.url(prefix), "up.marker")
    assert failed.returncode == 1, failed
    assert failed.stdout == printed_failing
    (dp.work / "up.marker").write_text("the service is back\n")
    dp.settle()
    resumed = dp.run("cleanup.py", dp.url(prefix), "up.marker")
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == printed_resumed
    assert dp.counts(prefix) == {"/a": 1, "/b": 2}
    dp.settle()
    journal = dp.show(dp.run_of("cleanup.py")["run_id"])
    lines = [e["value"] for e in journal if e["policy"] == "output"]
    assert "".join(lines) == printed_failing + printed_resumed, lines  # each line once


def test_changed_source_is_announced_once(dp):
    script = dp.write("steps.py", STEPS)
    prefix = dp.prefix("changed")
    assert dp.run("steps.py", dp.url(prefix), kill_at=2).killed
    script.write_text(script.read_text() + "# a comment: the calls are the same\n")
    edited = dp.run("steps.py", dp.url(prefix), kill_at=4)
    assert edited.killed, edited
    assert edited.stderr.count("changed since") == 1, edited.stderr
    last = dp.run("steps.py", dp.url(prefix))
    assert last.returncode == 0, last
    assert "changed since" not in last.stderr, last.stderr
    assert dp.counts(prefix) == {"/a": 1, "/b": 1, "/c": 1}


def test_a_source_changed_back_is_not_announced_again(dp):
    """The edit is announced for a source the journal was never recorded against, only."""
    script = dp.write("steps.py", STEPS)
    original = script.read_text()
    prefix = dp.prefix("back")
    assert dp.run("steps.py", dp.url(prefix), kill_at=2).killed
    script.write_text(original + "# an edit\n")
    edited = dp.run("steps.py", dp.url(prefix), kill_at=4)
    assert edited.killed and edited.stderr.count("changed since") == 1, edited
    script.write_text(original)
    back = dp.run("steps.py", dp.url(prefix))
    assert back.returncode == 0, back
    assert "changed since" not in back.stderr, back.stderr
    assert dp.counts(prefix) == {"/a": 1, "/b": 1, "/c": 1}


FAILED_BUILD = """
    import subprocess
    import sys

    import witness_client

    witness_client.hit(sys.argv[1] + "/a")
    print("checking the build")
    try:
        subprocess.run(["false"], check=True)
    except subprocess.CalledProcessError as exc:
        print("build failed with status", exc.returncode)
        sys.exit(1)
"""


def test_sys_exit_is_the_scripts_own_ending_so_the_same_command_starts_a_new_run(dp):
    """``sys.exit(1)`` ends the run for good (status exited, its code kept); the same command
    starts a new run, and every line is printed once per run."""
    dp.write("exits.py", FAILED_BUILD)
    prefix = dp.prefix("exit")
    first = dp.run("exits.py", dp.url(prefix))
    assert first.returncode == 1, first
    assert first.stdout == "checking the build\nbuild failed with status 1\n"
    run = dp.run_of("exits.py")
    assert (run["status"], run["exit_code"]) == ("exited", 1)
    listed = dp.cli("runs")
    assert "exited (1)" in listed.stdout, listed

    second = dp.run("exits.py", dp.url(prefix))
    assert second.returncode == 1, second
    assert second.stdout == first.stdout
    assert "resuming" not in second.stderr, second.stderr
    runs = [r for r in dp.runs() if r["script"].endswith("exits.py")]
    assert sorted(r["status"] for r in runs) == ["exited", "exited"]
    assert dp.counts(prefix) == {"/a": 2}
    outputs = [(e["task"], e["seq"]) for e in dp.show(run["run_id"]) if e["policy"] == "output"]
    assert len(outputs) == len(set(outputs)) == 2, outputs

    resumed = dp.cli("resume", run["run_id"])
    assert resumed.returncode == 1 and "already exited" in resumed.stderr, resumed


DIVERGING = """
    import sys

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/a")
    witness_client.hit(base + "/b")
    witness_client.hit(base + "/c")
    print("done")
"""


@pytest.mark.parametrize(
    ("edit", "attempted"),
    [
        (('"/b"', '"/b2"'), "witness_client.hit('http://"),
        (('hit(base + "/b")', 'fail(base + "/b")'), "witness_client.fail("),
    ],
    ids=["different-arguments", "different-callable"],
)
def test_divergence_stops_the_run_and_names_the_line_and_both_calls(dp, edit, attempted):
    script = dp.write("diverging.py", DIVERGING)
    original = script.read_text()
    prefix = dp.prefix("diverge")
    assert dp.run("diverging.py", dp.url(prefix), kill_at=2).killed
    script.write_text(original.replace(*edit))

    diverged = dp.run("diverging.py", dp.url(prefix))
    assert diverged.returncode == 65, diverged
    assert diverged.stdout == ""
    message = diverged.stderr
    assert "diverging.py:7" in message, message
    recorded = [line for line in message.splitlines() if "recorded at" in line]
    now = [line for line in message.splitlines() if "attempted now" in line]
    assert recorded and "witness_client.hit(" in recorded[0], message
    assert now and attempted in now[0], message
    assert "patched" in message, message
    url = dp.url(prefix)
    assert f"start afresh with: durable-python run --new diverging.py {url};" in message, message
    assert dp.counts(prefix) == {"/a": 1, "/b": 1}, "a diverged run went on executing"

    # Nothing was mixed into the journal: undo the edit and the run completes.
    script.write_text(original)
    dp.settle()
    resumed = dp.run("diverging.py", dp.url(prefix))
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == "done\n"
    assert dp.counts(prefix) == {"/a": 1, "/b": 1, "/c": 1}


SLOW_STEPS = """
    import sys
    import time

    import witness_client

    base = sys.argv[1]
    witness_client.hit(base + "/start")
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    witness_client.hit(base + "/end")
    print("done")
"""


def test_two_different_scripts_run_at_once_in_one_store(dp):
    dp.write("one.py", SLOW_STEPS)
    dp.write("two.py", SLOW_STEPS)
    one, two = dp.prefix("one"), dp.prefix("two")
    processes = [
        dp.start("run", "one.py", dp.url(one), "0.5"),
        dp.start("run", "two.py", dp.url(two), "0.5"),
    ]
    results = [p.finish() for p in processes]
    for result in results:
        assert result.returncode == 0, result
        assert result.stdout == "ready\ndone\n"
    assert dp.counts(one) == dp.counts(two) == {"/start": 1, "/end": 1}
    runs = dp.runs()
    assert sorted(r["status"] for r in runs) == ["completed", "completed"]
    assert {r["script"].rsplit("/", 1)[-1] for r in runs} == {"one.py", "two.py"}


def test_the_same_command_twice_at_once_starts_a_second_run_beside_the_live_one(dp):
    dp.write("steps.py", SLOW_STEPS)
    prefix = dp.prefix("twice")
    first = dp.start("run", "steps.py", dp.url(prefix), "4")
    assert first.readline() == "ready\n"
    second = dp.run("steps.py", dp.url(prefix), "4")
    assert second.returncode == 0, second
    assert second.stdout == "ready\ndone\n"
    assert "live" in second.stderr, second.stderr
    done = first.finish()  # all it printed: "ready", read above, then "done"
    assert done.returncode == 0 and done.stdout == "ready\ndone\n", done
    assert dp.counts(prefix) == {"/start": 2, "/end": 2}
    runs = dp.runs()
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[0]["run_id"] != runs[1]["run_id"]


def _lock_holders(path: Path) -> set[int]:
    """Processes holding a flock on ``path``, from /proc/locks (looking takes no lock)."""
    inode = os.stat(path).st_ino
    holders = set()
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in fields:  # a waiter, not a holder
                continue
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
                holders.add(int(fields[4]))
    return holders


def _fold_stopped_while_holding(dp, lock: Path) -> Process:
    """A real ``durable-python fold``, stopped (SIGSTOP) at a moment it holds ``lock``."""
    for _ in range(10):
        fold = dp.start("fold")
        deadline = time.monotonic() + 30
        while fold.poll() is None and time.monotonic() < deadline:
            if fold.pid in _lock_holders(lock):
                fold.send_signal(signal.SIGSTOP)
                if fold.pid in _lock_holders(lock):
                    return fold
                fold.send_signal(signal.SIGCONT)
            time.sleep(0.0005)
        fold.finish(timeout=30)
    pytest.skip("could not catch a fold holding the run's lock")


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs /proc/locks")
@pytest.mark.local_store  # the local store's files
@pytest.mark.parametrize(
    "hash_seed",
    [None, "7"],
    ids=["hash-seed-per-run", "PYTHONHASHSEED-given"],
)
def test_a_run_whose_lock_a_fold_holds_is_resumed_not_duplicated(dp, hash_seed):
    """For a moment after any run of the store stops, a background fold holds the live lock of
    each stopped run it folds. The same command run then must wait and resume the crashed run,
    not take it for live and start a second one beside it (running its finished effects again).

    Caught without timing luck: a real fold is stopped while it holds the crashed run's lock,
    the same command is run, and the fold is let go on a moment later.
    """
    if hash_seed is not None:
        dp.env["PYTHONHASHSEED"] = hash_seed
    dp.write("steps.py", STEPS)
    prefix = dp.prefix("folding")
    assert dp.run("steps.py", dp.url(prefix), kill_at=3).killed
    run_id = dp.run_of("steps.py")["run_id"]
    fold = _fold_stopped_while_holding(dp, dp.store / "live" / run_id / "lock")
    try:
        process = dp.start("run", "steps.py", dp.url(prefix))
        time.sleep(1.5)  # long enough to take the run for live, well within a wait for a fold
    finally:
        fold.send_signal(signal.SIGCONT)
    fold.finish(timeout=60)
    resumed = process.finish()
    assert resumed.returncode == 0, resumed
    assert "beside" not in resumed.stderr, resumed.stderr
    assert resumed.stdout == "did b\ndid c\n", resumed
    assert dp.counts(prefix) == {"/a": 1, "/b": 1, "/c": 1}
