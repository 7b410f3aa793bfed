"""pandas kernel: a sales report as people write one. Writes a CSV, reads it back, adds a
column, aggregates by group, sorts, takes per-group medians with numpy, samples rows; repeated.

Under durable-python the computations run inline; only ``to_csv`` (an effect) and ``read_csv`` (a
recorded read) are journalled. Needs pandas and numpy (``requires:`` below: overhead.py skips
the kernel where they are not installed). Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr.

requires: pandas numpy
"""

import os
import sys
import time

import numpy as np
import pandas as pd


def make_sales(rows):
    draw = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "region": draw.choice(["north", "south", "east", "west"], rows),
            "product": draw.choice(list("abcdefgh"), rows),
            "units": draw.integers(1, 50, rows),
            "price": draw.uniform(1, 20, rows).round(2),
        }
    )


def report(path):
    sales = pd.read_csv(path)
    sales["revenue"] = sales["units"] * sales["price"]
    by_region = sales.groupby("region").agg(units=("units", "sum"), revenue=("revenue", "sum"))
    by_region = by_region.sort_values("revenue", ascending=False)
    medians = 0.0
    for _, group in sales.groupby(["region", "product"]):
        medians += float(np.median(group["units"])) + float(group["price"].mean())
    sample = sales.sample(5, random_state=1)
    return float(by_region["revenue"].sum()) + medians + float(sample["units"].sum())


def run(scale):
    path = "pandas_report_sales.csv"
    total = 0.0
    for round_number in range(max(1, int(12 * scale))):
        make_sales(20_000 + round_number).to_csv(path, index=False)
        total += report(path)
    os.remove(path)
    return f"{total:.6f}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"pandas_report: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
