"""(b) Value entries: N calls of time.time(), timed in-process. Prints ``per_call_s <seconds>``."""

import sys
import time

n = int(sys.argv[1])
started = time.perf_counter()
for _ in range(n):
    time.time()
elapsed = time.perf_counter() - started
print(f"per_call_s {elapsed / n if n else 0.0!r}")
