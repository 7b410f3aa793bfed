"""Subprocesses: each command runs once across resumes; its output and exit status replay.

``subprocess.run``, ``call``, ``check_call``, ``check_output``, ``getoutput`` and
``getstatusoutput`` are plain effects (knowledge.py): the command runs once, and its
``CompletedProcess``, output or ``CalledProcessError`` is recorded and given back on replay.

``subprocess.Popen`` is :class:`DurablePopen`, a stand-in with Popen's interface. Starting the
process is a recorded effect (its pid, or the error, e.g. ``FileNotFoundError``); ``communicate``,
``wait``, ``kill``/``terminate``/``send_signal`` are effects and ``poll`` a value; what the script
reads from ``stdout``/``stderr`` pipes is recorded chunk by chunk, and what it writes to ``stdin`` is
kept. On replay no process is started: everything comes from the journal. If the run stopped while
a process was still running (it was started but its end was not recorded), the first live use of the
stand-in starts the command again (at least once, like any call in flight at a crash), feeds it
what the script had written to its stdin, skips the output the script had already read, and goes on.
``os.popen`` is built on the same stand-in.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from durable_python import context, frames, recording
from durable_python.model import Policy

from .files import READ_CHUNK, WriteThroughWriter, perform_with_files, stop_if_checking

_TEXT_KEYS = ("text", "universal_newlines", "encoding", "errors")


def _say(message: str) -> None:
    stream = sys.__stderr__
    if stream is not None:
        stream.write(f"durable-python: {message}\n")
        stream.flush()


def _next_key(task: Any) -> str:
    return f"{task.name}/popen{context.active().next_number('popen', task)}"


def _translate_newlines(data: bytes, encoding: str, errors: str) -> str:
    return data.decode(encoding, errors).replace("\r\n", "\n").replace("\r", "\n")


class _PipeReader(io.RawIOBase):
    """The raw end of a stdout/stderr pipe: reads are recorded values."""

    def __init__(self, process: DurablePopen, stream: str) -> None:
        super().__init__()
        self._process = process
        self._stream = stream
        self._name = f"subprocess.Popen.{stream}.read"
        self.consumed = 0  # bytes the script has been given

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._process._live_pipe(self._stream).fileno()

    def _read(self, size: int, live: Callable[[], bytes]) -> bytes:
        frame = sys._getframe(2)
        key = (self._process._key, size)
        data = recording.perform(recording.call(Policy.VALUE, self._name), frame, key, {}, live)
        self.consumed += len(data)
        return data

    def _skip_replayed(self, pipe: Any) -> None:
        """After a restart, drop what the script had read from the first process."""
        skip = self._process._skip.pop(self._stream, 0)
        while skip > 0:
            dropped = os.read(pipe.fileno(), min(skip, READ_CHUNK))
            if not dropped:
                return
            skip -= len(dropped)

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")

        def live() -> bytes:
            pipe = self._process._live_pipe(self._stream)
            self._skip_replayed(pipe)
            return os.read(pipe.fileno(), len(view))

        data = self._read(len(view), live)
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        def live() -> bytes:
            pipe = self._process._live_pipe(self._stream)
            self._skip_replayed(pipe)
            chunks = []
            while chunk := os.read(pipe.fileno(), READ_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)

        return self._read(-1, live)

    def close(self) -> None:
        if not self.closed:
            process = self._process
            if process._proc is not None:
                pipe = getattr(process._proc, self._stream)
                if pipe is not None:
                    pipe.close()
        super().close()


class _PipeWriter(io.RawIOBase):
    """The raw end of a stdin pipe: replayed writes are kept (to feed a restarted process)."""

    def __init__(self, process: DurablePopen) -> None:
        super().__init__()
        self._process = process

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._process._live_pipe("stdin").fileno()

    def write(self, b: Any) -> int:
        data = bytes(b)
        task = recording.current_task()
        if task is not None and task.replaying:
            self._process._replayed_input.append(data)
        else:
            stop_if_checking(task, "subprocess.Popen.stdin.write", sys._getframe(1))
            pipe = self._process._live_pipe("stdin")
            pipe.write(data)
            pipe.flush()
        return len(data)

    def close(self) -> None:
        if not self.closed:
            process = self._process
            task = recording.current_task()
            if task is not None and task.replaying:
                process._stdin_closed = True
            elif process._proc is not None and process._proc.stdin is not None:
                try:
                    process._proc.stdin.close()
                except BrokenPipeError:
                    pass
        super().close()


class DurablePopen:
    """``subprocess.Popen`` under durable-python (see the module docstring)."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        self._popen = kwargs.pop("__popen", subprocess.Popen)
        frame = kwargs.pop("__frame", None) or sys._getframe(1)
        if rest:  # Popen's positional parameters after args (bufsize, executable, ...)
            names = ("bufsize", "executable", "stdin", "stdout", "stderr", "preexec_fn")
            kwargs.update(zip(names, rest, strict=False))
        self.args = args
        self._kwargs = kwargs
        encoding, errors = kwargs.get("encoding"), kwargs.get("errors")
        self.text_mode = bool(
            kwargs.get("text") or kwargs.get("universal_newlines") or encoding or errors
        )
        self._encoding = encoding or (io.text_encoding(None) if self.text_mode else None)
        if self._encoding == "locale":
            import locale

            self._encoding = locale.getpreferredencoding(False)
        self._errors = errors or "strict"
        self._proc: subprocess.Popen | None = None
        self._replayed_input: list[bytes] = []
        self._stdin_closed = False
        self._skip: dict[str, int] = {}
        self.returncode: int | None = None
        self.stdin: Any = None
        self.stdout: Any = None
        self.stderr: Any = None
        task = recording.current_task()
        self._key = _next_key(task) if task is not None else "popen"
        self.pid = recording.perform(
            recording.call(Policy.EFFECT, "subprocess.Popen"), frame, (args,), kwargs, self._start
        )
        self._make_streams()

    # ----- the real process ----------------------------------------------------------------------

    def _start(self) -> int:
        binary = {k: v for k, v in self._kwargs.items() if k not in _TEXT_KEYS}
        self._proc = self._popen(self.args, **binary)
        return self._proc.pid

    def _ensure_process(self) -> subprocess.Popen:
        """The live process; started again if the run stopped while the first one ran."""
        if self._proc is None:
            _say(
                f"the process {self.args!r} was still running when the run stopped; starting it"
                " again (what the script wrote to it is fed again, what it read is skipped)"
            )
            self._start()
            self.pid = self._proc.pid
            for stream in ("stdout", "stderr"):
                reader = getattr(self, f"_{stream}_raw", None)
                if reader is not None and reader.consumed:
                    self._skip[stream] = reader.consumed
            stdin = self._proc.stdin
            if stdin is not None:
                try:
                    for data in self._replayed_input:
                        stdin.write(data)
                    stdin.flush()
                    if self._stdin_closed:
                        stdin.close()
                except BrokenPipeError:
                    pass
            self._replayed_input.clear()
        return self._proc

    def _live_pipe(self, stream: str) -> Any:
        pipe = getattr(self._ensure_process(), stream)
        if pipe is None:
            raise ValueError(f"{stream} is not a pipe of this process")
        return pipe

    def _make_streams(self) -> None:
        kwargs = self._kwargs
        bufsize = kwargs.get("bufsize", -1)
        size = bufsize if isinstance(bufsize, int) and bufsize > 1 else READ_CHUNK
        if kwargs.get("stdin") == subprocess.PIPE:
            writer: Any = WriteThroughWriter(_PipeWriter(self), size)
            if self.text_mode:
                writer = io.TextIOWrapper(
                    writer,
                    encoding=self._encoding,
                    errors=self._errors,
                    write_through=True,
                    line_buffering=bufsize == 1,
                )
            self.stdin = writer
        for stream in ("stdout", "stderr"):
            if kwargs.get(stream) == subprocess.PIPE:
                raw = _PipeReader(self, stream)
                setattr(self, f"_{stream}_raw", raw)
                reader: Any = io.BufferedReader(raw, size)
                if self.text_mode:
                    reader = io.TextIOWrapper(reader, encoding=self._encoding, errors=self._errors)
                setattr(self, stream, reader)
        if kwargs.get("stderr") == subprocess.STDOUT:
            self.stderr = None

    # ----- Popen's interface ---------------------------------------------------------------------

    def _effect(self, name: str, args: tuple, live: Callable[[], Any], commit: bool = True) -> Any:
        frame = sys._getframe(2)
        if commit:  # the process may have moved a durable file given as stdout (``stdout=f``)
            streams = [self._kwargs.get(key) for key in ("stdin", "stdout", "stderr")]
            return perform_with_files(name, frame, (self._key, *args), {}, streams, live)
        return recording.perform(
            recording.call(Policy.VALUE, name), frame, (self._key, *args), {}, live
        )

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._effect(
                "subprocess.Popen.poll", (), lambda: self._ensure_process().poll(), commit=False
            )
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._effect(
                "subprocess.Popen.wait", (timeout,), lambda: self._ensure_process().wait(timeout)
            )
        return self.returncode

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        def live() -> tuple[Any, Any, int | None]:
            process = self._ensure_process()
            data = input
            if data is not None and self.text_mode:
                data = data.encode(self._encoding, self._errors)
            out, err = process.communicate(data, timeout)
            out = out[self._skip.pop("stdout", 0) :] if out is not None else None
            err = err[self._skip.pop("stderr", 0) :] if err is not None else None
            if self.text_mode:
                out = (
                    _translate_newlines(out, self._encoding, self._errors)
                    if out is not None
                    else None
                )
                err = (
                    _translate_newlines(err, self._encoding, self._errors)
                    if err is not None
                    else None
                )
            return out, err, process.returncode

        out, err, self.returncode = self._effect(
            "subprocess.Popen.communicate", (input, timeout), live
        )
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
        return out, err

    def send_signal(self, sig: int) -> None:
        def live() -> None:
            if self._proc is not None:
                self._proc.send_signal(sig)

        self._effect("subprocess.Popen.send_signal", (int(sig),), live)

    def terminate(self) -> None:
        def live() -> None:
            if self._proc is not None:
                self._proc.terminate()

        self._effect("subprocess.Popen.terminate", (), live)

    def kill(self) -> None:
        def live() -> None:
            if self._proc is not None:
                self._proc.kill()

        self._effect("subprocess.Popen.kill", (), live)

    def __enter__(self) -> DurablePopen:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        try:
            if self.stdin is not None:
                self.stdin.close()
        finally:
            self.wait()

    def __repr__(self) -> str:
        return f"<DurablePopen: returncode: {self.returncode} args: {self.args!r}>"


