"""The report in a notebook: Report._repr_html_ (profiler.report.html_report) on real models.

The HTML is read back with the standard library's html.parser: tags must balance,
text must come back exactly as the report holds it (so markup in names and notes
is escaped), and the tables must hold the report's own numbers, grouped as in the
terminal report."""
from __future__ import annotations

import subprocess
import sys
import warnings
from html.parser import HTMLParser

import pandas as pd
import pytest
import torch
from torch import nn

import profiler
from profiler.report.grouping import view
from profiler.report.html_report import KEEP, MAX_ROWS, shown_rows, to_html
from profiler.report import LAYER_VIEW, SHOWN_SHARES
from profiler.columns import COUNT_COLUMNS

VOID = {"br", "hr", "img", "meta", "link", "input", "col", "wbr"}


class Page(HTMLParser):
    """Checks that tags balance; collects every table (by class) as rows of
    (row class, cell texts), every paragraph's text, and all text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.tables: dict[str, list[tuple[str, list[str]]]] = {}
        self.paragraphs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._table = self._cell = self._para = None
        self.feed(html)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += attrs
        cls = dict(attrs).get("class") or ""
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(cls, [])
        elif tag == "tr":
            self._table.append((cls, []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p":
            self._para = (cls, [])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th"):
            self._table[-1][1].append("".join(self._cell))
            self._cell = None
        elif tag == "p":
            self.paragraphs.append((self._para[0], "".join(self._para[1])))
            self._para = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._para is not None:
            self._para[1].append(data)

    def table(self, cls: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """(header cells, body rows) of the one table of class ``cls``."""
        rows = self.tables[cls]
        return rows[0][1], rows[1:]

    def paragraph(self, cls: str) -> str:
        found = [text for c, text in self.paragraphs if c == cls]
        assert len(found) == 1, (cls, self.paragraphs)
        return found[0]

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def _parse(html: str) -> Page:
    page = Page(html)
    assert not page.errors, page.errors
    return page


def _self_contained(html: str, page: Page) -> None:
    assert page.tags <= {"style", "div", "p", "b", "code", "ul", "li", "table", "thead", "tbody", "tr",
                         "th", "td"}, page.tags
    assert not any(name.startswith("on") or name in ("src", "href") for name, _ in page.attrs)
    assert "http" not in html and "url(" not in html and "@import" not in html


@pytest.fixture(scope="module")
def alexnet():
    report = profiler.profile("alexnet")
    return report, report._repr_html_()


@pytest.fixture(scope="module")
def resnet50():
    report = profiler.profile("resnet50")
    return report, report._repr_html_()


def test_html_parses_balanced_and_self_contained(alexnet, resnet50):
    for _, html in (alexnet, resnet50):
        _self_contained(html, _parse(html))


def test_header_and_totals_are_the_reports_exact_grouped_numbers(alexnet):
    report, html = alexnet
    page = _parse(html)
    assert page.paragraph("head") == report.header()
    header, rows = page.table("total")
    assert header == COUNT_COLUMNS + ["intensity"]
    assert len(rows) == 1
    cells = dict(zip(header, rows[0][1]))
    for column, value in report.totals.items():
        assert cells[column] == f"{value:,}"
    assert cells["intensity"] == f"{report.intensity:.2f}"
    assert cells["mults"].count(",") == 2                      # hundreds of millions, grouped


def test_by_kind_counts_and_shares_are_every_kind_with_the_terminal_columns(alexnet):
    report, html = alexnet
    page = _parse(html)
    kinds = report.by_kind
    header, rows = page.table("kinds")
    assert header == ["kind", "rows", *COUNT_COLUMNS]
    assert [cells[0] for _, cells in rows] == list(kinds["kind"])
    for (_, cells), (_, kind) in zip(rows, kinds.iterrows()):
        assert cells[1:] == [f"{int(kind[c]):,}" for c in ["rows", *COUNT_COLUMNS]]
    header, rows = page.table("shares")
    assert header == ["kind", *(f"{c}_%" for c in SHOWN_SHARES), "intensity"]
    assert [cells[0] for _, cells in rows] == list(kinds["kind"])
    conv = dict(zip(header, next(cells for _, cells in rows if cells[0] == "conv")))
    assert conv["mults_%"] == f"{report.share('conv', 'mults'):.2f}%"
    assert conv["params_%"] == f"{report.share('conv', 'params'):.2f}%"
    # the same cells as the terminal report's share table
    terminal = report._tables("grouped", False, None)["shares"].splitlines()
    conv_line = next(line for line in terminal if line.startswith("conv "))
    assert conv_line.split() == list(conv.values())


def test_finding_is_the_reports_sentence(alexnet):
    report, html = alexnet
    page = _parse(html)
    assert page.paragraph("finding") == f"Finding: {report.finding()}."


def test_short_layer_table_shows_every_row_with_grouped_counts(alexnet):
    report, html = alexnet
    page = _parse(html)
    assert len(report.layers) <= MAX_ROWS
    header, rows = page.table("layers")
    assert header == LAYER_VIEW
    assert [cls for cls, _ in rows] == [""] * len(report.layers)
    assert [cells[0] for _, cells in rows] == list(report.layers["name"])
    for (_, cells), (_, layer) in zip(rows, report.layers.iterrows()):
        shown = dict(zip(header, cells))
        assert shown["mults"] == f"{int(layer['mults']):,}" and shown["params"] == f"{int(layer['params']):,}"
    assert not [p for c, p in page.paragraphs if c == "shortened"]
    assert "uncounted-rows" not in page.tables and 'class="warning"' not in html


def test_long_layer_table_is_shortened_to_the_heaviest_rows_in_model_order(resnet50):
    report, html = resnet50
    page = _parse(html)
    layers = report.layers
    n = len(layers)
    assert n > MAX_ROWS
    _, rows = page.table("layers")
    shown = [cells[0] for cls, cells in rows if cls != "gap"]
    gaps = [cells[0] for cls, cells in rows if cls == "gap"]
    assert len(shown) == KEEP
    # gap rows say how many rows each run hides; together, every hidden row
    hidden = [int(text.split()[1].replace(",", "")) for text in gaps]
    assert sum(hidden) == n - KEEP
    assert f"{n:,} rows" in page.paragraph("shortened")
    assert f"{n - KEEP:,} rows hidden" in page.paragraph("shortened")
    assert "report.layers" in page.paragraph("shortened")
    # shown rows keep model order, and each gap sits where its rows were taken out
    positions, names = [], list(layers["name"])
    cursor = 0
    for cls, cells in rows:
        if cls == "gap":
            cursor += int(cells[0].split()[1].replace(",", ""))
        else:
            assert names[cursor] == cells[0]
            positions.append(cursor)
            cursor += 1
    assert cursor == n and positions == sorted(positions)
    # the ten heaviest rows by multiplications and by parameters are all shown
    for column in ("mults", "params"):
        tenth = sorted(layers[column], reverse=True)[9]
        assert set(layers.index[layers[column] > tenth]) <= set(positions)
    assert layers["mults"].idxmax() in positions and layers["params"].idxmax() in positions
    assert "fc" in shown                                         # the most parameters of any row


def test_long_layer_table_in_full_on_request(resnet50):
    report, _ = resnet50
    page = _parse(to_html(report, max_rows=None))
    _, rows = page.table("layers")
    assert [cells[0] for _, cells in rows] == list(report.layers["name"])
    assert not [p for c, p in page.paragraphs if c == "shortened"]


def test_a_layers_view_replaces_the_table_and_says_so(resnet50):
    report, _ = resnet50
    grouped, note = view(report.layers, depth=1)
    page = _parse(to_html(report, layers=grouped, layers_note=note))
    _, rows = page.table("layers")
    assert [cells[0] for _, cells in rows] == list(grouped["name"])
    assert note in page.all_text
    _, total = page.table("total")
    assert total[0][1][1] == f"{report.totals['mults']:,}"


def test_markup_in_names_and_notes_is_escaped():
    model = nn.Sequential()
    model.add_module("a<b>&c", nn.Linear(4, 3))                   # module names may hold any character but '.'
    report = profiler.profile(model, inputs=(2, 4))
    report.notes.append("<b>bold</b> & <script>alert(1)</script>")
    report.model = "Net<T> & co"
    html = report._repr_html_()
    page = _parse(html)
    _self_contained(html, page)
    assert "<b>bold" not in html and "<script" not in html and "<T>" not in html and "a<b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert "note: <b>bold</b> & <script>alert(1)</script>" in page.all_text
    assert page.paragraph("head") == report.header() and report.header().startswith("Net<T> & co")
    _, rows = page.table("layers")
    assert rows[0][1][0] == "a<b>&c"
    assert page.paragraph("finding") == f"Finding: {report.finding()}."


class UsesUnknownOp(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x)


def test_uncounted_rows_are_flagged_first_and_in_the_layer_table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = profiler.profile(nn.Sequential(nn.Linear(4, 4), UsesUnknownOp()), inputs=(3, 4))
    assert len(report.uncounted) == 1
    html = report._repr_html_()
    page = _parse(html)
    assert html.index('class="warning"') < html.index('class="total"')
    assert "1 uncounted row" in page.all_text
    header, rows = page.table("uncounted-rows")
    assert header == ["name", "type", "ops"]
    assert [cells[:2] for _, cells in rows] == [[r.name, r.type] for r in report.uncounted.itertuples()]
    assert "special_bessel_j0" in rows[0][1][2]
    _, layer_rows = page.table("layers")
    flagged = [cells[0] for cls, cells in layer_rows if cls == "uncounted"]
    assert flagged == list(report.uncounted["name"])


def test_training_profile_shows_forward_and_backward():
    report = profiler.profile(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), inputs=(2, 8), training=True)
    page = _parse(report._repr_html_())
    header, rows = page.table("passes")
    assert header == list(report.passes.columns)
    assert [cells[0] for _, cells in rows] == ["forward", "backward", "forward+backward"]
    assert rows[2][1][header.index("flops")] == f"{int(report.passes['flops'].iloc[2]):,}"
    layer_header, _ = page.table("layers")
    assert "bwd_macs" in layer_header


def test_importing_the_report_does_not_import_the_html_renderer():
    code = ("import sys, profiler.report; "
            "assert 'profiler.report.html_report' not in sys.modules; assert 'pandas' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shown_rows_take_the_heaviest_by_mults_and_by_params_in_turn():
    layers = pd.DataFrame({"mults": [5, 0, 3, 0, 1], "params": [0, 9, 0, 8, 0], "flops": [10, 0, 6, 0, 2]})
    assert shown_rows(layers, max_rows=3, keep=2) == [0, 1]           # most mults, most params
    assert shown_rows(layers, max_rows=3, keep=3) == [0, 1, 2]        # then the next by mults
    assert shown_rows(layers, max_rows=3, keep=4) == [0, 1, 2, 3]     # and the next by params
    assert shown_rows(layers, max_rows=None) == shown_rows(layers, max_rows=5) == [0, 1, 2, 3, 4]
