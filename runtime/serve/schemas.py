"""What the HTTP API takes and answers: the schemas of its OpenAPI document (pydantic)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .starting import RUN_ID_PATTERN


class StartRun(BaseModel):
    script: str = Field(
        pattern=r"^[^\x00]+$", description="path of the script, relative to the scripts directory"
    )
    args: list[str] = Field(default_factory=list, description="the script's arguments")
    run_id: str | None = Field(
        default=None,
        pattern=RUN_ID_PATTERN,
        description="the run's id: starting the same id again starts nothing new",
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
    arguments: list[str] | None = Field(
        description="a short rendering of each argument (null: not recorded)"
    )
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


class Source(BaseModel):
    path: str
    text: str
    lines: dict[str, list[str]] = Field(description="line number -> entries recorded there")
    frontier: int | None = Field(description="the line of the main task's last entry")
    changed: bool = Field(description="the script was edited since the run last executed")


class Fork(BaseModel):
    at: str = Field(
        pattern=r"^([^/\x00]+/)*[0-9]+$",
        description="keep the entries before this position: 12 or main/12",
    )


class ReplayVerdict(BaseModel):
    run_id: str
    script: str
    status: str = Field(description="clean, diverged, raised, timeout, syntax or missing")
    summary: str
    detail: str
    replayed: int
    total: int
    frontier: str | None
    divergence: dict[str, Any] | None = Field(
        description="recorded, attempted, argument_diff... where it diverged"
    )


class Problem(BaseModel):
    detail: str
