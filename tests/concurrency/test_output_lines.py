"""Output once, for a line written in pieces around a recorded call: found by the concurrency
tests, reduced here to deterministic scripts.

A line is often written in pieces: ``print("fetching...", end=" "); fetch(); print("ok")``, or a
line begun before a worker thread's call and finished after it. The journal records a line as one
entry when its newline is written (runtime/journal.py ``record_output``: open lines per task and
stream), so the commit of the call made in the middle of the line does not carry the part already
printed. A kill right after that commit loses the part from the journal though it is on stdout,
and the resumed run prints it again: ``step 3: fetching... step 3: fetching... ok e3``. DESIGN 5
says an effect's commit carries every earlier entry; this one came earlier and is not carried.

(Before commit 1e5843b the journal split such a line into several entries while replay skipped
one entry per line, so resumed runs swallowed whole lines; these tests found that too.)
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

LIB = """
def effect(tag):
    return tag
"""

PIECES_ACROSS_A_RECORDED_CALL = """
    import fx_lines

    for step in range(6):
        print(f"step {step}: fetching...", end=" ")
        result = fx_lines.effect(f"e{step}")
        print("ok", result)
    print("done")
"""

FLUSHED_PIECES_ACROSS_A_RECORDED_CALL = PIECES_ACROSS_A_RECORDED_CALL.replace(
    'end=" ")', 'end=" ", flush=True)'
)

PIECES_ACROSS_ANOTHER_THREADS_CALL = """
    import sys
    import threading

    import fx_lines

    for step in range(6):
        sys.stdout.write(f"line {step} begins")
        worker = threading.Thread(target=lambda: fx_lines.effect(f"e{step}"))
        worker.start()
        worker.join()
        sys.stdout.write(" and ends\\n")
    print("done")
"""


def resumed_output(cc, source: str, kill_at: int) -> tuple[str, str]:
    cc.write_lib("fx_lines.py", LIB)
    cc.write("lines.py", source)
    plain = cc.python("lines.py")
    assert plain.returncode == 0, plain
    series = cc.run_with_kills("lines.py", kill_ats=[kill_at])
    assert series.crashes == 1 and series.final.returncode == 0, series
    return plain.stdout, "".join(a.stdout for a in series.attempts)


def test_line_written_around_a_recorded_call_is_printed_once(cc):
    # Killed right after the commit of step 3's effect: "step 3: fetching... " was not handed on
    # to stdout yet (a line goes out whole), so the resumed run prints the whole line once.
    expected, printed = resumed_output(cc, PIECES_ACROSS_A_RECORDED_CALL, kill_at=6)
    assert printed == expected


def test_flushed_part_of_a_line_around_a_recorded_call_is_printed_once(cc):
    # flush=True puts "step N: fetching... " out before the effect: it is an entry of its own,
    # committed with the effect, and not printed again after the kill.
    expected, printed = resumed_output(cc, FLUSHED_PIECES_ACROSS_A_RECORDED_CALL, kill_at=6)
    assert printed == expected


def test_line_written_around_another_threads_call_is_printed_once(cc):
    # Killed right after the commit of the worker's effect of line 4: "line 4 begins" was not
    # handed on to stdout yet, so the resumed run prints the whole line once.
    expected, printed = resumed_output(cc, PIECES_ACROSS_ANOTHER_THREADS_CALL, kill_at=8)
    assert printed == expected
