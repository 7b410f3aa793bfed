"""``durable-python serve``: one process holding a worker, the HTTP API (uvicorn), the schedules
and the file watches, each in a thread of its own, until SIGTERM or Ctrl-C.

Nothing here keeps state that a crash could lose: runs are started in the store under
deterministic ids (starting.py), the schedules' cursors are in the store, and files are found
again by scanning. A server killed with SIGKILL and started again picks up where it was; runs
it had started go on in their own processes, or are resumed by its worker.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from durable_python import clock
from durable_python.config import Config
from durable_python.errors import DurablePythonError, UsageError
from durable_python.stores.base import Store
from durable_python.worker import Worker

from . import api, file_triggers, schedules, webhooks
from .starting import Scripts, start_run

SCHEDULE_NAP = 60.0  # the scheduler looks at its schedules at least this often (clock jumps)


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    token: str | None
    concurrency: int
    poll: float
    suspend_after: float  # a wait longer than this ends a run's process until it is due


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Config, store: Store, scripts: Scripts, options: Options) -> int:
    """Serve until stopped; the exit code."""
    import uvicorn

    if options.token is None and not is_loopback(options.host):
        raise UsageError(
            f"refusing to serve on {options.host} without a token: anyone who reaches it could"
            " start scripts. Give --token (or token in [tool.durable-python], or"
            " DURABLE_PYTHON_TOKEN), or bind to 127.0.0.1"
        )
    triggers = settings.triggers
    hooks = webhooks.parse(triggers.get("webhooks", {}), settings.source)
    timetable = schedules.parse(triggers.get("schedules", {}), settings.source)
    watches = file_triggers.parse(triggers.get("watch", {}), settings.source)
    store.ensure()
    start = functools.partial(start_run, store, scripts, suspend_after=options.suspend_after)
    queues = {**schedules.queue_limits(timetable), **settings.queues}  # the user's win
    worker = Worker(store, options.concurrency, options.poll, queues)
    stopping = worker.stopping
    app = api.create_app(api.Settings(store, start, options.token, tuple(hooks)))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=options.host,
            port=options.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    failures: list[BaseException] = []

    def guarded(work: Callable[[], object]) -> Callable[[], None]:
        """A thread's work. If it fails (the store, for good; a bug) the whole server stops
        and says why: a server that answers but no longer starts runs is worse."""

        def run() -> None:
            try:
                work()
            except (Exception, DurablePythonError) as exc:
                failures.append(exc)
                stopping.set()
                server.should_exit = True

        return run

    threads = [threading.Thread(target=guarded(worker.work), name="worker")]
    if timetable:
        scheduler = schedules.Scheduler(timetable, store, start)
        threads.append(
            threading.Thread(target=guarded(lambda: _tick(scheduler, stopping)), name="schedules")
        )
    if watches:
        arrivals = file_triggers.FileTriggers(watches, start)
        threads.append(
            threading.Thread(target=guarded(lambda: arrivals.serve(stopping)), name="watch")
        )
    for thread in threads:
        thread.start()
    _say(
        f"serving http://{options.host}:{options.port} (process {os.getpid()}): scripts from"
        f" {scripts.root}, {len(hooks)} webhook(s), {len(timetable)} schedule(s),"
        f" {len(watches)} watch(es); stop with Ctrl-C"
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        # uvicorn handles them while it serves, then restores these and raises the signal it
        # caught again: here that only stops the threads, which are joined below.
        signal.signal(signum, lambda signum, frame: stopping.set())
    try:
        server.run()
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return 0 if server.started else 1


def _tick(scheduler: schedules.Scheduler, stopping: threading.Event) -> None:
    while not stopping.is_set():
        next_fire = scheduler.tick(clock.now())
        stopping.wait(max(0.05, min(next_fire - clock.now(), SCHEDULE_NAP)))


def _say(message: str) -> None:
    sys.stderr.write(f"durable-python: {message}\n")
    sys.stderr.flush()
