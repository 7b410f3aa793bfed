"""The pull-request reminder example against its fake API: killed mid-week and resumed, the channel
gets each message once."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
pytest.importorskip("requests")

EXAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "examples"


def _fake_api_module():
    spec = importlib.util.spec_from_file_location("fake_chat_api", EXAMPLES / "fake_chat_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chat():
    fake = _fake_api_module()
    api = fake.ChatApi(merge_after=3, watched_pr=7)
    api.handle("POST", "/prs", {"number": 7, "title": "Fix the flux", "author": "ada"}, None)
    server = fake.make_server(api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield api
    server.shutdown()
    server.server_close()


EXPECTED = [
    "PR #7 'Fix the flux' by ada is waiting for a review.",
    "Reminder (day 1): PR #7 is still open and needs a review.",
    "Reminder (day 2): PR #7 is still open and needs a review.",
    "Reminder (day 3): PR #7 is still open and needs a review.",
    "PR #7 was merged after 3 reminder(s). Closing this channel.",
]


@pytest.mark.parametrize("kill_ats", [[], [3], [6, 11]])
def test_reminders_are_posted_once_across_crashes(ih, chat, kill_ats):
    shutil.copy(EXAMPLES / "pr_reminder.py", ih.work / "pr_reminder.py")
    env = {"DURABLE_PYTHON_IDEMPOTENCY_KEYS": "1"}
    args = ("pr_reminder.py", chat.url, "7", "--day-seconds", "0.3")
    series = ih.series(*args, kill_ats=kill_ats, env=env)
    assert series.crashes == len(kill_ats), series
    (channel,) = chat.channels.values()
    assert [m["text"] for m in channel["messages"]] == EXPECTED, series
    assert channel["archived"] and channel["name"] == "pr-7"
    assert series.stdout.splitlines()[-1] == "done: merged after 3 reminder(s)", series
    requests = chat.requests
    assert requests["POST /channels"] + chat.repeated_keys >= 1
    assert requests["POST /channels/N/messages"] <= len(EXPECTED) + series.crashes, requests
    assert requests["GET /prs/N"] <= 5 + series.crashes, requests
