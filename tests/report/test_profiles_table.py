"""profiler.report.profiles_table: the comparison table (one row per profile) as text and as
a Markdown page with its plot link, its failures and its incomplete counts."""
from __future__ import annotations

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from profiler.compare import compare
from profiler.report.profiles_table import COLUMNS, COUNTS, INTENSITY_NOTE, SHARES, markdown, to_text


def _frame(**extra) -> pd.DataFrame:
    """Two rows written by hand: a 10-parameter model all linear, a 1,500,000-parameter one all conv."""
    rows = [dict(model="tiny", input="4", batch=1, params=10, mults=8, adds=8, other=0, macs=8, flops=16,
                 act_bytes=8, **{s: 0.0 for s in SHARES}, intensity=16 / 60, uncounted=0),
            dict(model="big", input="3x32x32", batch=2, params=1_500_000, mults=2_000_000, adds=2_000_000,
                 other=5, macs=2_000_000, flops=4_000_005, act_bytes=1024, **{s: 0.0 for s in SHARES},
                 intensity=2.0 / 3.0, uncounted=2)]
    rows[0].update({"linear_mults_%": 100.0, "linear_params_%": 100.0})
    rows[1].update({"conv_mults_%": 100.0, "conv_params_%": 100.0})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs.update(extra)
    return frame


def _cells(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_text_has_counts_shares_and_intensity_formatted():
    header, _, tiny, big = _cells(to_text(_frame()))
    assert header == COLUMNS
    assert big[:4] == ["big", "3x32x32", "2", "1,500,000"]
    assert big[COLUMNS.index("flops")] == "4,000,005" and big[COLUMNS.index("conv_mults_%")] == "100.00%"
    assert tiny[COLUMNS.index("intensity")] == "0.27" and big[COLUMNS.index("intensity")] == "0.67"
    _, _, _, human = _cells(to_text(_frame(), units="human"))
    assert human[COLUMNS.index("params")] == "1.50M"


def test_markdown_page_lists_failures_and_incomplete_counts():
    failures = [{"model": "nope", "input": "3x8x8", "batch": 1, "error": "unknown model"}]
    page = markdown(_frame(failures=failures), title="Two models", plot="cmp.png", intro="Hand-made rows.")
    lines = page.splitlines()
    assert lines[:3] == ["# Two models", "", "Hand-made rows."]
    assert INTENSITY_NOTE + "." in lines and "![MACs against parameters, log-log](cmp.png)" in lines
    assert "- `nope` (input 3x8x8, batch 1): unknown model" in lines
    assert "- `big` (input 3x32x32, batch 2): 2 uncounted row(s)" in lines
    assert not any(line.startswith("- `tiny`") for line in lines)
    tokens = MarkdownIt("commonmark").enable("table").parse(page)
    assert [t.type for t in tokens].count("tr_open") == 3            # header and two rows


def test_markdown_page_without_failures_says_so():
    page = markdown(_frame().iloc[:1])
    assert "None: every model was profiled." in page and "## Incomplete counts" not in page
    assert "## MACs vs parameters" not in page and page.endswith("\n")


def test_a_real_comparison_row_reads_back():
    frame = compare(["alexnet_homework"])
    _, _, row = _cells(to_text(frame, units="raw"))
    assert row[:4] == ["alexnet_homework", "3x227x227", "1", "61100840"]   # 5 convs and 3 linears, by hand
    assert list(frame.columns) == COLUMNS and COUNTS == COLUMNS[3:10]
    assert frame[[s for s in SHARES if s.endswith("params_%")]].sum(axis=1).iloc[0] == pytest.approx(100.0)
