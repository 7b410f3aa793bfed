"""Import hook: the script's own modules and packages (its directory tree) are rewritten on import.

The standard library, installed packages and anything inside a virtual environment are left alone.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

from . import load_code


class RewritingLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code is the rewritten code (and whose bytecode cache is ours)."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return load_code(self.get_data(path), path, warn_again=False)


def _excluded_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [os.path.join(os.path.realpath(r), "") for r in roots]


class ScriptTreeFinder:
    """Finds modules under ``root`` and hands them a :class:`RewritingLoader`."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(os.path.realpath(root), "")
        self._excluded = [r for r in _excluded_roots() if not self.root.startswith(r)]

    def owns(self, path: str | None) -> bool:
        if not path or not path.endswith(".py"):
            return False
        real = os.path.realpath(path)
        if not real.startswith(self.root) or any(real.startswith(r) for r in self._excluded):
            return False
        relative = real[len(self.root) :]
        return not any(
            part in ("site-packages", "dist-packages") or part.startswith(".")
            for part in relative.split(os.sep)[:-1]
        )

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] == "durable_python":
            return None  # never our own code, even when the script lives beside its sources
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        if not self.owns(spec.origin):
            return None
        spec.loader = RewritingLoader(fullname, spec.origin)
        return spec


def install(root: str) -> ScriptTreeFinder:
    """Put a finder for ``root`` at the front of ``sys.meta_path`` and return it."""
    finder = ScriptTreeFinder(root)
    sys.meta_path.insert(0, finder)
    return finder


def is_rewritten(module: ModuleType | None) -> bool:
    """True for a module whose code went through the transpiler."""
    spec = getattr(module, "__spec__", None)
    return isinstance(getattr(spec, "loader", None), RewritingLoader)
