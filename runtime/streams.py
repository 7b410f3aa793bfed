"""Output once: what the script wrote to stdout/stderr before a crash is not written again.

``sys.stdout`` and ``sys.stderr`` are wrapped, so ``print``, ``sys.stdout.write`` and logging's
stream handlers are all covered. A live write is written and recorded (batched); on replay a write
that the journal has is skipped. Writes made inside an effect belong to that effect.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from . import context, frames, recording
from .journal import TaskJournal
from .model import Policy

_OUTPUT = Policy.OUTPUT.value


class OutputOnce:
    """A text stream that forwards to ``stream`` and records, or skips, what the script writes."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str) -> int:
        task = recording.current_task()
        if task is None:
            return self._stream.write(text)
        if task.replaying or self._name in task.lines_replaying:
            if self._skip_replayed(task, text):
                return len(text)
            if task.peek() is not None:  # new output amid replay: show it, nowhere to record it
                return self._stream.write(text)
        written = self._stream.write(text)
        site = frames.site_of(sys._getframe(1))
        context.active().journal.record_output(task, self._name, site, text)
        return written

    def _skip_replayed(self, task: TaskJournal, text: str) -> bool:
        """Skip a write that belongs to a recorded line: one entry per line, as recorded, whatever
        the line's text is now (an edit that changes a message must not shift later output)."""
        inside = task.lines_replaying
        if self._name not in inside:
            entry = task.peek()
            if entry is None or entry.policy != _OUTPUT or entry.name != self._name:
                return False
            task.seq += 1
            inside.add(self._name)
        if text.endswith("\n"):
            inside.discard(self._name)
        return True

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __iter__(self) -> Any:
        return iter(self._stream)


def install() -> tuple[TextIO, TextIO]:
    """Wrap ``sys.stdout``/``sys.stderr``; return the originals (to put back)."""
    originals = sys.stdout, sys.stderr
    sys.stdout = OutputOnce(sys.stdout, "sys.stdout")  # type: ignore[assignment]
    sys.stderr = OutputOnce(sys.stderr, "sys.stderr")  # type: ignore[assignment]
    return originals
