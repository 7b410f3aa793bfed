"""Subprocesses: each command runs once across resumes; its output and exit status replay."""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.e2e

# Every child process appends its tag to witness.log: the external record of what ran.
SCRIPT = """
import os, subprocess, sys, time

LOG = os.path.abspath("witness.log")

def child(tag, code="pass", exit=0):
    return [sys.executable, "-c",
            f"import sys; open({LOG!r}, 'a').write({tag!r} + '\\\\n'); {code}; sys.exit({exit})"]

r = subprocess.run(child("run", "print('out'); print('err', file=sys.stderr)"), capture_output=True, text=True)
print("run", r.returncode, r.stdout.strip(), r.stderr.strip())
print("check_output", subprocess.check_output(child("check_output", "print(6 * 7)")).decode().strip())
try:
    subprocess.check_call(child("check_call", exit=3))
except subprocess.CalledProcessError as e:
    print("check_call raised", e.returncode)
print("call", subprocess.call(child("call", exit=4)))
p = subprocess.Popen(child("communicate", "print(sys.stdin.read().upper())"),
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
out, _ = p.communicate("hello")
print("communicate", p.returncode, out.strip(), p.pid > 0)
with subprocess.Popen(child("pipes", "[print(l.strip()[::-1]) for l in sys.stdin]"),
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as q:
    q.stdin.write("abc\\ndef\\n")
    q.stdin.close()
    lines = [line.strip() for line in q.stdout]
print("pipes", lines, q.returncode)
w = subprocess.Popen(child("wait", exit=5))
print("wait", w.wait(), w.poll())
with os.popen(f"{sys.executable} -c \\"open({LOG!r}, 'a').write('os.popen\\\\n'); print(7)\\"") as f:
    print("os.popen", f.read().strip())
with open("combined.txt", "w") as f:
    f.write("header\\n")
    f.flush()
    subprocess.run(child("to_file", "print('from the child')"), stdout=f)
    f.write("middle\\n")
    g = subprocess.Popen(child("popen_to_file", "print('from popen')"), stdout=f)
    g.wait()
    f.write("footer\\n")
time.sleep(0)
print("done")
"""


def _ran(ih) -> Counter:
    return Counter((ih.work / "witness.log").read_text().split())


def test_commands_run_once_and_their_output_replays(ih):
    ih.write("procs.py", SCRIPT)
    reference = ih.run("procs.py")
    assert reference.returncode == 0, reference
    assert "check_call raised 3" in reference.stdout and "wait 5 5" in reference.stdout
    expected_ran, expected_file = _ran(ih), (ih.work / "combined.txt").read_text()
    assert expected_file == "header\nfrom the child\nmiddle\nfrom popen\nfooter\n"
    assert set(expected_ran.values()) == {1}
    total = len(ih.entries())
    for kill_ats in ([3], [total // 2], [total - 3], [2, 8, 14]):
        ih.fresh()
        (ih.work / "witness.log").unlink()
        series = ih.series("procs.py", kill_ats=kill_ats)
        assert series.crashes == len(kill_ats), series
        assert (ih.work / "combined.txt").read_text() == expected_file, series
        ih.assert_repeats_at_most(dict(expected_ran), dict(_ran(ih)), series.crashes, series)
        lines = series.stdout.splitlines()
        assert lines[-1] == "done" and len(set(lines)) == len(reference.stdout.splitlines())
        assert sorted(set(lines)) == sorted(reference.stdout.splitlines()), series


def test_a_process_still_running_at_the_crash_is_started_again(ih):
    """Started, then the run dies before its end is recorded: the first live use starts the
    command again (at least once), feeds it what the script wrote and skips what it read."""
    ih.write(
        "slow.py",
        """
        import os, subprocess, sys
        LOG = os.path.abspath("witness.log")
        code = (f"import sys, time; open({LOG!r}, 'a').write('started\\\\n'); "
                "print('line1', flush=True); time.sleep(3); print('line2', flush=True)")
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        first = p.stdout.readline()
        print("read", first.strip(), flush=True)
        rest = p.stdout.read()
        print("rest", rest.strip(), "exit", p.wait())
        """,
    )
    first = ih.killed_once_printed("read line1", "slow.py")
    assert first.killed and first.stdout == "read line1\n", first
    second = ih.run("slow.py")
    assert second.returncode == 0, second
    assert second.stdout == "rest line2 exit 0\n", second
    assert "was still running when the run stopped; starting it again" in second.stderr
    assert _ran(ih) == Counter({"started": 2})
