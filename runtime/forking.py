"""Forking a run: a new run whose journal is a prefix of another's (``fork``, the console).

The new run has the same script, arguments, working directory and seeds; its journal holds the
source's entries before the cut, so those replay and everything after runs live again. It is
created unfinished with no process, so the next ``run --run-id`` (or any worker, which sees a
run whose process died) continues it.
"""

from __future__ import annotations

import secrets

from .errors import UsageError
from .model import Run, RunStatus
from .stores.base import Store


def cut_of(at: str) -> tuple[str, int]:
    """``(task, seq)`` of a journal position written ``12`` (the main task) or ``main/12``."""
    task, _, seq = at.rpartition("/")
    try:
        number = int(seq)
    except ValueError:
        number = -1
    if number < 0:
        raise UsageError(f"--at wants a journal position like 12 or main/12, not {at!r}")
    return task or "main", number


def fork(store: Store, source: Run, at: str) -> tuple[Run, int, int]:
    """Create the fork of ``source`` cut at ``at``; return it, the entries it kept and the
    source's entries. ``UsageError`` for a position the journal does not have."""
    task, seq = cut_of(at)
    entries = store.entries(source)
    in_task = [e for e in entries if e.task == task]
    if not in_task and seq > 0:
        tasks = sorted({e.task for e in entries}) or ["main"]
        raise UsageError(f"run {source.run_id} has no task {task!r}; its tasks: {', '.join(tasks)}")
    end = max((e.seq for e in in_task), default=-1) + 1
    if seq > end:
        raise UsageError(
            f"run {source.run_id} has {end} entries in {task} (main/0 to main/{end - 1}); --at"
            f" takes 0 to {end}. See them with: durable-python show {source.run_id}"
        )
    kept_in_task = [e for e in in_task if e.seq < seq]
    if kept_in_task:
        cut_time = max(e.ended for e in kept_in_task)
    else:
        at_cut = [e.started for e in in_task if e.seq >= seq]
        cut_time = min(at_cut) if task != "main" and at_cut else float("-inf")
    kept = [
        e
        for e in entries
        if (e.task == task and e.seq < seq) or (e.task != task and e.ended <= cut_time)
    ]
    forked = Run(
        run_id=secrets.token_hex(6),
        script=source.script,
        source_hash=source.source_hash,
        argv=source.argv,
        cwd=source.cwd,
        hash_seed=source.hash_seed,
        random_seed=source.random_seed,
        status=RunStatus.RUNNING,  # unfinished, with no process: the next start resumes it
        suspend_after=source.suspend_after,
        trigger=source.trigger,
    )
    store.ensure()
    claim = store.create(forked)  # held until its journal is written: no fold moves it half made
    try:
        if kept:
            writer = store.writer(claim, sync=True)
            try:
                writer.append([tuple(e) for e in kept])
            finally:
                writer.close()
    finally:
        claim.release()
    return forked, len(kept), len(entries)
