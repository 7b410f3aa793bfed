"""Runs as OpenTelemetry traces (``tracing.py``): a run's spans match its journal, and a run that
ends is exported once, over OTLP/HTTP, to a collector on 127.0.0.1 that the test starts."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from durable_python import config, tracing
from durable_python.errors import UsageError
from durable_python.inspect_runs import entry_record
from durable_python.testing import Witness

pytestmark = pytest.mark.e2e

FLAKY = '''
"""An effect that fails its first two calls (the count is kept in a file)."""


def fail_twice(path):
    with open(path, "a+") as f:
        f.seek(0)
        calls = len(f.read().splitlines())
        f.write("call\\n")
    if calls < 2:
        raise ConnectionError(f"attempt {calls + 1} failed")
    return calls + 1
'''

JOB = """
    import sys
    import time
    import urllib.request

    import durable_python
    import flaky
    import sidefx

    witness, url, counter, ending = sys.argv[1:]
    sidefx.record(witness, "start")
    with urllib.request.urlopen(url + "/ping") as reply:
        print("ping", reply.status)
    time.sleep(0.05)
    try:
        durable_python.wait_for_event("approval", timeout=0.1)
    except TimeoutError:
        print("no approval")
    with durable_python.retry(max_attempts=3, initial_interval=0.01):
        print("succeeded at attempt", flaky.fail_twice(counter))
    sidefx.record(witness, "end")
    if ending == "fail":
        raise ValueError("the report is empty")
    print("done")
"""

SPANNED = {"effect", "awaited", "timer", "event", "cancel"}
NO_TRACING = {"OTEL_TRACES_EXPORTER": None, "OTEL_SDK_DISABLED": None}


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def span_name(entry) -> str:
    """The span a journal entry of ``JOB`` should give."""
    if entry.policy == "timer":
        return {"time.sleep": "sleep", "durable_python.wait_for_event": "wait approval"}.get(
            entry.name, "retry backoff"
        )
    if entry.policy == "event":
        return "event approval"
    return f"{'cancel' if entry.policy == 'cancel' else 'effect'} {entry.name}"


def in_memory_trace(run, entries) -> list:
    """The spans ``export_run`` ends, through the in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.export_run(run, entries, provider)
    return list(exporter.get_finished_spans())


@pytest.fixture
def witness():
    found = Witness()
    yield found
    found.close()


def job(tool, witness: Witness, ending: str = "complete", counter: str = "counter") -> list[str]:
    tool.write_lib("flaky.py", FLAKY)
    tool.write("job.py", JOB)
    return ["job.py", str(tool.witness), witness.url, str(tool.root / counter), ending]


# ----- the trace of a run ---------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["complete", "fail"])
def test_a_runs_spans_match_its_journal(tool, witness, ending):
    done = tool.run(*job(tool, witness, ending), env=NO_TRACING)
    assert done.returncode == (1 if ending == "fail" else 0), done
    store = tool.open_store()
    run = store.read(tool.newest_run()["run_id"])
    entries = store.entries(run, attempts=True)

    spans = in_memory_trace(run, entries)

    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1, spans
    root = roots[0]
    assert root.name == "run job.py"
    assert root.start_time == ns(run.created_at)
    assert root.end_time == ns(max(run.updated_at, *(e.ended for e in entries)))
    assert root.attributes["durable_python.run_id"] == run.run_id
    assert root.attributes["durable_python.script"] == str(tool.work / "job.py")
    outputs = sum(e.policy == "output" for e in entries)
    assert root.attributes["durable_python.entries.output"] == outputs
    if ending == "fail":
        assert root.attributes["durable_python.status"] == "failed"
        assert root.attributes["durable_python.exit_code"] == 1
        assert root.status.status_code == StatusCode.ERROR
        assert root.status.description == "ValueError: the report is empty"
    else:
        assert root.attributes["durable_python.status"] == "completed"
        assert root.attributes["durable_python.exit_code"] == 0
        assert root.status.status_code == StatusCode.UNSET

    # One span per effect, timer, event and attempt entry, in journal order, under the root.
    children = [s for s in spans if s.parent is not None]
    expected = [e for e in entries if e.policy in SPANNED]
    assert [s.name for s in children] == [span_name(e) for e in expected]
    for span, entry in zip(children, expected, strict=True):
        assert span.parent.span_id == root.context.span_id
        assert span.context.trace_id == root.context.trace_id
        assert dict(span.attributes) == {
            "durable_python.run_id": run.run_id,
            "durable_python.task": entry.task,
            "durable_python.seq": entry.seq,
            "durable_python.attempt": entry.attempt,
            "durable_python.site": entry.site,
            "durable_python.policy": entry.policy,
            "durable_python.name": entry.name,
            "durable_python.outcome": entry.outcome,
            **(
                {"durable_python.due": entry_record(entry)["value"]}
                if entry.policy == "timer"
                else {}
            ),
        }
        assert span.start_time == ns(entry.started)
        if entry.policy == "timer":
            assert span.end_time == ns(entry_record(entry)["value"])  # the due time
        else:
            assert span.end_time == ns(entry.ended)
        error = entry_record(entry)["error"]
        if error is None:
            assert span.status.status_code == StatusCode.UNSET, span.name
        else:
            assert span.status.status_code == StatusCode.ERROR, span.name
            assert span.status.description == error
            assert span.events[0].attributes["exception.type"] == error.partition(":")[0]

    # What the script did, as a reader of the trace sees it.
    names = [s.name for s in children]
    assert names == [
        "effect sidefx.record",
        "effect urllib.request.urlopen",
        "sleep",
        "wait approval",
        "event approval",
        "effect flaky.fail_twice",
        "retry backoff",
        "effect flaky.fail_twice",
        "retry backoff",
        "effect flaky.fail_twice",
        "effect sidefx.record",
    ]
    attempts = [s for s in children if s.name == "effect flaky.fail_twice"]
    assert [s.attributes["durable_python.attempt"] for s in attempts] == [0, 1, 2]
    assert [s.status.description for s in attempts] == [
        "ConnectionError: attempt 1 failed",
        "ConnectionError: attempt 2 failed",
        None,
    ]
    sleep = children[names.index("sleep")]
    assert 0.05 <= (sleep.end_time - sleep.start_time) / 1e9 < 0.1
    event = children[names.index("event approval")]
    assert event.status.description == "TimeoutError: no 'approval' event arrived within 0.1 s"
    site = str(tool.work / "job.py") + ":"
    assert all(s.attributes["durable_python.site"].startswith(site) for s in children)


