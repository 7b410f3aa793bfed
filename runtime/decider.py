"""Deciding what a callable is: inline, or which recorded policy (DESIGN 4).

Judged by what the callable is, never by its name in the source: a bound method by its function's
module (and a builtin method by its object's type), a builtin by its module, a class by its module.
The answer is cached by ``resolver.py``, so this runs once per distinct callable.
"""

from __future__ import annotations

import functools
import random
import sys
from types import BuiltinFunctionType, FunctionType, MethodType, MethodWrapperType, ModuleType
from typing import Any

from durable_python.integrations import handlers, knowledge, sdk_streams
from durable_python.transpiler.importer import is_rewritten

from . import context, resolver
from .model import Policy
from .recording import Call, Recorded, Wrappers, call, values, wrappers
from .resolver import Decision

_METHODS = (MethodType, BuiltinFunctionType, MethodWrapperType)


class Decider:
    """Decides callables from the knowledge tables plus the user's declarations
    (``[tool.durable-python]``, ``durable_python.pure``/``resource``)."""

    def __init__(self, user_policies: dict[str, str] | None = None) -> None:
        self.user = dict(user_policies or {})
        self._rewritten: dict[str, bool] = {"__main__": True}

    def is_rewritten_module(self, module: str) -> bool:
        known = self._rewritten.get(module)
        if known is None:
            known = self._rewritten[module] = is_rewritten(sys.modules.get(module))
        return known

    def install(self) -> None:
        """Make this the judge of every rewritten call site (earlier decisions are forgotten)."""
        resolver.install(
            self.decide, self.all_methods_inline, named_by_type, redirected=(random._inst,)
        )

    def declare(self, targets: tuple[Any, ...], policy: Policy) -> None:
        """Add declarations: each target is a callable or a dotted name (a module, or
        ``module.qualname``); decisions made so far are taken again."""
        names = []
        for target in targets:
            if isinstance(target, str):
                names.append(target)
                continue
            named = qualified_name(target)
            if named is None:
                raise TypeError(f"{target!r} is neither a callable nor a dotted name")
            module, qualname = named
            names.append(f"{knowledge.MODULE_ALIASES.get(module, module)}.{qualname}")
        self.user.update(dict.fromkeys(names, str(policy)))
        self.install()

    def policy_of(self, module: str, qualname: str) -> str:
        found = self.known_policy_of(module, qualname)
        return Policy.EFFECT if found is None else found

    def known_policy_of(self, module: str, qualname: str) -> str | None:
        """The policy a table or declaration gives ``module.qualname``; ``None`` if none does
        (an unknown callable: an effect)."""
        full = f"{module}.{qualname}"
        for table in (self.user, knowledge.CALLABLES):
            found = table.get(full)
            if found is not None:
                return found
        name = module
        while name:
            for table in (self.user, knowledge.MODULES):
                found = table.get(name)
                if found is not None:
                    return found
            name = name.rpartition(".")[0]
        return None

    def all_methods_inline(self, cls: type) -> bool:
        """True when no table entry names a method of ``cls`` and its module runs inline; for a
        class of the script, when that holds for every base (its builtin methods are theirs)."""
        if self.is_rewritten_module(cls.__module__):
            return all(self.all_methods_inline(base) for base in cls.__mro__[1:])
        module = knowledge.MODULE_ALIASES.get(cls.__module__, cls.__module__)
        prefix = f"{module}.{cls.__qualname__}."
        if any(
            name.startswith(prefix) for table in (self.user, knowledge.CALLABLES) for name in table
        ):
            return False
        return self.policy_of(module, cls.__qualname__) == Policy.INLINE

    def decide(self, f: Any) -> Decision:
        decision = self._decide(f)
        if isinstance(f, _METHODS) and f.__self__ is random._inst:
            return functools.partial(_drawing_from_the_scripts_generator, decision)
        return decision

    def _decide(self, f: Any) -> Decision:
        named = qualified_name(f)
        if named is None:
            return None
        module, qualname = named
        name = _journal_name(f, module, qualname)
        if self.is_rewritten_module(module):
            if self.user.get(name) == Policy.EFFECT:  # a declared activity
                return wrappers(Recorded, call(Policy.EFFECT, name), f)
            return None
        if isinstance(f, type) and issubclass(f, BaseException):
            return None
        policy = self.known_policy_of(knowledge.MODULE_ALIASES.get(module, module), qualname)
        if policy is None:  # unknown: an effect; a class of it may make an unsaveable client
            spec = call(Policy.EFFECT, name, constructs=isinstance(f, type))
            return wrappers(sdk_streams.LibraryCall, spec, f)
        if policy == Policy.INLINE:
            return None
        if policy == Policy.VALUE:
            return values(call(Policy.VALUE, name), f)
        if policy == Policy.EFFECT:
            return wrappers(Recorded, call(Policy.EFFECT, name), f)
        return functools.partial(handlers.handler_for(policy), name)

    def kind_of(self, f: Any) -> str:
        """What ``decide`` makes of ``f``, in words: ``inline``, ``value``, ``effect``, or the
        name of the special handler it goes through (``sleep``, ``open_file``...)."""
        decision = self._decide(f)
        if decision is None:
            return str(Policy.INLINE)
        if isinstance(getattr(decision, "__self__", None), Wrappers):
            return decision.__self__.spec.policy
        if decision.args and isinstance(decision.args[0], Call):  # an unhashable callable's
            return decision.args[0].policy
        return decision.func.__name__


