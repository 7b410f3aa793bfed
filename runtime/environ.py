"""Environment reads replay: ``os.environ[...]``, ``.get``, ``in`` and ``os.getenv`` are values;
iterating it, ``len``, ``keys()``, ``items()``, ``values()`` and ``copy()`` record the whole
environment as one value.

``os.environ`` is replaced by a subclass sharing the same data whose item reads are recorded
(writes are ordinary code and run again on replay, which rebuilds the same environment).

Only the script's own reads are recorded: those its rewritten code makes, directly or through
``os.getenv``. What a library reads on its own (while it imports, initialises lazily, rebuilds a
recorded result, or in its own threads) happens when the library chooses, at another moment on
replay than live, so it is read live and never enters the script's journal.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

from . import context
from .model import Policy
from .recording import call, perform

_READ = call(Policy.VALUE, "os.environ")
_LISTED = call(Policy.VALUE, "os.environ.items")  # iterating, len(), keys(), items(), copy()
_OS_FILE = os.getenv.__code__.co_filename  # os.getenv reads for its caller ("<frozen os>")


def _script_frame(frame: FrameType) -> FrameType | None:
    """The script's frame that makes the read at ``frame``, or ``None`` for a library's own."""
    if frame.f_code.co_filename == _OS_FILE and frame.f_back is not None:
        frame = frame.f_back
    run = context.active()
    module = frame.f_globals.get("__name__")
    if run is None or module is None or not run.decider.is_rewritten_module(module):
        return None
    return frame


class RecordedEnviron(os._Environ):  # type: ignore[name-defined,misc]
    def _read(self, key: str, frame: FrameType) -> str:
        read = super().__getitem__
        script_frame = _script_frame(frame)
        if script_frame is None:
            return read(key)
        return perform(_READ, script_frame, (key,), {}, lambda: read(key))

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

    def _snapshot(self, frame: FrameType) -> dict[str, str]:
        """The whole environment as the script saw it: one recorded value per listing."""
        script_frame = _script_frame(frame)
        if script_frame is None:
            return self._as_dict()
        return perform(_LISTED, script_frame, (), {}, self._as_dict)

    def _as_dict(self) -> dict[str, str]:
        return {self.decodekey(k): self.decodevalue(v) for k, v in self._data.items()}

    def __iter__(self) -> Any:
        return iter(list(self._snapshot(sys._getframe(1))))

    def __len__(self) -> int:
        return len(self._snapshot(sys._getframe(1)))

    def keys(self) -> Any:
        return self._snapshot(sys._getframe(1)).keys()

    def items(self) -> Any:
        return self._snapshot(sys._getframe(1)).items()

    def values(self) -> Any:
        return self._snapshot(sys._getframe(1)).values()

    def copy(self) -> dict[str, str]:
        return self._snapshot(sys._getframe(1))


def install() -> Any:
    """Put a recording ``os.environ`` in place; return the original (to put back)."""
    original = os.environ
    recorded = RecordedEnviron.__new__(RecordedEnviron)
    recorded.__dict__.update(original.__dict__)
    os.environ = recorded  # noqa: B003 - same data, recorded reads
    return original
