"""Dict and JSON kernel: build event payloads, serialize them one by one with ``json.dumps`` and read
them back with ``json.loads`` (as a job queue or an HTTP client does), then group, count, merge and
flatten them with dict get/items/update/setdefault, ``defaultdict`` and ``Counter``.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import json
import os
import sys
import time
import zlib
from collections import Counter, defaultdict

EVENT_TYPES = ["page_view", "click", "signup", "purchase", "logout"]
COUNTRIES = ["DE", "PT", "JP", "PE", "GH", "CA", "AU", "NO"]
DEFAULTS = {
    "version": 2,
    "source": "web",
    "sampled": False,
    "context": {"locale": "en", "tz": "UTC"},
}


def make_event(i, state):
    kind = EVENT_TYPES[state % len(EVENT_TYPES)]
    event = {
        "id": f"evt-{i:07d}",
        "type": kind,
        "user": {"id": state % 5000, "country": COUNTRIES[(state >> 7) % len(COUNTRIES)]},
        "ts": 1_700_000_000 + i * 13,
        "props": {"path": f"/p/{state % 97}", "ms": (state >> 3) % 2000},
    }
    if kind == "purchase":
        event["props"].update({"amount": round((state % 50_000) / 100, 2), "currency": "EUR"})
    if state % 11 == 0:
        event["context"] = {"locale": "pt", "campaign": f"c{state % 13}"}
    return event


def with_defaults(event):
    merged = dict(DEFAULTS)
    merged.update(event)
    context = dict(DEFAULTS["context"])
    context.update(event.get("context", {}))
    merged["context"] = context
    return merged


def flatten(obj, prefix=""):
    flat = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def process(n):
    state = 31337
    wire = []
    for i in range(n):
        state = (state * 69069 + 1) % 4294967296
        wire.append(json.dumps(with_defaults(make_event(i, state)), sort_keys=True))

    by_type = defaultdict(list)
    per_country = Counter()
    revenue = {}
    sessions = {}
    keys = Counter()
    for line in wire:
        event = json.loads(line)
        by_type[event["type"]].append(event["id"])
        user = event["user"]
        per_country[user["country"]] += 1
        if event["type"] == "purchase":
            amount = event["props"].get("amount", 0.0)
            revenue[user["country"]] = revenue.get(user["country"], 0.0) + amount
        session = sessions.setdefault(user["id"], {"events": 0, "last": 0, "paths": set()})
        session["events"] += 1
        session["last"] = max(session["last"], event["ts"])
        session["paths"].add(event["props"]["path"])
        keys.update(flatten(event).keys())

    summary = {
        "types": {kind: len(ids) for kind, ids in sorted(by_type.items())},
        "countries": dict(sorted(per_country.items())),
        "revenue": {country: round(total, 2) for country, total in sorted(revenue.items())},
        "busiest": sorted(
            ((uid, s["events"], len(s["paths"])) for uid, s in sessions.items()),
            key=lambda item: (-item[1], item[0]),
        )[:5],
        "keys": dict(sorted(keys.items())),
    }
    return json.dumps(summary, sort_keys=True)


def run(scale):
    n = max(100, int(6_000 * scale))
    crc = 0
    text = ""
    for _ in range(4):
        text = process(n)
        crc = zlib.crc32(text.encode(), crc)
    return f"{len(text)} bytes crc {crc:08x}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"dict_json: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
