"""The HTTP API of ``durable-python serve``: start runs, read them and their journals, send
events, cancel; and the webhook paths. JSON throughout, described by ``/openapi.json``.

FastAPI declares each route once: its validation, its answer's shape and the OpenAPI document
come from the same declaration. Handlers are plain functions (FastAPI runs them in its thread
pool): every store is safe to share between threads.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from durable_python import inspect_runs, waiting
from durable_python.errors import DurablePythonError
from durable_python.model import Policy, Run
from durable_python.stores.base import Store

from . import webhooks
from .starting import Start, StartRefused

MAX_BODY = 10 * 1024 * 1024  # bytes of a webhook or event body
OUTPUT_TAIL = 40  # lines of output a run's view carries


@dataclass(frozen=True)
class Settings:
    """What the API serves from."""

    store: Store
    start: Start  # starting.start_run with its store, scripts and suspension bound
    token: str | None = None
    webhooks: tuple[webhooks.Webhook, ...] = ()


# ----- what the API answers (the OpenAPI document's schemas) -------------------------------------


class StartRun(BaseModel):
    script: str = Field(description="path of the script, relative to the scripts directory")
    args: list[str] = Field(default_factory=list, description="the script's arguments")
    run_id: str | None = Field(
        default=None, description="the run's id: starting the same id again starts nothing new"
    )


class RunView(BaseModel):
    run_id: str
    status: str = Field(description="queued, new, running, suspended, crashed, completed, ...")
    script: str
    args: list[str]
    exit_code: int | None
    error: str | None
    started: float
    updated: float
    last_activity: float
    entries: int
    waiting_for: str | None = Field(description="the event a suspended run waits for")
    wake_at: float | None = Field(description="when a suspended run's timer falls due")
    queue: str | None
    note: str | None = Field(description="why workers left an enqueued run")
    trigger: dict[str, Any] | None
    output_tail: list[str] = Field(description="its last lines of output")


class Started(RunView):
    created: bool = Field(description="false: a run with this id existed, nothing new started")


class RunPage(BaseModel):
    runs: list[RunView]
    next_cursor: str | None = Field(description="pass as cursor for the next page")


class JournalEntry(BaseModel):
    task: str
    seq: int
    attempt: int
    policy: str
    name: str
    site: str
    outcome: str
    started: float
    ended: float
    error: str | None
    value: Any = Field(description="the recorded value where it is JSON, else null")
    summary: str


class EventSent(BaseModel):
    run_id: str
    event: str
    event_id: str
    new: bool = Field(description="false: an event with this id was sent before; kept once")


class CancelOutcome(BaseModel):
    run_id: str
    outcome: str = Field(description="requested (a process runs it), cancelled, or final")
    status: str


class Problem(BaseModel):
    detail: str


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
    )
    app.state.token = settings.token
    store = settings.store
    auth = [Depends(_authorized)]

    @app.exception_handler(StartRefused)
    def refused(request: Request, exc: StartRefused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, exc.status, headers=headers)

    @app.middleware("http")
    async def store_failures(request: Request, call_next: Any) -> Response:
        """The store down, locked or full: 503 with what it said (our errors are not
        ``Exception``s, so that scripts' ``except Exception`` cannot swallow them)."""
        try:
            return await call_next(request)
        except DurablePythonError as exc:
            return JSONResponse({"detail": str(exc)}, 503)

    @app.get("/openapi.json", include_in_schema=False, dependencies=auth)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    def existing(run_id: str) -> Run:
        run = store.read(run_id)
        if run is None:
            raise StartRefused(404, f"no run {run_id!r}")
        return run

    def view(run: Run, entries: int | None = None) -> dict[str, Any]:
        """The run as the API shows it; ``entries`` given (a listing): without reading its
        journal, so without its output."""
        journal = store.journal(run) if entries is None else []
        record = inspect_runs.run_record(store, run, len(journal) if entries is None else entries)
        if record["status"] in ("queued", "new", "running", "crashed"):
            record["exit_code"] = None  # the code of an earlier process (a suspension's 75)
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
        responses=_problems(401, 403, 404, 409),
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
        responses=_problems(401),
        summary="List runs, newest first",
        dependencies=auth,
    )
    def get_runs(
        status: str | None = None,
        script: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        after = _decode_cursor(cursor) if cursor else None
        runs = sorted(store.runs(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        counts = store.entry_counts() if runs else {}
        page: list[dict[str, Any]] = []
        for run in runs:
            if after is not None and (run.created_at, run.run_id) >= after:
                continue
            if script is not None and script not in (run.argv[0] if run.argv else run.script):
                continue
            record = view(run, counts.get(run.run_id, 0))
            if status is not None and record["status"] != status:
                continue
            if len(page) == limit:
                last = page[-1]
                return {"runs": page, "next_cursor": _encode_cursor(last)}
            page.append(record)
        return {"runs": page, "next_cursor": None}

    @app.get(
        "/runs/{run_id}",
        response_model=RunView,
        responses=_problems(401, 404),
        summary="A run: status, exit code, what it waits for, its output's tail",
        dependencies=auth,
    )
    def get_run(run_id: str) -> dict[str, Any]:
        return view(existing(run_id))

    @app.get(
        "/runs/{run_id}/journal",
        response_model=list[JournalEntry],
        responses=_problems(401, 404),
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
        responses=_problems(401, 404, 409, 413, 415, 422),
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
        responses=_problems(401, 404, 409),
        summary="Cancel a run (a live one gets durable_python.Cancelled raised)",
        dependencies=auth,
    )
    def post_cancel(run_id: str) -> dict[str, Any]:
        run = existing(run_id)
        if run.is_final and run.status != "cancelled":
            raise StartRefused(409, f"run {run_id} already {run.status}: it cannot be cancelled")
        outcome, run = waiting.cancel(store, run)
        return {"run_id": run.run_id, "outcome": outcome, "status": run.status.value}

    for hook in settings.webhooks:
        _add_webhook(app, settings, hook)
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
            return JSONResponse({"ignored": f"no rule of {hook.path} matches this request"}, 200)
        run_id = webhooks.render(rule.run_id, incoming)
        if rule.event is not None:
            return _send_webhook_event(settings.store, rule.event, run_id, incoming, body)
        args = [webhooks.render(arg, incoming) for arg in rule.args]
        run, created = settings.start(
            script=rule.script, args=args, run_id=run_id, trigger=incoming, queue=rule.queue
        )
        return JSONResponse(
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
    run = store.read(run_id)
    if run is None or run.is_final:
        why = "no such run" if run is None else f"it is {run.status}"
        return JSONResponse({"ignored": f"event {event!r} not sent to run {run_id}: {why}"}, 200)
    event_id, new = store.send_event(run_id, event, incoming, webhooks.delivery_id(incoming, body))
    return JSONResponse({"run_id": run_id, "event": event, "event_id": event_id, "new": new}, 202)


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
