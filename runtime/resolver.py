"""The resolver every rewritten call site goes through: ``__dp__(f)(args)``, or
``__dp__(obj, "name").name(args)`` for a method call.

It returns ``f`` itself for code that runs inline (so the call happens in the user's own frame) and
a recording wrapper otherwise. Every dynamic call of the script runs it, so the common case is one
dictionary lookup, in C (``_resolver.c``) when that extension is built and in the Python below when not.
Keys are chosen to be long-lived and few: a function's code object (a bound method counts as its
function), a builtin, a class; a builtin method of an object whose type runs inline entirely
(``lst.append``) is settled by that type, and so is an inline callable object named by its type
alone (``operator.itemgetter(1)``). Anything else goes to ``decide_and_remember``, and so do the
methods of the ``redirected_owners`` (``random``'s module-level generator, whose methods draw
from the run's own generator): theirs are decided apart from those of other instances.

One code object can stand for many functions: a decorator's wrapper (``functools.wraps``) or a
factory's generated methods, each renamed after what it wraps. Those are decided per function, by
identity: their code is marked ``SHARED_CODE``, so one method's decision is never another's.

The C resolver hands a recording wrapper out inside a C callable that takes durable-python's own
frames out of the traceback of an exception the call raises (``frames.without_own_frames``), so
``traceback.print_exc()`` or a custom ``sys.excepthook`` shows the frames plain Python shows. The
pure-Python fallback cannot: a Python function in between would add a frame of its own, and the
wrappers take the call site from their caller's frame. Without the C extension, a caught
exception's traceback keeps the wrapper frames (an uncaught one is still reported without them).
"""

from __future__ import annotations

from collections.abc import Callable
from types import (
    BuiltinFunctionType,
    ClassMethodDescriptorType,
    FunctionType,
    MethodDescriptorType,
    MethodType,
    MethodWrapperType,
    ModuleType,
    WrapperDescriptorType,
)
from typing import Any

from .frames import without_own_frames

# A decision is ``None`` (run inline) or a factory that wraps the callable for recording.
Decision = Callable[[Any], Any] | None
Decide = Callable[[Any], Decision]

decisions: dict[Any, Decision] = {}
SHARED_CODE: Any = object()  # on a code object several differently named functions share
inline_owner_types: dict[type, None] = {}
# Types of callable objects named by their type alone (``operator.itemgetter(1)``) that run
# inline: an instance of one is settled by its type.
inline_call_types: dict[type, None] = {}
_by_owner_method: dict[tuple[type, str], Decision] = {}
# Objects whose methods are decided apart from their type's (``random``'s module-level generator,
# whose methods draw from the run's own one): never settled by their function or type.
redirected_owners: tuple[Any, ...] = ()
_by_redirected_method: dict[tuple[int, Any], Decision] = {}
_decide: Decide = lambda f: None  # noqa: E731 - replaced by ``install``
_all_methods_inline: Callable[[type], bool] = lambda t: t.__module__ == "builtins"  # noqa: E731
_named_by_type: Callable[[Any], bool] = lambda f: False  # noqa: E731 - replaced by ``install``
# Long-lived callables cached by identity (a descriptor used as a value: ``key=str.lower``).
_CACHED_BY_IDENTITY = (
    MethodType,
    FunctionType,
    MethodDescriptorType,
    WrapperDescriptorType,
    ClassMethodDescriptorType,
)


# Made anew at each ``obj.name`` (``super().__init__`` is a method-wrapper): decided by the type of
# their object and their name, never kept by identity (that kept every object alive).
_BOUND_BUILTINS = (BuiltinFunctionType, MethodWrapperType)


def decide_and_remember(f: Any) -> Decision:
    """Decide ``f`` and cache the decision under the key the resolver will look up next time."""
    kind = type(f)
    key = f.__func__ if kind is MethodType else f
    if redirected_owners and _is_redirected(f):
        method_key = (id(f.__self__), key if kind is MethodType else f.__name__)
        if method_key not in _by_redirected_method:
            _by_redirected_method[method_key] = _decide(f)
        return _by_redirected_method[method_key]
    if type(key) is FunctionType:
        function, key = key, key.__code__
        if _renamed(function):
            decision = decisions[function] = _decide(f)
            decisions[key] = SHARED_CODE
            return decision
    elif isinstance(f, _BOUND_BUILTINS) and f.__self__ is not None:
        owner = f.__self__
        # A builtin bound to a class (``datetime.datetime.now``, a classmethod) is named by that
        # class, not by ``type``: it is kept by itself below (equal to the next one made).
        if not isinstance(owner, ModuleType) and not (
            isinstance(f, BuiltinFunctionType) and isinstance(owner, type)
        ):
            owner_type = type(owner)
            method_key = (owner_type, f.__name__)
            if method_key in _by_owner_method:
                return _by_owner_method[method_key]
            decision = _by_owner_method[method_key] = _decide(f)
            if decision is None and _all_methods_inline(owner_type):
                inline_owner_types[owner_type] = None
            return decision
    decision = _decide(f)
    if (
        kind in _CACHED_BY_IDENTITY
        or isinstance(f, (BuiltinFunctionType, type))
        or isinstance(getattr(f, "__qualname__", None), str)  # function-like: a Cython function
    ):
        decisions[key] = decision
    elif decision is None and _named_by_type(f):
        inline_call_types[kind] = None
    return decision


