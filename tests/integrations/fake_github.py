"""A small in-process fake of GitHub's REST API, for tests of durable-python scripts that use the
real PyGithub: the script talks HTTP to this server exactly as it would to api.github.com, and the
test counts what reached "GitHub" (a comment posted twice after a crash shows up as a count of 2).

    fake = FakeGitHub()
    url = fake.start()  # pass to Github(base_url=url, auth=Auth.Token("t"))
    ...
    assert fake.counts()['POST /repos/acme/widgets/issues/1/comments {"body": "ping"}'] == 1
    fake.close()

PyGithub sends its requests to ``base_url`` plus the API path (``/repos/acme/widgets``: no
``/api/v3`` unless the base URL ends with it, as for GitHub Enterprise; both work, counted without
it) and follows the absolute URLs of the objects it gets back (``url``, ``issue_url``, the ``Link``
header), which must start with its base URL.
Served (repository ``acme/widgets``, seeded with open pull requests 1, 2 and 3):

- ``GET  /user``                                  the authenticated user (``FakeGitHub.login``)
- ``GET  /repos/{owner}/{repo}``                  the repository
- ``GET  /repos/{owner}/{repo}/pulls``            its pull requests (``state=open|closed|all``;
  newest first, paginated with ``page``/``per_page`` and a ``Link`` header, like GitHub)
- ``GET  /repos/{owner}/{repo}/pulls/{n}``        one pull request
- ``GET  /repos/{owner}/{repo}/issues/{n}``       the same pull request seen as an issue
- ``GET  /repos/{owner}/{repo}/issues/{n}/comments``, ``POST`` (``{"body"}``) to add one
- ``POST /repos/{owner}/{repo}/issues/{n}/labels``  add labels (``["stale"]`` or ``{"labels"}``)

Anything else is a 404 with GitHub's error JSON. Every request is counted under
``"METHOD /path"`` (no query string); a POST with a body under ``"METHOD /path BODY"``, BODY being
``json.dumps(body, sort_keys=True)``.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
DEFAULT_PULLS = [
    {"number": 1, "title": "Add a widget cache", "user": {"login": "ada"}},
    {"number": 2, "title": "Fix the flux capacitor", "user": {"login": "grace"}},
    {"number": 3, "title": "Bump dependencies", "user": {"login": "linus"}},
]

Reply = tuple[int, Any, dict[str, str]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub:
    """The fake's state (in memory) and its HTTP server."""

    owner = "acme"
    repo = "widgets"
    login = "automation-bot"

    def __init__(self, pulls: list[dict] | None = None) -> None:
        """``pulls``: the pull requests of acme/widgets, GitHub-shaped dicts of which only
        ``number`` is required (``title``, ``user``, ``state``, ``created_at``, ``body`` have
        defaults); by default three open ones, numbered 1 to 3."""
        self.url = ""
        self._api = ""  # the API root the objects' URLs use: url, plus "/api/v3" if asked so
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._pulls: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._labels: dict[int, list[str]] = {}
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None
        for pull in DEFAULT_PULLS if pulls is None else pulls:
            number = int(pull["number"])
            user = pull.get("user", {"login": "ada"})
            self._pulls[number] = {
                "title": f"Pull request {number}",
                "body": "",
                "state": "open",
                "created_at": f"2024-01-{min(number, 28):02d}T09:00:00Z",
                **pull,
                "number": number,
                "user": {"login": user} if isinstance(user, str) else user,
            }
            self._comments[number] = []
            self._labels[number] = []

    # -- the in-process API of the tests

    def start(self) -> str:
        """Serve on 127.0.0.1 (a free port) in a daemon thread; return the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                status, reply, headers = fake._handle(self.command, self.path, raw)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def counts(self) -> dict[str, int]:
        """How many requests of each kind were served (see the module docstring for the keys)."""
        with self._lock:
            return dict(self._requests)

    def comments(self, owner: str, repo: str, n: int) -> list[str]:
        """The bodies of the comments posted on issue (or pull request) ``n``, oldest first."""
        with self._lock:
            if (owner, repo) != (self.owner, self.repo):
                return []
            return [comment["body"] for comment in self._comments.get(n, [])]

    def labels(self, owner: str, repo: str, n: int) -> list[str]:
        """The names of the labels on issue (or pull request) ``n``."""
        with self._lock:
            if (owner, repo) != (self.owner, self.repo):
                return []
            return list(self._labels.get(n, []))

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the HTTP side

    def _handle(self, method: str, target: str, raw: str) -> Reply:
        parts = urlsplit(target)
        path = parts.path.removeprefix("/api/v3") or "/"
        prefix = "/api/v3" if path != parts.path else ""
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        key = f"{method} {path}"
        if method == "POST" and raw:
            key += " " + (json.dumps(body, sort_keys=True) if body is not raw else raw)
        with self._lock:
            self._requests[key] += 1
            self._api = self.url + prefix
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if (method, path) == ("GET", "/user"):
            return 200, self._user(self.login), {}
        match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if match is None or match.group(1, 2) != (self.owner, self.repo):
            return 404, NOT_FOUND, {}
        rest = match[3] or ""
        if (method, rest) == ("GET", ""):
            return 200, self._repository(), {}
        if (method, rest) == ("GET", "/pulls"):
            state = query.get("state", "open")
            newest_first = sorted(self._pulls, reverse=True)
            found = [n for n in newest_first if state in ("all", self._pulls[n]["state"])]
            return self._page(path, query, [self._pull(n) for n in found])
        match = re.fullmatch(r"/(pulls|issues)/(\d+)(/comments|/labels)?", rest)
        if match is None or int(match[2]) not in self._pulls:
            return 404, NOT_FOUND, {}
        kind, n, tail = match[1], int(match[2]), match[3]
        if (method, tail) == ("GET", None):
            return 200, self._pull(n) if kind == "pulls" else self._issue(n), {}
        if kind == "issues" and (method, tail) == ("GET", "/comments"):
            return self._page(path, query, self._comments[n])
        if kind == "issues" and (method, tail) == ("POST", "/comments"):
            return self._add_comment(n, body)
        if kind == "issues" and (method, tail) == ("POST", "/labels"):
            return self._add_labels(n, body)
        return 404, NOT_FOUND, {}

    def _page(self, path: str, query: dict[str, str], items: list[Any]) -> Reply:
        """One page of ``items`` and GitHub's ``Link`` header to the next and last pages."""
        per_page = max(1, min(int(query.get("per_page", 30)), 100))
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self._page_url(path, query, page + 1)}>; rel="next"')
            links.append(f'<{self._page_url(path, query, last)}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, items[(page - 1) * per_page : page * per_page], headers

    def _page_url(self, path: str, query: dict[str, str], page: int) -> str:
        return f"{self._api}{path}?{urlencode({**query, 'page': page})}"

    def _add_comment(self, n: int, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 422, {"message": "Validation Failed", "errors": [{"field": "body"}]}, {}
        self._next_id += 1
        comment_id = self._next_id
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "body": body["body"],
            "user": self._user(self.login),
            "created_at": _now(),
            "updated_at": _now(),
            "url": f"{self._repo_url()}/issues/comments/{comment_id}",
            "html_url": f"{self._repo_html()}/pull/{n}#issuecomment-{comment_id}",
            "issue_url": f"{self._repo_url()}/issues/{n}",
            "author_association": "NONE",
        }
        self._comments[n].append(comment)
        return 201, comment, {}

    def _add_labels(self, n: int, body: Any) -> Reply:
        names = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return 422, {"message": "Validation Failed", "errors": [{"field": "labels"}]}, {}
        for name in names:
            if name not in self._labels[n]:
                self._labels[n].append(name)
        return 200, self._label_objects(n), {}

    # -- GitHub-shaped objects

    def _repo_url(self) -> str:
        return f"{self._api}/repos/{self.owner}/{self.repo}"

    def _repo_html(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"

    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": sum(map(ord, login)),
            "type": "User",
            "site_admin": False,
            "url": f"{self._api}/users/{login}",
            "html_url": f"https://github.com/{login}",
        }

    def _repository(self) -> dict[str, Any]:
        full_name = f"{self.owner}/{self.repo}"
        return {
            "id": 4242,
            "node_id": "R_4242",
            "name": self.repo,
            "full_name": full_name,
            "owner": {**self._user(self.owner), "type": "Organization"},
            "private": False,
            "description": "Widgets, durably.",
            "fork": False,
            "archived": False,
            "url": self._repo_url(),
            "html_url": self._repo_html(),
            "pulls_url": f"{self._repo_url()}/pulls{{/number}}",
            "issues_url": f"{self._repo_url()}/issues{{/number}}",
            "default_branch": "main",
            "open_issues_count": sum(p["state"] == "open" for p in self._pulls.values()),
            "created_at": "2023-06-01T12:00:00Z",
            "updated_at": "2024-01-01T12:00:00Z",
        }

    def _label_objects(self, n: int) -> list[dict[str, Any]]:
        return [
            {
                "id": sum(map(ord, name)),
                "name": name,
                "color": "ededed",
                "default": False,
                "description": None,
                "url": f"{self._repo_url()}/labels/{name}",
            }
            for name in self._labels[n]
        ]

    def _issue(self, n: int) -> dict[str, Any]:
        pull = self._pulls[n]
        return {
            "id": 50000 + n,
            "node_id": f"I_{n}",
            "number": n,
            "title": pull["title"],
            "body": pull["body"],
            "state": pull["state"],
            "locked": False,
            "user": self._user(pull["user"]["login"]),
            "labels": self._label_objects(n),
            "comments": len(self._comments[n]),
            "created_at": pull["created_at"],
            "updated_at": pull["created_at"],
            "closed_at": None,
            "url": f"{self._repo_url()}/issues/{n}",
            "html_url": f"{self._repo_html()}/pull/{n}",
            "comments_url": f"{self._repo_url()}/issues/{n}/comments",
            "labels_url": f"{self._repo_url()}/issues/{n}/labels{{/name}}",
            "repository_url": self._repo_url(),
            "pull_request": {
                "url": f"{self._repo_url()}/pulls/{n}",
                "html_url": f"{self._repo_html()}/pull/{n}",
            },
        }

    def _pull(self, n: int) -> dict[str, Any]:
        pull = self._pulls[n]
        return {
            **self._issue(n),
            "id": 60000 + n,
            "node_id": f"PR_{n}",
            "draft": False,
            "merged": False,
            "merged_at": None,
            "url": f"{self._repo_url()}/pulls/{n}",
            "issue_url": f"{self._repo_url()}/issues/{n}",
            "diff_url": f"{self._repo_html()}/pull/{n}.diff",
            "head": {"label": f"{self.owner}:topic-{n}", "ref": f"topic-{n}", "sha": f"{n:040x}"},
            "base": {"label": f"{self.owner}:main", "ref": "main", "sha": "0" * 40},
            **{key: pull[key] for key in pull if key not in ("user", "number")},
        }