def qualified_name(f: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` of what ``f`` runs, or ``None`` if it is not a callable we judge."""
    named = _own_name(f)
    target = f.__func__ if type(f) is MethodType else f  # as _own_name looks at it
    if named is not None or not callable(target):
        return named
    kind = type(target)
    return kind.__module__, f"{kind.__qualname__}.__call__"


def named_by_type(f: Any) -> bool:
    """True for a callable object that every instance of its type is named like: named after its
    type (``operator.itemgetter(1)``) and without a ``__dict__`` (where an instance could take a
    name of its own: ``functools.update_wrapper`` on an object with ``__call__``)."""
    kind = type(f)
    return kind is not MethodType and kind.__dictoffset__ == 0 and _own_name(f) is None


def _own_name(f: Any) -> tuple[str, str] | None:
    """``qualified_name`` of a callable that names itself (a function, a method, a class...)."""
    kind = type(f)
    if kind is MethodType:
        f = f.__func__
        kind = type(f)
    if kind is FunctionType:
        return f.__module__ or "", f.__qualname__
    if kind is BuiltinFunctionType:
        owner = f.__self__
        if owner is None or isinstance(owner, ModuleType):
            module = f.__module__ or getattr(owner, "__name__", None) or "builtins"
            return module, f.__name__
        cls = owner if isinstance(owner, type) else type(owner)
        return cls.__module__, f"{cls.__qualname__}.{f.__name__}"
    if isinstance(f, type):
        return f.__module__, f.__qualname__
    if kind is functools.partial:
        return qualified_name(f.func)
    if _function_like(f):  # a Cython function, numpy's dispatchers of np.median, np.save...
        return f.__module__, f.__qualname__
    objclass = getattr(f, "__objclass__", None)
    if objclass is None and hasattr(f, "__self__") and hasattr(f, "__name__"):
        objclass = type(f.__self__)
    if isinstance(objclass, type):
        return objclass.__module__, f"{objclass.__qualname__}.{f.__name__}"
    return None


def _drawing_from_the_scripts_generator(decision: Decision, method: Any) -> Any:
    """A method of ``random``'s module-level generator (``random.choice``, ``random.seed``) as the
    same method of the run's own generator (other generators' methods are decided as any method:
    the resolver keeps this generator's methods apart)."""
    run = context.active()
    if run is not None:
        method = getattr(run.script_random, method.__name__)
    return method if decision is None else decision(method)


def _journal_name(f: Any, module: str, qualname: str) -> str:
    """The name a call is journalled and shown under: ``module.qualname``, except for a method a
    library generated (``<locals>``, botocore's ``S3.put_object``), named by its object's type."""
    if "<locals>" in qualname and type(f) is MethodType:
        method = getattr(f.__func__, "__name__", None)
        if isinstance(method, str):
            owner = type(f.__self__)
            return f"{owner.__module__}.{owner.__qualname__}.{method}"
    return f"{module}.{qualname}"


def _function_like(f: Any) -> bool:
    """True for a callable named like a function though it is not one (Cython, dispatchers)."""
    return isinstance(getattr(f, "__qualname__", None), str) and isinstance(
        getattr(f, "__module__", None), str
    )
