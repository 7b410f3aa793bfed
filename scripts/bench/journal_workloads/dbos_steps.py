"""(a) peer: a DBOS workflow calling a trivial @DBOS.step() N times.

Usage: dbos_steps.py N DATABASE_URL (its system database: ``sqlite:///FILE`` or a
``postgresql://`` URL). Prints ``per_call_s <seconds>`` (timed inside the workflow).
"""

import logging
import sys
import time

from dbos import DBOS, SetWorkflowID

n, database_url = int(sys.argv[1]), sys.argv[2]
DBOS(
    config={
        "name": "journal-bench",
        "system_database_url": database_url,
        "log_level": "WARNING",
    }
)
logging.getLogger("dbos").setLevel(logging.WARNING)


@DBOS.step()
def ping(i):
    return i


@DBOS.workflow()
def loop(count):
    ping(-1)  # same shape as effects.py: one call before the timing
    started = time.perf_counter()
    for i in range(count):
        ping(i)
    return time.perf_counter() - started


DBOS.launch()
with SetWorkflowID("bench-steps"):
    elapsed = loop(n)
print(f"per_call_s {elapsed / n if n else 0.0!r}")
DBOS.destroy()
