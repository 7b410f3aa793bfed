"""String kernel: render a fixed-width text report and a CSV export from generated records, parse
them back, slugify and word-wrap descriptions. str methods, join, format, %-formatting, f-strings
and list.append, the way report and log code does it.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time
import zlib

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()
CITIES = ["Berlin", "Lisbon", "Osaka", "Lima", "Accra", "Quebec City", "Perth", "Tromsø"]


def generate_records(n):
    records = []
    state = 12345
    for i in range(n):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        words = [WORDS[(state >> shift) % len(WORDS)] for shift in (3, 7, 11, 15, 19)]
        records.append(
            {
                "id": i,
                "name": " ".join(words[:2]).title(),
                "city": CITIES[(state >> 16) % len(CITIES)],
                "qty": state % 97,
                "price": (state % 100_000) / 100.0,
                "description": "  " + " ".join(words * 3) + ".  ",
                "tags": ",".join(sorted(set(words[2:]))),
            }
        )
    return records


def slugify(text):
    text = text.strip().lower()
    out = []
    for ch in text:
        if ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def wrap(text, width):
    lines, current, length = [], [], 0
    for word in text.split():
        if current and length + 1 + len(word) > width:
            lines.append(" ".join(current))
            current, length = [], 0
        current.append(word)
        length += len(word) + (1 if length else 0)
    if current:
        lines.append(" ".join(current))
    return lines


def render_report(records):
    parts = []
    header = "{:>6} | {:<20} | {:<12} | {:>5} | {:>10}".format("id", "name", "city", "qty", "price")
    parts.append(header)
    parts.append("-" * len(header))
    total = 0.0
    for r in records:
        amount = r["qty"] * r["price"]
        total += amount
        parts.append(
            f"{r['id']:>6} | {r['name'][:20]:<20} | {r['city']:<12} | {r['qty']:>5d} | {amount:>10.2f}"
        )
        if r["qty"] % 10 == 0:
            for line in wrap(r["description"], 60):
                parts.append("       > " + line.capitalize())
    parts.append("TOTAL %.2f over %d records" % (total, len(records)))  # noqa: UP031
    return "\n".join(parts)


def escape_csv(value):
    text = str(value)
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def render_csv(records):
    lines = [",".join(["id", "slug", "city", "qty", "price", "tags"])]
    for r in records:
        row = [
            r["id"],
            slugify(r["name"]),
            r["city"].upper(),
            r["qty"],
            f"{r['price']:.2f}",
            r["tags"],
        ]
        lines.append(",".join(escape_csv(v) for v in row))
    return "\n".join(lines) + "\n"


def parse_report(text):
    """Read the amounts back out of the rendered report."""
    total = 0.0
    count = 0
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped.startswith(("-", ">", "TOTAL", "id ")):
            continue
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 5 and fields[0].isdigit():
            total += float(fields[4])
            count += 1
    return count, round(total, 2)


def city_summary(csv_text):
    counts = {}
    for line in csv_text.splitlines()[1:]:
        city = line.split(",")[2]
        counts[city] = counts.get(city, 0) + 1
    pairs = sorted(counts.items())
    return "; ".join("{}={}".format(city.title(), n) for city, n in pairs)  # noqa: UP032


def run(scale):
    records = generate_records(max(20, int(2_000 * scale)))
    crc = 0
    rounds = 24
    for _ in range(rounds):
        report = render_report(records)
        csv_text = render_csv(records)
        count, total = parse_report(report)
        summary = city_summary(csv_text)
        crc = zlib.crc32(report.encode("utf-8"), crc)
        crc = zlib.crc32(csv_text.encode("utf-8"), crc)
    return f"{count} rows total {total:.2f} crc {crc:08x} {summary}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"strings: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
