"""The glance at the store before a run's first re-exec (hashseed._resumed_seed): it finds the
seed of the run ``durable-python run`` will resume, so a resume re-executes once, not twice.

A miss costs only a second re-exec (session.run checks the seed of the run it claims), so these
tests pin down that the glance finds the run in the ordinary cases and gives up, never guesses
wildly, on the rest. The runs are written by the real local store, so a change of its files'
layout shows here.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from durable_python import hashseed
from durable_python.commands import run
from durable_python.hashseed import _resumed_seed
from durable_python.model import Run, RunStatus
from durable_python.stores import open_store


def _run(store_dir: Path, script: Path, argv: list[str], seed: int, **fields: object) -> Run:
    store = open_store(store_dir)
    store.ensure()
    run = Run(
        run_id=f"r{seed}",
        script=str(script),
        source_hash="",
        argv=tuple(argv),
        cwd=str(script.parent),
        hash_seed=seed,
        random_seed=1,
        status=RunStatus.RUNNING,
        **fields,
    )
    store.create(run).release()
    return run


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLE_PYTHON_STORE", raising=False)
    (tmp_path / "job.py").write_text("print('hi')\n")
    return tmp_path


def test_the_unfinished_run_of_the_same_command_gives_its_seed(place: Path) -> None:
    _run(place / ".durable", place / "job.py", ["job.py", "a"], 11, created_at=1.0)
    _run(place / ".durable", place / "job.py", ["job.py", "a"], 12, created_at=2.0)  # newest
    _run(place / ".durable", place / "job.py", ["job.py", "b"], 13, created_at=3.0)
    assert _resumed_seed(["job.py", "a"]) == 12
    assert _resumed_seed(["-v", "--sync", "job.py", "b"]) == 13
    assert _resumed_seed(["job.py"]) is None


def test_finished_and_enqueued_runs_are_not_resumed(place: Path) -> None:
    run = _run(place / ".durable", place / "job.py", ["job.py"], 21)
    open_store(place / ".durable").save(dataclasses.replace(run, status=RunStatus.COMPLETED))
    _run(place / ".durable", place / "job.py", ["job.py"], 22, queue="emails")
    assert _resumed_seed(["job.py"]) is None


def test_the_store_is_found_where_config_finds_it(
    place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(place / "elsewhere", place / "job.py", ["job.py"], 31)
    assert _resumed_seed(["job.py"]) is None
    assert _resumed_seed(["--store", "elsewhere", "job.py"]) == 31
    assert _resumed_seed(["--store=elsewhere", "job.py"]) == 31
    monkeypatch.setenv("DURABLE_PYTHON_STORE", "elsewhere")
    assert _resumed_seed(["job.py"]) == 31
    monkeypatch.delenv("DURABLE_PYTHON_STORE")
    (place / "pyproject.toml").write_text('[tool.durable-python]\nstore = "elsewhere"\n')
    assert _resumed_seed(["job.py"]) == 31


def test_a_run_named_by_id_gives_its_seed(place: Path) -> None:
    _run(place / ".durable", place / "job.py", ["job.py"], 41)
    assert _resumed_seed(["--run-id", "r41", "job.py"]) == 41
    assert _resumed_seed(["--run-id", "unknown", "job.py"]) is None


@pytest.mark.parametrize(
    "arguments",
    [
        ["--new", "job.py"],  # a new run: any seed does
        ["--st", "x", "job.py"],  # what argparse may take for --store: not guessed
        ["--store"],
        ["-v"],
        ["--store", "postgresql://localhost/db", "job.py"],
    ],
)
def test_it_gives_up_rather_than_guess(place: Path, arguments: list[str]) -> None:
    _run(place / ".durable", place / "job.py", ["job.py"], 51)
    assert _resumed_seed(arguments) is None


def test_its_table_of_options_is_the_run_command_s() -> None:
    """An option of ``run`` missing from the glance's table only makes it give up; one it
    read wrongly (a value taken for the script) would make it guess from the wrong command."""
    parser = argparse.ArgumentParser()
    run.configure(parser)
    for action in parser._actions:
        for option in action.option_strings:
            if option in ("-h", "--help", "--new"):
                continue
            table = hashseed._VALUED if action.nargs != 0 else hashseed._FLAGS
            assert option in table, option
