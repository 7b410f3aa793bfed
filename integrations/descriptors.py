"""Raw descriptors (``os.open``, ``tempfile.mkstemp``) and named temporary files, across a crash.

A descriptor is a number that means something only in the process that opened it: replayed as a
bare number, ``os.write(fd, ...)`` past the frontier failed with EBADF (or, worse, wrote into a
file the resumed process opened under that number). Here the calls on a descriptor the script
opened stay effects recorded one by one (``os.write``, ``os.read``, ``os.lseek``, ``os.close``...),
and the position and size they give the file are counted, on the first run and on replay alike.
At the first live use past the frontier the file is opened again with the flags it was opened
with, except ``O_TRUNC`` and ``O_EXCL`` (they did their work the first time), cut back to the size
the recorded calls gave it (a write the crash caught in flight is dropped: it runs again, so an
``O_APPEND`` write is not doubled) and set at the recorded position. It takes the recorded number
when that number is free in this process (so ``open(fd)`` or ``stdout=fd`` work too), else another
one, which the handlers here use in its place.

``tempfile.NamedTemporaryFile`` creates its file as a recorded effect and opens it as a durable
file (files.py: writes replay by position, reads are values), wrapped like ``tempfile`` wraps it;
removing the file when it is closed is a recorded effect. ``tempfile.TemporaryFile`` has no name
to open again: it is a resource (knowledge.py), made again on replay, where the script's writes
fill it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import stat
import sys
import tempfile
import weakref
from collections.abc import Callable
from typing import Any

from durable_python import context, frames, recording
from durable_python.integrations import files
from durable_python.model import Policy

_ONCE = os.O_TRUNC | os.O_EXCL  # what opening again must not do a second time


class Descriptor:
    """A descriptor the script opened: where the file was opened, how, and where it is now."""

    __slots__ = ("number", "path", "flags", "mode", "regular", "pos", "size", "real")

    def __init__(
        self, number: int, path: Any, flags: int, mode: int, size: int | None, real: int | None
    ) -> None:
        self.number = number  # the number the script holds
        self.path = path
        self.flags = flags
        self.mode = mode
        self.regular = size is not None
        self.size = size or 0
        self.pos = self.size if flags & os.O_APPEND else 0
        self.real = real  # the descriptor open in this process, None until used live

    def moved(self, op: str, args: tuple, result: Any) -> None:
        """Count what a call (replayed or live) did to the position and size."""
        if op == "write":
            if self.flags & os.O_APPEND:
                self.size += result
                self.pos = self.size
            else:
                self.pos += result
                self.size = max(self.size, self.pos)
        elif op == "read":
            self.pos += len(result)
        elif op == "lseek":
            self.pos = result
        elif op == "ftruncate":
            self.size = args[0]
        elif op == "pwrite":
            self.size = max(self.size, args[1] + result)

    def ensure(self) -> int:
        """The live descriptor: the file opened again where the recorded calls left it."""
        if self.real is not None:
            return self.real
        fd = os.open(self.path, self.flags & ~_ONCE, self.mode)
        try:
            if self.regular and stat.S_ISREG(os.fstat(fd).st_mode):
                writable = self.flags & os.O_ACCMODE != os.O_RDONLY
                if writable and os.fstat(fd).st_size > self.size:
                    os.ftruncate(fd, self.size)
                os.lseek(fd, self.pos, os.SEEK_SET)
            self.real = _placed(fd, self.number)
        except BaseException:
            os.close(fd)
            raise
        return self.real


def _placed(fd: int, number: int) -> int:
    """``fd`` moved to ``number`` if that is free in this process, else ``fd`` as it is."""
    if fd == number:
        return fd
    try:
        fcntl.fcntl(number, fcntl.F_GETFD)
    except OSError:
        os.dup2(fd, number, inheritable=False)
        os.close(fd)
        return number
    return fd


_by_run: weakref.WeakKeyDictionary[Any, dict[int, Descriptor]] = weakref.WeakKeyDictionary()


def _descriptors() -> dict[int, Descriptor]:
    """The descriptors the active run's script has open, by the number it holds."""
    run = context.active()
    return {} if run is None else _by_run.setdefault(run, {})


def _opened(number: int, path: Any, flags: int, mode: int, size: int | None, live: bool) -> None:
    _descriptors()[number] = Descriptor(
        number, os.path.abspath(path), flags, mode, size, number if live else None
    )


# ----- handlers (policies named in knowledge.py) -------------------------------------------------


