"""Morning digest, started by the schedule in pyproject.toml (09:00 in Riga): posts which pull
requests still wait for a review, as the server's own API lists the reminder runs.

``SERVE_URL`` is the server (default http://127.0.0.1:8080; a server with a token needs
``DURABLE_PYTHON_TOKEN`` in its environment), ``CHAT_API`` the chat API. Also started by hand
with ``curl localhost:8080/runs --json '{"script": "jobs/digest.py"}'``.
"""

import os
from datetime import datetime

import requests

import durable_python

CHAT_API = os.environ.get("CHAT_API", "http://127.0.0.1:8765")
SERVE_URL = os.environ.get("SERVE_URL", "http://127.0.0.1:8080")
TOKEN = os.environ.get("DURABLE_PYTHON_TOKEN")
FINISHED = ("completed", "exited", "failed", "cancelled")

trigger = durable_python.trigger()
date = trigger["fire_time_iso"][:10] if trigger["kind"] == "schedule" else f"{datetime.now():%F}"

headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
listed = requests.get(
    f"{SERVE_URL}/runs",
    params={"script": "jobs/pr_reminder.py", "limit": 500},
    headers=headers,
    timeout=30,
)
listed.raise_for_status()
waiting = [
    run["trigger"]["body"]["pull_request"]
    for run in listed.json()["runs"]
    if run["status"] not in FINISHED
]
lines = [f"#{pr['number']} {pr['title']!r} by {pr['user']['login']}" for pr in waiting]
text = f"Good morning! {len(waiting)} pull request(s) wait for a review" + (
    ": " + "; ".join(lines) if lines else "."
)

channel = requests.post(f"{CHAT_API}/channels", json={"name": f"digest-{date}"}, timeout=30)
channel.raise_for_status()
posted = requests.post(
    f"{CHAT_API}/channels/{channel.json()['id']}/messages", json={"text": text}, timeout=30
)
posted.raise_for_status()
print(text)
