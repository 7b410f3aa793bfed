"""Acting on a library when the script imports it, so a run does not import it first.

A library the script may never use (numpy, a process pool) is adjusted right after its import
instead of being imported at the start of every run only to be adjusted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


class _ThenLoader:
    """Loads a module as its own loader would, then hands it to ``then``."""

    def __init__(self, loader: Any, then: Callable[[ModuleType], None]) -> None:
        self.loader, self.then = loader, then

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.then(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename...: the loader's own
        return getattr(self.loader, name)


class _Finder:
    """Finds module ``name`` with the other finders and hands it a :class:`_ThenLoader`."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _ThenLoader(spec.loader, self.then)
                return spec
        return None


def after_import(name: str, then: Callable[[ModuleType], None]) -> Callable[[], None]:
    """Call ``then(module)`` once module ``name`` is imported: now if it is already, else right
    after its import; returns what stops waiting for it."""
    module = sys.modules.get(name)
    if module is not None:
        then(module)
        return lambda: None
    finder = _Finder(name, then)
    sys.meta_path.insert(0, finder)

    def stop() -> None:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)

    return stop
