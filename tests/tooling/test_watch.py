"""``durable-python watch``: driven by writing the script, read through its output."""

from __future__ import annotations

import pytest

from .test_replay import COMPATIBLE, INCOMPATIBLE, V1

pytestmark = pytest.mark.e2e


def test_watch_gives_a_verdict_per_run_on_every_save(tool):
    tool.write("job.py", V1)
    killed = tool.cli("run", "job.py", str(tool.witness), kill_at=5)
    assert killed.killed, killed
    crashed = tool.newest_run()["run_id"]
    done = tool.cli("run", "--new", "job.py", str(tool.root / "other-witness.txt"))
    assert done.returncode == 0, done
    finished = tool.newest_run()["run_id"]

    watch = tool.start("watch", "job.py")
    try:
        first = watch.expect(r"watching job\.py for changes")
        text = "\n".join(first)
        assert f"run {crashed} (unfinished): replays cleanly up to the frontier" in text
        assert f"run {finished} (completed): replays cleanly to the end" in text

        tool.write("job.py", COMPATIBLE)
        got = "\n".join(watch.expect(r"\d+ run\(s\): "))
        assert "changed: job.py" in got
        assert f"run {crashed} (unfinished): replays cleanly up to the frontier" in got
        assert f"run {finished} (completed): replays cleanly to the end" in got
        assert "2 run(s): 2 replay cleanly, 0 do not" in got

        tool.write("job.py", INCOMPATIBLE)
        got = "\n".join(watch.expect(r"\d+ run\(s\): "))
        assert f"run {crashed} (unfinished): diverges at job.py:11 (journal entry main/1" in got
        assert "argument 1: recorded 'invoice 0: fee 10\\n', now 'invoice 0: fee 12\\n'" in got
        assert "2 run(s): 0 replay cleanly, 2 do not" in got

        tool.write("job.py", V1.replace("for n in range(4):", "for n in range(4)"))
        got = "\n".join(watch.expect(r"SyntaxError"))
        assert "syntax error in job.py; runs not replayed:" in got
        assert 'File "' in got and 'job.py", line 9' in got

        tool.write("job.py", V1)
        got = "\n".join(watch.expect(r"\d+ run\(s\): "))
        assert "2 run(s): 2 replay cleanly, 0 do not" in got
    finally:
        watch.stop()
    # Watching executed nothing: only the first run's invoice 0 is in the witness.
    assert tool.witnessed() == ["invoice 0"]


def test_watch_once_exits_with_the_verdict(tool):
    tool.write("job.py", V1)
    assert tool.cli("run", "job.py", str(tool.witness), kill_at=5).killed
    tool.write("job.py", INCOMPATIBLE)
    once = tool.cli("watch", "--once", "job.py")
    assert once.returncode == 65, once
    assert "1 run(s): 0 replay cleanly, 1 do not" in once.stdout


def test_watch_takes_its_options_after_the_script_too(tool):
    """``watch job.py --once`` as the README writes it; the script's arguments follow ``--``."""
    tool.write("job.py", V1)
    assert tool.cli("run", "job.py", str(tool.witness), kill_at=5).killed
    after = tool.cli("watch", "job.py", "--once", timeout=120)
    assert after.returncode == 0, after
    assert "1 run(s): 1 replay cleanly, 0 do not" in after.stdout, after
    stray = tool.cli("watch", "job.py", "--once", "extra")
    assert stray.returncode == 2, stray
    assert "the script's arguments go after --" in stray.stderr, stray
    with_args = tool.cli("watch", "job.py", "--once", "--run", "--", str(tool.witness))
    assert with_args.returncode == 0, with_args
    assert tool.witnessed() == ["invoice 0", "invoice 1", "invoice 2", "invoice 3"]
