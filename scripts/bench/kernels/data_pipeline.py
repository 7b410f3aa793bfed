"""Data-pipeline kernel: the list-of-dicts ETL script — load records from JSON, clean and
validate them, enrich them by joining lookup tables, sort with ``key=lambda``, aggregate with
``itertools.groupby``, ``functools.reduce`` and ``sum``/``min``/``max`` over generators, pivot with
dict comprehensions, convert between dicts and ``namedtuple`` rows, and serialise the results back
with ``json.dumps``/``json.loads`` round trips, stage by stage.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import functools
import itertools
import json
import operator
import os
import random
import statistics
import sys
import time
from collections import namedtuple

Sale = namedtuple("Sale", "order_id day region store product category quantity unit_price discount")
Summary = namedtuple("Summary", "key orders units revenue mean_ticket best_day")

REGIONS = ["north", "south", "east", "west", "central"]
CATEGORIES = {
    "widget": "hardware",
    "gadget": "hardware",
    "gizmo": "hardware",
    "doohickey": "tools",
    "sprocket": "tools",
    "flange": "parts",
    "grommet": "parts",
    "bracket": "parts",
    "manual": "media",
    "course": "media",
}


def generate_raw(rng, count):
    """Raw export rows as a JSON document, with the inconsistencies real exports have."""
    products = sorted(CATEGORIES)
    rows = []
    for i in range(count):
        row = {
            "id": 100_000 + i,
            "date": f"2024-{1 + i % 12:02d}-{1 + rng.randrange(28):02d}",
            "region": rng.choice(REGIONS).upper() if rng.random() < 0.2 else rng.choice(REGIONS),
            "store": f"S{rng.randrange(40):03d}",
            "product": rng.choice(products),
            "qty": str(rng.randint(1, 20)) if rng.random() < 0.3 else rng.randint(1, 20),
            "price": round(rng.uniform(1, 250), 2),
            "discount": rng.choice([None, 0, 0.05, 0.1, "0.15"]),
        }
        if rng.random() < 0.03:
            row["qty"] = None  # incomplete rows to drop
        if rng.random() < 0.02:
            row["price"] = -row["price"]
        rows.append(row)
    return json.dumps({"exported": "2024-12-31", "rows": rows})


def clean(raw_rows):
    def valid(row):
        return row.get("qty") is not None and row["price"] > 0

    def to_sale(row):
        return Sale(
            order_id=row["id"],
            day=row["date"],
            region=row["region"].strip().lower(),
            store=row["store"],
            product=row["product"],
            category=CATEGORIES.get(row["product"], "other"),
            quantity=int(row["qty"]),
            unit_price=float(row["price"]),
            discount=float(row["discount"] or 0),
        )

    return [to_sale(row) for row in raw_rows if valid(row)]


def revenue(sale):
    return round(sale.quantity * sale.unit_price * (1 - sale.discount), 2)


def summarise(sales, key_name):
    key = operator.attrgetter(key_name)
    summaries = []
    for group_key, group in itertools.groupby(sorted(sales, key=key), key=key):
        group = list(group)
        totals = [revenue(s) for s in group]
        by_day = {}
        for sale, amount in zip(group, totals, strict=True):
            by_day[sale.day] = by_day.get(sale.day, 0) + amount
        summaries.append(
            Summary(
                key=group_key,
                orders=len(group),
                units=sum(s.quantity for s in group),
                revenue=round(functools.reduce(operator.add, totals, 0.0), 2),
                mean_ticket=round(statistics.fmean(totals), 2),
                best_day=max(by_day, key=lambda d: (by_day[d], d)),
            )
        )
    return summaries


def monthly_pivot(sales):
    months = sorted({s.day[:7] for s in sales})
    regions = sorted({s.region for s in sales})
    cells = {(r, m): 0.0 for r in regions for m in months}
    for sale in sales:
        cells[(sale.region, sale.day[:7])] += revenue(sale)
    return {r: {m: round(cells[(r, m)], 2) for m in months} for r in regions}


def add_sale(totals, sale):
    totals[sale.store] = totals.get(sale.store, 0) + revenue(sale)
    return totals


def top_stores(sales, n):
    totals = functools.reduce(add_sale, sales, {})
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(store, round(total, 2)) for store, total in ranked[:n]]


def discount_effect(sales):
    def bucket(sale):
        return "none" if sale.discount == 0 else f"{sale.discount:.0%}"

    ordered = sorted(sales, key=lambda s: (bucket(s), s.category))
    result = {}
    for (name, category), group in itertools.groupby(
        ordered, key=lambda s: (bucket(s), s.category)
    ):
        quantities = [s.quantity for s in group]
        result.setdefault(name, {})[category] = round(sum(quantities) / len(quantities), 3)
    return result


def outliers(sales):
    amounts = [revenue(s) for s in sales]
    mean = statistics.fmean(amounts)
    spread = statistics.pstdev(amounts)
    flagged = [
        s._replace(discount=0.0)
        for s, a in zip(sales, amounts, strict=True)
        if a > mean + 2.5 * spread
    ]
    return len(flagged), max((revenue(s) for s in flagged), default=0), min(amounts)


def stage(name, payload):
    """Each stage hands its output to the next as JSON, as separate pipeline steps would."""
    text = json.dumps({"stage": name, "data": payload}, sort_keys=True)
    return json.loads(text)["data"], len(text)


def run(scale):
    rng = random.Random(1234)
    batches = max(1, int(16 * scale))
    checks = []
    bytes_moved = 0
    kept = 0
    for _ in range(batches):
        document = json.loads(generate_raw(rng, 2000))
        sales = clean(document["rows"])
        kept += len(sales)
        records, size = stage("clean", [s._asdict() for s in sales])
        bytes_moved += size
        sales = [Sale(**record) for record in records]
        by_region, size = stage("regions", [s._asdict() for s in summarise(sales, "region")])
        bytes_moved += size
        by_category, size = stage("categories", [list(s) for s in summarise(sales, "category")])
        bytes_moved += size
        pivot, size = stage("pivot", monthly_pivot(sales))
        bytes_moved += size
        stores, size = stage("stores", top_stores(sales, 5))
        bytes_moved += size
        effect, size = stage("discounts", discount_effect(sales))
        bytes_moved += size
        flagged, biggest, smallest = outliers(sales)
        checks.append(
            (
                sum(r["revenue"] for r in by_region),
                max(by_category, key=lambda row: row[3])[0],
                sum(sum(months.values()) for months in pivot.values()),
                stores[0][0],
                len(effect),
                flagged,
                biggest,
                smallest,
            )
        )
    total_revenue = round(sum(c[0] for c in checks), 2)
    pivot_revenue = round(sum(c[2] for c in checks), 2)
    best_categories = ",".join(sorted({c[1] for c in checks}))
    best_stores = ",".join(c[3] for c in checks[:3])
    flagged = sum(c[5] for c in checks)
    return (
        f"kept {kept} revenue {total_revenue} pivot {pivot_revenue} categories {best_categories} "
        f"stores {best_stores} flagged {flagged} bytes {bytes_moved}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"data_pipeline: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
