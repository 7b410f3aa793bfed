"""(c) peer: a DBOS workflow of N steps and then a marker step, recovered after a SIGKILL.

Usage: dbos_resume.py N DATABASE_URL MARK_FILE (the system database: ``sqlite:///FILE`` or a
``postgresql://`` URL). With BENCH_KILL set the marker step kills the process (first run);
without it the process launches DBOS, whose startup recovery replays the pending workflow, and
waits for it; the marker step writes when the frontier was reached.
"""

import logging
import os
import sys

from dbos import DBOS, SetWorkflowID

n, database_url, mark_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
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


@DBOS.step()
def mark(path):
    import bench_ext

    return bench_ext.mark(path)


@DBOS.workflow()
def work(count, path):
    for i in range(count):
        ping(i)
    mark(path)
    return count


DBOS.launch()
if os.environ.get("BENCH_KILL") or os.environ.get("BENCH_FRESH"):
    with SetWorkflowID("bench-resume"):
        work(n, mark_file)
else:  # recovery: DBOS.launch() started recovering the pending workflow; wait for it
    DBOS.retrieve_workflow("bench-resume").get_result()
DBOS.destroy()
