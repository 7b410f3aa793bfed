"""A small, deterministic fake of the OpenAI Chat Completions API, so agent examples run offline.

    python scripts/examples/fake_llm_api.py --port 8766 [--delay 0.5] [--chunk-delay 0.05]

prints its base URL (``http://127.0.0.1:PORT/v1``) on the first line of stdout and serves, on
127.0.0.1, what the official ``openai`` package talks to with
``OpenAI(base_url="http://127.0.0.1:PORT/v1", api_key="test")``:

- ``POST /v1/chat/completions``  a deterministic "model", plain JSON or (``"stream": true``)
  server-sent events, ``stream_options.include_usage`` included
- ``GET  /stats``                ``{"requests": {key: count}, "total": N}``, for tests

The "model": when the request offers ``tools`` and no tool results came after the last user
message, it calls them: ``get_weather`` once per known city named in that message (Paris, Tokyo,
...), any other tool once with ``{}``. After tool results it answers with a text quoting each
result ("Weather report: Paris: 18C sunny; Tokyo: ..."). Without tools it answers "Echo: <text>".
Each chat request is counted under the sha256 of its canonical JSON body (sorted keys), so a test
can tell whether a rerun asked the model again. ``FakeLLM`` runs it in-process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CITIES = ("Paris", "Tokyo", "Lima", "Oslo", "Cairo", "London", "Berlin", "Sydney")
CREATED = 1_700_000_000  # fixed, so identical requests get identical answers


def request_key(body: Any) -> str:
    """The counting key of a request: sha256 of its canonical JSON (sorted keys)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(content: Any) -> str:
    """The text of a message's content, a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _words(text: str) -> int:
    return len(text.split())


class Reply:
    """What the model answers: a text, or tool calls (each ``{"id", "name", "arguments"}``)."""

    def __init__(self, text: str | None = None, tool_calls: list[dict[str, str]] | None = None):
        self.text = text
        self.tool_calls = tool_calls or []

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def completion_tokens(self) -> int:
        return _words(self.text or "") + sum(_words(c["arguments"]) + 1 for c in self.tool_calls)


def think(body: dict[str, Any], key: str) -> Reply:
    """The deterministic "model": call the offered tools once, then report their results."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    question = _text(messages[last_user].get("content")) if last_user >= 0 else ""
    tool_results = [m for m in messages[last_user + 1 :] if m.get("role") == "tool"]
    if tool_results:
        return Reply(text=_report(messages, tool_results))
    calls = _tool_calls(body.get("tools") or [], question, key)
    if calls:
        return Reply(tool_calls=calls)
    return Reply(text=f"Echo: {question}")


def _tool_calls(tools: list[Any], question: str, key: str) -> list[dict[str, str]]:
    calls: list[tuple[str, str]] = []
    for tool in tools:
        function = (tool.get("function") if isinstance(tool, dict) else None) or {}
        name = function.get("name")
        if not name:
            continue
        properties = (function.get("parameters") or {}).get("properties") or {}
        if name == "get_weather" and "city" in properties:
            calls += [(name, json.dumps({"city": city})) for city in _cities(question)]
        else:
            calls.append((name, "{}"))
    return [
        {
            "id": "call_" + hashlib.sha256(f"{key}:{i}".encode()).hexdigest()[:24],
            "name": name,
            "arguments": arguments,
        }
        for i, (name, arguments) in enumerate(calls)
    ]


def _cities(question: str) -> list[str]:
    """Known city names in the question, in the order they appear."""
    found = []
    for city in CITIES:
        match = re.search(rf"\b{city}\b", question, re.IGNORECASE)
        if match:
            found.append((match.start(), city))
    return [city for _, city in sorted(found)]


def _report(messages: list[dict[str, Any]], tool_results: list[dict[str, Any]]) -> str:
    """A final answer quoting each tool result, labelled with its city (or tool name)."""
    calls = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                calls[call.get("id")] = call.get("function") or {}
    parts = []
    weather = False
    for result in tool_results:
        function = calls.get(result.get("tool_call_id"), {})
        label = function.get("name") or "tool"
        if label == "get_weather":
            weather = True
            try:
                label = json.loads(function.get("arguments") or "{}").get("city", label)
            except (ValueError, AttributeError):
                pass
        parts.append(f"{label}: {_text(result.get('content'))}")
    return ("Weather report: " if weather else "Tool results: ") + "; ".join(parts)


