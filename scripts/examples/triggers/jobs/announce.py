"""Announcement: a text file dropped into inbox/ (the watch in pyproject.toml) is posted to the
chat, in a channel named after the file. One run per file: the same file seen again (a restart,
a rescan) starts nothing; a file written anew with other content is posted again.

    echo "Release 1.2 is out." > inbox/.release.txt && mv inbox/.release.txt inbox/release.txt
"""

import os
import sys
from pathlib import Path

import requests

CHAT_API = os.environ.get("CHAT_API", "http://127.0.0.1:8765")

path = Path(sys.argv[1])  # the watch passes the file's path
text = path.read_text(encoding="utf-8").strip()

channel = requests.post(f"{CHAT_API}/channels", json={"name": path.stem}, timeout=30)
channel.raise_for_status()
posted = requests.post(
    f"{CHAT_API}/channels/{channel.json()['id']}/messages", json={"text": text}, timeout=30
)
posted.raise_for_status()
print(f"announced {path.name} in channel {path.stem}: {text}")
