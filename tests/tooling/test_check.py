"""``durable-python check`` and ``durable_python.testing``: crash schedules chosen by hypothesis.

The planted bug: ``export.py`` reads the wall clock through ``stamps.now()``, a helper library the
project declared pure in pyproject.toml. Calls into a pure module run inline and are not recorded,
so on a resume the clock is read again and comes out different; the manifest written with it no
longer matches the recorded write. Nothing else in the script is nondeterministic, and a crash
before the manifest is written is harmless (the manifest is then written live): only a crash after
the manifest's commit exposes the bug, and check shrinks to exactly that crash.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings

pytestmark = [pytest.mark.e2e, pytest.mark.property]

PYPROJECT = """
    [tool.durable-python]
    pure = ["stamps"]
"""

EXPORT = """
    from pathlib import Path

    import stamps

    out = Path("export")
    out.mkdir(exist_ok=True)
    started = stamps.now()  # BUG: the wall clock through a module declared pure: not recorded
    for part in range(2):
        (out / f"part-{part}.csv").write_text(f"{part},{part * part}\\n")
        print(f"exported part {part}")
    (out / "manifest.txt").write_text(f"2 parts, export started at {started:.6f}\\n")
    print("done")
"""

GOOD = EXPORT.replace("import stamps", "import time").replace(
    "stamps.now()  # BUG: the wall clock through a module declared pure: not recorded",
    "time.time()  # recorded: the same on replay",
)


def test_check_passes_a_deterministic_script(tool):
    tool.write("pyproject.toml", PYPROJECT)
    tool.write("good.py", GOOD)
    done = tool.cli("check", "--examples", "4", "--seed", "3", "good.py")
    assert done.returncode == 0, done
    assert done.stdout.startswith("durable-python check good.py: passed\n"), done
    assert "4 crash schedules, each resumed to the end: no divergence" in done.stdout
    assert "compared: stdout, stderr, exit code, recorded call names" in done.stdout
    assert "not compared" in done.stdout and "recorded calls" in done.stdout  # the time differs


def test_check_finds_the_unrecorded_clock_and_shrinks_the_crash_schedule(tool):
    tool.write("pyproject.toml", PYPROJECT)
    tool.write("export.py", EXPORT)
    done = tool.cli("check", "--examples", "10", "--seed", "1", "export.py")
    assert done.returncode == 1, done
    out = done.stdout
    assert out.startswith("durable-python check export.py: FAILED\n"), out
    # Entries: mkdir 0, part 0 write 1 + print 2, part 1 write 3 + print 4, manifest 5, done 6.
    # Killing at 5 is the first kill after the manifest's commit (which brings the journal to 6).
    assert "smallest crash schedule: [5]\n" in out
    assert (
        "attempt 1: killed when the journal reached 6 entries (kill at 5); last committed main/5:"
        " effect pathlib.Path.write_text('2 parts, export started at " in out
    )
    assert "attempt 2: resumed to the end, exit code 65" in out
    assert "a resume diverged from its journal, with the script unchanged" in out
    assert "export.py:11: this run no longer matches its journal." in out
    assert "argument 1: recorded '2 parts, export started at " in out
    assert "repeat it with: durable-python check --seed 1 --examples 10 export.py" in out


def test_testing_api_for_pytest_suites(tool):
    from durable_python.testing import check_script, crash_schedules, run_with_crashes

    tool.write("pyproject.toml", PYPROJECT)
    good = tool.write("good.py", GOOD)
    old_path = list(sys.path)
    env = {"PYTHONPATH": str(tool.lib)}

    result = check_script(good, examples=2, seed=11, env=env)
    assert result.passed, result.report()
    assert result.examples == 2 and result.journal_size == 8  # with the time.time() value
    assert "passed" in result.report()

    reference = run_with_crashes(good, env=env)
    assert reference.crashes == 0 and reference.exit_code == 0
    assert reference.stdout == "exported part 0\nexported part 1\ndone\n"

    @settings(max_examples=3, deadline=None, database=None)
    @given(crash_schedules(reference.journal_size, max_crashes=2))
    def survives(schedule):
        crashed = run_with_crashes(good, schedule=schedule, env=env)
        assert crashed.divergence is None, crashed.divergence
        assert crashed.crashes >= 1
        assert crashed.stdout == reference.stdout  # printed once across the crashes
        assert [c[3] for c in crashed.calls] == [c[3] for c in reference.calls]

    survives()
    assert sys.path == old_path
    assert not (tool.work / "export").exists()  # every execution worked in a scratch directory
