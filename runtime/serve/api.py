"""The HTTP API of ``durable-python serve``: start runs, list them, read them, their journals
and their source; send events, cancel, resume, fork, replay; and the webhook paths. JSON
throughout, described by ``/openapi.json``; the console (console.py) is built on it.

FastAPI declares each route once: its validation, its answer's shape and the OpenAPI document
come from the same declaration. Handlers are plain functions (FastAPI runs them in its thread
pool): every store is safe to share between threads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from durable_python import child, forking, inspect_runs, waiting, worker
from durable_python.errors import DurablePythonError, UsageError
from durable_python.model import Policy, Run
from durable_python.stores.base import CLAIM_WAIT, RunQuery, Store

from . import webhooks
from .console import add_console
from .schemas import (
    CancelOutcome,
    EventSent,
    Fork,
    JournalEntry,
    Problem,
    ReplayVerdict,
    RunPage,
    RunView,
    Source,
    Started,
    StartRun,
)
from .starting import Start, StartRefused, require_text

MAX_BODY = 10 * 1024 * 1024  # bytes of a webhook or event body
# The stored statuses of each status a person sees (inspect_runs.status_of): an enqueued run is
# "queued", one whose process is gone "crashed".
STORED_STATUSES = {
    "queued": frozenset({"new"}),
    "crashed": frozenset({"new", "running"}),
    "running": frozenset({"running"}),
}
OUTPUT_TAIL = 40  # lines of output a run's view carries
REPLAY_TIMEOUT = 120  # seconds, as ``durable-python replay`` allows by default


@dataclass(frozen=True)
class Settings:
    """What the API serves from."""

    store: Store
    start: Start  # starting.start_run with its store, scripts and suspension bound
    token: str | None = None
    webhooks: tuple[webhooks.Webhook, ...] = ()


class AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: text the API did not make (a script's
    output, an argument) may hold a lone surrogate, which UTF-8 cannot encode but JSON can."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


class _StoreFailures:
    """The store down, locked or full: 503 with what it said. (Our errors are not
    ``Exception``s, so that scripts' ``except Exception`` cannot swallow them, and so no
    exception handler of Starlette's sees them.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except DurablePythonError as exc:
            if scope["type"] != "http":
                raise
            await AsciiJSON({"detail": str(exc)}, 503)(scope, receive, send)


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in codes}


# ----- the app --------------------------------------------------------------------------------


