"""HTTP clients: requests, httpx (sync and async) and urllib.request, recorded response by response.

Every request is one effect: sent once, its response recorded and given back on replay as a fully
usable response object (status, headers, ``text``, ``json()``, ``content``, iteration over the
body, ``raise_for_status()``, context-manager use). Sessions and clients (``requests.Session``,
``httpx.Client``, ``httpx.AsyncClient``) are resources: constructed again on replay, configured by
the replayed script, and used for real only past the frontier.

- requests: ``requests.get/post/...`` and ``Session.get/post/.../request/send`` return a real
  ``requests.Response`` (it pickles with its body; ``stream=True`` responses are read whole).
- httpx: ``httpx.get/...``, ``Client.get/.../request/send`` and the awaited ``AsyncClient`` ones
  return a real ``httpx.Response``; ``client.stream(...)`` (sync and ``async with``) enters with the
  whole body read, so ``iter_bytes``/``iter_lines``/``aiter_bytes`` work from it.
- urllib: ``urllib.request.urlopen`` and ``OpenerDirector.open`` return a :class:`RecordedResponse`
  (an ``io.BytesIO`` with ``status``, ``headers``, ``getheader``, ``geturl``...), and an HTTP error
  is a :class:`RecordedHTTPError` (a real ``urllib.error.HTTPError`` whose body can be read).

With ``idempotency_keys = true`` in ``[tool.durable-python]`` (or ``DURABLE_PYTHON_IDEMPOTENCY_KEYS=1``)
every request that is not GET, HEAD, OPTIONS or TRACE carries ``Idempotency-Key:
durable_python.idempotency_key()`` (unless it has one), the same key when a request in flight at a
crash is sent again.
"""

from __future__ import annotations

import io
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from durable_python import context, frames, recording
from durable_python.api import idempotency_key
from durable_python.model import Policy

HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_METHOD_OF_NAME = {
    "get": "GET",
    "head": "HEAD",
    "options": "OPTIONS",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
}


def _sends_keys() -> bool:
    """Whether requests carry an Idempotency-Key (``idempotency_keys = true`` in the config)."""
    run = context.active()
    return run is not None and run.settings.idempotency_keys


def _has_header(headers: Any, name: str) -> bool:
    if headers is None:
        return False
    lowered = name.lower()
    return any(str(key).lower() == lowered for key in dict(headers))


def _with_key(kwargs: dict, method: str) -> dict:
    """``kwargs`` with the Idempotency-Key header added (a copy), if it is to be sent."""
    if not _sends_keys() or method.upper() in SAFE_METHODS:
        return kwargs
    headers = kwargs.get("headers")
    if _has_header(headers, HEADER):
        return kwargs
    merged = dict(headers or {})
    merged[HEADER] = idempotency_key()
    return {**kwargs, "headers": merged}


def _method(name: str, args: tuple, kwargs: dict) -> tuple[str, Any]:
    """The HTTP method of a request call, and the request object if it is ``send(request)``."""
    short = name.rpartition(".")[2]
    if short in _METHOD_OF_NAME:
        return _METHOD_OF_NAME[short], None
    if short == "send":
        request = args[0] if args else kwargs.get("request")
        return str(getattr(request, "method", "GET")), request
    method = args[0] if args else kwargs.get("method", "GET")
    return str(method), None


