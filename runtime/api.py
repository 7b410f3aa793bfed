"""The public API a script may use: escape hatches and keys for idempotent external calls."""

from __future__ import annotations

import copy
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from . import context, frames, recording, retries
from .model import Policy

F = TypeVar("F", bound=Callable[..., Any])


def activity(function: F) -> F:
    """Make every call of ``function`` one recorded effect.

    Its result (or exception) is recorded and replayed as a whole; what it does inside is not
    recorded call by call. Use it around code whose intermediate objects cannot be saved (a
    socket, a cursor) but whose final result can.
    """
    spec = recording.call(Policy.EFFECT, f"{function.__module__}.{function.__qualname__}")

    @functools.wraps(function)
    def run_as_effect(*args: Any, **kwargs: Any) -> Any:
        frame = frames.outside(sys._getframe(1))
        return recording.perform(spec, frame, args, kwargs, lambda: function(*args, **kwargs))

    return run_as_effect  # type: ignore[return-value]


def idempotency_key() -> str:
    """A key for the recorded call in flight (or the next one), the same on every attempt.

    Pass it to an API that deduplicates requests (an ``Idempotency-Key`` header): if the process
    dies while the call is in flight, the retried call carries the same key.
    """
    task = recording.task_of_context()
    if task is None:
        raise RuntimeError("durable_python.idempotency_key() needs a run: use durable-python run")
    inside_effect = recording.local.depth > 0
    if inside_effect:
        first_attempt = retries.attempt_key.get()  # a retried effect keeps its first key
        if first_attempt is not None:
            return first_attempt
    # Inside an effect its own seq is the last one claimed; outside, the next call's is next.
    seq = task.seq - 1 if inside_effect else task.seq
    return f"{context.active().run_id}:{task.name}:{seq}"


def run_id() -> str:
    """The id of the run executing the script (the same on replay), e.g. for a message that
    says how to reach it: ``durable-python send RUN approval '{...}'``."""
    run = context.active()
    if run is None:
        raise RuntimeError("durable_python.run_id() needs a run: use durable-python run")
    return run.run_id


def trigger() -> dict[str, Any] | None:
    """What started this run under ``durable-python serve`` (the same on every resume), or
    ``None`` for a run started from a command line. A webhook's is ``{"kind": "webhook",
    "path", "method", "headers", "query", "body"}`` (headers in lower case, the body as JSON
    when it is JSON, else text); a schedule's ``{"kind": "schedule", "schedule", "fire_time",
    ...}``; a file's ``{"kind": "file", "path", "sha256", ...}``; the API's ``{"kind": "api"}``."""
    run = context.active()
    if run is None:
        raise RuntimeError("durable_python.trigger() needs a run: use durable-python run")
    return copy.deepcopy(run.run.trigger)


def pure(*targets: Any) -> Any:
    """Declare callables (or dotted names of modules and callables) pure: they run inline, also on
    replay. Returns its argument when given one callable, so it also works as a decorator or as
    ``parse = durable_python.pure(somelib.parse)``. Same as ``pure = [...]`` in pyproject.toml."""
    _declare(targets, Policy.INLINE)
    return targets[0] if len(targets) == 1 else None


def resource(*targets: Any) -> Any:
    """Declare constructors of live handles (a client class, a connect function) resources: they
    are called again on replay, and their methods are judged on their own (an unknown one is an
    effect). Returns its argument when given one. Same as ``resources = [...]`` in pyproject.toml."""
    _declare(targets, Policy.RESOURCE)
    return targets[0] if len(targets) == 1 else None


def _declare(targets: tuple[Any, ...], policy: Policy) -> None:
    run = context.active()
    if run is not None:  # outside a run every call is plain: nothing to declare
        run.decider.declare(targets, policy)


frames.hide(activity)