def completion(body: dict[str, Any], key: str, reply: Reply) -> dict[str, Any]:
    """The whole answer as a ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in reply.tool_calls
        ]
    return {
        "id": "chatcmpl-" + key[:24],
        "object": "chat.completion",
        "created": CREATED,
        "model": body.get("model") or "fake-model",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": _usage(body, reply),
    }


def chunks(body: dict[str, Any], key: str, reply: Reply) -> Iterator[dict[str, Any]]:
    """The answer as ``chat.completion.chunk`` objects: a word or half an argument list each."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": "chatcmpl-" + key[:24],
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": body.get("model") or "fake-model",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [choice], **({"usage": None} if include_usage else {})}

    yield chunk({"role": "assistant", "content": "" if reply.text is not None else None})
    for piece in re.findall(r"\S+\s*|\s+", reply.text or ""):
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": call["name"], "arguments": ""}}]})
        half = len(call["arguments"]) // 2
        for piece in (call["arguments"][:half], call["arguments"][half:]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, reply.finish_reason)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(body, reply)}


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    messages = body.get("messages") or []
    prompt = sum(_words(_text(m.get("content"))) + 1 for m in messages if isinstance(m, dict))
    done = reply.completion_tokens()
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An error body in OpenAI's format, which the SDK turns into ``openai.APIStatusError``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep quiet when a client drops its connection (closed, or killed): that is normal."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeLLM:
    """The fake API served from a daemon thread, with request counts for tests."""

    def __init__(self, port: int = 0, delay: float = 0.0, chunk_delay: float = 0.0) -> None:
        self.port = port
        self.delay = delay  # seconds before each answer
        self.chunk_delay = chunk_delay  # seconds between streamed chunks
        self.base_url = ""
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind 127.0.0.1 (port 0: any free one), serve in a daemon thread, return the base URL."""
        self._server = _Server(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.base_url

    def counts(self) -> dict[str, int]:
        """How often each distinct chat request (by ``request_key``) was received."""
        with self._lock:
            return dict(self._requests)

    def total(self) -> int:
        """How many chat requests were received in all."""
        with self._lock:
            return sum(self._requests.values())

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, body: Any) -> str:
        """Count one chat request (the server does); return its key."""
        key = request_key(body)
        with self._lock:
            self._requests[key] += 1
        return key

    def stats(self) -> dict[str, Any]:
        """What ``GET /stats`` answers."""
        with self._lock:
            return {"requests": dict(self._requests), "total": sum(self._requests.values())}


def _handler(llm: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and chunked transfer for streams

        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            self._read_body()
            if self.path.split("?", 1)[0].rstrip("/") == "/stats":
                self._json(200, llm.stats())
            else:
                self._not_found()

        def do_POST(self) -> None:  # noqa: N802
            raw = self._read_body()
            if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
                self._not_found()
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self._json(400, _error("The body is not a JSON object.", "invalid_request_error"))
                return
            key = llm.count(body)
            reply = think(body, key)
            if llm.delay:
                time.sleep(llm.delay)
            try:
                if body.get("stream"):
                    self._stream(chunks(body, key, reply))
                else:
                    self._json(200, completion(body, key, reply))
            except ConnectionError:
                pass  # the client went away (killed, say) in the middle of the answer

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _not_found(self) -> None:
            message = f"Unknown request URL: {self.command} {self.path}."
            self._json(404, _error(message, "invalid_request_error", "unknown_url"))

        def _json(self, status: int, reply: Any) -> None:
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, events: Iterator[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, event in enumerate(events):
                if i and llm.chunk_delay:
                    time.sleep(llm.chunk_delay)
                self._chunk(f"data: {json.dumps(event)}\n\n".encode())
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")  # the last, empty chunk ends the body

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8766, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    args = parser.parse_args()
    llm = FakeLLM(args.port, args.delay, args.chunk_delay)
    print(llm.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        llm.close()


if __name__ == "__main__":
    main()
