"""Who holds a lease: this machine and process, written so another process can tell whether the
holder still lives.

A lease names its holder as ``machine/pid/start``: the host name with the kernel's boot id (a
reboot is another machine: no process survives it), the process id, and the process's start time
(a pid reused by a later process is not mistaken for the holder). A lease held on this machine by
a process that is gone is free at once; one held elsewhere is free when it expires.
"""

from __future__ import annotations

import os
import socket
from functools import cache


@cache
def machine() -> str:
    """This machine's name (tests give processes of one machine names of their own with
    ``DURABLE_PYTHON_TEST_MACHINE``: a fleet on one host)."""
    if os.environ.get("DURABLE_PYTHON_TEST_MACHINE"):
        return os.environ["DURABLE_PYTHON_TEST_MACHINE"]
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()[:8]
    except OSError:
        boot = "noboot"
    return f"{socket.gethostname()}:{boot}"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``?`` where there is no
    /proc to tell); ``None`` if it is gone."""
    if not os.path.isdir("/proc/self"):
        return "?" if _exists(pid) else None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else "?"


def this_process() -> str:
    pid = os.getpid()
    return f"{machine()}/{pid}/{_start_time(pid) or '?'}"


def pid_here(holder: str) -> int | None:
    """The process id of ``holder`` if it is a process of this machine (else ``None``)."""
    where, pid, _ = holder.rsplit("/", 2)
    return int(pid) if where == machine() else None


def holder_gone(holder: str | None) -> bool:
    """Whether ``holder`` is a process of this machine that no longer runs (``False`` when it
    cannot be known here: another machine's lease ends by expiring)."""
    if not holder:
        return True
    pid = pid_here(holder)
    if pid is None:
        return False
    started, now = holder.rsplit("/", 1)[1], _start_time(pid)
    return now is None or (started != "?" and now != started)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's
    return True
