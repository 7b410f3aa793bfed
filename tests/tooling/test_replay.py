"""``durable-python replay``: a crashed run checked against compatible and incompatible edits,
then resumed with each; nothing is executed or written by a replay."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

pytestmark = pytest.mark.e2e

V1 = """
    import sys
    from pathlib import Path

    import sidefx

    witness = sys.argv[1]
    out = Path("invoices")
    out.mkdir(exist_ok=True)
    for n in range(4):
        fee = 10
        (out / f"invoice-{n}.txt").write_text(f"invoice {n}: fee {fee}\\n")
        sidefx.record(witness, f"invoice {n}")
        print(f"invoice {n} fee {fee}")
    print("all invoices written")
"""

# Compatible: comments, a pure computation, a changed print after the frontier. Lines move.
COMPATIBLE = """
    # Invoices, with comments added while a run was in flight.
    import sys
    from pathlib import Path

    import sidefx

    witness = sys.argv[1]
    out = Path("invoices")
    out.mkdir(exist_ok=True)
    for n in range(4):
        fee = 10
        doubled = fee * 2  # pure: not recorded
        (out / f"invoice-{n}.txt").write_text(f"invoice {n}: fee {fee}\\n")
        sidefx.record(witness, f"invoice {n}")
        print(f"invoice {n} fee {fee}")
    print("all invoices written, with comments")
"""

# Incompatible: the fee changes, so the recorded write of invoice 0 is not what the code does now.
INCOMPATIBLE = V1.replace("fee = 10", "fee = 12")


def test_replay_catches_edits_of_a_crashed_run_and_so_does_resume(tool):
    tool.write("job.py", V1)
    witness = str(tool.witness)
    killed = tool.cli("run", "job.py", witness, kill_at=5)
    assert killed.killed, killed
    assert tool.witnessed() == ["invoice 0"]
    run_id = tool.newest_run()["run_id"]
    assert tool.newest_run()["entries"] == 5

    same = tool.cli("replay", run_id)
    assert same.returncode == 0, same
    assert "replays cleanly up to the frontier (5 of 5 entries)" in same.stdout
    assert "sidefx.record() at job.py:12" in same.stdout  # where a resume goes on live

    tool.write("job.py", INCOMPATIBLE)
    broken = tool.cli("replay", run_id)
    assert broken.returncode == 65, broken
    assert "diverges at job.py:11 (journal entry main/1, same call with other arguments)" in (
        broken.stdout
    )
    assert "recorded at main/1: effect pathlib.Path.write_text('invoice 0: fee 10\\n')" in (
        broken.stdout
    )
    assert "attempted now:      effect pathlib.Path.write_text('invoice 0: fee 12\\n')" in (
        broken.stdout
    )
    assert "argument 1: recorded 'invoice 0: fee 10\\n', now 'invoice 0: fee 12\\n'" in (
        broken.stdout
    )
    as_json = json.loads(tool.cli("replay", run_id, "--json").stdout)
    assert as_json["status"] == "diverged" and as_json["exit_code"] == 65
    assert as_json["replayed"] == 1 and as_json["total"] == 5

    # Replays executed nothing and wrote nothing.
    assert tool.witnessed() == ["invoice 0"]
    assert tool.newest_run()["entries"] == 5

    # A resume with the incompatible edit stops with the same divergence, arguments diffed.
    resumed = tool.cli("run", "job.py", witness)
    assert resumed.returncode == 65, resumed
    assert "job.py:11: this run no longer matches its journal." in resumed.stderr
    assert "argument 1: recorded 'invoice 0: fee 10\\n', now 'invoice 0: fee 12\\n'" in (
        resumed.stderr
    )
    assert tool.witnessed() == ["invoice 0"]

    tool.write("job.py", COMPATIBLE)
    fine = tool.cli("replay", run_id)
    assert fine.returncode == 0, fine
    assert "replays cleanly up to the frontier (5 of 5 entries)" in fine.stdout
    resumed = tool.cli("run", "job.py", witness)
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == (
        "invoice 1 fee 10\ninvoice 2 fee 10\ninvoice 3 fee 10\nall invoices written, with comments\n"
    )
    assert tool.witnessed() == [f"invoice {n}" for n in range(4)]

    done = tool.cli("replay", run_id)
    assert done.returncode == 0, done
    assert "replays cleanly to the end of the script" in done.stdout

    other = tool.write("other.py", INCOMPATIBLE)
    against = tool.cli("replay", run_id, "--script", str(other))
    assert against.returncode == 65, against
    assert "diverges at other.py:11" in against.stdout

    unknown = tool.cli("replay", "nosuchrun")
    assert unknown.returncode == 64, unknown
    assert "unknown run id 'nosuchrun'" in unknown.stderr


def test_replay_does_not_wait_out_a_sleep_nor_run_the_effect_after_it(tool):
    tool.write(
        "nap.py",
        """
        import sys
        import time

        import sidefx

        sidefx.record(sys.argv[1], "before")
        time.sleep(120)
        sidefx.record(sys.argv[1], "after")
        """,
    )
    killed = tool.cli("run", "nap.py", str(tool.witness), kill_at=2)  # right after the timer
    assert killed.killed, killed
    run_id = tool.newest_run()["run_id"]
    started = time.monotonic()
    replayed = tool.cli("replay", run_id)
    assert time.monotonic() - started < 60  # not the 120 s the run still has to sleep
    assert replayed.returncode == 0, replayed
    assert "replays cleanly up to the frontier (2 of 2 entries)" in replayed.stdout
    assert "sidefx.record() at nap.py:8" in replayed.stdout
    assert tool.witnessed() == ["before"]


MYLIB = """
    import sidefx


    def parse(text):
        return int(text) * 2


    def send(path, value):
        sidefx.record(path, f"sent {value}")
        return f"sent {value}"
"""


def test_replay_of_a_script_that_declares_a_library_function_pure(tool):
    """``durable_python.pure(lib.f)`` is declared while the script runs, in replay too: the
    declared function is run, not looked up in the journal, by ``run``, resume and ``replay``."""
    (tool.lib / "mylib.py").write_text(textwrap.dedent(MYLIB).lstrip())
    tool.write(
        "declared.py",
        """
        import sys

        import durable_python
        import mylib

        durable_python.pure(mylib.parse)
        value = mylib.parse("21")
        print(mylib.send(sys.argv[1], value))
        print("done")
        """,
    )
    killed = tool.cli("run", "declared.py", str(tool.witness), kill_at=2)  # after the send
    assert killed.killed, killed
    run_id = tool.newest_run()["run_id"]
    assert [e["name"] for e in tool.show(run_id) if e["policy"] == "effect"] == ["mylib.send"]
    replayed = tool.cli("replay", run_id)
    assert replayed.returncode == 0, replayed
    resumed = tool.cli("run", "declared.py", str(tool.witness))
    assert resumed.returncode == 0, resumed
    assert tool.witnessed() == ["sent 42"]
    assert killed.stdout + resumed.stdout == "sent 42\ndone\n"
    again = tool.cli("replay", run_id)
    assert again.returncode == 0, again
    assert "replays cleanly" in again.stdout, again