def test_a_waits_timer_ends_when_its_event_arrives(tool):
    tool.write(
        "approve.py",
        """
        import durable_python

        print("waiting", durable_python.run_id())
        print("approved by", durable_python.wait_for_event("approval", timeout=3600)["by"])
        """,
    )
    process = tool.start("run", "approve.py", env=NO_TRACING)
    run_id = process.expect(r"^waiting \w+")[-1].split()[1]
    sent = tool.cli("send", run_id, "approval", '{"by": "alice"}')
    assert sent.returncode == 0, sent
    finished = process.finish()
    assert finished.returncode == 0, finished
    store = tool.open_store()
    run = store.read(run_id)
    by_name = {s.name: s for s in in_memory_trace(run, store.entries(run, attempts=True))}
    timer, event = by_name["wait approval"], by_name["event approval"]
    # Not an hour: the timer was abandoned when the event came.
    assert timer.end_time == event.end_time < timer.start_time + 60 * 10**9
    assert timer.attributes["durable_python.due"] == pytest.approx(timer.start_time / 1e9 + 3600)
    assert event.status.status_code == StatusCode.UNSET


def test_a_cancelled_sleep_ends_with_the_run(tool):
    tool.write(
        "nap.py",
        """
        import time

        import durable_python

        print("sleeping", durable_python.run_id())
        time.sleep(600)
        """,
    )
    process = tool.start("run", "nap.py", env=NO_TRACING)
    run_id = process.expect(r"^sleeping \w+")[-1].split()[1]
    assert tool.cli("cancel", run_id).returncode == 0
    finished = process.finish()
    assert finished.returncode == 79, finished
    store = tool.open_store()
    run = store.read(run_id)
    spans = in_memory_trace(run, store.entries(run, attempts=True))
    by_name = {s.name: s for s in spans}
    root, sleep, cancel = by_name["run nap.py"], by_name["sleep"], by_name["cancel time.sleep"]
    assert root.attributes["durable_python.status"] == "cancelled"
    assert root.status.status_code == StatusCode.UNSET  # cancelled on purpose: not an error
    assert sleep.end_time <= root.end_time < sleep.start_time + 60 * 10**9  # not 600 s
    assert sleep.attributes["durable_python.due"] == pytest.approx(sleep.start_time / 1e9 + 600)
    assert cancel.status.description.startswith("Cancelled: ")


# ----- exported when the run ends, over OTLP/HTTP -------------------------------------------------


