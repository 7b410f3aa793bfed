"""Files: ``open()`` in every mode, ``pathlib.Path.open``, ``codecs.open`` and logging's file handlers.

The script gets a standard ``io`` stack (a ``TextIOWrapper`` over a buffered object, or the buffered
object in binary mode) over a raw file of ours, ``DurableFileIO``. The raw file knows the position
and size the script's own operations give the file, so replay can rebuild them without touching the
disk:

Opening is recorded: an error (``FileNotFoundError``, ``FileExistsError``, ...) is raised again on
replay, and the size the file had is recorded (``a`` mode appends from there).

Writing (``w``, ``a``, ``x`` and every ``+`` mode) is not recorded call by call: a replayed write
writes data the replayed script computed again, so replay only counts it. Until the script passes
the end of its journal, the real file is neither opened, truncated nor written. At the first write
(or close, or ``fileno()``) past the frontier, the real file is opened without truncation, cut back
to the size the replayed writes gave it (which drops whatever the crashed run wrote after its last
recorded call, a torn write included) and written on from the recorded position. Live writes go
straight to the operating system (the stack is write-through), so every byte written before a
journal entry is in the file before that entry is committed. A script that writes, appends and
rewrites files, killed anywhere and resumed, ends with the same bytes as an uninterrupted run.

Reading is recorded: each read of the raw file (a whole ``read()`` is one entry; buffered reads,
``readline`` and iteration fetch 64 KiB chunks) is a value, so replay gives back exactly what the
script read, even if the file changed or disappeared since. That is what a script that reads
``state.json`` and later rewrites it needs. Past the frontier the real file is opened again at the
recorded offset; if it changed since the run opened it, durable-python says so once on stderr.

A descriptor handed out (``fileno()``, e.g. ``subprocess.run(cmd, stdout=f)``) or a file used inside
an effect lets something else move the real file: the next operation of the script on it then
records the real position and size (``open.sync``), and replay takes them from the journal.

Plain ``open`` semantics remain for: a file descriptor instead of a path, ``opener=``,
``closefd=False``, anything opened inside an effect (its result covers it), and scripts run
without durable-python.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import stat
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from durable_python import context, frames, recording
from durable_python.fingerprint import fingerprint
from durable_python.model import Policy

READ_CHUNK = 64 * 1024
OPEN = "io.open"
_SYNC = "open.sync"


def _say(message: str) -> None:
    stream = sys.__stderr__
    if stream is not None:
        stream.write(f"durable-python: {message}\n")
        stream.flush()


def stop_if_checking(task: Any, what: str, frame: FrameType) -> None:
    """In a replay-only check (``durable-python replay``/``check``/``watch``), something about to
    happen for real past the frontier stops the script there, like a recorded call would."""
    run = context.active()
    if run is not None and run.at_frontier is not None and task is not None:
        site = frames.site_of(frames.outside(frame))
        run.at_frontier(task, task.seq, Policy.EFFECT.value, what, site)


def _parse_mode(mode: Any) -> tuple[str, bool, bool] | None:
    """``(kind, plus, binary)`` of a valid ``open`` mode, ``None`` for anything else."""
    if not isinstance(mode, str):
        return None
    chars = set(mode)
    if chars - set("rwxab+t") or len(chars) != len(mode):
        return None
    kinds = chars & set("rwxa")
    if len(kinds) != 1 or ("b" in chars and "t" in chars):
        return None
    return kinds.pop(), "+" in chars, "b" in chars


def _next_key(task: Any, display: str) -> tuple[str, int]:
    return display, context.active().next_number("file", task)


def _describe(fd: int) -> dict[str, Any]:
    st = os.fstat(fd)
    try:
        os.lseek(fd, 0, os.SEEK_CUR)
        seekable = True
    except OSError:
        seekable = False
    return {
        "regular": stat.S_ISREG(st.st_mode),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "seekable": seekable,
    }


def open_durably(
    plain_open: Callable[..., Any],
    frame: FrameType,
    file: Any,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    closefd: bool = True,
    opener: Any = None,
) -> Any:
    """``open()`` with the semantics of the module docstring (plain ``open`` where they do not apply)."""
    task = recording.current_task()
    parsed = _parse_mode(mode)
    if (
        task is None
        or parsed is None
        or opener is not None
        or closefd is not True
        or type(buffering) is not int
        or not isinstance(file, str | bytes | os.PathLike)
    ):
        return plain_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    kind, plus, binary = parsed
    if binary and (encoding is not None or errors is not None or newline is not None):
        return plain_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    if not binary and buffering == 0:
        return plain_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    path = os.fspath(file)
    display = path if isinstance(path, str) else os.fsdecode(path)
    readable = kind == "r" or plus
    writable = kind != "r" or plus
    real: list[io.FileIO] = []

    def open_for_real() -> dict[str, Any]:
        handle = io.FileIO(path, kind + ("+" if plus else ""))
        try:
            info = _describe(handle.fileno())
        except BaseException:
            handle.close()
            raise
        real.append(handle)
        return info

    # Opening to write changes the file (creates, truncates, or fixes where appends start):
    # committed before the script writes, except for plain ``w`` that a crash simply repeats.
    spec = recording.call(
        Policy.EFFECT if writable else Policy.VALUE, OPEN, writable and kind != "w"
    )
    info = recording.perform(spec, frame, (display, mode), {}, open_for_real)
    raw = DurableFileIO(path, path, display, kind, plus, info, real[0] if real else None)
    raw.key = _next_key(task, display)
    raw.sync_fingerprint = fingerprint((raw.key,), {})
    try:
        return _wrap(raw, mode, binary, readable, writable, buffering, encoding, errors, newline)
    except BaseException:
        raw.close()
        raise


def _wrap(
    raw: DurableFileIO,
    mode: str,
    binary: bool,
    readable: bool,
    writable: bool,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
) -> Any:
    if buffering == 0:
        return raw
    size = buffering if buffering > 1 else READ_CHUNK
    if readable and writable:
        buffer: Any = WriteThroughRandom(raw, size)
    elif writable:
        buffer = WriteThroughWriter(raw, size)
    else:
        buffer = io.BufferedReader(raw, size)
    if binary:
        return buffer
    text = io.TextIOWrapper(
        buffer, encoding, errors, newline, line_buffering=buffering == 1, write_through=writable
    )
    text.mode = mode
    return text


class WriteThroughWriter(io.BufferedWriter):
    """A ``BufferedWriter`` whose writes reach the raw file at once (so replay can tell which
    writes happened before a journal entry)."""

    def write(self, b: Any) -> int:
        written = super().write(b)
        self.flush()
        return written


class WriteThroughRandom(io.BufferedRandom):
    """``BufferedRandom`` (the ``+`` modes), write-through like :class:`WriteThroughWriter`."""

    def write(self, b: Any) -> int:
        written = super().write(b)
        self.flush()
        return written


class DurableFileIO(io.RawIOBase):
    """The raw file under a durable ``open``: replayed, or live on a real ``io.FileIO``."""

    key: tuple[str, int] = ("", 0)
    sync_fingerprint = ""

    def __init__(
        self,
        name: Any,
        path: str | bytes,
        display: str,
        kind: str,
        plus: bool,
        info: dict[str, Any],
        real: io.FileIO | None,
    ) -> None:
        super().__init__()
        self.name = name
        self._path = path
        self._display = display
        self._kind = kind
        self._readable = kind == "r" or plus
        self._writable = kind != "r" or plus
        self._append = kind == "a"
        self._info = info
        self._regular = info["regular"]
        self._seekable = info["seekable"]
        self._size = info["size"]
        self._pos = self._size if self._append else 0
        self._real = real
        self._unsynced = False
        self._stand_in: int | None = None  # a descriptor handed out by fileno() during replay
        if kind == "a":
            self.mode = "ab+" if plus else "ab"
        elif kind == "x":
            self.mode = "xb+" if plus else "xb"
        elif plus:
            self.mode = "rb+"
        else:
            self.mode = "wb" if kind == "w" else "rb"

    def __repr__(self) -> str:
        return f"<durable_python file name={self._display!r} mode={self.mode!r}>"

    # ----- capabilities --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def readable(self) -> bool:
        self._check_open()
        return self._readable

    def writable(self) -> bool:
        self._check_open()
        return self._writable

    def seekable(self) -> bool:
        self._check_open()
        return self._seekable

    def isatty(self) -> bool:
        self._check_open()
        return self._real.isatty() if self._real is not None else False

    # ----- where the script is: replay, live at depth 0, or inside a live effect ----------------

    def _task(self, frame: FrameType) -> Any:
        """The recording task at depth 0 (after applying a recorded sync), else ``None``."""
        task = recording.current_task()
        if task is None:
            if context.active() is not None and recording.local.depth:
                self._unsynced = True  # an effect moves the real file behind the script's back
            return None
        if task.replaying:
            _, entry = task.next_call()
            if (
                entry is not None
                and entry.name == _SYNC
                and entry.fingerprint.partition("|")[0] == self.sync_fingerprint
            ):
                self._pos, self._size = recording.perform(
                    recording.call(Policy.VALUE, _SYNC),
                    frames.outside(frame),
                    (self.key,),
                    {},
                    lambda: None,
                )
        elif self._unsynced and self._real is not None:
            fd = self._real.fileno()
            self._pos, self._size = recording.perform(
                recording.call(Policy.VALUE, _SYNC),
                frames.outside(frame),
                (self.key,),
                {},
                lambda: (os.lseek(fd, 0, os.SEEK_CUR), os.fstat(fd).st_size),
            )
            self._unsynced = False
        return task

    def _live(self, task: Any) -> bool:
        """True where operations happen for real: past the frontier, or inside a live effect."""
        if task is not None:
            if task.replaying:
                return False
            stop_if_checking(task, "io.write", sys._getframe(2))
            return True
        return self._real is not None or context.active() is not None

    @staticmethod
    def _may_cut() -> bool:
        """Past the frontier (not in a gap amid replay), where the torn tail can be cut off."""
        task = recording.task_of_context()
        return task is None or not task.replaying

    def _ensure_real(self, cut: bool) -> io.FileIO:
        """Open the real file where the replayed operations left it."""
        if self._real is not None:
            return self._real
        flags = os.O_CLOEXEC
        if self._readable and self._writable:
            flags |= os.O_RDWR
        elif self._writable:
            flags |= os.O_WRONLY
        else:
            flags |= os.O_RDONLY
        if self._writable:
            flags |= os.O_CREAT
        if self._append:
            flags |= os.O_APPEND
        fd = os.open(self._path, flags, 0o666)
        try:
            st = os.fstat(fd)
            if self._readable and self._writable:
                real_mode = "a+" if self._append else "r+"
            elif self._writable:
                real_mode = "a" if self._append else "w"
            else:
                real_mode = "r"
            real = io.FileIO(fd, real_mode, closefd=True)
        except BaseException:
            os.close(fd)
            raise
        try:
            if self._regular and stat.S_ISREG(st.st_mode):
                if self._writable and cut:
                    if st.st_size < self._size:
                        _say(
                            f"{self._display} has {st.st_size} bytes but this run had written"
                            f" {self._size} before it stopped: something else changed it."
                            f" Writing on at offset {self._pos}."
                        )
                    if st.st_size != self._size:
                        real.truncate(self._size)
                elif not self._writable and (st.st_size, st.st_mtime_ns) != (
                    self._info["size"],
                    self._info["mtime_ns"],
                ):
                    _say(
                        f"{self._display} changed since this run opened it: what the run read"
                        f" before it stopped is replayed as recorded, and it reads on from offset"
                        f" {self._pos} of the file as it is now."
                    )
                real.seek(self._pos)
        except BaseException:
            real.close()
            raise
        self._real = real
        return real

    # ----- reading ---------------------------------------------------------------------------------

    def _recorded_read(self, name: str, size: int, live: Callable[[], bytes]) -> bytes:
        frame = frames.outside(sys._getframe(2))
        if self._task(frame) is None:
            return live()
        return recording.perform(
            recording.call(Policy.VALUE, name), frame, (self.key, size), {}, live
        )

    def readinto(self, b: Any) -> int:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("read")
        view = memoryview(b).cast("B")
        size = len(view)

        def live() -> bytes:
            return os.read(self._ensure_real(self._may_cut()).fileno(), size)

        data = self._recorded_read("open.read", size, live)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("read")

        def live() -> bytes:
            return self._ensure_real(self._may_cut()).readall()

        data = self._recorded_read("open.readall", -1, live)
        self._pos += len(data)
        return data

    # ----- writing ---------------------------------------------------------------------------------

    def write(self, b: Any) -> int:
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("write")
        real = self._real
        if real is not None and not self._unsynced and not recording.local.depth:
            size = real.write(b)  # the common live case: straight to the real file
            if size is None or size < len(memoryview(b).cast("B")):
                size = self._write_rest(real, b, size or 0)
        else:
            view = memoryview(b).cast("B")
            size = len(view)
            if self._live(self._task(sys._getframe(1))):
                self._write_rest(self._ensure_real(self._may_cut()), view, 0)
        if self._append:
            self._size += size
            self._pos = self._size
        else:
            self._pos += size
            self._size = max(self._size, self._pos)
        return size

    @staticmethod
    def _write_rest(real: io.FileIO, b: Any, done: int) -> int:
        view = memoryview(b).cast("B")
        while done < len(view):
            done += real.write(view[done:]) or 0
        return done

    def truncate(self, size: int | None = None) -> int:
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")
        task = self._task(sys._getframe(1))
        size = self._pos if size is None else size.__index__()
        if size < 0:
            raise OSError(errno.EINVAL, "Invalid argument")
        if self._live(task):
            self._ensure_real(self._may_cut()).truncate(size)
        self._size = size
        return size

    # ----- position --------------------------------------------------------------------------------

    def tell(self) -> int:
        self._check_open()
        self._task(sys._getframe(1))
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._check_open()
        frame = sys._getframe(1)
        task = self._task(frame)
        if not self._seekable:
            raise OSError(errno.ESPIPE, "Illegal seek")
        offset = offset.__index__()
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._pos + offset
        elif whence == os.SEEK_END:
            position = self._end(task, frame) + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if position < 0:
            raise OSError(errno.EINVAL, "Invalid argument")
        self._pos = position
        if self._real is not None:
            self._real.seek(position)
        return position

    def _end(self, task: Any, frame: FrameType) -> int:
        if self._writable:
            return self._size  # the run owns what it writes
        if task is None:
            return os.fstat(self._ensure_real(self._may_cut()).fileno()).st_size

        def live() -> int:
            return os.fstat(self._ensure_real(self._may_cut()).fileno()).st_size

        self._size = recording.perform(
            recording.call(Policy.VALUE, "open.size"), frame, (self.key,), {}, live
        )
        return self._size

    # ----- descriptors and closing -----------------------------------------------------------------

    def fileno(self) -> int:
        self._check_open()
        if self._real is None:
            task = recording.current_task()
            if task is not None and task.replaying:
                # Only replayed calls (which do not run) use a descriptor taken during replay.
                if self._stand_in is None:
                    self._stand_in = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                return self._stand_in
            if task is None and context.active() is None:
                raise io.UnsupportedOperation("fileno: the run that opened this file has ended")
            stop_if_checking(task, "io.fileno", sys._getframe(1))
            self._ensure_real(self._may_cut())
        if context.active() is not None:
            self._unsynced = True
        self._real.seek(self._pos)
        return self._real.fileno()

    def flush(self) -> None:
        self._check_open()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._real is None and self._writable:
                task = recording.current_task()
                inside_effect = (
                    task is None and recording.local.depth and context.active() is not None
                )
                run = context.active()
                checking = run is not None and not run.live  # replay-only: touch nothing
                if (task is not None and not task.replaying and not checking) or inside_effect:
                    # Past the frontier: cut off what the crashed run wrote after this point.
                    self._ensure_real(self._may_cut())
            if self._real is not None:
                self._real.close()
        finally:
            if self._stand_in is not None:
                os.close(self._stand_in)
                self._stand_in = None
            super().close()


# ----- handlers (policies named in knowledge.py) -------------------------------------------------


def open_file(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``open()`` / ``io.open()``."""

    def durable_open(
        file: Any,
        mode: str = "r",
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        closefd: bool = True,
        opener: Any = None,
    ) -> Any:
        return open_durably(
            f, sys._getframe(1), file, mode, buffering, encoding, errors, newline, closefd, opener
        )

    return durable_open


