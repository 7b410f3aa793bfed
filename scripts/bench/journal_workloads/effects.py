"""(a) Per-effect cost: N calls of a trivial function of an external module, timed in-process.

Run by plain python and by durable-python (where each call is an effect, committed before the
loop goes on). Prints ``per_call_s <seconds>``.
"""

import sys
import time

from bench_ext import ping

n = int(sys.argv[1])
ping(-1)  # first call outside the timing: the callable's policy is decided once
started = time.perf_counter()
for i in range(n):
    ping(i)
elapsed = time.perf_counter() - started
print(f"per_call_s {elapsed / n if n else 0.0!r}")
