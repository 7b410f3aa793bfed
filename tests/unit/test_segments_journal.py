"""Journal segments (torn tails) and the in-memory journal's replay bookkeeping."""

from durable_python import segments
from durable_python.journal import Entry, Journal, TaskJournal


def _entry(seq, policy="effect", outcome="ok", name="m.f", attempt=0):
    return ("main", seq, attempt, policy, name, "s.py:1", "", outcome, b"", 0.0, 0.0)


def test_a_torn_record_at_the_end_is_ignored(tmp_path):
    path = tmp_path / "a.seg"
    writer = segments.SegmentWriter(path, sync=False)
    writer.write(segments.encode([_entry(0)]))
    writer.write(segments.encode([_entry(1), _entry(2)]))
    writer.close()
    whole = path.read_bytes()
    path.write_bytes(whole + segments.encode([_entry(3)])[:-3])
    assert [r[1] for r in segments.read(path)] == [0, 1, 2]
    damaged = bytearray(whole)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert [r[1] for r in segments.read(path)] == [0]


def test_replay_skips_outputs_for_calls_and_continues_numbering():
    task = TaskJournal("main", {0: Entry(*_entry(0, "output")), 1: Entry(*_entry(1))})
    assert task.claim(skip_outputs=True)[0] == 1
    assert task.claim(skip_outputs=True) == (2, None)
    assert not task.replaying


def test_a_seq_the_crash_lost_runs_live_and_later_ones_still_replay():
    task = TaskJournal("main", {0: Entry(*_entry(0)), 2: Entry(*_entry(2))})
    assert task.claim(skip_outputs=True)[1].seq == 0
    assert task.claim(skip_outputs=True) == (1, None)
    assert task.claim(skip_outputs=True)[1].seq == 2


def test_a_final_failed_effect_is_retried_as_a_new_attempt():
    rows = [_entry(0), _entry(1, outcome="error"), _entry(2, "output")]
    task = TaskJournal("main", {r[1]: Entry(*r) for r in rows})
    task.retry_last_failed_effect()
    assert list(task.recorded) == [0]
    assert task.retry_attempts == {1: 1} and task.last_recorded == 0


def test_latest_attempt_wins_and_outputs_of_one_line_make_one_entry(tmp_path):
    rows = [_entry(0), _entry(1, outcome="error"), _entry(1, name="m.g", attempt=1)]
    journal = Journal("r1", tmp_path / "s.seg", rows, sync=False)
    assert [e.name for e in journal.main.recorded.values()] == ["m.f", "m.g"]
    journal.main.seq = 2
    for piece in ("a", " ", "b", "\n"):
        journal.record_output(journal.main, "sys.stdout", "s.py:3", piece)
    journal.close()
    (record,) = segments.read(tmp_path / "s.seg")
    assert record[1] == 2 and record[3] == "output" and record[8] == b"a b\n"
