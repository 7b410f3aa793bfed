"""``durable-python fork RUN --at SEQ``: replay a prefix of a finished run, redo the rest live."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

STEPS = """
    import sys

    import sidefx

    for step in range(4):
        reply = sidefx.record(sys.argv[1], f"step {step}")
        print(f"step {step} -> {reply}")
"""


def test_fork_replays_the_prefix_and_redoes_the_rest_with_the_fixed_code(tool):
    witness = str(tool.witness)
    tool.write("steps.py", STEPS)
    first = tool.cli("run", "steps.py", witness)
    assert first.returncode == 0, first
    assert tool.witnessed() == [f"step {n}" for n in range(4)]
    source = tool.newest_run()["run_id"]
    entries = tool.show(source)
    effects = [e for e in entries if e["policy"] == "effect"]
    cut = effects[2]["seq"]  # keep steps 0 and 1 (and their output), redo steps 2 and 3

    # The bug fix changes what steps 2 and 3 send; the kept prefix (steps 0, 1) still matches.
    tool.write(
        "steps.py",
        STEPS.replace('f"step {step}")', 'f"step {step}" + (" (fixed)" if step >= 2 else ""))'),
    )
    forked = tool.cli("fork", source, "--at", str(cut))
    assert forked.returncode == 0, forked
    assert f"forked run {source} at main/{cut} as run " in forked.stderr
    assert forked.stdout == "step 2 -> 14\nstep 3 -> 14\n"  # steps 0 and 1 replayed, not printed
    assert tool.witnessed() == [
        "step 0",
        "step 1",
        "step 2",
        "step 3",
        "step 2 (fixed)",
        "step 3 (fixed)",
    ]

    runs = {r["run_id"]: r for r in tool.runs()}
    fork_id = next(r for r in runs if r != source)
    assert runs[fork_id]["status"] == "completed" and runs[source]["status"] == "completed"
    kept = tool.show(fork_id)
    assert [e["summary"] for e in kept[:cut]] == [e["summary"] for e in entries[:cut]]
    assert tool.show(source) == entries  # the source run is untouched

    # --no-run only creates it; the printed command runs it.
    made = tool.cli("fork", source, "--at", "0", "--no-run")
    assert made.returncode == 0, made
    assert "run it with: cd " in made.stderr and " --run-id " in made.stderr

    too_far = tool.cli("fork", source, "--at", str(len(entries) + 1))
    assert too_far.returncode == 64, too_far
    assert f"--at takes 0 to {len(entries)}" in too_far.stderr
