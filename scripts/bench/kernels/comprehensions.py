"""Comprehension kernel: the data-wrangling shape of scripts that reshape rows with list, dict and
set comprehensions (with function and method calls inside), sorted/sum/zip, and a matrix product
written as nested comprehensions.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time

DEPARTMENTS = ["Sales", "Engineering", "Support", "Finance", "Legal", "Marketing"]
FIRST = ["ana", "ben", "chen", "dara", "emil", "fatima", "goran", "hana", "ivan", "jun"]
LAST = ["smith", "okafor", "tanaka", "silva", "novak", "haddad", "kowalski", "nguyen"]


def make_rows(n):
    rows = []
    state = 2024
    for i in range(n):
        state = (state * 48271) % 2147483647
        rows.append(
            (
                i,
                f" {FIRST[state % 10]} {LAST[(state >> 4) % 8]} ",
                DEPARTMENTS[(state >> 8) % len(DEPARTMENTS)],
                30_000 + state % 90_000,
                (state >> 12) % 40,
            )
        )
    return rows


def normalize_name(name):
    return " ".join(part.capitalize() for part in name.split())


def band(salary):
    return "high" if salary >= 90_000 else "mid" if salary >= 60_000 else "low"


def to_record(row):
    ident, name, dept, salary, years = row
    return {
        "id": ident,
        "name": normalize_name(name),
        "dept": dept.lower(),
        "salary": salary,
        "years": years,
    }


def matmul(a, b):
    columns = list(zip(*b, strict=True))
    return [[sum(x * y for x, y in zip(row, col, strict=True)) for col in columns] for row in a]


def process(rows):
    records = [to_record(row) for row in rows]
    by_id = {r["id"]: r for r in records}
    departments = sorted({r["dept"] for r in records})
    initials = {"".join(p[0] for p in r["name"].split()) for r in records}
    payroll = {d: sum(r["salary"] for r in records if r["dept"] == d) for d in departments}
    bands = {
        b: [r["id"] for r in records if band(r["salary"]) == b] for b in ("low", "mid", "high")
    }
    seniors = [r["name"].upper() for r in records if r["years"] > 30 and r["salary"] > 50_000]
    raises = {
        r["id"]: round(r["salary"] * (1.02 + min(r["years"], 20) / 1000), 2)
        for r in records
        if r["dept"] in ("engineering", "support")
    }
    lookup = [by_id[i]["salary"] for i in range(0, len(records), 7)]
    pairs = [(a, b) for a in departments for b in departments if a < b]
    words = {w: len(w) for r in records[:500] for w in r["name"].lower().split()}
    top = sorted(records, key=lambda r: (-r["salary"], r["id"]))[:10]
    return (
        len(departments),
        len(initials),
        sum(payroll.values()),
        [len(v) for v in bands.values()],
        len(seniors),
        round(sum(raises.values()), 2),
        sum(lookup),
        len(pairs),
        sum(words.values()),
        [r["id"] for r in top],
    )


def run(scale):
    rows = make_rows(max(50, int(5_000 * scale)))
    result = None
    for _ in range(20):
        result = process(rows)
    size = 40 if scale >= 0.5 else 12
    a = [[(i * j + 1) % 7 for j in range(size)] for i in range(size)]
    b = [[(i + 2 * j) % 5 for j in range(size)] for i in range(size)]
    product = a
    for _ in range(6):
        product = [[v % 997 for v in row] for row in matmul(product, b)]
    trace = sum(product[i][i] for i in range(size))
    return f"{result} trace {trace}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"comprehensions: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
