"""Deciding what a callable is: inline, or which recorded policy (DESIGN 4).

Judged by what the callable is, never by its name in the source: a bound method by its function's
module (and a builtin method by its object's type), a builtin by its module, a class by its module.
The answer is cached by ``hot.py``, so this runs once per distinct callable.
"""

from __future__ import annotations

import functools
import sys
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from durable_python.integrations import handlers, knowledge
from durable_python.transpiler.importer import is_rewritten

from . import hot
from .calls import Recorded
from .hot import Decision


class Knowledge:
    """The knowledge tables plus the user's ``[tool.durable-python]`` declarations."""

    def __init__(self, user_policies: dict[str, str] | None = None) -> None:
        self.user = dict(user_policies or {})
        self._rewritten: dict[str, bool] = {"__main__": True}

    def is_rewritten_module(self, module: str) -> bool:
        known = self._rewritten.get(module)
        if known is None:
            known = self._rewritten[module] = is_rewritten(sys.modules.get(module))
        return known

    def policy_of(self, module: str, qualname: str) -> str:
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
        return knowledge.EFFECT

    def all_methods_inline(self, cls: type) -> bool:
        """True when no table entry names a method of ``cls`` and its module runs inline."""
        module = knowledge.MODULE_ALIASES.get(cls.__module__, cls.__module__)
        prefix = f"{module}.{cls.__qualname__}."
        if any(
            name.startswith(prefix) for table in (self.user, knowledge.CALLABLES) for name in table
        ):
            return False
        return self.policy_of(module, cls.__qualname__) == knowledge.INLINE

    def decide(self, f: Any) -> Decision:
        named = qualified_name(f)
        if named is None:
            return None
        module, qualname = named
        if self.is_rewritten_module(module):
            if self.user.get(f"{module}.{qualname}") == knowledge.EFFECT:  # a declared activity
                return functools.partial(Recorded, knowledge.EFFECT, f"{module}.{qualname}", True)
            return None
        if isinstance(f, type) and issubclass(f, BaseException):
            return None
        policy = self.policy_of(knowledge.MODULE_ALIASES.get(module, module), qualname)
        if policy == knowledge.INLINE:
            return None
        name = f"{module}.{qualname}"
        if policy in (knowledge.VALUE, knowledge.EFFECT):
            return functools.partial(Recorded, policy, name, policy == knowledge.EFFECT)
        return functools.partial(handlers.handler_for(policy), name)


def declare(targets: tuple[Any, ...], policy: str) -> None:
    """Add declarations to the running run's knowledge (``durable_python.pure``/``resource``):
    each target is a callable or a dotted name (a module, or ``module.qualname``)."""
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
    running = getattr(hot._decide, "__self__", None)
    if isinstance(running, Knowledge):
        running.user.update(dict.fromkeys(names, policy))
        hot.install(running.decide, running.all_methods_inline)


def qualified_name(f: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` of what ``f`` runs, or ``None`` if it is not a callable we judge."""
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
    objclass = getattr(f, "__objclass__", None)
    if objclass is None and hasattr(f, "__self__") and hasattr(f, "__name__"):
        objclass = type(f.__self__)
    if isinstance(objclass, type):
        return objclass.__module__, f"{objclass.__qualname__}.{f.__name__}"
    if not callable(f):
        return None
    return kind.__module__, f"{kind.__qualname__}.__call__"
