"""Versioning a script while runs are in flight: ``patched`` and ``deprecate_patch``.

The semantics are Temporal's. ``patched("change-id")`` is true for a new run and for a run that
recorded the marker, false for a run replaying past that point without it::

    if durable_python.patched("fee-v2"):
        fee = 12          # new code: new runs, and old runs once they are past their journal
    else:
        fee = 10          # old code: what the journal of an older run recorded here

The marker is a journal entry (policy ``marker``) recorded the first time ``patched`` runs live
in a task. On replay, a call that finds the marker next in its task's journal takes it and says
true; a call that finds any other recorded call there says false and takes nothing, because the
old code made no call at that point. Once a task has seen the marker, every later ``patched`` of
that id in the task is true without a new entry. So an old run resumed by new code keeps the old
path for what it had done and takes the new path from its frontier on.

When no run that replays without the marker is left (``durable-python replay`` tells), replace
``patched`` by ``deprecate_patch("change-id")`` and keep only the new code: it takes the marker
where a run has one, and still records it, so that runs stay replayable by a version that says
``patched``. When no run recorded with the marker is left, remove ``deprecate_patch`` too.
"""

from __future__ import annotations

import sys
from types import FrameType

from . import argdiff, context, recording
from .fingerprint import fingerprint
from .model import Entry, Policy

NAME = "durable_python.patched"
_MARKER = recording.call(Policy.MARKER, NAME, commit=False)


def patched(change_id: str) -> bool:
    """True in new runs and in runs that recorded the marker of ``change_id``; false in runs
    that replay past this point without it (they ran the old code here). See the module doc."""
    return _marker(change_id, sys._getframe(1))


def deprecate_patch(change_id: str) -> None:
    """The new code is the only code: take or record the marker of ``change_id`` so the runs of
    the ``patched`` version and of this one replay alike, without branching on it."""
    _marker(change_id, sys._getframe(1))


def _marker(change_id: str, frame: FrameType) -> bool:
    if not isinstance(change_id, str) or not change_id:
        raise TypeError("a change id is a non-empty string, like patched('fee-v2')")
    task = recording.current_task()
    if task is None:  # not under durable-python, or inside an effect: the new code
        return True
    seen = context.active().patches_seen.setdefault(task.name, set())
    if change_id in seen:
        return True
    _, upcoming = task.next_call()
    if upcoming is not None and not _is_marker(upcoming, change_id):
        return False  # an older run: it made another call here, not the marker
    if upcoming is None and task.replaying:
        return False  # a gap: the call recorded here was not a marker either
    # The marker is next (replay takes it) or this is the frontier (the marker is recorded).
    recording.perform(_MARKER, frame, (change_id,), {}, lambda: True)
    seen.add(change_id)
    return True


def _is_marker(entry: Entry, change_id: str) -> bool:
    return (
        entry.policy == Policy.MARKER
        and entry.name == NAME
        and argdiff.same(entry.fingerprint, fingerprint((change_id,), {}))
    )
