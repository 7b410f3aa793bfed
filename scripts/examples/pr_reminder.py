"""Pull-request reminder: when a pull request opens, make it a chat channel and nag daily.

Start it when a pull request opens (from a webhook or a cron job that sees new ones):

    durable-python run --run-id pr-42 scripts/examples/pr_reminder.py http://127.0.0.1:8765 42

It creates a chat channel for the pull request, posts a reminder there every day while the pull
request is open, and when it is merged or closed says so and archives the channel. It is a plain
script (``python pr_reminder.py ...`` runs it too, without durability): under durable-python a
crash or reboot in the middle of a week of reminders loses nothing and repeats nothing, and
``--suspend`` lets the days pass with no process at all. ``--day-seconds`` shortens a day for demos
and tests; ``fake_chat_api.py`` beside it serves the API offline.
"""

from __future__ import annotations

import argparse
import time

import requests


def main() -> int:
    parser = argparse.ArgumentParser(description="Remind a chat channel daily about an open PR.")
    parser.add_argument("api", help="base URL of the code-review + chat API")
    parser.add_argument("pr", type=int, help="the pull request's number")
    parser.add_argument("--day-seconds", type=float, default=86400.0, help="length of a day")
    parser.add_argument("--max-days", type=int, default=30, help="give up after this many days")
    args = parser.parse_args()

    api = requests.Session()
    api.headers["User-Agent"] = "pr-reminder/1.0"

    def call(method: str, path: str, **kwargs: object) -> dict:
        response = api.request(method, f"{args.api}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    pr = call("GET", f"/prs/{args.pr}")
    channel = call("POST", "/channels", json={"name": f"pr-{args.pr}", "topic": pr["title"]})
    print(f"PR #{args.pr} {pr['title']!r} by {pr['author']}: channel {channel['name']}")

    def say(text: str) -> None:
        call("POST", f"/channels/{channel['id']}/messages", json={"text": text})
        print(f"  posted: {text}")

    say(f"PR #{args.pr} {pr['title']!r} by {pr['author']} is waiting for a review.")
    for day in range(1, args.max_days + 1):
        time.sleep(args.day_seconds)
        pr = call("GET", f"/prs/{args.pr}")
        if pr["state"] != "open":
            say(
                f"PR #{args.pr} was {pr['state']} after {day - 1} reminder(s). Closing this channel."
            )
            call("POST", f"/channels/{channel['id']}/archive")
            print(f"done: {pr['state']} after {day - 1} reminder(s)")
            return 0
        say(f"Reminder (day {day}): PR #{args.pr} is still open and needs a review.")
    say(f"PR #{args.pr} is still open after {args.max_days} days; no more reminders.")
    print(f"gave up after {args.max_days} days")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