def http_request(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """A requests/httpx request function or client method: one effect (awaited for AsyncClient)."""

    def request(*args: Any, **kwargs: Any) -> Any:
        frame = sys._getframe(1)

        def live() -> Any:
            method, prepared = _method(name, args, kwargs)
            if prepared is not None:
                if _sends_keys() and method.upper() not in SAFE_METHODS:
                    if not _has_header(prepared.headers, HEADER):
                        prepared.headers[HEADER] = idempotency_key()
                return f(*args, **kwargs)
            return f(*args, **_with_key(kwargs, method))

        return recording.perform(recording.call(Policy.EFFECT, name), frame, args, kwargs, live)

    return request


def _read_response(response: Any) -> Any:
    response.read()
    response.close()
    return response


async def _aread_response(response: Any) -> Any:
    await response.aread()
    await response.aclose()
    return response


class _RecordedStream:
    """``client.stream(...)``: entering sends the request (one effect) and reads the whole body."""

    def __init__(self, name: str, f: Callable[..., Any], frame: Any, args: tuple, kwargs: dict):
        self._name, self._f, self._frame, self._args, self._kwargs = name, f, frame, args, kwargs
        self._live: Any = None

    def _request_args(self) -> dict:
        method = self._args[0] if self._args else self._kwargs.get("method", "GET")
        return _with_key(self._kwargs, str(method))

    def __enter__(self) -> Any:
        def live() -> Any:
            self._live = self._f(*self._args, **self._request_args())
            return _read_response(self._live.__enter__())

        return recording.perform(
            recording.call(Policy.EFFECT, self._name), self._frame, self._args, self._kwargs, live
        )

    def __exit__(self, *exc: Any) -> Any:
        if self._live is not None:
            return self._live.__exit__(*exc)
        return None

    async def __aenter__(self) -> Any:
        async def live() -> Any:
            self._live = self._f(*self._args, **self._request_args())
            return await _aread_response(await self._live.__aenter__())

        return await recording.perform_async(
            recording.call(Policy.EFFECT, self._name), self._frame, self._args, self._kwargs, live
        )

    async def __aexit__(self, *exc: Any) -> Any:
        if self._live is not None:
            return await self._live.__aexit__(*exc)
        return None


def http_stream(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``httpx.stream`` / ``Client.stream`` / ``AsyncClient.stream``."""

    def stream(*args: Any, **kwargs: Any) -> Any:
        if recording.current_task() is None:
            return f(*args, **kwargs)
        return _RecordedStream(name, f, sys._getframe(1), args, kwargs)

    return stream


# ----- urllib.request ------------------------------------------------------------------------------


class RecordedResponse(io.BytesIO):
    """What ``urlopen`` gives back, live and on replay: the body in memory, and the response's
    status, reason, headers and URL (the interface of ``http.client.HTTPResponse``)."""

    def __init__(self, body: bytes, url: str, status: int, reason: str, headers: Any) -> None:
        super().__init__(body)
        self.url = url
        self.status = self.code = status
        self.reason = self.msg = reason
        self.headers = headers

    def getcode(self) -> int:
        return self.status

    def geturl(self) -> str:
        return self.url

    def info(self) -> Any:
        return self.headers

    def getheader(self, name: str, default: Any = None) -> Any:
        values = self.headers.get_all(name) if self.headers is not None else None
        return ", ".join(values) if values else default

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items()) if self.headers is not None else []

    def __repr__(self) -> str:
        return f"<RecordedResponse {self.status} {self.url}>"


class RecordedHTTPError(urllib.error.HTTPError):
    """``urllib.error.HTTPError`` with its body kept, so it can be recorded and read on replay."""

    def __init__(self, url: str, code: int, msg: str, hdrs: Any, body: bytes) -> None:
        super().__init__(url, code, msg, hdrs, io.BytesIO(body))
        self._body = body

    def __reduce__(self) -> Any:
        return (RecordedHTTPError, (self.url, self.code, self.msg, self.hdrs, self._body))


def _recorded(response: Any) -> RecordedResponse:
    with response:
        body = response.read()
        return RecordedResponse(
            body,
            response.geturl(),
            getattr(response, "status", None) or response.getcode(),
            getattr(response, "reason", "") or "",
            response.headers,
        )


def urlopen(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """``urllib.request.urlopen`` and ``OpenerDirector.open``."""

    def open_url(url: Any, *args: Any, **kwargs: Any) -> Any:
        frame = sys._getframe(1)
        fp_args = (url.full_url, url.get_method()) if hasattr(url, "full_url") else (url,)

        def live() -> RecordedResponse:
            target = url
            if _sends_keys():
                data = args[0] if args else kwargs.get("data")
                if not isinstance(target, urllib.request.Request):
                    target = urllib.request.Request(target, data=data)
                method = target.get_method() if data is None else "POST"
                if method not in SAFE_METHODS and not target.has_header(HEADER.capitalize()):
                    target.add_header(HEADER, idempotency_key())
            try:
                return _recorded(f(target, *args, **kwargs))
            except urllib.error.HTTPError as exc:
                body = exc.read() if exc.fp is not None else b""
                raise RecordedHTTPError(exc.url, exc.code, exc.msg, exc.hdrs, body) from None

        return recording.perform(
            recording.call(Policy.EFFECT, name), frame, fp_args + args, kwargs, live
        )

    return open_url


frames.hide(http_request, http_stream, urlopen)
