"""Text-processing kernel: the log-and-CSV crunching scripts do every day. Generates web-server
access logs and a CSV export, then parses them line by line with ``str`` methods (``split``,
``strip``, ``startswith``, ``lower``, ``replace``, ``partition``, ``join``) and precompiled ``re``
patterns, tallies with ``collections.Counter`` and ``defaultdict``, normalises free text into
word counts, and renders a fixed-width plain-text report with f-strings and ``str.format``.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import random
import re
import sys
import time
import zlib
from collections import Counter, defaultdict

PATHS = [
    "/",
    "/index.html",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/orders/{id}",
    "/static/app.js",
    "/static/style.css",
    "/login",
    "/logout",
    "/search?q={word}",
    "/products/{id}/reviews",
    "/admin/settings",
]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
WORDS = (
    "the quick brown fox jumps over lazy dog error timeout retry connection refused user "
    "order payment failed succeeded pending database query slow cache miss hit disk full"
).split()
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

LOG_LINE = re.compile(
    r"^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) \S+ (?P<user>\S+) \[(?P<day>\d{2})/(?P<month>\w{3})/"
    r"(?P<year>\d{4}):(?P<hour>\d{2}):(?P<minute>\d{2}):\d{2} [+-]\d{4}\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/(?P<version>[\d.]+)" (?P<status>\d{3}) '
    r'(?P<size>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"$'
)
NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")
QUERY_WORD = re.compile(r"[?&]q=([^&]+)")
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
LEVEL = re.compile(r"\b(DEBUG|INFO|WARN(?:ING)?|ERROR|CRITICAL)\b")


def generate_access_log(rng, lines):
    out = []
    for i in range(lines):
        ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        user = rng.choice(["-", "-", "-", "alice", "bob", "carol"])
        path = rng.choice(PATHS).replace("{id}", str(rng.randrange(1, 5000)))
        path = path.replace("{word}", rng.choice(WORDS))
        method = "POST" if path.startswith("/login") or rng.random() < 0.1 else "GET"
        status = rng.choices([200, 201, 301, 304, 404, 500, 503], [70, 3, 4, 8, 9, 4, 2])[0]
        size = "-" if status in (301, 304) else str(rng.randrange(100, 90000))
        stamp = f"{1 + i % 28:02d}/{MONTHS[i % 12]}/2024:{rng.randrange(24):02d}:" + (
            f"{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000"
        )
        agent = rng.choice(AGENTS)
        out.append(
            f'{ip} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} {size} '
            f'"https://example.com/" "{agent}"'
        )
        if i % 97 == 0:
            out.append("   ")  # blank and broken lines, as real logs have
        if i % 211 == 0:
            out.append(f"garbage line {i} without structure")
    return "\n".join(out) + "\n"


def generate_app_log(rng, lines):
    out = []
    for i in range(lines):
        level = rng.choices(["DEBUG", "INFO", "WARNING", "ERROR"], [30, 50, 15, 5])[0]
        module = rng.choice(["db", "http", "worker", "cache", "auth"])
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        stamp = f"2024-05-{1 + i % 30:02d} 12:{i % 60:02d}:00,{i % 1000:03d}"
        took = rng.randrange(1, 2000)
        out.append(f"{stamp} {level} [{module}] {words.capitalize()}. took={took}ms")
    return "\n".join(out)


def generate_csv(rng, rows):
    header = "order_id, customer ,Country,amount,currency,notes"
    lines = [header]
    for i in range(rows):
        country = rng.choice(["DE", "fr", " US", "GB ", "nl", "US"])
        amount = f"{rng.randrange(100, 500000) / 100:.2f}"
        if rng.random() < 0.1:
            amount = '"' + amount.replace(".", ",") + '"'  # a European export slipped in
        notes = rng.choice(["", "gift", '"rush, please"', "  returned  ", "VIP"])
        lines.append(f"{1000 + i},Customer {rng.randrange(300)}, {country},{amount},EUR,{notes}")
    return "\n".join(lines)


# --- parsing -----------------------------------------------------------------------------------


def normalise_path(path):
    path, _, query = path.partition("?")
    path = NUMERIC_SEGMENT.sub("/:id", path)
    return path.rstrip("/") or "/", query


def parse_access_log(text):
    stats = {
        "status": Counter(),
        "paths": Counter(),
        "bytes_by_path": defaultdict(int),
        "hours": Counter(),
        "agents": Counter(),
        "queries": Counter(),
        "users": defaultdict(set),
        "bad": 0,
    }
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = LOG_LINE.match(line)
        if match is None:
            stats["bad"] += 1
            continue
        fields = match.groupdict()
        path, query = normalise_path(fields["path"])
        stats["status"][fields["status"]] += 1
        stats["paths"][f"{fields['method']} {path}"] += 1
        if fields["size"] != "-":
            stats["bytes_by_path"][path] += int(fields["size"])
        stats["hours"][int(fields["hour"])] += 1
        agent = fields["agent"].lower()
        family = "bot" if "bot" in agent else agent.split("/")[0].split(" ")[0]
        stats["agents"][family] += 1
        if query:
            found = QUERY_WORD.search("?" + query)
            if found:
                stats["queries"][found.group(1).lower()] += 1
        if fields["user"] != "-":
            stats["users"][fields["user"]].add(fields["ip"])
    return stats


def parse_app_log(text):
    by_level = Counter()
    by_module = defaultdict(Counter)
    durations = defaultdict(list)
    words = Counter()
    for line in text.split("\n"):
        level_match = LEVEL.search(line)
        if not level_match:
            continue
        level = level_match.group(1).replace("WARNING", "WARN")
        by_level[level] += 1
        module = line[line.index("[") + 1 : line.index("]")]
        by_module[module][level] += 1
        message, _, timing = line.rpartition(" took=")
        durations[module].append(int(timing.removesuffix("ms")))
        message = message.split("] ", 1)[1].lower().rstrip(".")
        if level in ("ERROR", "WARN"):
            words.update(w for w in TOKEN.findall(message) if len(w) > 3)
    return by_level, by_module, durations, words


def split_csv_line(line):
    """Split one CSV line, honouring double quotes (the hand-written version scripts carry)."""
    fields, current, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    fields.append("".join(current))
    return fields


def parse_csv(text):
    lines = text.splitlines()
    header = [h.strip().lower().replace(" ", "_") for h in lines[0].split(",")]
    totals = defaultdict(float)
    notes = Counter()
    customers = defaultdict(int)
    for line in lines[1:]:
        row = dict(zip(header, split_csv_line(line), strict=True))
        country = row["country"].strip().upper()
        amount = float(row["amount"].strip().replace(",", "."))
        totals[country] += amount
        customers[row["customer"].strip().title()] += 1
        note = row["notes"].strip().lower()
        if note:
            notes[note] += 1
    return totals, notes, customers


# --- reporting ---------------------------------------------------------------------------------


def render_report(access, app, orders):
    by_level, by_module, durations, words = app
    totals, notes, customers = orders
    lines = ["=" * 60, "ACCESS LOG".center(60), "=" * 60]
    lines.append("{:<40} {:>8} {:>9}".format("endpoint", "hits", "share"))
    total_hits = sum(access["paths"].values())
    for endpoint, hits in sorted(access["paths"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        lines.append(f"{endpoint:<40} {hits:>8} {hits / total_hits:>8.1%}")
    lines.append("")
    for status in sorted(access["status"]):
        lines.append(f"  status {status}: {access['status'][status]}")
    busiest = max(sorted(access["hours"]), key=lambda h: access["hours"][h])
    lines.append(f"busiest hour: {busiest:02d}:00 ({access['hours'][busiest]} requests)")
    agents = ", ".join(f"{name}={n}" for name, n in sorted(access["agents"].items()))
    lines.append(f"agents: {agents}")
    users = "; ".join(f"{u}:{len(ips)}" for u, ips in sorted(access["users"].items()))
    lines.append(f"users/ips: {users}")
    lines.append(f"unparsed lines: {access['bad']}")
    lines += ["", "APPLICATION LOG".center(60), "-" * 60]
    for module in sorted(by_module):
        counts = " ".join(f"{lvl}={by_module[module][lvl]}" for lvl in sorted(by_module[module]))
        times = sorted(durations[module])
        median = times[len(times) // 2]
        p95 = times[int(len(times) * 0.95)]
        lines.append(f"{module:>8}: {counts:<40} median={median}ms p95={p95}ms")
    common = ", ".join(
        f"{w}({n})" for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    )
    lines.append(f"error words: {common}")
    lines += ["", "ORDERS".center(60), "-" * 60]
    for country in sorted(totals):
        lines.append(f"{country:<4}{totals[country]:>14,.2f}")
    top = sorted(customers.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    lines.append("top customers: " + ", ".join(f"{name} x{n}" for name, n in top))
    lines.append("notes: " + ", ".join(f"{k}={v}" for k, v in sorted(notes.items())))
    return "\n".join(lines)


def run(scale):
    rng = random.Random(1234)
    rounds = max(1, int(12 * scale))
    digest = 0
    report_chars = 0
    bad = 0
    for _ in range(rounds):
        access = parse_access_log(generate_access_log(rng, 2500))
        app = parse_app_log(generate_app_log(rng, 2000))
        orders = parse_csv(generate_csv(rng, 1500))
        report = render_report(access, app, orders)
        digest = zlib.crc32(report.encode(), digest)
        report_chars += len(report)
        bad += access["bad"]
    return f"rounds {rounds} report_chars {report_chars} unparsed {bad} crc {digest:08x}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"text_processing: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
