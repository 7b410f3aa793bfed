"""The pull-request story of ``scripts/examples/triggers/`` under ``durable-python serve``, on
both stores, against the fake chat API as a process of its own: GitHub's signed "opened" webhook
starts a run per pull request that posts a reminder a day (a day is 3 s here) and is suspended
in between; the server is killed with SIGKILL between two days and started again; the "closed"
webhook ends the run. Every reminder is posted once, in order. Also the example's schedule (its
clock moved to past 09:00 in Riga) and its inbox watch."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from durable_python.testing import Process, wait_until

from .conftest import REPO, Server, ServeSandbox, free_port

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "scripts" / "examples"
SECRET = "a-webhook-secret"
DAY = 3.0  # seconds: REMINDER_DAY_SECONDS
REMINDER = re.compile(r"Reminder \(day (\d+)\): PR #\d+ is still open and needs a review\.")
FINISHED = ("completed", "exited", "failed", "cancelled")
UNFINISHED = ("new", "queued", "running", "suspended", "crashed")


class Chat:
    """``fake_chat_api.py``, started as a process on a free port of 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        command = [sys.executable, str(EXAMPLES / "fake_chat_api.py"), "--port", "0"]
        self.process = Process(command, cwd=root, env=dict(os.environ))
        self.url = f"http://127.0.0.1:{int(self.process.readline())}"

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    def channel(self, name: str) -> dict[str, Any] | None:
        found = [c for c in self.stats()["channels"] if c["name"] == name]
        assert len(found) <= 1, f"{len(found)} channels named {name}"
        return found[0] if found else None

    def texts(self, name: str) -> list[str]:
        channel = self.channel(name)
        return [] if channel is None else [m["text"] for m in channel["messages"]]

    def days(self, name: str) -> list[int]:
        """The day numbers of the reminders posted in the channel, in order."""
        return [int(m.group(1)) for text in self.texts(name) if (m := REMINDER.fullmatch(text))]


@pytest.fixture(autouse=True)
def no_process_left(sandbox: ServeSandbox) -> Iterator[None]:
    """After the test, passed or not: servers stopped and unfinished runs cancelled, so that no
    run's process (a session of its own) outlives it."""
    yield
    for server in sandbox.servers:
        server.stop()
    for run in sandbox.runs():
        if run["status"] in UNFINISHED:
            sandbox.cli("cancel", "--wait", run["run_id"], timeout=60)
    sandbox.settle()


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Chat]:
    api = Chat(tmp_path)
    yield api
    api.process.stop()


def github(
    server: Server,
    action: str,
    number: int,
    delivery: str,
    *,
    merged: bool = False,
    secret: str = SECRET,
) -> httpx.Response:
    """POST what GitHub sends for a ``pull_request`` event, signed with ``secret``."""
    pull_request = {
        "number": number,
        "title": f"Pull request {number}",
        "user": {"login": "ada"},
        "merged": merged,
    }
    body = json.dumps({"action": action, "number": number, "pull_request": pull_request}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }
    return server.post("/github", content=body, headers=headers)


def project(sandbox: ServeSandbox) -> None:
    shutil.copytree(EXAMPLES / "triggers", sandbox.work, dirs_exist_ok=True)


