"""The external module of the journal benchmark: copied OUTSIDE the scripts' directory and put on
PYTHONPATH, so durable-python does not rewrite it and records each call of it as an effect.
"""

import os
import signal
import time


def ping(i):
    """The trivial effect: as cheap as a call can be, so what is measured is the journal."""
    return i


def mark(path):
    """The frontier marker, called as the first effect after the recorded ones.

    With BENCH_KILL set (the first run) it kills the process before returning, so nothing after
    the last recorded entry is committed. Otherwise (the rerun) it writes the moment it was
    reached (CLOCK_MONOTONIC, comparable across processes) to ``path``, which no journal sees.
    """
    if os.environ.get("BENCH_KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
    with open(path, "w") as f:
        f.write(str(time.monotonic_ns()))
    return 0
