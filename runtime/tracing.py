"""Each run as an OpenTelemetry trace, exported when the run ends (optional).

Why: the journal already knows when every effect, wait and retry of a run started and ended, and
how it ended; a trace shows that timeline in the tools people already watch (Jaeger, Tempo,
Honeycomb, ...). The trace is built from the store after the run ends, not while it runs: a run
resumed across several processes is still one trace, and the hot path records nothing more.

One root span for the run (created to ended), under it one span per recorded effect (every retry
attempt its own), timer, event wait and cancel. Values and printed lines are too many to be
spans: the root counts them. Turned on by ``otel = true`` in ``[tool.durable-python]`` or by the
standard ``OTEL_TRACES_EXPORTER``; opentelemetry is imported only then (``durable-python[otel]``).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

from .model import Entry, Outcome, Policy, Run, RunStatus

SPANNED = frozenset({Policy.EFFECT, Policy.AWAITED, Policy.TIMER, Policy.EVENT, Policy.CANCEL})
ENDED = frozenset({RunStatus.COMPLETED, RunStatus.EXITED, RunStatus.FAILED, RunStatus.CANCELLED})
_FLUSH_EVERY = 512  # spans: flushed as they are built, so no processor queue overflows
_WAIT, _RETRY = "durable_python.wait_for_event", "durable_python.retry"


def enabled(settings: Any) -> bool:
    """Whether runs are exported: the standard variables first, then ``otel`` in pyproject."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(getattr(settings, "otel", False))


def run_ended(settings: Any, store: Any, run: Run) -> None:
    """The hook (``session._stop``, the run's row just saved): export a run that ended, with
    every entry of every process that executed it. Never raises; a failure is one line."""
    if run.status not in ENDED or not enabled(settings):
        return
    failure, watched = None, []
    with _Quiet() as quiet:
        try:
            built = _build(settings)
            if built is None:
                return
            provider, watched = built
            try:
                saved = store.read(run.run_id) or run  # its updated_at: when it ended
                export_run(saved, store.entries(saved, attempts=True), provider)
                provider.force_flush()
            finally:
                provider.shutdown()
        except Exception as exc:  # noqa: BLE001 - tracing must never change how a run ends
            failure = f"{type(exc).__name__}: {exc}"
        failed = [w for w in watched if w.failed]
        if failure is None and failed:
            failure = quiet.first or "the exporter failed"
            where = getattr(failed[0].exporter, "_endpoint", None)  # the OTLP exporter's URL
            failure = f"{where}: {failure}" if where else failure
    if failure is not None:
        _say(f"run {run.run_id}: its trace was not exported ({failure[:300]})")


def configured_provider(settings: Any) -> Any:
    """A TracerProvider exporting as the ``OTEL_*`` variables say, or ``None`` (tracing off,
    or opentelemetry not installed: then said once on stderr)."""
    built = _build(settings) if enabled(settings) else None
    return None if built is None else built[0]


def _build(settings: Any) -> tuple[Any, list[_Watched]] | None:
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _say_once(
            "tracing is on but opentelemetry-sdk is not installed:"
            " pip install 'durable-python[otel]'"
        )
        return None
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    exporters = [_exporter(n.strip()) for n in names.split(",") if n.strip()]
    watched = [_Watched(exporter) for exporter in exporters if exporter is not None]
    if not watched:
        return None
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "durable-python"}))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for exporter in watched:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, watched


