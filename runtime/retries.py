"""Retry policies: a failed effect is tried again after a durable wait.

A policy says how many attempts in all (``max_attempts``), how long to wait before the second
(``initial_interval``, seconds), how the wait grows (``backoff_coefficient``) up to
``maximum_interval``, and which exceptions are worth another attempt (``exceptions``, classes or
names such as ``"ConnectionError"`` or ``"requests.exceptions.Timeout"``; default: any
``Exception``; ``non_retryable`` ones never are). It applies in three scopes:

- configuration: ``[tool.durable-python.retry]`` (optionally ``calls = ["requests.*"]`` to limit
  it to some callables) is the default for every recorded effect of the run;
- a block: ``with durable_python.retry(max_attempts=5):`` retries each effect made inside it;
- a function: ``@durable_python.retry(max_attempts=5)`` retries the whole function when it raises
  (put it over ``@durable_python.activity`` to retry one effect as a whole).

Each failed attempt is its own journal entry (``durable-python show`` marks attempts after the
first), and each wait is a durable timer entry (``durable_python.retry``): a run killed while
waiting waits only what is left when resumed, and replay repeats the same attempts without calling
anything. Effects whose outcome is awaited (async clients) are not retried by block or
configuration policies; decorate the coroutine function's caller instead.
"""

from __future__ import annotations

import contextvars
import fnmatch
import functools
import inspect
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from . import clock, context, frames, recording, waiting
from .errors import UsageError
from .model import Policy

TIMER = "durable_python.retry"

_scoped: contextvars.ContextVar[tuple[RetryPolicy, ...]] = contextvars.ContextVar(
    "durable_python_retry", default=()
)
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "durable_python_retrying", default=False
)
# While a retried effect runs again: the idempotency key of its first attempt, so that an API
# that deduplicates sees every attempt as the same request (durable_python.idempotency_key()).
attempt_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "durable_python_attempt_key", default=None
)


def _names(kinds: Iterable[Any]) -> tuple[Any, ...]:
    found = []
    for kind in kinds:
        if isinstance(kind, str) or (isinstance(kind, type) and issubclass(kind, BaseException)):
            found.append(kind)
        else:
            raise TypeError(f"retry: {kind!r} is neither an exception class nor a class name")
    return tuple(found)


def _matches(exc: BaseException, kinds: tuple[Any, ...]) -> bool:
    for kind in kinds:
        if isinstance(kind, type):
            if isinstance(exc, kind):
                return True
            continue
        for cls in type(exc).__mro__:
            if kind in (cls.__name__, cls.__qualname__, f"{cls.__module__}.{cls.__qualname__}"):
                return True
    return False


@dataclass
class RetryPolicy:
    """How to retry (see the module docstring); a context manager and a decorator."""

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float | None = None  # default: 100 times the initial interval
    exceptions: tuple[Any, ...] = (Exception,)
    non_retryable: tuple[Any, ...] = ()
    calls: tuple[str, ...] = ()  # only for these callables (fnmatch patterns); empty: all
    _tokens: list[Any] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError("retry: max_attempts must be an integer >= 1")
        if self.initial_interval < 0 or self.backoff_coefficient < 1:
            raise ValueError("retry: initial_interval must be >= 0, backoff_coefficient >= 1")
        self.exceptions = _names(self.exceptions)
        self.non_retryable = _names(self.non_retryable)
        self.calls = tuple(self.calls)

    # ----- the policy --------------------------------------------------------------------------

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failure."""
        ceiling = self.maximum_interval
        if ceiling is None:
            ceiling = 100 * self.initial_interval
        return min(
            self.initial_interval * self.backoff_coefficient ** (failed_attempts - 1), ceiling
        )

    def retries(self, exc: BaseException) -> bool:
        if not isinstance(exc, Exception):  # never KeyboardInterrupt, SystemExit, Cancelled...
            return False
        return _matches(exc, self.exceptions) and not _matches(exc, self.non_retryable)

    def covers(self, name: str) -> bool:
        return not self.calls or any(fnmatch.fnmatchcase(name, p) for p in self.calls)

    # ----- scopes --------------------------------------------------------------------------------

    def __enter__(self) -> RetryPolicy:
        self._tokens.append(_scoped.set((*_scoped.get(), self)))
        return self

    def __exit__(self, *exc: object) -> None:
        _scoped.reset(self._tokens.pop())

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``function``: when it raises a retryable exception, wait and call it again."""
        name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"
        policy = self
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def retried_async(*args: Any, **kwargs: Any) -> Any:
                failures = 0
                while True:
                    try:
                        return await function(*args, **kwargs)
                    except Exception as exc:
                        failures += 1
                        if failures >= policy.max_attempts or not policy.retries(exc):
                            raise
                        _wait(policy, name, failures, sys._getframe(1))

            return retried_async

        @functools.wraps(function)
        def retried(*args: Any, **kwargs: Any) -> Any:
            failures = 0
            while True:
                try:
                    return function(*args, **kwargs)
                except Exception as exc:
                    failures += 1
                    if failures >= policy.max_attempts or not policy.retries(exc):
                        raise
                    _wait(policy, name, failures, sys._getframe(1))

        return retried

    # ----- retrying one recorded effect (called by recording.perform) -----------------------------

    def perform(
        self,
        task: Any,
        spec: recording.Call,
        frame: FrameType,
        args: tuple,
        kwargs: dict,
        live: Callable[[], Any],
    ) -> Any:
        failures = 0
        key = None  # the first attempt's idempotency key, kept by the later attempts
        while True:
            if not task.replaying:  # show marks the attempts after the first
                task.retry_attempts[task.seq] = failures
            token, key_token = _inside.set(True), attempt_key.set(key)
            try:
                return recording.perform(spec, frame, args, kwargs, live)
            except Exception as exc:
                failures += 1
                if key is None:
                    key = f"{context.active().run_id}:{task.name}:{task.seq - 1}"
                if failures >= self.max_attempts or not self.retries(exc):
                    raise
            finally:
                _inside.reset(token)
                attempt_key.reset(key_token)
            _wait(self, spec.name, failures, frame)


