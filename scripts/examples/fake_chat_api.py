"""A small fake of a code-review + chat API, so the pull-request reminder runs offline.

    python scripts/examples/fake_chat_api.py --port 8765 --pr 42 --merge-after 3

serves, on 127.0.0.1:

- ``GET  /prs/N``                    the pull request (``{"number", "title", "author", "state"}``)
- ``POST /prs``                      create one (``{"number", "title", "author"}``)
- ``POST /prs/N/close``, ``/merge``  change its state
- ``POST /channels``                 create a chat channel (``{"name", "topic"}``)
- ``POST /channels/ID/messages``     post a message (``{"text"}``)
- ``POST /channels/ID/archive``      archive a channel
- ``GET  /channels/ID/messages``     the messages of a channel
- ``GET  /stats``                    how many requests of each kind it served, for tests

POST requests that carry an ``Idempotency-Key`` header already seen get the first answer again
(like Stripe's API), so a request repeated after a crash does not create a second channel.
``--merge-after N`` merges pull request ``--pr`` once N reminders were posted for it.
It prints its port on the first line of stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatApi:
    """The state of the fake service (in memory)."""

    def __init__(self, merge_after: int | None = None, watched_pr: int | None = None) -> None:
        self.lock = threading.Lock()
        self.prs: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()
        self.replies_by_key: dict[str, tuple[int, Any]] = {}
        self.repeated_keys = 0
        self.merge_after = merge_after
        self.watched_pr = watched_pr

    def handle(self, method: str, path: str, body: Any, key: str | None) -> tuple[int, Any]:
        with self.lock:
            route = re.sub(r"/\d+", "/N", path)
            self.requests[f"{method} {route}"] += 1
            if method == "POST" and key is not None:
                if key in self.replies_by_key:
                    self.repeated_keys += 1
                    return self.replies_by_key[key]
                reply = self._route(method, path, body)
                self.replies_by_key[key] = reply
                return reply
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts == ["stats"] and method == "GET":
            return 200, {
                "requests": dict(self.requests),
                "channels": list(self.channels.values()),
                "repeated_keys": self.repeated_keys,
            }
        if parts[:1] == ["prs"]:
            return self._prs(method, parts[1:], body)
        if parts[:1] == ["channels"]:
            return self._channels(method, parts[1:], body)
        return 404, {"error": f"no route {method} {path}"}

    def _prs(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if not rest and method == "POST":
            number = int(body["number"])
            self.prs[number] = {
                "number": number,
                "title": body.get("title", f"Pull request {number}"),
                "author": body.get("author", "someone"),
                "state": "open",
            }
            return 201, self.prs[number]
        pr = self.prs.get(int(rest[0])) if rest and rest[0].isdigit() else None
        if pr is None:
            return 404, {"error": "no such pull request"}
        if len(rest) == 1 and method == "GET":
            return 200, pr
        if len(rest) == 2 and method == "POST" and rest[1] in ("close", "merge"):
            pr["state"] = "closed" if rest[1] == "close" else "merged"
            return 200, pr
        return 404, {"error": "no such route"}

    def _channels(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if not rest and method == "POST":
            channel = {
                "id": len(self.channels) + 1,
                "name": body["name"],
                "topic": body.get("topic", ""),
                "archived": False,
                "messages": [],
            }
            self.channels[channel["id"]] = channel
            return 201, {k: v for k, v in channel.items() if k != "messages"}
        channel = self.channels.get(int(rest[0])) if rest and rest[0].isdigit() else None
        if channel is None:
            return 404, {"error": "no such channel"}
        if rest[1:] == ["messages"] and method == "GET":
            return 200, channel["messages"]
        if rest[1:] == ["messages"] and method == "POST":
            message = {"id": len(channel["messages"]) + 1, "text": body["text"]}
            channel["messages"].append(message)
            self._maybe_merge(channel)
            return 201, message
        if rest[1:] == ["archive"] and method == "POST":
            channel["archived"] = True
            return 200, {"id": channel["id"], "archived": True}
        return 404, {"error": "no such route"}

    def _maybe_merge(self, channel: dict[str, Any]) -> None:
        if self.merge_after is None or self.watched_pr not in self.prs:
            return
        if channel["name"] != f"pr-{self.watched_pr}":
            return
        reminders = sum(m["text"].startswith("Reminder") for m in channel["messages"])
        if reminders >= self.merge_after:
            self.prs[self.watched_pr]["state"] = "merged"


def make_server(api: ChatApi, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            path = self.path.split("?", 1)[0]
            status, reply = api.handle(
                self.command, path, body, self.headers.get("Idempotency-Key")
            )
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 - the http.server protocol

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--pr", type=int, help="create this pull request (open) at start")
    parser.add_argument("--title", default="Add durable reminders")
    parser.add_argument("--author", default="ada")
    parser.add_argument("--merge-after", type=int, help="merge --pr after N reminders")
    args = parser.parse_args()
    api = ChatApi(args.merge_after, args.pr)
    if args.pr is not None:
        api.handle(
            "POST", "/prs", {"number": args.pr, "title": args.title, "author": args.author}, None
        )
        api.requests.clear()
    server = make_server(api, args.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