def _exporter(name: str) -> Any:
    """The span exporter ``OTEL_TRACES_EXPORTER`` names (its settings from the variables)."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.__stderr__)  # the script's stdout stays its own
    if name != "otlp":
        _say_once(f"OTEL_TRACES_EXPORTER={name} is not supported (otlp, console, none)")
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    package = "opentelemetry-exporter-otlp-proto-http"
    try:
        if protocol.strip() == "grpc":
            package = "opentelemetry-exporter-otlp-proto-grpc"
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        _say_once(f"tracing is on but {package} is not installed: pip install '{package}'")
        return None
    return OTLPSpanExporter()


def export_run(run: Run, entries: list[Entry], tracer_provider: Any) -> None:
    """Build the trace of ``run`` from its ``entries`` (every attempt) and end its spans."""
    from opentelemetry import context, trace
    from opentelemetry.trace import Status, StatusCode

    from . import inspect_runs

    tracer = tracer_provider.get_tracer("durable_python")
    last = {(e.task, e.seq): e for e in entries}
    end = max([run.updated_at, *(e.ended for e in entries)])
    counts = Counter(str(e.policy) for e in entries if e.policy not in SPANNED)
    attributes = {
        "durable_python.run_id": run.run_id,
        "durable_python.script": run.script,
        "durable_python.argv": list(run.argv),
        "durable_python.status": str(run.status),
        "durable_python.entries": len(entries),
        **{f"durable_python.entries.{policy}": n for policy, n in sorted(counts.items())},
    }
    if run.exit_code is not None:
        attributes["durable_python.exit_code"] = run.exit_code
    script = run.argv[0] if run.argv else os.path.basename(run.script)
    root = tracer.start_span(
        f"run {script}", context.Context(), attributes=attributes, start_time=_ns(run.created_at)
    )
    if run.status in (RunStatus.FAILED, RunStatus.EXITED):
        root.set_status(Status(StatusCode.ERROR, run.error or f"exit code {run.exit_code}"))
    parent = trace.set_span_in_context(root)
    spanned = 0
    for entry in entries:
        if entry.policy not in SPANNED:
            continue
        record = inspect_runs.entry_record(entry) if _needs_record(entry) else {}
        name, ended = _name(entry), entry.ended
        attributes = {
            "durable_python.run_id": run.run_id,
            "durable_python.task": entry.task,
            "durable_python.seq": entry.seq,
            "durable_python.attempt": entry.attempt,
            "durable_python.site": entry.site,
            "durable_python.policy": str(entry.policy),
            "durable_python.name": entry.name,
            "durable_python.outcome": str(entry.outcome),
        }
        if entry.policy == Policy.TIMER and isinstance(record.get("value"), float):
            attributes["durable_python.due"] = due = record["value"]
            waited = last.get((entry.task, entry.seq + 1))
            if entry.name == _WAIT and waited is not None and waited.policy == Policy.EVENT:
                due = min(due, waited.ended)  # the event came before the timeout
            ended = max(entry.started, min(due, end))
        span = tracer.start_span(name, parent, attributes=attributes, start_time=_ns(entry.started))
        if record.get("error"):
            kind, _, message = record["error"].partition(": ")
            span.add_event(
                "exception",
                {"exception.type": kind, "exception.message": message},
                timestamp=_ns(entry.ended),
            )
            span.set_status(Status(StatusCode.ERROR, record["error"]))
        span.end(end_time=_ns(ended))
        spanned += 1
        if spanned % _FLUSH_EVERY == 0:
            tracer_provider.force_flush()
    root.end(end_time=_ns(end))


def _needs_record(entry: Entry) -> bool:
    """Only timers (their due time) and failed calls are read: a result may be large."""
    return entry.policy == Policy.TIMER or entry.outcome in (Outcome.ERROR, Outcome.REBUILT)


def _name(entry: Entry) -> str:
    """``effect requests.get``, ``sleep``, ``wait approval``, ``event approval``, ..."""
    if entry.policy == Policy.TIMER:
        if entry.name == _WAIT:
            return f"wait {_first_argument(entry)}"
        return "retry backoff" if entry.name == _RETRY else "sleep"
    if entry.policy == Policy.EVENT:
        return f"event {_first_argument(entry)}"
    if entry.policy == Policy.CANCEL:
        return f"cancel {entry.name}"
    return f"effect {entry.name}"


def _first_argument(entry: Entry) -> str:
    """The event name a wait was called with, from the journal's short renderings."""
    import ast

    from . import argdiff

    parts = argdiff.recorded_parts(entry.fingerprint) or []
    try:
        return str(ast.literal_eval(parts[0]))
    except (IndexError, ValueError, SyntaxError):
        return entry.name


def _ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


class _Watched:
    """A span exporter that remembers a failed export and sends no more after one: a collector
    that is down costs one export timeout, not one per batch."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter
        self.failed = False

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if not self.failed:
            result = self.exporter.export(spans)
            self.failed = result != SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE if self.failed else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class _Quiet:
    """While a run is exported, keeps opentelemetry's own log records (retries, failures) off
    stderr, and the first of them as the reason of a failure. (Its logging handler is made when
    a run is exported: a run that is not does not import logging.)"""

    def __init__(self) -> None:
        import logging

        self.first: str | None = None
        self.logger = logging.getLogger("opentelemetry")
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self._emit  # type: ignore[method-assign]

    def __enter__(self) -> _Quiet:
        self.saved = self.logger.propagate
        self.logger.addHandler(self.handler)
        self.logger.propagate = False
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.propagate = self.saved

    def _emit(self, record: Any) -> None:
        if self.first is None:
            try:
                self.first = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad log record is no reason to fail
                self.first = str(record.msg)


_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        _say(message)


def _say(message: str) -> None:
    sys.__stderr__.write(f"durable-python: {message}\n")
    sys.__stderr__.flush()
