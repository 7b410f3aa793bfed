"""Journal segments: the append-only files a live run commits to.

DuckDB spends 0.6 ms of statement overhead on a single-row insert (FACTS.md), more than a whole
effect may cost. So a live run commits each batch of entries with one ``write`` to its own segment
file (optionally followed by ``fdatasync`` for power-loss durability), and the segments are folded
into DuckDB in bulk when the run stops or is next opened. Each write is one frame,
``length, crc32, pickle of the list of its records`` (pickling a batch at once is several times
cheaper than record by record); a torn frame at the end of a segment (a crash mid-write) is
ignored, and so are the records in it, none of which the script saw committed.
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

_FRAME = struct.Struct("<II")


def encode(records: list[tuple]) -> bytes:
    """One frame holding ``records``."""
    body = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


class SegmentWriter:
    """Appends framed records to one segment file; each ``write`` is one system call."""

    def __init__(self, path: Path, sync: bool) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._sync = sync

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self._sync:
            os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read(path: Path) -> Iterator[tuple]:
    """Yield the records of a segment's whole frames, stopping at the first torn or damaged one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    offset, size = 0, len(data)
    while offset + _FRAME.size <= size:
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        body = data[start : start + length]
        if len(body) < length or zlib.crc32(body) != crc:
            return
        yield from pickle.loads(body)
        offset = start + length