class Collector:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                assert self.path == "/v1/traces", self.path
                collector.requests.append(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.http.server_address[1]}/v1/traces"
        self.env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.endpoint,
        }

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) of every span received."""
        return [
            (attributes(resource_spans.resource.attributes), span)
            for request in self.requests
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def attributes(pairs) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


@pytest.fixture
def collector():
    found = Collector()
    yield found
    found.close()


def test_a_run_that_ends_is_exported_once_and_runs_as_without_tracing(tool, witness, collector):
    plain = tool.run(*job(tool, witness, counter="plain"), env=NO_TRACING)
    assert plain.returncode == 0, plain
    assert collector.requests == []

    traced = tool.run(*job(tool, witness, counter="traced"), env=collector.env)
    assert traced.returncode == 0, traced
    assert traced.stdout == plain.stdout
    assert traced.notes == "", traced  # nothing said when the export went well
    run_id = tool.newest_run()["run_id"]
    received = collector.spans()
    assert len({span.trace_id for _, span in received}) == 1
    assert {resource["service.name"] for resource, _ in received} == {"durable-python"}
    root = next(span for _, span in received if not span.parent_span_id)
    assert root.name == "run job.py"
    assert attributes(root.attributes)["durable_python.run_id"] == run_id
    assert all(
        attributes(span.attributes)["durable_python.run_id"] == run_id for _, span in received
    )
    store = tool.open_store()
    entries = store.entries(store.read(run_id), attempts=True)
    assert sorted(span.name for _, span in received if span.parent_span_id) == sorted(
        span_name(e) for e in entries if e.policy in SPANNED
    )


def test_a_resumed_run_is_one_trace_of_both_processes(tool, witness, collector):
    args = job(tool, witness)
    killed = tool.run(*args, kill_at=2, env=collector.env)
    assert killed.killed, killed
    assert collector.requests == []  # a run that did not end exports nothing
    resumed = tool.run(*args, env=collector.env)
    assert resumed.returncode == 0, resumed
    received = [span for _, span in collector.spans()]
    assert len({span.trace_id for span in received}) == 1
    children = [span for span in received if span.parent_span_id]
    store = tool.open_store()
    run = store.read(tool.newest_run()["run_id"])
    expected = [e for e in store.entries(run, attempts=True) if e.policy in SPANNED]
    assert sorted((s.start_time_unix_nano, s.name) for s in children) == sorted(
        (ns(e.started), span_name(e)) for e in expected
    )
    boundary = ns(killed.ended_at)
    assert any(s.end_time_unix_nano < boundary for s in children)  # recorded by the first
    assert any(s.start_time_unix_nano > boundary for s in children)  # and by the second
    assert [s.name for s in received if not s.parent_span_id] == ["run job.py"]


def test_a_collector_that_is_down_costs_one_line_and_not_the_exit_code(tool, witness):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1",
    }
    for ending, code in (("complete", 0), ("fail", 1)):
        done = tool.run(*job(tool, witness, ending, counter=ending), env=env)
        assert done.returncode == code, done
        notes = done.notes.splitlines()
        assert len(notes) == 1 and "its trace was not exported" in notes[0], done
        if ending == "complete":
            assert done.script_stderr == "", done


def test_missing_opentelemetry_is_said_once_and_the_run_goes_on(tool, witness, collector):
    tool.write_lib("opentelemetry/__init__.py", 'raise ImportError("not installed here")\n')
    done = tool.run(*job(tool, witness), env=collector.env)
    assert done.returncode == 0, done
    assert done.notes.strip() == (
        "durable-python: tracing is on but opentelemetry-sdk is not installed:"
        " pip install 'durable-python[otel]'"
    ), done
    assert collector.requests == []


def test_the_console_exporter_writes_to_stderr_not_the_scripts_stdout(tool, witness):
    plain = tool.run(*job(tool, witness, counter="plain"), env=NO_TRACING)
    console = tool.run(
        *job(tool, witness, counter="console"), env={"OTEL_TRACES_EXPORTER": "console"}
    )
    assert console.returncode == 0, console
    assert console.stdout == plain.stdout
    assert '"name": "run job.py"' in console.stderr and '"name": "sleep"' in console.stderr


# ----- configuration --------------------------------------------------------------------------


def test_otel_true_in_pyproject_turns_it_on(tool, witness, collector):
    endpoint = {
        "OTEL_TRACES_EXPORTER": None,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint,
    }
    tool.write("pyproject.toml", "[tool.durable-python]\notel = false\n")
    assert tool.run(*job(tool, witness, counter="off"), env=endpoint).returncode == 0
    assert collector.requests == []
    tool.write("pyproject.toml", "[tool.durable-python]\notel = true\n")
    assert tool.run(*job(tool, witness, counter="on"), env=endpoint).returncode == 0
    names = [span.name for _, span in collector.spans()]
    assert "run job.py" in names and "sleep" in names
    received = len(collector.requests)
    # The standard variable says no, whatever pyproject says.
    off = {**endpoint, "OTEL_TRACES_EXPORTER": "none"}
    assert tool.run(*job(tool, witness, counter="none"), env=off).returncode == 0
    assert len(collector.requests) == received


@pytest.mark.parametrize(
    ("text", "on"),
    [
        ("", False),
        ("otel = true", True),
        ("otel = false", False),
        ("otel = {}", True),
        ("otel = { enabled = false }", False),
    ],
)
def test_otel_setting(tmp_path: Path, monkeypatch, text, on):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "DURABLE_PYTHON_STORE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text(f"[tool.durable-python]\n{text}\n")
    settings = config.load(tmp_path)
    assert settings.otel is on
    assert tracing.enabled(settings) is on
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.enabled(settings)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing.enabled(settings)
    assert tracing.configured_provider(settings) is None


@pytest.mark.parametrize("text", ['otel = "yes"', 'otel = { endpoint = "http://x" }'])
def test_otel_setting_that_is_not_a_switch_is_an_error(tmp_path: Path, text):
    (tmp_path / "pyproject.toml").write_text(f"[tool.durable-python]\n{text}\n")
    with pytest.raises(UsageError, match="otel must be true or false"):
        config.load(tmp_path)
