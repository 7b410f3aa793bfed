"""Computation libraries run inline: a pandas report journals its reads, writes and
nondeterminism only, prints what ``python`` prints, and resumes to the same output; numpy's and
polars' randomness replays the same. Results of recorded calls round-trip exactly (pydantic,
dataclasses, attrs, TypedDict)."""

from __future__ import annotations

import random

import pytest

pytestmark = pytest.mark.e2e

REPORT = """
import time

import numpy as np
import pandas as pd

np.random.seed(7)
sales = pd.read_csv("sales.csv")
sales["revenue"] = sales["units"] * sales["price"]
by_region = sales.groupby("region").agg(units=("units", "sum"), revenue=("revenue", "sum"))
by_region = by_region.sort_values("revenue", ascending=False)
print(by_region.head(10))
for region, group in sales.groupby("region"):
    print(region, "median units", np.median(group["units"]), "top", group["product"].mode()[0])
print("noise", np.random.rand(3).round(4), "sample", list(sales.sample(2).index))
print("rng", np.random.default_rng(11).integers(0, 100, 3))
time.sleep(0.05)
by_region.to_csv("by_region.csv")
print("recent", pd.Timestamp.now().year >= 2026, "total", round(sales["revenue"].sum(), 2))
"""

REPORT_ENTRIES = [
    ("value", "pandas.read_csv"),
    ("timer", "time.sleep"),
    ("effect", "pandas.core.generic.NDFrame.to_csv"),
    ("value", "pandas._libs.tslibs.timestamps.Timestamp.now"),
]


def write_sales(ih) -> None:
    draw = random.Random(3)
    rows = ["region,product,units,price"]
    for _ in range(500):
        region = draw.choice(["north", "south", "east", "west"])
        rows.append(
            f"{region},{draw.choice('abcde')},{draw.randint(1, 50)},{draw.uniform(1, 20):.2f}"
        )
    ih.write("sales.csv", "\n".join(rows) + "\n")


def test_a_pandas_report_journals_only_its_io_and_resumes_to_the_same_output(ih):
    write_sales(ih)
    ih.write("report.py", REPORT)
    reference = ih.python("report.py")
    assert reference.returncode == 0 and "recent True" in reference.stdout, reference
    clean = ih.run("report.py")
    assert clean.stdout == reference.stdout, clean
    recorded = [(e["policy"], e["name"]) for e in ih.entries() if e["policy"] != "output"]
    assert recorded == REPORT_ENTRIES, recorded  # no computation, no import-time reads
    total = len(ih.entries())
    for kill_ats in ([1], [total // 2], [total - 2], [2, 5]):
        ih.fresh()
        series = ih.series("report.py", kill_ats=kill_ats)
        assert series.crashes == len(kill_ats), series
        assert series.stdout == reference.stdout, series
        assert (ih.work / "by_region.csv").read_text().startswith("region,units,revenue"), series


SINK = """
def record(text):
    with open("draws.txt", "a") as out:
        out.write(text + "\\n")
"""

UNSEEDED = """
import time

import numpy as np
import pandas as pd
import polars as pl

import sink

frame = pd.DataFrame({"n": range(100)})
sink.record(f"global {np.random.rand(2).round(6)} {np.random.randint(0, 10**6)}")
time.sleep(0.01)
sink.record(f"rng {np.random.default_rng().integers(0, 10**6, 3)}")
sink.record(f"legacy {np.random.RandomState().randint(0, 10**6)}")
time.sleep(0.01)
sink.record(f"sample {list(frame.sample(3).index)}")
sink.record(f"polars {pl.Series(range(100)).sample(3).to_list()}")
time.sleep(0.01)
print("done")
"""


def test_unseeded_randomness_replays_the_same(ih):
    ih.write_lib("sink.py", SINK)
    ih.write("draws.py", UNSEEDED)
    first = ih.run("draws.py")
    assert first.returncode == 0, first
    first_draws = (ih.work / "draws.txt").read_text()
    assert len(first_draws.splitlines()) == 5, first_draws
    seeds = [e["name"] for e in ih.entries() if e["policy"] == "value"]
    assert seeds == [
        "numpy.random.default_rng",
        "numpy.random.mtrand.RandomState",
        "polars.series.series.Series.sample",
    ], seeds
    total = len(ih.entries())
    for kill_ats in ([2], [total // 2], [total - 2]):
        ih.fresh()
        (ih.work / "draws.txt").unlink()
        series = ih.series("draws.py", kill_ats=kill_ats)  # a draw that differs: divergence
        assert series.crashes == 1 and series.stdout == "done\n", series
        draws = (ih.work / "draws.txt").read_text().splitlines()
        assert len(draws) == len(set(draws)) == 5, draws  # each recorded once, none redrawn
        assert draws != first_draws.splitlines()  # another run, other seeds


RESULTS = """
import dataclasses, time, typing
import attrs, pydantic

import factory

class Order(pydantic.BaseModel):
    id: int
    items: list[str]
    note: str | None = None

@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float

@attrs.define
class Account:
    name: str
    balance: int = 0

class Row(typing.TypedDict):
    key: str
    value: int

order = factory.make(Order, id=7, items=["a", "b"])
point = factory.make(Point, x=1.5, y=-2.0)
account = factory.make(Account, name="ops", balance=3)
row = factory.make(Row, key="k", value=1)
time.sleep(0.05)
print(isinstance(order, Order), order == Order(id=7, items=["a", "b"]), order.model_dump())
print(isinstance(point, Point), point == Point(1.5, -2.0), point.x + point.y)
print(isinstance(account, Account), account == Account("ops", 3), attrs.asdict(account))
print(row == {"key": "k", "value": 1}, row["value"])
print(order.model_copy(update={"note": "n"}).note, Order.model_validate(order.model_dump()) == order)
"""

FACTORY = """
def make(cls, **fields):
    return cls(**fields)
"""


def test_results_round_trip_exactly(ih):
    ih.write_lib("factory.py", FACTORY)
    ih.write("results.py", RESULTS)
    reference = ih.python("results.py")
    assert reference.returncode == 0 and "False" not in reference.stdout, reference
    made = ih.run("results.py")
    assert made.stdout == reference.stdout, made
    assert [e["name"] for e in ih.entries()][:4] == ["factory.make"] * 4
    ih.fresh()
    series = ih.series("results.py", kill_ats=[4])  # every result replayed from the journal
    assert series.crashes == 1 and series.stdout == reference.stdout, series
