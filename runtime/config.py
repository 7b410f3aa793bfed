"""Configuration: command line, then ``DURABLE_PYTHON_*`` environment, then the nearest
``pyproject.toml``'s ``[tool.durable-python]`` (searched upwards from the script), then defaults.

    [tool.durable-python]
    pure = ["mylib.text", "numpy.linalg"]     # modules or callables that run inline
    resources = ["mylib.Client"]              # live handles, constructed again on replay
    effects = ["mylib.text.fetch"]            # recorded although their module is pure
    values = ["mylib.clock.now"]              # nondeterministic reads, recorded and batched
    activities = ["helpers.sync_all"]         # one recorded effect each, like @activity
    idempotency_keys = true                   # HTTP requests carry an Idempotency-Key header
    retry = { max_attempts = 5, initial_interval = 1.0, exceptions = ["ConnectionError"] }
    store = ".durable"                        # where runs are kept (a directory, or a URL)
    sync = true                               # fdatasync each commit (power-loss durability)
    otel = true                               # each run as an OpenTelemetry trace (tracing.py)

    token = "..."                             # serve: every HTTP request needs this bearer

    [tool.durable-python.queues]              # limits of enqueued runs, across all workers
    emails = { concurrency = 2, limit = 10, period = 60 }   # 2 at once, 10 started a minute

    [tool.durable-python.webhooks]            # serve: triggers (serve/webhooks.py,
    [tool.durable-python.schedules]           # serve/schedules.py, serve/file_triggers.py
    [tool.durable-python.watch]               # check their own tables)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .model import Policy, QueueLimits

_POLICY_KEYS = {
    "pure": Policy.INLINE,
    "resources": Policy.RESOURCE,
    "effects": Policy.EFFECT,
    "values": Policy.VALUE,
    "activities": Policy.EFFECT,
}


@dataclass
class Config:
    store: Path | str = Path(".durable")  # a directory, or a URL kept as written
    sync: bool = True
    policies: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    retry: dict[str, Any] | None = None  # [tool.durable-python.retry] (retries.default_policy)
    idempotency_keys: bool = False
    otel: bool = False  # export runs as traces (tracing.py; the exporter from the OTEL_* variables)
    queues: dict[str, QueueLimits] = field(default_factory=dict)
    token: str | None = None  # serve: the bearer token every request needs
    # serve's triggers, as written: "webhooks", "schedules", "watch" (each checked by its module)
    triggers: dict[str, Any] = field(default_factory=dict)


def _find_pyproject(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def load(script_dir: Path, store: str | None = None, sync: bool | None = None) -> Config:
    config = Config()
    pyproject = _find_pyproject(script_dir)
    if pyproject is not None:
        import tomllib  # here: a script without a pyproject.toml never pays for the parser

        try:
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("durable-python", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{pyproject}: cannot read [tool.durable-python]: {exc}") from exc
        config.source = pyproject
        for key, policy in _POLICY_KEYS.items():
            names = table.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise UsageError(
                    f'{pyproject}: [tool.durable-python] {key} must be a list of names, like {key} = ["mylib"]'
                )
            config.policies.update(dict.fromkeys(names, policy))
        if "store" in table:
            config.store = _location(table["store"], pyproject.parent)
        if "sync" in table:
            config.sync = bool(table["sync"])
        if "retry" in table:
            config.retry = table["retry"]
        if "idempotency_keys" in table:
            config.idempotency_keys = bool(table["idempotency_keys"])
        if "otel" in table:  # true, or a table whose only key is enabled
            otel = table["otel"]
            if isinstance(otel, dict) and set(otel) <= {"enabled"}:
                otel = otel.get("enabled", True)
            if not isinstance(otel, bool):
                raise UsageError(
                    f"{pyproject}: [tool.durable-python] otel must be true or false; the exporter"
                    " is set by the OTEL_* variables, like OTEL_EXPORTER_OTLP_ENDPOINT"
                )
            config.otel = otel
        for name, limits in table.get("queues", {}).items():
            config.queues[name] = _queue_limits(pyproject, name, limits)
        if "token" in table:
            config.token = str(table["token"])
        for kind in ("webhooks", "schedules", "watch"):
            if kind in table:
                if not isinstance(table[kind], dict):
                    raise UsageError(f"{pyproject}: [tool.durable-python.{kind}] must be a table")
                config.triggers[kind] = table[kind]
    if os.environ.get("DURABLE_PYTHON_STORE"):
        config.store = _location(os.environ["DURABLE_PYTHON_STORE"])
    if os.environ.get("DURABLE_PYTHON_SYNC"):
        config.sync = _truthy(os.environ["DURABLE_PYTHON_SYNC"])
    if os.environ.get("DURABLE_PYTHON_TOKEN"):
        config.token = os.environ["DURABLE_PYTHON_TOKEN"]
    if os.environ.get("DURABLE_PYTHON_IDEMPOTENCY_KEYS"):
        config.idempotency_keys = _truthy(os.environ["DURABLE_PYTHON_IDEMPOTENCY_KEYS"])
    if store is not None:
        config.store = _location(store)
    if sync is not None:
        config.sync = sync
    return config


def _queue_limits(pyproject: Path, name: str, table: Any) -> QueueLimits:
    example = f"{name} = {{ concurrency = 2, limit = 10, period = 60 }}"
    if not isinstance(table, dict) or set(table) - {"concurrency", "limit", "period"}:
        raise UsageError(
            f"{pyproject}: [tool.durable-python.queues] {name} must be a table of concurrency,"
            f" limit and period, like {example}"
        )
    for key in ("concurrency", "limit"):
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UsageError(
                f"{pyproject}: [tool.durable-python.queues] {name}.{key} must be a whole number"
                f" of at least 1, like {example}"
            )
    period = table.get("period", 60.0)
    if not isinstance(period, int | float) or period <= 0:
        raise UsageError(
            f"{pyproject}: [tool.durable-python.queues] {name}.period is in seconds and must be"
            f" above 0, like {example}"
        )
    return QueueLimits(table.get("concurrency"), table.get("limit"), float(period))


def _location(text: str, base: Path | None = None) -> Path | str:
    """A store location: a URL as written (a path would fold its ``//``), else a path."""
    if "://" in text:
        return text
    return (base / text).resolve() if base is not None else Path(text)
