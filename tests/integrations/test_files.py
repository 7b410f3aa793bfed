"""Files: a script that writes, appends and rewrites files, killed anywhere and resumed, leaves the
same bytes as an uninterrupted run; reads and directory listings replay what the run saw."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

FILES_SCRIPT = """
import codecs, json, logging, os, pathlib, shutil, time

out = pathlib.Path("out")
out.mkdir(exist_ok=True)
logging.basicConfig(filename="out/job.log", format="%(levelname)s %(message)s", level=logging.INFO)
journal = open("out/journal.txt", "a", encoding="utf-8")
for i in range(5):
    with open(f"out/part{i % 2}.txt", "w") as f:          # rewritten every round
        for j in range(3):
            f.write(f"round {i} line {j}\\n")
            time.sleep(0)
        print("footer", i, file=f)
    journal.write(f"round {i} done ✓\\n")                   # appended, kept open
    journal.flush()
    logging.info("round %d", i)
    with open("out/data.bin", "ab") as b:                  # binary append
        b.write(bytes([i]) * (i + 1))
    state_file = out / "state.json"                        # read, then rewritten
    state = json.loads(state_file.read_text()) if state_file.exists() else {"rounds": []}
    state["rounds"].append(i)
    state_file.write_text(json.dumps(state))
    mode = "r+b" if os.path.exists("out/rw.bin") else "w+b"
    with open("out/rw.bin", mode) as g:                    # read and write, seek, truncate
        g.seek(0, 2)
        g.write(b"x" * (i + 2))
        g.seek(1)
        g.write(b"Y")
        g.seek(0)
        head = g.read(4)
        g.truncate(10)
    with pathlib.Path("out/notes.txt").open("a") as n:
        n.writelines([f"note {i}\\n", head.decode() + "\\n"])
    with codecs.open("out/latin.txt", "a", encoding="latin-1") as c:
        c.write(f"café {i}\\n")
    time.sleep(0)
try:
    open("out/journal.txt", "x")
except FileExistsError:
    journal.write("exclusive create refused\\n")
journal.close()
shutil.copy("out/part0.txt", "out/copy.txt")
os.replace("out/copy.txt", "out/moved.txt")
os.remove("out/part1.txt")
with open("out/journal.txt", encoding="utf-8") as f:
    lines = f.readlines()