def _is_redirected(f: Any) -> bool:
    """True for a method (Python or builtin) of one of the ``redirected_owners``."""
    if type(f) is not MethodType and not isinstance(f, _BOUND_BUILTINS):
        return False
    owner = f.__self__
    return any(owner is redirected for redirected in redirected_owners)


def _renamed(function: FunctionType) -> bool:
    """True for a function named otherwise than its code (a wrapper, a generated method)."""
    code, module = function.__code__, function.__globals__.get("__name__")
    return (
        function.__qualname__ != code.co_qualname
        or function.__name__ != code.co_name
        or function.__module__ != module
    )


class _Holding:
    """What ``__dp__(obj, "name")`` returns when it cannot return ``obj`` itself: every attribute
    of it is the callable to call in place of ``obj.name``."""

    __slots__ = ("_callable",)

    def __init__(self, callable_: Any) -> None:
        object.__setattr__(self, "_callable", callable_)

    def __getattribute__(self, name: str) -> Any:
        return object.__getattribute__(self, "_callable")


def _resolve(f: Any, *name: str) -> Any:
    """Pure-Python twin of ``_resolver.resolve``: ``(f)`` for a call of ``f``; ``(obj, name)``
    for a call of ``obj.name``, which this twin always looks up here (the C resolver returns
    ``obj`` itself for an inline method, keeping the call a method call)."""
    if name:
        return _Holding(_resolve(getattr(f, *name)))
    if redirected_owners and _is_redirected(f):
        decision = decide_and_remember(f)
        return f if decision is None else decision(f)
    kind = type(f)
    key = f
    if kind is MethodType:
        key = f.__func__
        kind = type(key)
    if kind is FunctionType:
        function, key = key, key.__code__
        if decisions.get(key) is SHARED_CODE:
            key = function
    elif isinstance(f, _BOUND_BUILTINS):
        owner = f.__self__
        if (
            owner is not None
            and not isinstance(owner, ModuleType)
            and not (isinstance(f, BuiltinFunctionType) and isinstance(owner, type))
        ):
            if type(owner) in inline_owner_types:
                return f
            decision = decide_and_remember(f)
            return f if decision is None else decision(f)
    try:
        decision = decisions.get(key, decide_and_remember)
    except TypeError:  # an unhashable callable object
        decision = decide_and_remember
    if decision is decide_and_remember:
        if kind in inline_call_types:
            return f
        decision = decide_and_remember(f)
    return f if decision is None else decision(f)


try:
    from durable_python._resolver import configure as _configure
    from durable_python._resolver import resolve
except ImportError:  # built without a C compiler: the same logic in Python, slower
    resolve = _resolve

    def _configure(*args: Any) -> None:
        pass


def install(
    decide: Decide,
    all_methods_inline: Callable[[type], bool] | None = None,
    named_by_type: Callable[[Any], bool] | None = None,
    redirected: tuple[Any, ...] = (),
) -> None:
    """Make ``decide`` the judge of callables and forget earlier decisions.

    ``all_methods_inline(t)`` says that every method of the C type ``t`` runs inline, so that
    its builtin methods can be settled by type (``deque.append``, ``re.Pattern.match``).
    ``named_by_type(f)`` says that ``decide`` judges the callable object ``f`` by its type only,
    so that an inline one settles every instance of its type. The methods of the objects in
    ``redirected`` are decided apart from those of the other instances of their types.
    """
    global _decide, _all_methods_inline, _named_by_type, redirected_owners
    _decide = decide
    if all_methods_inline is not None:
        _all_methods_inline = all_methods_inline
    if named_by_type is not None:
        _named_by_type = named_by_type
    redirected_owners = tuple(redirected)
    decisions.clear()
    inline_owner_types.clear()
    inline_call_types.clear()
    _by_owner_method.clear()
    _by_redirected_method.clear()
    _configure(
        decisions,
        inline_owner_types,
        inline_call_types,
        redirected_owners,
        decide_and_remember,
        SHARED_CODE,
        without_own_frames,
    )
