"""Kill-and-resume for what the other kill tests leave out: temporary files, raw descriptors,
process pools, asyncio timeouts, a work queue served by threads, a SQLite commit at the kill.

Each script runs once under plain ``python`` (the reference: its stdout and the files it leaves)
and once under ``durable-python``, killed by the test hook at chosen journal positions and run
again until it ends: printed once, the same files, effects not repeated.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def check_like_python(dp, script: str, source: str, kill_ats: list[int], *args: str):
    """Run ``source`` under python and, killed at ``kill_ats``, under durable-python: the same
    stdout printed once, the same files; the series, for more checks."""
    plain = dp.child("plain")
    plain.write(script, source)
    reference = plain.python(script, *args)
    assert reference.exit_code == 0, reference
    dp.write(script, source)
    series = dp.run_with_kills(script, *args, kill_ats=kill_ats)
    assert series.crashes == len(kill_ats) and series.final.exit_code == 0, series
    dp.assert_resumed_output(reference.stdout, series)
    assert dp.files() == plain.files(), series
    return series


TEMPORARY_FILES = """
    import os
    import tempfile

    os.makedirs("scratch", exist_ok=True)
    with tempfile.NamedTemporaryFile("w+", dir="scratch", suffix=".txt") as f:
        for i in range(3):
            f.write(f"line {i}\\n")
            print("wrote", i)
        f.flush()
        f.seek(0)
        print("read back", f.read().split())
        with open(f.name) as again:  # its name passed on
            print("by name", again.readline().strip())
    kept = tempfile.NamedTemporaryFile("wb", dir="scratch", delete=False)
    kept.write(b"kept\\n")
    kept.close()
    os.replace(kept.name, "kept.txt")
    fd, path = tempfile.mkstemp(dir="scratch")
    for i in range(3):
        os.write(fd, f"raw {i}\\n".encode())
        print("raw", i)
    os.lseek(fd, 0, os.SEEK_SET)
    print("mkstemp", os.read(fd, 100).split())
    os.close(fd)
    os.replace(path, "mkstemp.txt")
    with tempfile.TemporaryDirectory(dir="scratch") as d:
        for i in range(2):
            with open(os.path.join(d, f"{i}.txt"), "w") as out:
                out.write(f"in dir {i}\\n")
        print("listing", sorted(os.listdir(d)))
    with tempfile.TemporaryFile("w+") as anonymous:
        anonymous.write("anonymous\\n")
        anonymous.seek(0)
        print("anonymous", anonymous.read().strip())
    print("scratch left", os.listdir("scratch"))
"""


@pytest.mark.parametrize("kill_ats", [[1, 4, 7, 10, 13], [16, 19, 22, 25, 28, 31, 34]])
def test_temporary_files_work_after_a_kill(dp, kill_ats):
    """NamedTemporaryFile (written, read back, its name passed on, removed), mkstemp's
    descriptor, TemporaryDirectory and TemporaryFile work the same on a resumed run (replaying
    a NamedTemporaryFile once failed with ``KeyError: 'file'``) and leave nothing behind."""
    check_like_python(dp, "temporary.py", TEMPORARY_FILES, kill_ats)


RAW_DESCRIPTORS = """
    import os

    with open("existing.txt", "w") as f:
        f.write("0123456789\\n")
    fd = os.open("raw.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(4):
        os.write(fd, f"line {i}\\n".encode())
        print("wrote", i)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"LINE")
    os.close(fd)
    fd = os.open("raw.txt", os.O_RDONLY)
    print(os.read(fd, 9))
    os.lseek(fd, 2, os.SEEK_CUR)
    print(os.read(fd, 100))
    os.close(fd)
    fd = os.open("log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(3):
        os.write(fd, f"append {i}\\n".encode())
        print("appended", i)
    os.close(fd)
    fd = os.open("existing.txt", os.O_RDWR)  # no O_TRUNC: written over in place
    os.lseek(fd, 3, os.SEEK_SET)
    os.write(fd, b"abc")
    os.fsync(fd)
    print("size", os.fstat(fd).st_size)
    os.close(fd)
    fd = os.open("fresh.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"created once\\n")
    os.close(fd)
    print("done")
"""


@pytest.mark.parametrize("kill_ats", [[1, 3, 5, 7, 9, 11], [13, 15, 17, 19, 21, 23, 25, 27]])
def test_raw_descriptors_are_opened_again_after_a_kill(dp, kill_ats):
    """``os.open`` descriptors live on past a kill (they were replayed as numbers not open in
    the new process: EBADF): opened again without O_TRUNC or O_EXCL, at the recorded position,
    and no write done before the kill is in the file twice (O_APPEND included)."""
    check_like_python(dp, "raw.py", RAW_DESCRIPTORS, kill_ats)
