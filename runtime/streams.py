"""Output once: what the script wrote to stdout/stderr before a crash is not written again.

``sys.stdout`` and ``sys.stderr`` are wrapped, so ``print``, ``sys.stdout.write`` and logging's
stream handlers are all covered. A live write is written and recorded (batched); on replay a write
that the journal has is skipped. Writes made inside an effect belong to that effect.

Text reaches the real stream a whole line at a time (or when the script flushes): the journal
flushes the real streams before it commits a line, from whichever thread commits, and that flush
must not split a line that is still being written (``print`` writes its text and its newline
separately; two processes appending to one log file would then interleave mid-line).
"""

from __future__ import annotations

import sys
import threading
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
        self._partial: list[str] = []  # the text of the line being written, not yet handed on
        self._lock = threading.Lock()
        # task -> (seq, text so far) of a line compared with one a failed run printed there
        self._held: dict[str, tuple[int, str]] = {}

    def write(self, text: str) -> int:
        if not text:  # ``print(line, end="")`` ends so: it must not open a line, claiming a seq
            return 0
        task = recording.current_task()
        if task is not None and (task.replaying or self._name in task.lines_replaying):
            if self._skip_replayed(task, text):
                return len(text)
            if task.peek() is not None:  # new output amid replay: show it, nowhere to record it
                task = None
        if task is not None and task.printed_after_failure:
            if self._printed_before(task, text, sys._getframe(1)):
                return len(text)
        self._hand_on(text)
        if task is not None:
            site = frames.site_of(sys._getframe(1))
            context.active().journal.record_output(task, self._name, site, text)
        return len(text)

    def _printed_before(self, task: TaskJournal, text: str, caller: Any) -> bool:
        """Hold back a line that a failed run printed at this seq after the effect it retries,
        while the retried code writes the same text; skip it once it is complete. At the first
        difference, what was held back is written and recorded, and the rest goes live."""
        printed = task.printed_after_failure
        held = self._held.pop(task.name, None)
        seq, so_far = held if held is not None else (task.seq, "")
        stream, recorded = printed.get(seq, ("", ""))
        so_far += text
        if stream != self._name or not recorded.startswith(so_far):
            printed.clear()  # the retried code took another path
            if held is not None:
                self._hand_on(held[1])
                site = frames.site_of(caller)
                context.active().journal.record_output(task, self._name, site, held[1], seq)
            return False
        if held is None:
            task.seq = seq + 1  # the line claims its seq when it begins, as a live one does
        if so_far == recorded:
            del printed[seq]
        else:
            self._held[task.name] = (seq, so_far)
        return True

    def _hand_on(self, text: str) -> None:
        """Write the complete lines to the real stream in one write; keep the rest."""
        cut = text.rfind("\n") + 1
        if cut:
            _before_output()
        with self._lock:
            if not cut:
                self._partial.append(text)
                return
            if self._partial:
                self._partial.append(text[:cut])
                self._stream.write("".join(self._partial))
                self._partial.clear()
            else:
                self._stream.write(text[:cut])
            if cut < len(text):
                self._partial.append(text[cut:])

    def flush(self) -> None:
        """Hand on the line being written too, then flush the real stream (``flush=True``).

        What a flush put out is an entry of its own (the line's rest makes the next), so a
        crash after the flush does not print it again; replay ends the recorded piece here too.
        """
        if self._partial:
            _before_output()
        with self._lock:
            partial = "".join(self._partial)
            self._partial.clear()
            if partial:
                self._stream.write(partial)
        self._stream.flush()
        task = recording.current_task()
        if task is None:
            return
        if self._name in task.lines_replaying:
            task.lines_replaying.discard(self._name)
        elif partial and not task.replaying:
            context.active().journal.end_line(task, self._name)

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


def _before_output() -> None:
    run = context.active()
    if run is not None:
        run.journal.write_batched()


def install() -> tuple[TextIO, TextIO]:
    """Wrap ``sys.stdout``/``sys.stderr``; return the originals (to put back)."""
    originals = sys.stdout, sys.stderr
    sys.stdout = OutputOnce(sys.stdout, "sys.stdout")  # type: ignore[assignment]
    sys.stderr = OutputOnce(sys.stderr, "sys.stderr")  # type: ignore[assignment]
    return originals


def uninstall(originals: tuple[TextIO, TextIO]) -> None:
    """Hand on what the script left without a newline and put the original streams back."""
    for wrapper in (sys.stdout, sys.stderr):
        if isinstance(wrapper, OutputOnce):
            try:
                wrapper.flush()
            except (OSError, ValueError):  # a closed or broken stream: Python would not say more
                pass
    sys.stdout, sys.stderr = originals
