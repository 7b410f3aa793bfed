"""``durable_python.patched`` and ``deprecate_patch`` across runs of old and new code."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

OLD = """
    import sys
    from pathlib import Path

    import sidefx

    out = Path("invoices")
    out.mkdir(exist_ok=True)
    for n in range(4):
        fee = 10
        (out / f"invoice-{n}.txt").write_text(f"invoice {n}: fee {fee}\\n")
        sidefx.record(sys.argv[1], f"invoice {n}")
        print(f"invoice {n} fee {fee}")
"""

PATCHED = """
    import sys
    from pathlib import Path

    import durable_python
    import sidefx

    out = Path("invoices")
    out.mkdir(exist_ok=True)
    for n in range(4):
        if durable_python.patched("fee-v2"):
            fee = 12
        else:
            fee = 10
        (out / f"invoice-{n}.txt").write_text(f"invoice {n}: fee {fee}\\n")
        sidefx.record(sys.argv[1], f"invoice {n}")
        print(f"invoice {n} fee {fee}")
"""

DEPRECATED = """
    import sys
    from pathlib import Path

    import durable_python
    import sidefx

    out = Path("invoices")
    out.mkdir(exist_ok=True)
    for n in range(4):
        durable_python.deprecate_patch("fee-v2")
        fee = 12
        (out / f"invoice-{n}.txt").write_text(f"invoice {n}: fee {fee}\\n")
        sidefx.record(sys.argv[1], f"invoice {n}")
        print(f"invoice {n} fee {fee}")
"""


def fees(tool, directory: str = "invoices") -> list[str]:
    return [(tool.work / directory / f"invoice-{n}.txt").read_text().strip() for n in range(4)]


def test_patched_keeps_old_runs_on_the_old_path_and_new_runs_on_the_new(tool):
    witness = str(tool.witness)
    # An old run crashes after invoice 1 was written and recorded (entries 0..5).
    tool.write("job.py", OLD)
    assert tool.cli("run", "job.py", witness, kill_at=6).killed
    old = tool.newest_run()["run_id"]

    # The new code resumes it: what it had done replays on the old path, the rest is new.
    tool.write("job.py", PATCHED)
    assert tool.cli("replay", old).returncode == 0
    resumed = tool.cli("run", "job.py", witness)
    assert resumed.returncode == 0, resumed
    assert resumed.stdout == "invoice 1 fee 10\ninvoice 2 fee 12\ninvoice 3 fee 12\n"
    assert fees(tool) == [
        "invoice 0: fee 10",
        "invoice 1: fee 10",
        "invoice 2: fee 12",
        "invoice 3: fee 12",
    ]
    old_markers = [e for e in tool.show(old) if e["policy"] == "marker"]
    assert [(m["name"], m["seq"]) for m in old_markers] == [("durable_python.patched", 7)]

    # A new run takes the new path from the start; crashed after its marker and resumed, it
    # replays the marker and stays on it.
    (tool.work / "invoices").rename(tool.work / "old-invoices")
    assert tool.cli("run", "--new", "job.py", witness, kill_at=4).killed
    new = tool.newest_run()["run_id"]
    resumed = tool.cli("run", "job.py", witness)
    assert resumed.returncode == 0, resumed
    assert fees(tool) == [f"invoice {n}: fee 12" for n in range(4)]
    new_markers = [e for e in tool.show(new) if e["policy"] == "marker"]
    assert [m["seq"] for m in new_markers] == [1]  # once, before invoice 0

    # Both replay with the patched code; each only with the code it can match.
    for run_id in (old, new):
        verdict = tool.cli("replay", run_id)
        assert verdict.returncode == 0, verdict
        assert "replays cleanly to the end" in verdict.stdout
    tool.write("old.py", OLD)
    assert tool.cli("replay", new, "--script", str(tool.work / "old.py")).returncode == 65
    assert tool.cli("replay", old, "--script", str(tool.work / "old.py")).returncode == 65

    # deprecate_patch: the runs recorded with the marker replay; the old run, which took the
    # old path, does not (so replay tells you when the old path can go).
    tool.write("job.py", DEPRECATED)
    assert tool.cli("replay", new).returncode == 0
    refused = tool.cli("replay", old)
    assert refused.returncode == 65, refused
    assert "argument 1: recorded 'invoice 0: fee 10\\n', now 'invoice 0: fee 12\\n'" in (
        refused.stdout
    )
    # A new run under deprecate_patch still records the marker.
    (tool.work / "invoices").rename(tool.work / "new-invoices")
    assert tool.cli("run", "--new", "job.py", witness).returncode == 0
    latest = tool.newest_run()["run_id"]
    assert [e["seq"] for e in tool.show(latest) if e["policy"] == "marker"] == [1]
    tool.write("job.py", PATCHED)
    assert tool.cli("replay", latest).returncode == 0


def test_patched_is_true_outside_durable_python(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import durable_python; print(durable_python.patched('x'));"
            " durable_python.deprecate_patch('x')",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"
