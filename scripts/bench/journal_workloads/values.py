"""(b) Value entries: N calls of time.time() (or of ``time.<CLOCK>()`` given as the second
argument: perf_counter), timed in-process. Prints ``per_call_s <seconds>``."""

import sys
import time

n = int(sys.argv[1])
read = getattr(time, sys.argv[2] if len(sys.argv) > 2 else "time")
started = time.perf_counter()
for _ in range(n):
    read()
elapsed = time.perf_counter() - started
print(f"per_call_s {elapsed / n if n else 0.0!r}")