def test_reminders_from_opened_to_merged_across_a_server_kill(
    sandbox: ServeSandbox, chat: Chat
) -> None:
    project(sandbox)
    env = {"GITHUB_WEBHOOK_SECRET": SECRET, "CHAT_API": chat.url, "REMINDER_DAY_SECONDS": "3"}
    server = sandbox.serve("--suspend-after", "1", env=env)

    opened = str(uuid.uuid4())
    first = github(server, "opened", 42, opened)
    assert first.status_code == 202, first.text
    assert first.json() == {"run_id": "pr-42", "created": True}
    assert first.headers["location"] == "/runs/pr-42"
    again = github(server, "opened", 42, opened)  # GitHub redelivers it
    assert (again.status_code, again.json()) == (202, {"run_id": "pr-42", "created": False})
    forged = github(server, "opened", 44, str(uuid.uuid4()), secret="not-the-secret")
    assert forged.status_code == 401, forged.text
    other = github(server, "opened", 43, str(uuid.uuid4()))  # another pull request, meanwhile
    assert other.json() == {"run_id": "pr-43", "created": True}
    listed = server.get("/runs", params={"script": "jobs/pr_reminder.py"}).json()["runs"]
    assert sorted(run["run_id"] for run in listed) == ["pr-42", "pr-43"]
    trigger = server.run("pr-42")["trigger"]
    assert trigger["headers"]["x-github-delivery"] == opened
    assert trigger["body"]["pull_request"]["number"] == 42

    def suspended_with(days: int) -> dict[str, Any] | None:
        """pr-42's view once it posted ``days`` reminders and is suspended with more than a
        second to go (so that no worker resumes it before the kill)."""
        if len(chat.days("pr-42")) < days:
            return None
        view = server.run("pr-42")
        if view["status"] != "suspended" or view["wake_at"] - time.time() < 1.0:
            return None
        return view

    view = wait_until(lambda: suspended_with(2), 60, "two reminders for PR 42", poll=0.1)
    assert view["waiting_for"] == "closed"  # no process: the store holds the wait
    server.kill()
    assert sandbox.status("pr-42") == "suspended"
    before = chat.days("pr-42")
    wait_until(lambda: time.time() > view["wake_at"] + 0.5, 2 * DAY, "the day to be over")
    assert chat.days("pr-42") == before  # due, but no worker runs: nothing was posted

    server = sandbox.serve("--suspend-after", "1", env=env)  # resumes the overdue run at once
    wait_until(lambda: suspended_with(len(before) + 2), 60, "two more reminders", poll=0.1)

    closed = str(uuid.uuid4())
    sent = github(server, "closed", 42, closed, merged=True)
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"run_id": "pr-42", "event": "closed", "event_id": closed, "new": True}
    done = server.wait_status("pr-42", FINISHED, timeout=60)
    assert (done["status"], done["exit_code"]) == ("completed", 0), done
    assert done["output_tail"][-1] == "done: merged"
    days = chat.days("pr-42")
    assert days == list(range(1, len(days) + 1)), chat.texts("pr-42")  # none lost or repeated
    assert len(days) >= len(before) + 2
    texts = chat.texts("pr-42")
    assert texts[0] == "PR #42 'Pull request 42' by ada is waiting for a review."
    assert texts[-1] == f"PR #42 was merged after {len(days)} reminder(s). Closing this channel."
    assert len(texts) == len(days) + 2
    assert chat.channel("pr-42")["archived"]

    late = github(server, "closed", 42, closed, merged=True)  # redelivered after the end
    assert late.status_code == 200, late.text
    assert "it is completed" in late.json()["ignored"]
    assert chat.texts("pr-42") == texts

    journal = server.get("/runs/pr-42/journal", params={"calls": "true"}).json()
    waits = [e for e in journal if e["policy"] == "event"]
    timed_out = [e for e in waits if (e["error"] or "").startswith("TimeoutError")]
    assert len(timed_out) == len(days)  # one a day: each recorded once, never waited again
    assert waits[-1]["outcome"] == "ok"
    assert waits[-1]["value"]["id"] == closed  # the event: the webhook's request
    assert waits[-1]["value"]["payload"]["body"]["pull_request"]["merged"] is True

    # The other pull request went its own way; it is closed without merging.
    assert github(server, "closed", 43, str(uuid.uuid4())).status_code == 202
    done = server.wait_status("pr-43", FINISHED, timeout=60)
    assert (done["status"], done["output_tail"][-1]) == ("completed", "done: closed"), done
    days = chat.days("pr-43")
    assert days == list(range(1, len(days) + 1)), chat.texts("pr-43")
    assert chat.texts("pr-43")[-1] == (
        f"PR #43 was closed after {len(days)} reminder(s). Closing this channel."
    )

    stats = chat.stats()
    messages = sum(len(c["messages"]) for c in stats["channels"])
    assert stats["requests"]["POST /channels"] == 2
    assert stats["requests"]["POST /channels/N/messages"] == messages  # no request repeated
    assert stats["requests"]["POST /channels/N/archive"] == 2
    assert stats["repeated_keys"] == 0
    server.stop()


def test_the_morning_digest_and_the_inbox_watch(sandbox: ServeSandbox, chat: Chat) -> None:
    project(sandbox)
    env = {"GITHUB_WEBHOOK_SECRET": SECRET, "CHAT_API": chat.url}
    server = sandbox.serve(env=env)  # the schedule's first start: no fire of the past
    assert github(server, "opened", 7, str(uuid.uuid4())).status_code == 202
    assert server.wait_status("pr-7", ("suspended",))["waiting_for"] == "closed"  # for a day

    (sandbox.work / "inbox").mkdir()
    (sandbox.work / "inbox" / ".release.txt").write_text("Release 1.2 is out.\n")
    (sandbox.work / "inbox" / ".release.txt").rename(sandbox.work / "inbox" / "release.txt")
    wait_until(lambda: chat.texts("release"), 60, "the announcement", poll=0.1)
    assert chat.texts("release") == ["Release 1.2 is out."]
    server.stop()

    # Started again one minute past the next 09:00 in Riga (its clock and its runs' moved):
    # the schedule catches up with the fire it missed, and the digest lists pull request 7.
    riga = ZoneInfo("Europe/Riga")
    now = datetime.now(riga)
    nine = now.replace(hour=9, minute=0, second=0, microsecond=0)
    nine += timedelta(days=1) if nine <= now else timedelta()
    offset = nine.timestamp() + 60 - time.time()
    port = free_port()
    env |= {
        "DURABLE_PYTHON_TEST_CLOCK_OFFSET": str(offset),
        "SERVE_URL": f"http://127.0.0.1:{port}",
    }
    server = sandbox.serve(env=env, port=port)
    digest = server.wait_status(f"digest-{nine.astimezone(UTC):%Y%m%dT%H%M%SZ}", FINISHED)
    assert digest["exit_code"] == 0, digest
    assert digest["trigger"]["kind"] == "schedule"
    expected = "Good morning! 1 pull request(s) wait for a review: #7 'Pull request 7' by ada"
    assert digest["output_tail"] == [expected]
    assert chat.texts(f"digest-{nine:%Y-%m-%d}") == [expected]

    assert github(server, "closed", 7, str(uuid.uuid4()), merged=True).status_code == 202
    assert server.wait_status("pr-7", FINISHED)["output_tail"][-1] == "done: merged"
    announced = server.get("/runs", params={"script": "jobs/announce.py"}).json()["runs"]
    assert [run["status"] for run in announced] == ["completed"]  # the rescan started nothing
    assert chat.texts("release") == ["Release 1.2 is out."]
    server.stop()
