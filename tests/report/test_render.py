"""profiler.report.render: counts in the four unit styles, shares as percentages, notes
shortened to one line, and tables for the terminal and for Markdown."""
from __future__ import annotations

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from profiler.report.render import NOTE_WIDTH, QUOTE_WIDTH, UNITS, fmt_count, fmt_share, short_note, table


@pytest.mark.parametrize("units, text", [("grouped", "70,276,800"), ("raw", "70276800"), ("human", "70.28M"),
                                         ("sci", "7.028e+07")])
def test_fmt_count_in_each_unit_style(units, text):
    assert units in UNITS
    assert fmt_count(70_276_800, units) == text


def test_fmt_count_prefixes_and_fractions():
    assert [fmt_count(v, "human") for v in (999, 1000, 2_500_000_000, 3 * 10**12)] == ["999", "1.00K", "2.50G",
                                                                                        "3.00T"]
    assert fmt_count(-1500, "human") == "-1.50K"
    assert fmt_count(5.0) == "5" and fmt_count(5.25) == "5.25"        # a whole float is a count
    assert fmt_share(12.3456) == "12.35%" and fmt_share(100) == "100.00%"


def test_short_note_is_one_line_of_at_most_the_width():
    assert short_note("a\n  short\tnote") == "a short note"
    long = "word " * 100
    line = short_note(long)
    assert len(line) <= NOTE_WIDTH and line.endswith("…") and "\n" not in line
    body = line[:-1]
    assert set(body.split(" ")) == {"word"} and len(body) > NOTE_WIDTH - 2 * len("word ")   # whole words
    short = short_note(long, width=20)
    assert len(short) <= 20 and set(short[:-1].split(" ")) == {"word"} and short.endswith("…")


def test_short_note_cuts_a_quoted_error_to_its_first_sentence():
    error = "Expected all tensors to be on the same device. " + "More detail follows here. " * 10
    note = "layer foo fell back to a real run (RuntimeError: " + error + ") and " + "was counted " * 8
    line = short_note(note)
    assert "(RuntimeError: Expected all tensors to be on the same device.)" in line
    assert "More detail" not in line and len(line) <= NOTE_WIDTH
    assert QUOTE_WIDTH < NOTE_WIDTH


def test_table_formats_counts_and_shares_and_aligns_them_right():
    frame = pd.DataFrame({"name": ["a", "b"], "macs": [1234567, "n/a"], "macs_%": [99.5, 0.5]})
    text = table(frame, ["macs"], ["macs_%"])
    header, rule, first, second = text.splitlines()
    assert header.split() == ["name", "macs", "macs_%"]
    assert first.split() == ["a", "1,234,567", "99.50%"] and second.split() == ["b", "n/a", "0.50%"]
    assert first.endswith("99.50%") and second.index("n/a") + 3 == first.index("1,234,567") + 9   # right-aligned
    assert list(frame["macs"]) == [1234567, "n/a"]                                              # not changed


def test_markdown_table_parses_as_one_table_with_right_aligned_counts():
    frame = pd.DataFrame({"name": ["conv1"], "params": [23296]})
    text = table(frame, ["params"], units="raw", markdown=True)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    cells = [t.content for t in tokens if t.type == "inline"]
    assert cells == ["name", "params", "conv1", "23296"]
    assert [t.type for t in tokens].count("table_open") == 1
