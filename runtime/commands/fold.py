"""``durable-python fold``: move stopped runs' journals into DuckDB (runs do it by themselves)."""

from __future__ import annotations

import argparse

from . import add_store_option

PARSER = {
    "help": "fold stopped runs' journal segments into the store's DuckDB (automatic)",
    "description": "Fold the journal segments of every stopped run into store.duckdb.",
    "epilog": "example: durable-python fold --store .durable",
}


def configure(parser: argparse.ArgumentParser) -> None:
    add_store_option(parser)


def execute(args: argparse.Namespace) -> int:
    from durable_python.stores import configured_store

    configured_store(args.store).compact()
    return 0
