"""Journal segments (header, torn tails, format version) and the in-memory journal's replay
bookkeeping."""

import pytest

from durable_python.errors import StoreError
from durable_python.journal import Journal, TaskJournal
from durable_python.model import JOURNAL_FORMAT, Entry
from durable_python.stores import segments


def _entry(seq, policy="effect", outcome="ok", name="m.f", attempt=0):
    return ("main", seq, attempt, policy, name, "s.py:1", "", outcome, b"", 0.0, 0.0)


def test_a_torn_record_at_the_end_is_ignored(tmp_path):
    path = tmp_path / "a.seg"
    writer = segments.SegmentWriter(path, sync=False)
    writer.append([_entry(0)])
    writer.append([_entry(1), _entry(2)])
    writer.close()
    whole = path.read_bytes()
    assert whole.startswith(segments.HEADER)
    path.write_bytes(whole + segments.encode([_entry(3)])[:-3])
    assert [r[1] for r in segments.read(path)] == [0, 1, 2]
    damaged = bytearray(whole)
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert [r[1] for r in segments.read(path)] == [0]


def test_a_big_batch_is_written_in_frames_and_a_torn_write_keeps_whole_ones(tmp_path):
    path = tmp_path / "a.seg"
    count = 2 * segments.FRAME_RECORDS + 10
    writer = segments.SegmentWriter(path, sync=False)
    writer.append([_entry(seq) for seq in range(count)])
    writer.close()
    assert [r[1] for r in segments.read(path)] == list(range(count))
    path.write_bytes(path.read_bytes()[:-5])  # the crash tore the last frame of the write
    assert [r[1] for r in segments.read(path)] == list(range(2 * segments.FRAME_RECORDS))


def test_a_segment_torn_in_its_header_holds_nothing(tmp_path):
    path = tmp_path / "a.seg"
    path.write_bytes(segments.HEADER[:5])
    assert segments.read(path) == []
    path.write_bytes(b"")
    assert segments.read(path) == []


def test_a_segment_of_another_format_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "a.seg"
    path.write_bytes(segments.encode([_entry(0)]))  # before segments had a header: format 1
    with pytest.raises(StoreError) as old:
        segments.read(path)
    assert f"journal format 1, but this durable-python reads format {JOURNAL_FORMAT}" in str(
        old.value
    )
    assert str(path) in str(old.value) and "--store DIR" in str(old.value)
    newer = segments.HEADER[:4] + (JOURNAL_FORMAT + 1).to_bytes(4, "little")
    path.write_bytes(newer + segments.encode([_entry(0)]))
    with pytest.raises(StoreError, match=f"journal format {JOURNAL_FORMAT + 1}, but"):
        segments.read(path)


def test_a_failed_write_is_a_store_error_naming_the_segment(tmp_path):
    writer = segments.SegmentWriter(tmp_path / "missing" / "a.seg", sync=False)
    with pytest.raises(StoreError, match="cannot write the journal .*a.seg"):
        writer.append([_entry(0)])


def test_replay_skips_outputs_for_calls_and_continues_numbering():
    task = TaskJournal("main", {0: Entry(*_entry(0, "output")), 1: Entry(*_entry(1))})
    assert task.claim()[0] == 1
    assert task.claim() == (2, None)
    assert not task.replaying


def test_a_seq_the_crash_lost_runs_live_and_later_ones_still_replay():
    task = TaskJournal("main", {0: Entry(*_entry(0)), 2: Entry(*_entry(2))})
    assert task.claim()[1].seq == 0
    assert task.claim() == (1, None)
    assert task.claim()[1].seq == 2


def test_a_final_failed_effect_is_retried_as_a_new_attempt():
    rows = [_entry(0), _entry(1, outcome="error"), _entry(2, "output")]
    task = TaskJournal("main", {r[1]: Entry(*r) for r in rows})
    task.retry_last_failed_effect()
    assert list(task.recorded) == [0]
    assert task.retry_attempts == {1: 1} and task.last_recorded == 0


def test_latest_attempt_wins_and_outputs_of_one_line_make_one_entry(tmp_path):
    rows = [_entry(0), _entry(1, outcome="error"), _entry(1, name="m.g", attempt=1)]
    writer = segments.SegmentWriter(tmp_path / "s.seg", sync=False)
    journal = Journal("r1", [Entry(*r) for r in rows], writer)
    assert [e.name for e in journal.main.recorded.values()] == ["m.f", "m.g"]
    journal.main.seq = 2
    for piece in ("a", " ", "b", "\n"):
        journal.record_output(journal.main, "sys.stdout", "s.py:3", piece)
    journal.close()
    (record,) = map(Entry._make, segments.read(tmp_path / "s.seg"))
    assert record.seq == 2 and record.policy == "output" and record.payload == b"a b\n"
