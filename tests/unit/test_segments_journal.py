"""Journal segments (torn tails) and the in-memory journal's replay bookkeeping."""

from durable_python import segments
from durable_python.journal import Entry, Journal, TaskJournal


def _entry(seq, policy="effect", outcome="ok", name="m.f", attempt=0):
    return ("main", seq, attempt, policy, name, "s.py:1", "", outcome, b"", 0.0, 0.0)


def test_a_torn_record_at_the_end_is_ignored(tmp_path):
    path = tmp_path / "a.seg"
    writer = segments.SegmentWriter(path, sync=False)
    writer.write(segments.encode(_entry(0)) + segments.encode(_entry(1)))
    writer.close()
    whole = path.read_bytes()
    path.write_bytes(whole + segments.encode(_entry(2))[:-3])
    assert [r[1] for r in segments.read(path)] == [0, 1]
    damaged = bytearray(whole)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert [r[1] for r in segments.read(path)] == [0]


def test_replay_skips_outputs_for_calls_and_continues_numbering():
    task = TaskJournal("main", [Entry(*_entry(0, "output")), Entry(*_entry(1))])
    assert task.take(skip_outputs=True).seq == 1
    assert task.take(skip_outputs=True) is None
    assert task.next_seq == 2


def test_a_final_failed_effect_is_retried_as_a_new_attempt():
    rows = [_entry(0), _entry(1, outcome="error"), _entry(2, "output")]
    task = TaskJournal("main", [Entry(*r) for r in rows])
    task.retry_last_failed_effect()
    assert [e.seq for e in task.recorded] == [0]
    assert (task.next_seq, task.next_attempt) == (1, 1)


def test_latest_attempt_wins_and_outputs_of_one_line_make_one_entry(tmp_path):
    rows = [_entry(0), _entry(1, outcome="error"), _entry(1, name="m.g", attempt=1)]
    journal = Journal("r1", tmp_path / "s.seg", rows, sync=False)
    assert [e.name for e in journal.main.recorded] == ["m.f", "m.g"]
    journal.main.cursor = 2
    for piece in ("a", " ", "b", "\n"):
        journal.record_output(journal.main, "sys.stdout", "s.py:3", piece)
    journal.close()
    (record,) = segments.read(tmp_path / "s.seg")
    assert record[1] == 2 and record[3] == "output" and record[8] == b"a b\n"