def subprocess_call(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``subprocess.run``/``call``/``check_call``/``check_output``: one effect; if ``stdin``,
    ``stdout`` or ``stderr`` is a durable file, where the process left it is recorded too."""

    def run_command(*args: Any, **kwargs: Any) -> Any:
        streams = [kwargs.get(key) for key in ("stdin", "stdout", "stderr")]
        return perform_with_files(
            name, sys._getframe(1), args, kwargs, streams, lambda: f(*args, **kwargs)
        )

    return run_command


def popen(name: str, cls: type) -> Callable[..., Any]:
    """``subprocess.Popen(...)`` from the script: a :class:`DurablePopen` in a run."""

    def start(*args: Any, **kwargs: Any) -> Any:
        if recording.current_task() is None:
            return cls(*args, **kwargs)
        return DurablePopen(*args, __popen=cls, __frame=sys._getframe(1), **kwargs)

    return start


class _PopenFile:
    """What ``os.popen`` returns: the stream, with ``close()`` giving the exit status."""

    def __init__(self, stream: Any, process: DurablePopen) -> None:
        self._stream = stream
        self._process = process

    def close(self) -> int | None:
        self._stream.close()
        returncode = self._process.wait()
        if returncode == 0:
            return None
        return returncode if os.name == "nt" else returncode << 8

    def __enter__(self) -> _PopenFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        return iter(self._stream)


def os_popen(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``os.popen(cmd, mode)``: a shell command through :class:`DurablePopen`."""

    def popen_command(cmd: str, mode: str = "r", buffering: int = -1) -> Any:
        if recording.current_task() is None or mode not in ("r", "w"):
            return f(cmd, mode, buffering)
        frame = sys._getframe(1)
        if mode == "r":
            process = DurablePopen(
                cmd, shell=True, text=True, stdout=subprocess.PIPE, bufsize=buffering, __frame=frame
            )
            return _PopenFile(process.stdout, process)
        process = DurablePopen(
            cmd, shell=True, text=True, stdin=subprocess.PIPE, bufsize=buffering, __frame=frame
        )
        return _PopenFile(process.stdin, process)

    return popen_command


frames.hide(subprocess_call, popen, os_popen)
