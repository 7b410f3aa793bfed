"""Streamed answers of SDKs (server-sent events over httpx): recorded as their whole sequence.

``client.chat.completions.create(stream=True)`` returns a stream that reads the network as it is
iterated, which no journal can save. A stream that a recorded call returns is read to its end
inside that call, so the entry holds every chunk (and, for the context-manager helpers, the final
object the stream assembles), and the script gets a :class:`RecordedStream` over the same chunks,
live and on replay alike. A crash mid-stream leaves no entry: the request is sent again once (the
call in flight, DESIGN 2.2).

Lazily paged lists (PyGithub's ``PaginatedList``) and response bodies (botocore's
``StreamingBody``) are read whole the same way: what the script iterates later is what was
recorded, not a new request made by the library on replay.

The price: live, the script sees the first chunk when the last has arrived, and a paged list is
fetched to its last page. The streams are named in ``knowledge.STREAMS``.
"""

from __future__ import annotations

import inspect
import io
import sys
from collections.abc import Iterator
from typing import Any

from durable_python import frames
from durable_python.integrations import knowledge
from durable_python.recording import Recorded, perform

_Kind = tuple[str, str | None] | None  # (how it is read, its final method), or not a stream
_kinds: dict[type, _Kind] = {}


class RecordedStream:
    """The chunks (or events) of a stream as recorded, to be iterated once, with or without
    ``async``; answers the stream's final method (``get_final_completion()``) when it had one."""

    def __init__(self, chunks: list[Any], final_method: str | None = None, final: Any = None):
        self._chunks = chunks
        self._position = 0
        self._final_method = final_method
        self._final = final

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._position >= len(self._chunks):
            raise StopIteration
        self._position += 1
        return self._chunks[self._position - 1]

    def __aiter__(self) -> RecordedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self)
        except StopIteration:
            raise StopAsyncIteration from None

    def __enter__(self) -> RecordedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> RecordedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._position = len(self._chunks)

    def until_done(self) -> RecordedStream:
        self.close()
        return self

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name == self.__dict__.get("_final_method"):
            return lambda: self._final
        raise AttributeError(f"a recorded stream has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<recorded stream of {len(self._chunks)} chunks>"


class RecordedStreamManager:
    """A stream's context manager (``client.chat.completions.stream(...)``) as recorded."""

    def __init__(self, stream: RecordedStream) -> None:
        self._stream = stream

    def __enter__(self) -> RecordedStream:
        return self._stream

    def __exit__(self, *exc_info: object) -> None:
        self._stream.close()

    def __repr__(self) -> str:
        return f"<recorded stream manager: {self._stream!r}>"


class RecordedList(list):
    """A lazily paged list of an SDK (PyGithub's ``PaginatedList``) read whole: a list, with the
    paged list's ``totalCount`` and ``reversed``."""

    @property
    def totalCount(self) -> int:  # noqa: N802 - the SDK's name
        return len(self)

    @property
    def reversed(self) -> RecordedList:
        return RecordedList(self[::-1])


class RecordedBody(io.BytesIO):
    """A response body read whole (botocore's ``StreamingBody``): ``read``, iteration by lines
    or chunks, ``close``, as the original answers them."""

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        while chunk := self.read(chunk_size):
            yield chunk

    def iter_lines(self, chunk_size: int = 1024, keepends: bool = False) -> Iterator[bytes]:
        yield from self.read().splitlines(keepends)


class LibraryCall(Recorded):
    """A recorded call of a library the tables do not describe (an SDK's method): an effect,
    and a stream it returns is read to its end inside the call."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        f = self._f
        return perform(
            self._spec, sys._getframe(1), args, kwargs, lambda: _read(f(*args, **kwargs))
        )


def _read(result: Any) -> Any:
    if inspect.isawaitable(result):  # ``await async_client.create(stream=True)``
        return _read_awaited(result)
    return read_stream(result)


async def _read_awaited(awaitable: Any) -> Any:
    result = await awaitable
    kind = _kind_of(type(result))
    if kind is not None and kind[0] == "async_iterator":
        return RecordedStream([chunk async for chunk in result])
    return read_stream(result)


def read_stream(result: Any) -> Any:
    """``result`` itself, or a :class:`RecordedStream` of everything it streams (a dictionary
    with its bodies read)."""
    if type(result) is dict and any(map(_is_body, result.values())):
        return {k: RecordedBody(v.read()) if _is_body(v) else v for k, v in result.items()}
    kind = _kind_of(type(result))
    if kind is None:
        return result
    how, final_method = kind
    if how == "body":
        return RecordedBody(result.read())
    if how == "pages":
        return RecordedList(result)
    if how == "iterator":
        with result:
            return RecordedStream(list(result))
    if how == "manager":
        with result as stream:
            chunks = list(stream)
            final = getattr(stream, final_method)() if final_method else None
        return RecordedStreamManager(RecordedStream(chunks, final_method, final))
    return result  # an async stream outside a coroutine: left as it is (cannot be read here)


def _is_body(value: Any) -> bool:
    kind = _kind_of(type(value))
    return kind is not None and kind[0] == "body"


def _kind_of(cls: type) -> _Kind:
    try:
        return _kinds[cls]
    except KeyError:
        pass
    found = None
    for base in cls.__mro__:
        found = knowledge.STREAMS.get(f"{base.__module__}.{base.__qualname__}")
        if found is not None:
            break
    _kinds[cls] = found
    return found


frames.hide(LibraryCall.__call__, _read, _read_awaited)
