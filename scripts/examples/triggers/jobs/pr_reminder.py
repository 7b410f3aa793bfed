"""Pull-request reminder, started by GitHub's "pull request opened" webhook.

`durable-python serve` starts this script once per pull request (run id ``pr-NUMBER``, see
pyproject.toml) and hands it the webhook's request as ``durable_python.trigger()``. It makes a
chat channel for the pull request and posts a reminder there every day until the "closed"
webhook arrives as the event ``closed``; then it says whether the pull request was merged and
archives the channel. Between two days the run has no process: the server's worker resumes it
when the day is over or the event arrives, even after the server was restarted.

Settings come from the server's environment, which reaches the runs it starts: ``CHAT_API``
(the chat API; ``scripts/examples/fake_chat_api.py`` serves one offline),
``REMINDER_DAY_SECONDS`` (a shorter day for demos and tests) and ``REMINDER_MAX_DAYS``.
"""

import os

import requests

import durable_python

CHAT_API = os.environ.get("CHAT_API", "http://127.0.0.1:8765")
DAY = float(os.environ.get("REMINDER_DAY_SECONDS", "86400"))
MAX_DAYS = int(os.environ.get("REMINDER_MAX_DAYS", "30"))

chat = requests.Session()


def call(method: str, path: str, **kwargs: object) -> dict:
    response = chat.request(method, f"{CHAT_API}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def main() -> None:
    pr = durable_python.trigger()["body"]["pull_request"]  # the "opened" webhook's JSON
    number, title, author = pr["number"], pr["title"], pr["user"]["login"]
    channel = call("POST", "/channels", json={"name": f"pr-{number}", "topic": title})
    print(f"PR #{number} {title!r} by {author}: channel {channel['name']}")

    def say(text: str) -> None:
        call("POST", f"/channels/{channel['id']}/messages", json={"text": text})
        print(f"posted: {text}")

    say(f"PR #{number} {title!r} by {author} is waiting for a review.")
    for day in range(1, MAX_DAYS + 1):
        try:
            closed = durable_python.wait_for_event("closed", timeout=DAY)  # the "closed" webhook
        except TimeoutError:  # a day went by
            say(f"Reminder (day {day}): PR #{number} is still open and needs a review.")
            continue
        outcome = "merged" if closed["body"]["pull_request"]["merged"] else "closed"
        say(f"PR #{number} was {outcome} after {day - 1} reminder(s). Closing this channel.")
        call("POST", f"/channels/{channel['id']}/archive")
        print(f"done: {outcome}")
        return
    say(f"PR #{number} is still open after {MAX_DAYS} days; no more reminders.")
    print(f"gave up after {MAX_DAYS} days")


main()