print(len(lines), json.loads((out / "state.json").read_text()))
"""


def _files(ih) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((ih.work / "out").iterdir())}


@pytest.fixture
def reference(ih):
    ih.write("files.py", FILES_SCRIPT)
    done = ih.run("files.py")
    assert done.returncode == 0, done
    expected = _files(ih), done.stdout, len(ih.entries())
    return expected


def _reset(ih) -> None:
    import shutil

    shutil.rmtree(ih.work / "out", ignore_errors=True)
    ih.fresh()


def test_files_are_byte_identical_after_kills_anywhere(ih, reference):
    files, stdout, total = reference
    assert set(files) == {
        "data.bin",
        "job.log",
        "journal.txt",
        "latin.txt",
        "moved.txt",
        "notes.txt",
        "part0.txt",
        "rw.bin",
        "state.json",
    }
    assert files["journal.txt"].count("✓".encode()) == 5
    for kill_at in sorted({2, 9, total // 3, total // 2, total - 2}):
        _reset(ih)
        series = ih.series("files.py", kill_ats=[kill_at])
        assert series.crashes == 1, series
        assert _files(ih) == files, f"kill at {kill_at}:\n{series}"
        assert series.stdout == stdout, series


def test_files_are_byte_identical_after_several_kills_in_a_row(ih, reference):
    files, stdout, total = reference
    _reset(ih)
    series = ih.series("files.py", kill_ats=[5, 17, 31, total - 7])
    assert series.crashes == 4, series
    assert _files(ih) == files, series
    assert series.stdout == stdout, series


def test_reads_replay_what_the_run_read_even_if_the_file_changed(ih):
    """Reads are recorded: a replayed read gives what the run read, not what the file holds
    now; reading on past the frontier reads the file as it is, and says it changed."""
    ih.write("input.txt", "".join(f"item {i}\n" for i in range(6)))
    ih.write(
        "reader.py",
        """
        import time
        seen = []
        with open("input.txt") as f:
            for line in f:
                seen.append(line.strip())
                time.sleep(0)
                if len(seen) == 3:
                    time.sleep(0.5)
        print(seen)
        """,
    )
    first = ih.run("reader.py", kill_at=4)
    assert first.killed, first
    ih.write("input.txt", "".join(f"ITEM {i}\n" for i in range(6)))  # same size, new text
    second = ih.run("reader.py")
    assert second.returncode == 0, second
    # The file was read in one 64 KiB chunk: the whole old content is recorded and replayed;
    # the read that found the end of the file happens live, at the recorded offset.
    assert second.stdout == f"{[f'item {i}' for i in range(6)]}\n", second
    assert "input.txt changed since this run opened it" in second.stderr


def test_a_read_past_the_frontier_reads_the_current_file_and_warns(ih):
    ih.write("big.txt", "".join(f"{i:07d}\n" for i in range(20000)))  # 160 KB: several chunks
    ih.write(
        "chunks.py",
        """
        import time
        total = 0
        with open("big.txt", "rb", buffering=65536) as f:
            while chunk := f.read(65536):
                total += chunk.count(b"\\n")
                time.sleep(0)
        print(total)
        """,
    )
    first = ih.run("chunks.py", kill_at=3)
    assert first.killed, first
    with open(ih.work / "big.txt", "a") as f:
        f.write("extra line\n")
    second = ih.run("chunks.py")
    assert second.returncode == 0, second
    assert second.stdout == "20001\n"
    assert "big.txt changed since this run opened it" in second.stderr


def test_directory_listings_replay_while_files_move(ih):
    """A script that processes an inbox and moves each file out: replay sees the inbox as it was
    (listdir, scandir, Path.iterdir, os.walk), so every file is processed exactly once."""
    for i in range(5):
        ih.write(f"inbox/m{i}.txt", f"message {i}\n")
    ih.write(
        "inbox_job.py",
        """
        import os, pathlib, shutil
        os.makedirs("done", exist_ok=True)
        names = sorted(os.listdir("inbox"))
        entries = sorted(e.name for e in os.scandir("inbox") if e.is_file())
        paths = sorted(p.name for p in pathlib.Path("inbox").iterdir())
        walked = [(d, sorted(fs)) for d, _, fs in os.walk("inbox")]
        assert names == entries == paths == walked[0][1], (names, entries, paths, walked)
        with open("processed.log", "a") as log:
            for name in names:
                text = pathlib.Path("inbox", name).read_text()
                log.write(f"{name}: {text}")
                log.flush()
                shutil.move(f"inbox/{name}", f"done/{name}")
        print(len(names), sorted(os.listdir("done")))
        """,
    )
    series = ih.series("inbox_job.py", kill_ats=[7, 11])
    assert series.crashes == 2, series
    log = (ih.work / "processed.log").read_text()
    assert log == "".join(f"m{i}.txt: message {i}\n" for i in range(5)), series
    assert sorted(p.name for p in (ih.work / "done").iterdir()) == [f"m{i}.txt" for i in range(5)]
    assert series.final.stdout.startswith("5 ["), series


def test_logging_and_warnings_keep_the_callers_file_and_line(ih):
    ih.write(
        "frames.py",
        """
        import logging, sys, warnings
        import durable_python
        logging.basicConfig(stream=sys.stdout, format="%(filename)s:%(lineno)d %(funcName)s %(message)s", level=logging.INFO)
        log = logging.getLogger("job")
        log.info("at module level")
        def helper():
            log.warning("in a helper")
            log.info("from the caller", stacklevel=2)
            warnings.warn("careful", stacklevel=2)
        helper()
        @durable_python.activity
        def step():
            log.info("inside an activity, about its caller", stacklevel=2)
            warnings.warn("deprecated step", DeprecationWarning, stacklevel=2)
            return 1
        step()
        """,
    )
    python = ih.python("frames.py")
    durable = ih.run("frames.py")
    assert durable.returncode == 0, durable
    assert durable.stdout == python.stdout, (durable, python.stdout, python.stderr)
    assert durable.stderr == python.stderr
    assert "frames.py:10: UserWarning: careful" in durable.stderr
    assert "frames.py:16: DeprecationWarning: deprecated step" in durable.stderr
    last = durable.stdout.splitlines()[-1]
    assert last == "frames.py:16 <module> inside an activity, about its caller"