def os_open(name: str, f: Callable[..., int]) -> Callable[..., int]:
    """``os.open``: recorded with the size the file had, and remembered for opening again."""
    spec = recording.call(Policy.EFFECT, name)

    def open_descriptor(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        frame = sys._getframe(1)
        if kwargs or recording.current_task() is None:  # dir_fd=: not opened again
            return recording.perform(
                spec, frame, (path, flags, mode), kwargs, lambda: f(path, flags, mode, **kwargs)
            )
        live = []

        def opening() -> tuple[int, int | None]:
            fd = f(path, flags, mode)
            live.append(fd)
            st = os.fstat(fd)
            return fd, st.st_size if stat.S_ISREG(st.st_mode) else None

        fd, size = recording.perform(spec, frame, (path, flags, mode), {}, opening)
        _opened(fd, path, flags, mode, size, bool(live))
        return fd

    return open_descriptor


def fd_call(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``os.write``, ``os.read``, ``os.lseek``... on a descriptor: an effect as before; on one
    the script opened, live on the descriptor opened again, and counted."""
    spec = recording.call(Policy.EFFECT, name)
    op = f.__name__

    def on_descriptor(fd: Any, *args: Any) -> Any:
        frame = sys._getframe(1)
        found = _descriptors().get(fd) if type(fd) is int else None
        if found is None:
            return recording.perform(spec, frame, (fd, *args), {}, lambda: f(fd, *args))
        result = recording.perform(spec, frame, (fd, *args), {}, lambda: f(found.ensure(), *args))
        found.moved(op, args, result)
        return result

    return on_descriptor


def os_close(name: str, f: Callable[[int], None]) -> Callable[[int], None]:
    """``os.close``: past the frontier, a descriptor not used live since the crash is opened
    again first, so that what the crash left after its last recorded write is cut off."""
    spec = recording.call(Policy.EFFECT, name)

    def close(fd: Any) -> None:
        frame = sys._getframe(1)
        found = _descriptors().pop(fd, None) if type(fd) is int else None
        if found is None:
            return recording.perform(spec, frame, (fd,), {}, lambda: f(fd))
        return recording.perform(spec, frame, (fd,), {}, lambda: f(found.ensure()))

    return close


def mkstemp(name: str, f: Callable[..., tuple[int, Any]]) -> Callable[..., tuple[int, Any]]:
    """``tempfile.mkstemp``: its descriptor is opened again like one of ``os.open``."""
    spec = recording.call(Policy.EFFECT, name)

    def make(*args: Any, **kwargs: Any) -> tuple[int, Any]:
        live = []

        def create() -> tuple[int, Any]:
            made = f(*args, **kwargs)
            live.append(made)
            return made

        fd, path = recording.perform(spec, sys._getframe(1), args, kwargs, create)
        if recording.current_task() is not None:
            _opened(fd, path, os.O_RDWR, 0o600, 0, bool(live))
        return fd, path

    return make


def named_temporary_file(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``tempfile.NamedTemporaryFile``: a durable file under the name a recorded effect made."""
    spec = recording.call(Policy.EFFECT, name)

    def make(
        mode: str = "w+b",
        buffering: int = -1,
        encoding: str | None = None,
        newline: str | None = None,
        suffix: str | None = None,
        prefix: str | None = None,
        dir: str | None = None,  # noqa: A002 - tempfile's own name
        delete: bool = True,
        *,
        errors: str | None = None,
        delete_on_close: bool = True,
    ) -> Any:
        frame = sys._getframe(1)
        if recording.current_task() is None or "x" in mode:
            keep = {} if delete_on_close else {"delete_on_close": False}
            return f(mode, buffering, encoding, newline, suffix, prefix, dir, delete, **keep)

        def create() -> str:
            fd, path = tempfile.mkstemp(suffix, prefix, dir)
            os.close(fd)
            return path

        path = recording.perform(spec, frame, (mode, suffix, prefix, dir), {}, create)
        file = files.open_durably(io.open, frame, path, mode, buffering, encoding, errors, newline)
        return DurableTemporaryFile(file, path, delete, delete_on_close)

    return make


class DurableTemporaryFile:
    """What ``NamedTemporaryFile`` gives under durable-python: the interface of ``tempfile``'s
    wrapper over a durable file. Its methods run inline (this module is durable-python's), so
    the file's positions count on replay; removing the file is a recorded effect."""

    def __init__(self, file: Any, name: str, delete: bool, delete_on_close: bool) -> None:
        self.file = file
        self.name = name
        self.delete = delete
        self._delete_on_close = delete_on_close
        self._removed = False

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.__dict__["file"], attribute)

    def __enter__(self) -> DurableTemporaryFile:
        self.file.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.__exit__(*exc)
        self._remove()

    def __iter__(self) -> Any:
        return iter(self.file)

    def close(self) -> None:
        self.file.close()
        if self._delete_on_close:
            self._remove()

    def _remove(self) -> None:
        if self.delete and not self._removed:
            self._removed = True
            recording.perform(
                recording.call(Policy.EFFECT, "os.unlink"),
                frames.outside(sys._getframe(1)),
                (self.name,),
                {},
                lambda: os.unlink(self.name),
            )

    def __del__(self) -> None:
        """Removed when dropped unclosed, as by ``tempfile``: not recorded (when the collector
        runs is not the script's doing), so replay may try again and find it gone."""
        if self.delete and not self._removed and "file" in self.__dict__:
            self._removed = True
            with contextlib.suppress(Exception):
                self.file.close()
            with contextlib.suppress(OSError):
                recording.run_unrecorded(lambda: os.unlink(self.name))


frames.hide(os_open, fd_call, os_close, mkstemp, named_temporary_file)
frames.hide(
    DurableTemporaryFile.__enter__,
    DurableTemporaryFile.__exit__,
    DurableTemporaryFile.close,
    DurableTemporaryFile._remove,
)
