"""A tiny fake document-indexing HTTP API for the examples (standard library only).

    python scripts/examples/doc_api.py --port 8765

Endpoints:

``PUT /documents/<id>``
    Index a document, a JSON body ``{"title": ..., "text": ...}``. Answers ``200`` with
    ``{"id": ..., "terms": <distinct words>, "tokens": <words>}``, or ``422`` with
    ``{"error": "empty document"}`` when the text is empty. Every request is counted per id, the
    rejected ones too: the counts tell how often each document was sent.
``GET /count``
    ``{"requests": <total>, "documents": {<id>: <requests>}}``.
``GET /stats``
    ``{"requests": <total>, "distinct": <ids seen>}`` (cheap, for polling).
``POST /reset``
    Forget every count.

``--latency S`` makes each indexing request take S seconds more (a slower, more realistic API).
With ``--port 0`` the system picks a free port; the first line printed says which::

    doc_api listening on http://127.0.0.1:40123
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DocumentAPI(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], latency: float = 0.0) -> None:
        super().__init__(address, Handler)
        self.latency = latency
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: DocumentAPI

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:  # noqa: N802 - the http.server protocol
        prefix = "/documents/"
        if not self.path.startswith(prefix) or len(self.path) == len(prefix):
            self._reply(404, {"error": f"no such endpoint: PUT {self.path}"})
            return
        doc_id = self.path[len(prefix) :]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        server = self.server
        with server.lock:
            server.counts[doc_id] += 1
            server.requests += 1
        try:
            document = json.loads(raw or b"{}")
        except ValueError:
            self._reply(400, {"error": "the body is not JSON"})
            return
        if server.latency:
            time.sleep(server.latency)
        words = str(document.get("text", "")).split()
        if not words:
            self._reply(422, {"error": "empty document", "id": doc_id})
            return
        self._reply(200, {"id": doc_id, "terms": len(set(words)), "tokens": len(words)})

    def do_GET(self) -> None:  # noqa: N802
        server = self.server
        with server.lock:
            if self.path == "/count":
                payload: object = {"requests": server.requests, "documents": dict(server.counts)}
            elif self.path == "/stats":
                payload = {"requests": server.requests, "distinct": len(server.counts)}
            else:
                payload = None
        if payload is None:
            self._reply(404, {"error": f"no such endpoint: GET {self.path}"})
        else:
            self._reply(200, payload)

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/reset":
            self._reply(404, {"error": f"no such endpoint: POST {self.path}"})
            return
        server = self.server
        with server.lock:
            server.counts.clear()
            server.requests = 0
        self._reply(200, {"reset": True})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per document")
    args = parser.parse_args(argv)
    server = DocumentAPI((args.host, args.port), args.latency)
    print(f"doc_api listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