def retry(
    function: Callable[..., Any] | None = None,
    *,
    max_attempts: int = 3,
    initial_interval: float = 1.0,
    backoff_coefficient: float = 2.0,
    maximum_interval: float | None = None,
    exceptions: Iterable[Any] = (Exception,),
    non_retryable: Iterable[Any] = (),
) -> Any:
    """A retry policy: ``with durable_python.retry(...):`` or ``@durable_python.retry(...)``.

    See :mod:`durable_python.retries` for what each scope retries. ``@durable_python.retry`` without
    arguments decorates with the defaults (3 attempts, 1 s then 2 s apart, any Exception).
    """
    policy = RetryPolicy(
        max_attempts=max_attempts,
        initial_interval=initial_interval,
        backoff_coefficient=backoff_coefficient,
        maximum_interval=maximum_interval,
        exceptions=tuple(exceptions),
        non_retryable=tuple(non_retryable),
    )
    return policy(function) if function is not None else policy


_TIMER = recording.call(Policy.TIMER, TIMER)


def _wait(policy: RetryPolicy, name: str, failures: int, frame: FrameType) -> None:
    """The durable wait before attempt ``failures + 1``: a recorded timer."""
    seconds = policy.delay(failures)
    deadline = recording.perform(
        _TIMER, frame, (name, failures + 1, seconds), {}, lambda: clock.now() + seconds
    )
    waiting.sleep_until(deadline, seconds, TIMER, frame, time.sleep)


def policy_for(run: context.RunContext, name: str) -> RetryPolicy | None:
    """The retry policy of a recorded effect named ``name`` made here, if any."""
    if _inside.get():
        return None
    for policy in reversed(_scoped.get()):
        if policy.covers(name):
            return policy
    default = run.retry_default
    if default is not None and default.covers(name):
        return default
    return None


_KEYS = {
    "max_attempts",
    "initial_interval",
    "backoff_coefficient",
    "maximum_interval",
    "exceptions",
    "non_retryable",
    "calls",
}


def policy_from_table(table: dict[str, Any], where: str) -> RetryPolicy:
    """A policy from ``[tool.durable-python.retry]``; ``ValueError`` naming the bad key."""
    unknown = set(table) - _KEYS
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}"
        )
    values = dict(table)
    for key in ("exceptions", "non_retryable", "calls"):
        if key in values:
            names = values[key]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(
                    f'{where}: {key} must be a list of names, like {key} = ["OSError"]'
                )
            values[key] = tuple(names)
    try:
        return RetryPolicy(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def default_policy(table: dict[str, Any] | None, pyproject: Path | None) -> RetryPolicy | None:
    """The policy of ``[tool.durable-python.retry]``, the default of every effect of a run."""
    if table is None:
        return None
    where = f"{pyproject}: [tool.durable-python.retry]"
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table, like retry = {{ max_attempts = 5 }}")
    try:
        return policy_from_table(table, where)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


frames.hide(RetryPolicy.__call__, RetryPolicy.perform, _wait)
