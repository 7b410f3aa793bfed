"""Journal segments: the append-only files a live run of a local store commits to.

DuckDB spends 0.6 ms of statement overhead on a single-row insert (FACTS.md), more than a whole
effect may cost. So a live run commits each batch of entries with one ``write`` to its own segment
file (optionally followed by ``fdatasync`` for power-loss durability), and the segments are folded
into DuckDB in bulk when the run stops or is next opened. A segment starts with a header (magic
and ``JOURNAL_FORMAT``), written with the first batch; then each write is one frame,
``length, crc32, pickle of the list of its records`` (pickling a batch at once is several times
cheaper than record by record; a big batch is written as several frames); a torn frame at the end of a segment (a crash mid-write) is
ignored, and so are the records in it, none of which the script saw committed.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from durable_python.errors import unwritable
from durable_python.model import JOURNAL_FORMAT

from .base import JournalWriter, wrong_format

_FRAME = struct.Struct("<II")
_MAGIC = b"\x89dpj"
_HEADER = struct.Struct("<4sI")
HEADER = _HEADER.pack(_MAGIC, JOURNAL_FORMAT)
UNVERSIONED = 1  # segments written before they had a header
FRAME_RECORDS = 1024


def encode(records: Sequence[tuple]) -> bytes:
    """The frames holding ``records``: one per ``FRAME_RECORDS`` of them.

    A big batch (a loop's worth of values) pickled at once costs several times more per record
    than in slices, as the pickler's memo grows with it. A crash that tears the write keeps
    whole frames, a prefix of the batch: what a crash a moment earlier would have kept."""
    frames = []
    for start in range(0, len(records), FRAME_RECORDS):
        body = pickle.dumps(records[start : start + FRAME_RECORDS], pickle.HIGHEST_PROTOCOL)
        frames.append(_FRAME.pack(len(body), zlib.crc32(body)))
        frames.append(body)
    return b"".join(frames)


class SegmentWriter(JournalWriter):
    """Appends framed records to one segment file (created, with its header, by the first
    ``append``); each ``append`` is one system call, plus ``fdatasync`` when ``sync``."""

    def __init__(self, path: Path, sync: bool) -> None:
        self.path = path
        self._fd = -1
        self._sync = sync

    def append(self, records: Sequence[tuple], sync: bool = True) -> None:
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                data = HEADER + encode(records)
            else:
                data = encode(records)
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self._sync and sync:
                os.fdatasync(self._fd)
        except OSError as exc:
            raise unwritable(
                f"the journal {self.path}",
                exc,
                "What was committed before is kept; the call that just ran may run again.",
            ) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read(path: Path) -> list[tuple]:
    """The records of a segment's whole frames, up to the first torn or damaged one.

    ``StoreError`` if the segment was written in another journal format.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    size = len(data)
    if size < _HEADER.size:
        if HEADER.startswith(data):  # torn while its first batch was written
            return []
        raise wrong_format(str(path), UNVERSIONED)
    magic, version = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise wrong_format(str(path), UNVERSIONED)
    if version != JOURNAL_FORMAT:
        raise wrong_format(str(path), version)
    records: list[tuple] = []
    extend, loads, crc32, unpack_from = records.extend, pickle.loads, zlib.crc32, _FRAME.unpack_from
    offset, step = _HEADER.size, _FRAME.size
    while offset + step <= size:  # one frame per commit: 100,000 of them for as many effects
        length, crc = unpack_from(data, offset)
        start = offset + step
        offset = start + length
        body = data[start:offset]
        if len(body) < length or crc32(body) != crc:
            break
        extend(loads(body))
    return records
