"""The resolver every rewritten call site goes through: ``__dp__(f)(args)``.

It returns ``f`` itself for code that runs inline (so the call happens in the user's own frame) and a
recording wrapper otherwise. This is the hot path: every dynamic call of the script runs ``resolve``,
so it does one dictionary lookup and leaves everything else to ``_resolve_slowly``, whose answers
are cached by something long-lived (a function, its code, a type, a module-level builtin).
"""

from __future__ import annotations

from collections.abc import Callable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

# A decision is ``None`` (run inline) or a factory that wraps the callable for recording.
Decision = Callable[[Any], Any] | None
Decide = Callable[[Any], Decision]

_MISSING = object()
_by_callable: dict[Any, Decision] = {}  # module-level functions, builtins, classes
_by_code: dict[Any, Decision] = {}  # closures and nested functions, by their code object
_by_method: dict[tuple[type, str], Decision] = {}  # methods of builtin objects (``lst.append``)
_lookup = _by_callable.get
_decide: Decide = lambda f: None  # noqa: E731 - replaced by ``install``


def resolve(f: Any) -> Any:
    """Return the callable to call in place of ``f``."""
    try:
        decision = _lookup(f, _MISSING)
    except TypeError:  # an unhashable callable object
        decision = _decide(f)
    else:
        if decision is _MISSING:
            decision = _resolve_slowly(f)
    if decision is None:
        return f
    return decision(f)


def _resolve_slowly(f: Any) -> Decision:
    kind = type(f)
    if kind is MethodType:
        function = f.__func__
        decision = _lookup(function, _MISSING)
        if decision is _MISSING:
            decision = _by_callable[function] = _decide(f)
        return decision
    if kind is FunctionType:
        if f.__closure__ is None and "<locals>" not in f.__qualname__:
            decision = _by_callable[f] = _decide(f)
            return decision
        decision = _by_code.get(f.__code__, _MISSING)
        if decision is _MISSING:
            decision = _by_code[f.__code__] = _decide(f)
        return decision
    if (
        kind is BuiltinFunctionType
        and f.__self__ is not None
        and not isinstance(f.__self__, ModuleType)
    ):
        key = (type(f.__self__), f.__name__)
        decision = _by_method.get(key, _MISSING)
        if decision is _MISSING:
            decision = _by_method[key] = _decide(f)
        return decision
    decision = _decide(f)
    if kind is BuiltinFunctionType or isinstance(f, type):
        _by_callable[f] = decision
    return decision


def install(decide: Decide) -> None:
    """Make ``decide`` the judge of callables and forget earlier decisions."""
    global _decide
    _decide = decide
    _by_callable.clear()
    _by_code.clear()
    _by_method.clear()