def path_open(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``pathlib.Path.open`` (bound, or called on the class with the path first)."""
    bound_to = getattr(f, "__self__", None)

    def open_path(*args: Any, **kwargs: Any) -> Any:
        if bound_to is None:
            path, *rest = args
        else:
            path, rest = bound_to, list(args)
        frame = sys._getframe(1)
        return _call_open(frame, path, *rest, **kwargs)

    return open_path


def _call_open(
    frame: FrameType,
    path: Any,
    mode: str = "r",
    buffering: int = -1,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
) -> Any:
    return open_durably(io.open, frame, path, mode, buffering, encoding, errors, newline)


def codecs_open(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``codecs.open``: a durable binary file under the codec's ``StreamReaderWriter``."""

    def open_with_codec(
        filename: Any,
        mode: str = "r",
        encoding: str | None = None,
        errors: str = "strict",
        buffering: int = -1,
    ) -> Any:
        if encoding is not None and "b" not in mode:
            mode = mode + "b"
        file = open_durably(io.open, sys._getframe(1), filename, mode, buffering)
        if encoding is None:
            return file
        try:
            info = codecs.lookup(encoding)
            wrapped = codecs.StreamReaderWriter(file, info.streamreader, info.streamwriter, errors)
            wrapped.encoding = encoding
            return wrapped
        except BaseException:
            file.close()
            raise

    return open_with_codec


def _logging_open(
    file: Any, mode: str = "a", encoding: str | None = None, errors: str | None = None
) -> Any:
    return open_durably(io.open, sys._getframe(1), file, mode, -1, encoding, errors)


def logging_files(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """Logging setups that open files (``basicConfig(filename=...)``, ``FileHandler``, dictConfig):
    their files become durable files, so what was logged before a crash is not logged twice."""
    import logging

    # ``FileHandler`` opens its file with the ``open`` it finds in logging's globals: ours, which
    # is plain ``open`` outside a run (and while Python finalizes).
    logging.open = _logging_open  # type: ignore[attr-defined]
    return f


# ----- directory listings: recorded, so replay sees the directory as the run saw it --------------


def _listing_args(f: Callable[..., Any], args: tuple) -> tuple:
    owner = getattr(f, "__self__", None)
    return (os.fspath(owner), *args) if isinstance(owner, os.PathLike) else args


def listing(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """An iterator over directory entries (``Path.iterdir``, ``Path.glob``, ``glob.iglob``):
    recorded as one list value and handed back as an iterator."""

    def listed(*args: Any, **kwargs: Any) -> Any:
        frame = sys._getframe(1)
        key = _listing_args(f, args)
        items = recording.perform(
            recording.call(Policy.VALUE, name), frame, key, kwargs, lambda: list(f(*args, **kwargs))
        )
        return iter(items)

    return listed


class RecordedDirEntry:
    """What replay gives back for an ``os.DirEntry`` of ``os.scandir``: the same answers."""

    __slots__ = ("name", "path", "_inode", "_symlink", "_dir", "_file", "_stat", "_lstat")

    def __init__(self, entry: os.DirEntry) -> None:
        self.name, self.path = entry.name, entry.path
        self._inode = entry.inode()
        self._symlink = entry.is_symlink()
        self._dir = (entry.is_dir(follow_symlinks=False), entry.is_dir())
        self._file = (entry.is_file(follow_symlinks=False), entry.is_file())
        self._lstat = entry.stat(follow_symlinks=False)
        try:
            self._stat: Any = entry.stat() if self._symlink else self._lstat
        except OSError as exc:
            self._stat = exc

    def inode(self) -> int:
        return self._inode

    def is_symlink(self) -> bool:
        return self._symlink

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._dir[bool(follow_symlinks)]

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._file[bool(follow_symlinks)]

    def is_junction(self) -> bool:
        return False

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        found = self._stat if follow_symlinks else self._lstat
        if isinstance(found, OSError):
            raise found
        return found

    def __fspath__(self) -> Any:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __setstate__(self, state: tuple) -> None:
        for slot, value in zip(self.__slots__, state, strict=True):
            object.__setattr__(self, slot, value)


class RecordedScandir:
    """The iterator ``os.scandir`` returns (also a context manager), over recorded entries."""

    def __init__(self, entries: list[RecordedDirEntry]) -> None:
        self._entries = iter(entries)

    def __iter__(self) -> RecordedScandir:
        return self

    def __next__(self) -> RecordedDirEntry:
        return next(self._entries)

    def close(self) -> None:
        self._entries = iter(())

    def __enter__(self) -> RecordedScandir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scandir(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``os.scandir``: the entries and their answers (type, stat) are one recorded value."""

    def scan(*args: Any, **kwargs: Any) -> Any:
        if recording.current_task() is None or (args and isinstance(args[0], int)):
            return f(*args, **kwargs)

        def live() -> list[RecordedDirEntry]:
            with f(*args, **kwargs) as entries:
                return [RecordedDirEntry(entry) for entry in entries]

        return RecordedScandir(
            recording.perform(
                recording.call(Policy.VALUE, name), sys._getframe(1), args, kwargs, live
            )
        )

    return scan


def walk(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``os.walk``: each step is a recorded value, so pruning ``dirnames`` in place works as usual
    and replay walks the tree the run saw."""

    def durable_walk(
        top: Any, topdown: bool = True, onerror: Any = None, followlinks: bool = False
    ) -> Any:
        if recording.current_task() is None:
            return f(top, topdown, onerror, followlinks)
        return _walk_steps(f, sys._getframe(1), name, top, topdown, onerror, followlinks)

    return durable_walk


def _walk_steps(
    f: Callable[..., Any],
    frame: FrameType,
    name: str,
    top: Any,
    topdown: bool,
    onerror: Any,
    followlinks: bool,
) -> Any:
    key = (os.fspath(top), topdown, followlinks)
    replayed: list[tuple] = []  # steps replayed so far (their dirnames as the script pruned them)
    live: list[Any] = []

    def step() -> Any:
        if not live:
            live.append(f(top, topdown, onerror, followlinks))
            for earlier in replayed:  # catch up with the steps replay handed out
                item = next(live[0], None)
                if item is None:
                    break
                item[1][:] = earlier[1]
        return next(live[0], None)

    number = 0
    while True:
        item = recording.perform(
            recording.call(Policy.VALUE, name), frame, (*key, number), {}, step
        )
        if item is None:
            return
        number += 1
        if not live:
            replayed.append(item)
        yield item


# ----- effects that write through a durable file's descriptor (``stdout=f``) --------------------


def durable_raw(stream: Any) -> DurableFileIO | None:
    """The :class:`DurableFileIO` under ``stream`` (a text, buffered or raw durable file)."""
    for _ in range(3):
        if isinstance(stream, DurableFileIO):
            return stream
        stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
        if stream is None:
            return None
    return None


def perform_with_files(
    name: str,
    frame: FrameType,
    args: tuple,
    kwargs: dict,
    streams: list[Any],
    call: Callable[[], Any],
) -> Any:
    """Perform an effect that may move durable files through their descriptors (a process whose
    ``stdout`` is one): their positions after it are recorded in its entry, and set from it."""
    raws = [raw for raw in map(durable_raw, streams) if raw is not None]
    if not raws or recording.current_task() is None:
        return recording.perform(recording.call(Policy.EFFECT, name), frame, args, kwargs, call)

    def live() -> tuple[Any, list[tuple[int, int] | None]]:
        result = call()
        positions = []
        for raw in raws:
            real = raw._real
            if real is None or real.closed:
                positions.append(None)
            else:
                fd = real.fileno()
                positions.append((os.lseek(fd, 0, os.SEEK_CUR), os.fstat(fd).st_size))
        return result, positions

    result, positions = recording.perform(
        recording.call(Policy.EFFECT, name), frame, args, kwargs, live
    )
    for raw, position in zip(raws, positions, strict=True):
        if position is not None:
            raw._pos, raw._size = position
            raw._unsynced = False
    return result


frames.hide(
    open_file, path_open, codecs_open, _logging_open, listing, scandir, walk, perform_with_files
)
frames.hide(WriteThroughWriter.write, WriteThroughRandom.write)
