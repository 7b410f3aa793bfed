"""asyncio: every task created on a loop records under its own path ("main/async0/async2").

Loops made by ``asyncio.run``, ``new_event_loop`` or ``Runner`` get a task factory that gives each
new task a child path of the task creating it. ``asyncio.sleep`` is a durable timer; ``wait``,
``as_completed`` and ``wait_for`` record which task completed first (or that a timeout won) and
replay that. Known limits: queues with several consumers hand items to whichever consumer runs
first, which replay does not reproduce (give each item its own task instead); an awaited call
that an ``asyncio.timeout()`` block cancelled is not recorded, so every resume that replays past
it runs it again (the block then times out again); custom event loop policies (uvloop) are not
covered.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from durable_python import recording
from durable_python.context import active, task_var
from durable_python.model import Policy

from .threads import child_task, paths


def _task_factory(
    loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context | None = None
) -> asyncio.Task:
    """A task in the given context (asyncio passes ``context=`` by keyword) with its own path."""
    context = context if context is not None else contextvars.copy_context()
    task = context.run(child_task, "async")
    if task is not None:
        context.run(task_var.set, task)
    created = asyncio.Task(coro, loop=loop, context=context)
    if task is not None:
        paths[created] = task.name
    return created


class _EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        loop.set_task_factory(_task_factory)
        return loop


def _install_policy() -> None:
    if not isinstance(asyncio.get_event_loop_policy(), _EventLoopPolicy):
        asyncio.set_event_loop_policy(_EventLoopPolicy())


def event_loop_policy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``asyncio.run``, ``new_event_loop``, ``Runner``: loops they make number their tasks."""

    def call(*args: Any, **kwargs: Any) -> Any:
        _install_policy()
        return real(*args, **kwargs)

    return call


def async_sleep(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``asyncio.sleep`` as a durable timer, like ``time.sleep`` (replay-only mode never waits)."""
    spec = recording.call(Policy.TIMER, name)

    def sleep(delay: float, result: Any = None) -> Any:
        if delay <= 0:
            return real(delay, result)
        frame = sys._getframe(1)
        deadline = recording.perform(spec, frame, (delay,), {}, lambda: time.time() + delay)
        run = active()
        if run is not None and not run.live:
            return real(0, result)
        return real(max(0.0, min(deadline - time.time(), delay)), result)

    return sleep


def async_wait(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    spec = recording.call(Policy.VALUE, name)

    async def wait_as_recorded(
        fs: Iterable[Any], *, timeout: float | None = None, return_when: str = asyncio.ALL_COMPLETED
    ):
        tasks = [asyncio.ensure_future(f) for f in fs]
        by_path = {paths.get(t): t for t in tasks}
        if None in by_path:
            return await real(tasks, timeout=timeout, return_when=return_when)

        async def observe() -> list[str]:
            done, _ = await real(tasks, timeout=timeout, return_when=return_when)
            return sorted(paths[t] for t in done)

        done_paths = await recording.perform_async(spec, sys._getframe(1), (), {}, observe)
        done = {by_path[p] for p in done_paths}
        if done:
            await real(done)
        return done, set(tasks) - done

    return wait_as_recorded


def async_as_completed(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    spec = recording.call(Policy.VALUE, name)

    def completed_in_recorded_order(fs: Iterable[Any], *, timeout: float | None = None):
        tasks = [asyncio.ensure_future(f) for f in fs]
        by_path = {paths.get(t): t for t in tasks}
        if None in by_path:
            yield from real(tasks, timeout=timeout)
            return
        frame = sys._getframe(1)
        remaining = dict(by_path)
        deadline = None if timeout is None else time.monotonic() + timeout
        finished: asyncio.Queue | None = None

        async def next_completed() -> Any:
            async def observe() -> str:
                nonlocal finished
                if finished is None:  # from the frontier on: one callback per task, not per step
                    finished = asyncio.Queue()
                    for task in remaining.values():
                        task.add_done_callback(finished.put_nowait)
                while True:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    task = await asyncio.wait_for(finished.get(), left)
                    if paths[task] in remaining:
                        return paths[task]

            return await remaining.pop(await recording.perform_async(spec, frame, (), {}, observe))

        for _ in range(len(tasks)):
            yield next_completed()

    return completed_in_recorded_order


def async_wait_for(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    spec = recording.call(Policy.VALUE, name)

    async def wait_for_as_recorded(aw: Any, timeout: float | None) -> Any:
        task = asyncio.ensure_future(aw)
        if timeout is None or task not in paths:
            return await real(task, timeout)

        async def observe() -> str:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            return "done" if done else "timeout"

        outcome = await recording.perform_async(spec, sys._getframe(1), (), {}, observe)
        if outcome == "timeout":
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            raise TimeoutError
        return await task

    return wait_for_as_recorded
