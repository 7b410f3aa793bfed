"""Environment reads replay: ``os.environ[...]``, ``.get``, ``in`` and ``os.getenv`` are values.

``os.environ`` is replaced by a subclass sharing the same data whose item reads are recorded
(writes are ordinary code and run again on replay, which rebuilds the same environment).
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

from .model import Policy
from .recording import call, perform

_READ = call(Policy.VALUE, "os.environ")


class RecordedEnviron(os._Environ):  # type: ignore[name-defined,misc]
    def _read(self, key: str, frame: FrameType) -> str:
        read = super().__getitem__
        return perform(_READ, frame, (key,), {}, lambda: read(key))

    def __getitem__(self, key: str) -> str:
        return self._read(key, sys._getframe(1))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._read(key, sys._getframe(1))
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        try:
            self._read(key, sys._getframe(1))  # type: ignore[arg-type]
        except KeyError:
            return False
        return True


def install() -> Any:
    """Put a recording ``os.environ`` in place; return the original (to put back)."""
    original = os.environ
    recorded = RecordedEnviron.__new__(RecordedEnviron)
    recorded.__dict__.update(original.__dict__)
    os.environ = recorded  # noqa: B003 - same data, recorded reads
    return original