def create_app(settings: Settings) -> FastAPI:
    """The ASGI application serving ``settings``."""
    app = FastAPI(
        title="durable-python",
        description="Start durable runs, follow them, send them events, cancel them.",
        version="1",
        openapi_url=None,  # served below, behind the token like every route
        docs_url=None,  # the browsable docs load assets from the internet; this works offline
        redoc_url=None,
        default_response_class=AsciiJSON,
        responses=_problems(401, 422, 503),  # every route: token, malformed request, store down
    )
    app.state.token = settings.token
    app.add_middleware(_StoreFailures)
    store = settings.store
    auth = [Depends(_authorized)]

    @app.exception_handler(StartRefused)
    def refused(request: Request, exc: StartRefused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return AsciiJSON({"detail": str(exc)}, exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A request that does not fit the document: 422 with one line per problem, in the
        shape of every other refusal."""
        problems = [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
        return AsciiJSON({"detail": "; ".join(problems)}, 422)

    @app.get("/openapi.json", include_in_schema=False, dependencies=auth)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    def existing(run_id: str) -> Run:
        if "\0" in run_id:  # no run has one (and PostgreSQL refuses to compare with it)
            raise StartRefused(404, f"no run {run_id!r}")
        run = store.read(run_id)
        if run is None:
            raise StartRefused(404, f"no run {run_id!r}")
        return run

    def view(run: Run, entries: int | None = None) -> dict[str, Any]:
        """The run as the API shows it; ``entries`` given (a listing): without reading its
        journal, so without its output."""
        journal = store.journal(run) if entries is None else []
        record = inspect_runs.run_record(store, run, len(journal) if entries is None else entries)
        if record["status"] in ("queued", "new", "running", "crashed", "suspended"):
            record["exit_code"] = None  # the code of a process, not of the run (a suspension's 75)
        record["args"] = record.pop("argv")[1:]
        record["script"] = run.argv[0] if run.argv else run.script
        lines = "".join(
            e.payload.decode("utf-8", "replace") for e in journal if e.policy == Policy.OUTPUT
        ).splitlines()
        record["output_tail"] = lines[-OUTPUT_TAIL:]
        return record

    @app.post(
        "/runs",
        status_code=202,
        response_model=Started,
        responses=_problems(400, 403, 404, 409),
        summary="Start a run (idempotent with run_id)",
        dependencies=auth,
    )
    def post_run(start: StartRun, response: Response) -> dict[str, Any]:
        run, created = settings.start(
            script=start.script, args=start.args, run_id=start.run_id, trigger={"kind": "api"}
        )
        response.headers["Location"] = f"/runs/{run.run_id}"
        return {**view(run, 0 if created else None), "created": created}

    @app.get(
        "/runs",
        response_model=RunPage,
        summary="List runs, newest first",
        dependencies=auth,
    )
    def get_runs(
        status: str | None = None,
        script: str | None = None,
        q: Annotated[str | None, Query(description="text in the run's id or arguments")] = None,
        since: Annotated[float | None, Query(description="started at or after (epoch s)")] = None,
        until: Annotated[float | None, Query(description="started before (epoch s)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        query = RunQuery(
            limit=limit + 1,  # one more than the page: whether there is a next one
            before=_decode_cursor(cursor) if cursor else None,
            since=since,
            until=until,
            script=script,
            text=q or None,
            statuses=STORED_STATUSES.get(status, frozenset({status})) if status else None,
        )
        chosen: list[Run] = []
        while len(chosen) <= limit:  # the store filters stored statuses; a few need a look
            batch = store.runs_page(query)
            chosen += [r for r in batch if not status or inspect_runs.status_of(store, r) == status]
            if len(batch) < query.limit:
                break
            query = dataclasses.replace(query, before=(batch[-1].created_at, batch[-1].run_id))
        counts = store.entry_counts([run.run_id for run in chosen[:limit]]) if chosen else {}
        page = [view(run, counts.get(run.run_id, 0)) for run in chosen[:limit]]
        more = len(chosen) > limit
        return {"runs": page, "next_cursor": _encode_cursor(page[-1]) if more else None}

    @app.get(
        "/runs/{run_id}",
        response_model=RunView,
        responses=_problems(404),
        summary="A run: status, exit code, what it waits for, its output's tail",
        dependencies=auth,
    )
    def get_run(run_id: str) -> dict[str, Any]:
        return view(existing(run_id))

    @app.get(
        "/runs/{run_id}/journal",
        response_model=list[JournalEntry],
        responses=_problems(404),
        summary="A run's journal, as `durable-python show --json` gives it",
        dependencies=auth,
    )
    def get_journal(run_id: str, calls: bool = False) -> list[dict[str, Any]]:
        run = existing(run_id)
        return [inspect_runs.entry_record(e) for e in inspect_runs.journal_view(store, run, calls)]

    @app.post(
        "/runs/{run_id}/events/{name}",
        status_code=202,
        response_model=EventSent,
        responses=_problems(404, 409, 413, 415),
        summary="Send an event (the body is its JSON payload); Idempotency-Key deduplicates",
        dependencies=auth,
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": {}}}, "required": False}
        },
    )
    async def post_event(run_id: str, name: str, request: Request) -> dict[str, Any]:
        body = await _body(request)
        if body.strip() and "json" not in request.headers.get("content-type", ""):
            # A browser can send any page's form to localhost, but not as JSON without asking.
            raise StartRefused(415, "send the payload as Content-Type: application/json")
        try:
            payload = json.loads(body) if body.strip() else None
        except ValueError as exc:
            raise StartRefused(422, f"the body is not JSON: {exc}") from None
        require_text(name, "the event's name")
        require_text(payload, "the payload")
        run = existing(run_id)
        if run.is_final:
            raise StartRefused(409, f"run {run_id} is {run.status}: event {name!r} not sent")
        event_id = request.headers.get("idempotency-key") or None
        event_id, new = store.send_event(run.run_id, name, payload, event_id)
        return {"run_id": run.run_id, "event": name, "event_id": event_id, "new": new}

    @app.post(
        "/runs/{run_id}/cancel",
        status_code=202,
        response_model=CancelOutcome,
        responses=_problems(404, 409),
        summary="Cancel a run (a live one gets durable_python.Cancelled raised)",
        dependencies=auth,
    )
    def post_cancel(run_id: str) -> dict[str, Any]:
        run = existing(run_id)
        if run.is_final and run.status != "cancelled":
            raise StartRefused(409, f"run {run_id} already {run.status}: it cannot be cancelled")
        outcome, run = waiting.cancel(store, run)
        return {"run_id": run.run_id, "outcome": outcome, "status": run.status.value}

    @app.get(
        "/runs/{run_id}/source",
        response_model=Source,
        responses=_problems(404),
        summary="The run's script as it is now, with the lines its entries were recorded at",
        dependencies=auth,
    )
    def get_source(run_id: str) -> dict[str, Any]:
        run = existing(run_id)
        try:
            with open(run.script, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            raise StartRefused(404, f"the script {run.script} cannot be read: {exc}") from None
        lines: dict[int, list[str]] = {}
        frontier = None
        for entry in store.entries(run):
            path, _, line = entry.site.rpartition(":")
            if line.isdigit() and os.path.realpath(os.path.join(run.cwd, path)) == run.script:
                lines.setdefault(int(line), []).append(f"{entry.task}/{entry.seq}")
                if entry.task == "main":
                    frontier = int(line)
        changed = not run.executed(hashlib.sha256(text.encode()).hexdigest())
        return {
            "path": run.argv[0] if run.argv else run.script,
            "text": text,
            "lines": {str(n): entries for n, entries in sorted(lines.items())},
            "frontier": frontier,
            "changed": changed and bool(run.source_hash),
        }

    @app.post(
        "/runs/{run_id}/resume",
        status_code=202,
        response_model=RunView,
        responses=_problems(404, 409),
        summary="Resume a suspended, crashed or failed run now (a failed call is tried again)",
        dependencies=auth,
    )
    def post_resume(run_id: str) -> dict[str, Any]:
        run = existing(run_id)
        if run.is_final or run.in_queue:
            why = "queued: the queue starts it" if run.in_queue else f"already {run.status}"
            raise StartRefused(409, f"run {run_id} is {why}; nothing to resume")
        claim = store.claim(run.run_id, wait=CLAIM_WAIT)
        if claim is None:
            raise StartRefused(409, f"run {run_id} is running now; nothing to resume")
        fresh = store.read(run.run_id) or run
        if fresh.is_final:
            claim.release()
            raise StartRefused(409, f"run {run_id} has just finished; nothing to resume")
        process = worker.spawn(store, fresh, claim)
        threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
        return view(fresh)

    @app.post(
        "/runs/{run_id}/fork",
        status_code=202,
        response_model=RunView,
        responses=_problems(400, 404),
        summary="A new run that replays this run's entries before `at`, then goes on live",
        dependencies=auth,
    )
    def post_fork(run_id: str, fork: Fork) -> dict[str, Any]:
        try:
            forked, _, _ = forking.fork(store, existing(run_id), fork.at)
        except UsageError as exc:
            raise StartRefused(422, str(exc)) from None
        store.notify_due(forked.run_id)  # unfinished with no process: the worker continues it
        return view(forked)

    @app.post(
        "/runs/{run_id}/replay",
        response_model=ReplayVerdict,
        responses=_problems(404, 500, 504),
        summary="Replay the run's journal against the script as it is now, executing nothing",
        dependencies=auth,
    )
    def post_replay(run_id: str) -> dict[str, Any]:
        run = existing(run_id)
        try:
            done = subprocess.run(
                child.command("replay", "--json", run.run_id),
                env=child.environment(store.address),
                cwd=run.cwd if os.path.isdir(run.cwd) else None,
                capture_output=True,
                text=True,
                timeout=REPLAY_TIMEOUT + 30,  # replay stops itself at REPLAY_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise StartRefused(504, f"the replay of run {run_id} did not end in time") from None
        lines = done.stdout.strip().splitlines()
        if not lines:  # it could not start: say what it said
            raise StartRefused(500, f"replay gave no verdict: {done.stderr.strip()[-2000:]}")
        return json.loads(lines[-1])

    for hook in settings.webhooks:
        _add_webhook(app, settings, hook)
    add_console(app)
    return app


_BEARER = HTTPBearer(auto_error=False)


def _authorized(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> None:
    """With a token, every request must carry it (``Authorization: Bearer TOKEN``)."""
    token = request.app.state.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise StartRefused(401, "missing or wrong token: send Authorization: Bearer TOKEN")


def _add_webhook(app: FastAPI, settings: Settings, hook: webhooks.Webhook) -> None:
    """``POST hook.path``: answer 202 at once with the run it started or the event it sent; a
    path with a secret is proven by its signature, any other needs the token."""
    dependencies = [] if hook.secret is not None else [Depends(_authorized)]

    async def receive(request: Request) -> JSONResponse:
        body = await _body(request)
        if not hook.verify(body, request.headers.get("x-hub-signature-256")):
            raise StartRefused(401, f"the signature of this request to {hook.path} is wrong")
        incoming = webhooks.request_of(
            request.method, hook.path, dict(request.headers), dict(request.query_params), body
        )
        rule = next((rule for rule in hook.rules if rule.matches(incoming)), None)
        if rule is None:
            return AsciiJSON({"ignored": f"no rule of {hook.path} matches this request"}, 200)
        run_id = webhooks.render(rule.run_id, incoming)
        if rule.event is not None:
            return _send_webhook_event(settings.store, rule.event, run_id, incoming, body)
        args = [webhooks.render(arg, incoming) for arg in rule.args]
        run, created = settings.start(
            script=rule.script, args=args, run_id=run_id, trigger=incoming, queue=rule.queue
        )
        return AsciiJSON(
            {"run_id": run.run_id, "created": created},
            202,
            headers={"Location": f"/runs/{run.run_id}"},
        )

    app.add_api_route(
        hook.path,
        receive,
        methods=["POST"],
        dependencies=dependencies,
        include_in_schema=False,
    )


def _send_webhook_event(
    store: Store, event: str, run_id: str, incoming: dict[str, Any], body: bytes
) -> JSONResponse:
    require_text(incoming, "the request")
    run = store.read(run_id)
    if run is None or run.is_final:
        why = "no such run" if run is None else f"it is {run.status}"
        return AsciiJSON({"ignored": f"event {event!r} not sent to run {run_id}: {why}"}, 200)
    event_id, new = store.send_event(run_id, event, incoming, webhooks.delivery_id(incoming, body))
    return AsciiJSON({"run_id": run_id, "event": event, "event_id": event_id, "new": new}, 202)


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise StartRefused(413, f"the body is larger than {MAX_BODY} bytes")
    return body


def _encode_cursor(record: dict[str, Any]) -> str:
    raw = json.dumps([record["started"], record["run_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, run_id = json.loads(raw)
        return float(started), str(run_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise StartRefused(422, "cursor is not one this API gave: pass next_cursor as is") from exc
