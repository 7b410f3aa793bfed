"""Special handlers: calls that need more than "record the result" (DESIGN 4, policy "special").

Each handler is ``handler(name, f)`` returning the callable the script's call site calls.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from durable_python import clock, frames, recording, waiting
from durable_python.model import Policy
from durable_python.recording import call, perform


def durable_sleep(name: str, f: Callable[[float], None]) -> Callable[..., None]:
    """``time.sleep`` as a durable timer: the wake-up time is recorded before sleeping, so a run
    resumed in the middle of a sleep sleeps only what is left, and a replayed sleep not at all."""
    spec = call(Policy.TIMER, name)

    def sleep(seconds: float) -> None:
        frame = sys._getframe(1)
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = perform(spec, frame, (seconds,), {}, lambda: clock.now() + seconds)
        # Sleeps what is left; may suspend the run (--suspend) or raise Cancelled.
        waiting.sleep_until(deadline, seconds, name, frame, f)

    return sleep


def durable_input(name: str, f: Callable[..., str]) -> Callable[..., str]:
    """``input()``: the answer is committed at once; on replay the prompt is not shown again."""
    spec = call(Policy.EFFECT, name)

    def read(*args: Any) -> str:
        return perform(spec, sys._getframe(1), args, {}, lambda: f(*args))

    return read


def recorded_seed(frame: Any, name: str) -> int:
    """A seed from the operating system, recorded as a value of ``name`` at ``frame``."""
    spec = call(Policy.VALUE, name)
    return perform(spec, frame, (), {}, lambda: int.from_bytes(os.urandom(16)))


def random_instance(name: str, cls: type) -> Callable[..., Any]:
    """``random.Random()`` without a seed is seeded from the OS: record that seed."""

    def construct(*args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return cls(*args, **kwargs)
        return cls(recorded_seed(sys._getframe(1), name))

    return construct


def random_seed(name: str, seed: Callable[..., None]) -> Callable[..., None]:
    """``random.seed()`` without an argument reseeds from the OS: record that seed."""

    def reseed(a: Any = None, *args: Any, **kwargs: Any) -> None:
        if a is None:
            a = recorded_seed(sys._getframe(1), name)
        seed(a, *args, **kwargs)

    return reseed


def resource(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A constructor of a live handle (``requests.Session``, ``httpx.Client``, a declared
    resource): called again on replay, what it does inside (reading proxy settings from the
    environment, say) is not recorded; its methods are judged on their own."""

    def construct(*args: Any, **kwargs: Any) -> Any:
        return recording.run_unrecorded(lambda: f(*args, **kwargs))

    return construct


def handler_for(policy: str) -> Callable[[str, Any], Any]:
    """The handler of a special policy (importing asyncio support only when it is used)."""
    handler = HANDLERS.get(policy)
    if handler is None:
        module = importlib.import_module(f"durable_python.integrations.{ELSEWHERE[policy]}")
        handler = HANDLERS[policy] = getattr(module, policy)
    return handler


ELSEWHERE = {
    "thread_start": "threads",
    "futures_as_completed": "threads",
    "futures_wait": "threads",
    "event_loop_policy": "async_tasks",
    "async_sleep": "async_tasks",
    "async_wait": "async_tasks",
    "async_as_completed": "async_tasks",
    "async_wait_for": "async_tasks",
    "open_file": "files",
    "path_open": "files",
    "codecs_open": "files",
    "logging_files": "files",
    "listing": "files",
    "scandir": "files",
    "walk": "files",
    "os_open": "descriptors",
    "fd_call": "descriptors",
    "os_close": "descriptors",
    "mkstemp": "descriptors",
    "named_temporary_file": "descriptors",
    "work_queue": "queues",
    "queue_get": "queues",
    "popen": "subprocesses",
    "subprocess_call": "subprocesses",
    "http_request": "http",
    "http_stream": "http",
    "urlopen": "http",
    "sqlite_connect": "databases",
    "os_popen": "subprocesses",
    "numpy_seeded": "numeric",
    "seed_keyword": "numeric",
}

HANDLERS: dict[str, Callable[[str, Any], Any]] = {
    "sleep": durable_sleep,
    "input": durable_input,
    "random_instance": random_instance,
    "random_seed": random_seed,
    "resource": resource,
}


frames.hide(durable_sleep, durable_input, random_instance, random_seed, resource)
