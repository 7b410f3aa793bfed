"""The script's stdout/stderr wrapper hands text on a whole line at a time."""

from __future__ import annotations

from durable_python.streams import OutputOnce


class Writes:
    """A stream that keeps every write it was given, as one item each."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1


def test_a_line_written_in_pieces_reaches_the_stream_in_one_write():
    """print() writes its text and its newline separately; a flush of the real stream between
    them (the journal's, from another thread) must not split the line."""
    real = Writes()
    out = OutputOnce(real, "sys.stdout")
    assert out.write("[k33] confirmation") == len("[k33] confirmation")
    out.write(" sent")
    assert real.writes == []
    out.write("\n")
    assert real.writes == ["[k33] confirmation sent\n"]


def test_complete_lines_go_on_and_the_rest_waits_for_its_newline_or_a_flush():
    real = Writes()
    out = OutputOnce(real, "sys.stdout")
    out.write("one\ntwo\nthr")
    assert real.writes == ["one\ntwo\n"]
    out.write("ee\nfour")
    assert real.writes == ["one\ntwo\n", "three\n"]
    out.flush()
    assert real.writes == ["one\ntwo\n", "three\n", "four"] and real.flushes == 1
    out.flush()
    assert real.writes == ["one\ntwo\n", "three\n", "four"] and real.flushes == 2
