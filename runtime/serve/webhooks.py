"""Webhooks: ``[tool.durable-python.webhooks]`` maps a URL path to runs it starts or events it
sends.

    [[tool.durable-python.webhooks."/github"]]
    when = { "body.action" = "opened" }
    script = "jobs/pr_reminder.py"
    run_id = "pr-{body.pull_request.number}"
    secret_env = "GITHUB_WEBHOOK_SECRET"

    [[tool.durable-python.webhooks."/github"]]
    when = { "body.action" = "closed" }
    event = "closed"
    run_id = "pr-{body.pull_request.number}"
    secret_env = "GITHUB_WEBHOOK_SECRET"

A path holds one rule or a list; the first rule whose ``when`` matches the request decides. A
rule with ``script`` starts a run under the id its ``run_id`` template gives (a redelivered
webhook finds that run and starts nothing); a rule with ``event`` sends the request as that
event to the run its ``run_id`` names (a redelivery, known by its delivery id or body, is kept
once). Templates and ``when`` keys name parts of the request: ``body.a.b``, ``headers.x-name``
(lower case), ``query.name``, ``method``, ``path``. With ``secret`` (or ``secret_env``, the
variable holding it) the request must carry GitHub's ``X-Hub-Signature-256``; such a path needs
no bearer token, since the signature proves the sender.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_python.errors import UsageError

from .starting import DEFAULT_QUEUE, StartRefused

_KEYS = {"script", "args", "run_id", "event", "when", "secret", "secret_env", "queue"}
_FIELD = re.compile(r"\{([^{}]+)\}")
_MISSING = object()
# Credentials are checked, never kept: the request is stored with the run and shown by the API.
PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
EXAMPLE = (
    '"/github" = { script = "jobs/pr_reminder.py", run_id = "pr-{body.pull_request.number}",'
    ' secret_env = "GITHUB_WEBHOOK_SECRET" }'
)


@dataclass(frozen=True)
class Rule:
    """What one kind of request to a webhook path does."""

    run_id: str  # a template
    script: str | None = None  # start a run of it...
    event: str | None = None  # ...or send this event to the run
    args: tuple[str, ...] = ()  # templates
    when: dict[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE

    def matches(self, request: dict[str, Any]) -> bool:
        for key, wanted in self.when.items():
            found = lookup(request, key)
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if found is _MISSING or found not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Webhook:
    path: str
    rules: tuple[Rule, ...]
    secret: str | None = None

    def verify(self, body: bytes, signature: str | None) -> bool:
        """Whether GitHub's ``X-Hub-Signature-256`` (``sha256=<hex HMAC of the body>``) holds."""
        if self.secret is None:
            return True
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return signature is not None and hmac.compare_digest(expected, signature.strip())


def parse(table: dict[str, Any], source: Path | None) -> list[Webhook]:
    """The webhooks of ``[tool.durable-python.webhooks]``; ``UsageError`` naming the mistake."""
    hooks = []
    for path, value in table.items():
        where = f"{source}: [tool.durable-python.webhooks] {path!r}"
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("/runs"):
            raise UsageError(
                f'{where}: a webhook\'s key is a URL path like "/github" (not under /runs)'
            )
        rules = value if isinstance(value, list) else [value]
        parsed = [_rule(where, rule) for rule in rules]
        secrets = {_secret(where, rule) for rule in rules}
        if len(secrets) > 1:
            raise UsageError(f"{where}: every rule of one path must have the same secret")
        hooks.append(Webhook(path, tuple(parsed), secrets.pop() if secrets else None))
    return hooks


def _rule(where: str, rule: Any) -> Rule:
    if not isinstance(rule, dict) or set(rule) - _KEYS:
        unknown = sorted(set(rule) - _KEYS) if isinstance(rule, dict) else rule
        raise UsageError(f"{where}: unknown keys {unknown}; a rule looks like {EXAMPLE}")
    if not isinstance(rule.get("run_id"), str):
        raise UsageError(f"{where}: each rule needs a run_id template, like {EXAMPLE}")
    if ("script" in rule) == ("event" in rule):
        raise UsageError(
            f"{where}: a rule has either script (start a run) or event (send it to the run),"
            f" like {EXAMPLE}"
        )
    args = rule.get("args", [])
    when = rule.get("when", {})
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise UsageError(f'{where}: args must be a list of strings, like args = ["{{body.id}}"]')
    if not isinstance(when, dict):
        raise UsageError(
            f'{where}: when must be a table, like when = {{ "body.action" = "opened" }}'
        )
    return Rule(
        run_id=rule["run_id"],
        script=rule.get("script"),
        event=rule.get("event"),
        args=tuple(args),
        when=when,
        queue=str(rule.get("queue", DEFAULT_QUEUE)),
    )


def _secret(where: str, rule: dict[str, Any]) -> str | None:
    if "secret_env" in rule:
        secret = os.environ.get(rule["secret_env"])
        if not secret:
            raise UsageError(
                f"{where}: secret_env names {rule['secret_env']}, which is not set; set it to the"
                " webhook's secret before starting the server"
            )
        return secret
    return rule.get("secret")


def request_of(
    method: str, path: str, headers: dict[str, str], query: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The request as a rule and the script see it (``durable_python.trigger()``), without
    its credentials."""
    text = body.decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = text
    return {
        "kind": "webhook",
        "method": method,
        "path": path,
        "headers": {
            name.lower(): value
            for name, value in headers.items()
            if name.lower() not in PRIVATE_HEADERS
        },
        "query": dict(query),
        "body": parsed,
    }


def delivery_id(request: dict[str, Any], body: bytes) -> str:
    """What identifies one delivery across redeliveries: the sender's delivery id, else the
    ``Idempotency-Key``, else the body's hash."""
    headers = request["headers"]
    for name in ("x-github-delivery", "idempotency-key"):
        if headers.get(name):
            return headers[name]
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


def lookup(request: dict[str, Any], dotted: str) -> Any:
    """The part of the request ``dotted`` names (``body.pull_request.number``), or
    ``_MISSING``."""
    dotted = dotted.strip()
    if dotted.lower().startswith("headers."):
        dotted = dotted.lower()  # request_of keeps header names in lower case
    value: Any = request
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def render(template: str, request: dict[str, Any]) -> str:
    """``template`` with each ``{dotted.name}`` replaced by that part of the request; a 422
    naming the part when the request lacks it."""

    def field_value(match: re.Match[str]) -> str:
        value = lookup(request, match.group(1))
        if value is _MISSING or isinstance(value, dict | list):
            raise StartRefused(
                422, f"the request has no value at {match.group(1)} (template {template!r})"
            )
        return str(value)

    return _FIELD.sub(field_value, template)
