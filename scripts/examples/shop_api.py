"""A tiny fake shop for order_processing.py: inventory, payments, notifications, e-mail.

    python scripts/examples/shop_api.py [--port 8765] [--flaky-payments 1] [--review-over 1000]

Every request is logged (``GET /_log`` returns them as JSON), so tests can count how often each
external call really happened. Payments of ``--review-over`` or more come back with status
``review``; the first ``--flaky-payments`` payment attempts of each order fail with 503.
A payment with an ``Idempotency-Key`` seen before returns the first answer again.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Shop:
    def __init__(self, flaky_payments: int, review_over: float) -> None:
        self.flaky_payments = flaky_payments
        self.review_over = review_over
        self.log: list[dict] = []
        self.payment_attempts: dict[str, int] = {}
        self.payments_by_key: dict[str, dict] = {}
        self.lock = threading.Lock()

    def handle(self, path: str, body: dict, key: str | None) -> tuple[int, dict]:
        with self.lock:
            self.log.append({"path": path, "body": body, "key": key})
            order = body.get("order", "")
            if path == "/payments":
                if key is not None and key in self.payments_by_key:
                    return 200, self.payments_by_key[key]
                attempt = self.payment_attempts[order] = self.payment_attempts.get(order, 0) + 1
                if attempt <= self.flaky_payments:
                    return 503, {"error": "payment provider unavailable, try again"}
                status = "review" if body.get("amount", 0) >= self.review_over else "captured"
                answer = {"payment": f"pay-{order}", "status": status}
                if key is not None:
                    self.payments_by_key[key] = answer
                return 200, answer
            if path == "/inventory/reserve":
                return 200, {"reservation": f"res-{order}"}
            if path in ("/inventory/release", "/inventory/deduct", "/payments/refund"):
                return 200, {"ok": True}
            if path in ("/notify", "/email"):
                return 200, {"sent": True}
            return 404, {"error": f"no such endpoint {path}"}


def serve(port: int, flaky_payments: int, review_over: float) -> None:
    shop = Shop(flaky_payments, review_over)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path == "/_log":
                with shop.lock:
                    self._answer(200, list(shop.log))
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, {"error": "body is not JSON"})
                return
            self._answer(*shop.handle(self.path, body, self.headers.get("Idempotency-Key")))

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"shop API listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--flaky-payments", type=int, default=1)
    parser.add_argument("--review-over", type=float, default=1000)
    options = parser.parse_args()
    serve(options.port, options.flaky_payments, options.review_over)
    sys.exit(0)
