"""The report as self-contained HTML, for Jupyter (``Report._repr_html_``).

One fragment, no JavaScript and no external resources: a scoped ``<style>``
block, then the header, the notes, the uncounted rows (flagged, first, since
the totals leave out their cost), the totals, the by-kind tables with their
shares, the finding, and the per-layer table.  Counts are grouped with
thousands separators as in the terminal report (``render.fmt_count``), and
every piece of text is HTML-escaped.

A long per-layer table is shortened: past ``max_rows`` rows it shows the
``keep`` rows that lead in multiplications or in parameters, in model
order, with a row marking each run of hidden rows and a line saying how
many are hidden and where to read them all.
"""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pandas as pd

from profiler.report.render import fmt_count, fmt_share
from profiler.columns import BWD_COLUMNS, COUNT_COLUMNS, INTENSITY_NOTE, LAYER_VIEW, RC_COLUMNS, SHOWN_SHARES

if TYPE_CHECKING:
    from profiler.report import Report

MAX_ROWS = 30   # a per-layer table longer than this is shortened ...
KEEP = 20       # ... to this many rows

CSS = """\
.profiler-report{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4}
.profiler-report p{margin:4px 0}
.profiler-report .title{font-weight:600;margin-top:12px}
.profiler-report table{border-collapse:collapse;margin:4px 0 8px}
.profiler-report th,.profiler-report td{padding:2px 8px;border-bottom:1px solid #ccc;text-align:left;white-space:nowrap}
.profiler-report th{border-bottom:2px solid #999}
.profiler-report .n{text-align:right;font-variant-numeric:tabular-nums}
.profiler-report tr.gap td{text-align:center;font-style:italic;opacity:.7}
.profiler-report tr.uncounted td{background:#fde2e2;color:#000}
.profiler-report .warning{border-left:4px solid #c00;padding:4px 8px;background:#fdf0f0;color:#000}
.profiler-report .small{opacity:.75;font-size:12px}
"""


def _cell(value, column: str, counts, shares, units: str, tag: str = "td") -> str:
    if column in counts:
        return f'<{tag} class="n">{escape(fmt_count(value, units))}</{tag}>'
    if column in shares:
        return f'<{tag} class="n">{escape(fmt_share(value))}</{tag}>'
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _table(frame: pd.DataFrame, counts=(), shares=(), units: str = "grouped", css: str = "",
           rows: list | None = None, flagged=frozenset()) -> str:
    """``frame`` as an HTML table, counts formatted per ``units``, shares as
    percentages.  ``rows``: the body in order, each a row position of ``frame``
    or ``("gap", n)`` for a run of n hidden rows; ``flagged``: positions marked
    as uncounted."""
    counts, shares = set(counts), set(shares)
    columns = list(frame.columns)
    head = "".join(f'<th class="n">{escape(str(c))}</th>' if c in counts | shares
                   else f"<th>{escape(str(c))}</th>" for c in columns)
    values = frame.to_numpy(dtype=object).tolist()
    body = []
    for row in range(len(values)) if rows is None else rows:
        if isinstance(row, tuple):
            n = row[1]
            body.append(f'<tr class="gap"><td colspan="{len(columns)}">⋯ {n:,} row{"s" * (n != 1)} '
                        "hidden</td></tr>")
            continue
        cells = "".join(_cell(v, c, counts, shares, units) for v, c in zip(values[row], columns))
        body.append(f'<tr class="uncounted" title="uncounted: cost unknown">{cells}</tr>' if row in flagged
                    else f"<tr>{cells}</tr>")
    return (f'<table class="{css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def shown_rows(layers: pd.DataFrame, max_rows: int | None = MAX_ROWS, keep: int = KEEP) -> list[int]:
    """Positions of the rows a shortened table shows, in model order: all of them
    when there are at most ``max_rows`` (or ``max_rows`` is None); else ``keep``
    rows taken in turn from the ranking by multiplications and the ranking by
    parameters (the heaviest compute and the heaviest weights; ties go to more
    FLOPs, then to the earlier row)."""
    n = len(layers)
    if max_rows is None or n <= max_rows:
        return list(range(n))

    def column(name: str) -> list[int]:
        return [int(v) for v in layers[name]] if name in layers else [0] * n
    mults, params, flops = column("mults"), column("params"), column("flops")
    by_mults = sorted(range(n), key=lambda i: (-mults[i], -flops[i], i))
    by_params = sorted(range(n), key=lambda i: (-params[i], -mults[i], -flops[i], i))
    chosen: dict[int, None] = {}
    for pair in zip(by_mults, by_params):
        for i in pair:
            if len(chosen) < keep:
                chosen.setdefault(i)
    return sorted(chosen)


def _with_gaps(shown: list[int], n: int) -> list:
    """``shown`` positions with ("gap", k) markers for each run of k hidden rows."""
    out, previous = [], -1
    for i in [*shown, n]:
        if i - previous > 1:
            out.append(("gap", i - previous - 1))
        if i < n:
            out.append(i)
        previous = i
    return out


def _title(text: str) -> str:
    return f'<p class="title">{escape(text)}</p>'


def to_html(report: Report, units: str = "grouped", layers: pd.DataFrame | None = None,
            layers_note: str = "", max_rows: int | None = MAX_ROWS, keep: int = KEEP) -> str:
    """The report as one self-contained HTML fragment.  ``layers`` replaces the
    per-layer table (a grouped, sorted or cut view, see profiler.report.grouping), as in
    ``Report.to_string``; totals and kinds stay whole-model.  A per-layer table of
    more than ``max_rows`` rows shows ``keep`` of them (see ``shown_rows``);
    ``max_rows=None`` shows every row."""
    order = "model order" if layers is None else "the order of the table given"
    layers = report.layers if layers is None else layers
    passes = report.passes
    uncounted = report.uncounted
    parts = [f"<style>{CSS}</style>", '<div class="profiler-report">',
             f'<p class="head"><b>{escape(report.header())}</b></p>']
    if report.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>note: {escape(str(n))}</li>" for n in report.notes)
                     + "</ul>")
    if len(uncounted):
        n = len(uncounted)
        parts.append('<div class="warning">'
                     f"<p><b>⚠ {n} uncounted row{'s' * (n != 1)}</b>: {'each' if n != 1 else 'it'} has an op "
                     "or module with no formula, "
                     "so the totals below leave out that cost (unknown, not zero).</p>")
        rows = [dict(name=r.name, type=r.type, ops=r.ops or "no formula") for r in uncounted.itertuples()]
        parts.append(_table(pd.DataFrame(rows, columns=["name", "type", "ops"]), css="uncounted-rows") + "</div>")

    parts += [_title("Total"), _table(report._totals_frame(), COUNT_COLUMNS + ["intensity"], units=units,
                                      css="total")]
    if passes is not None:
        parts += [_title("Forward and backward"),
                  _table(passes, ["mults", "adds", "other", "macs", "flops"], units=units, css="passes")]
    kinds = report.by_kind
    parts += [_title("By kind"), _table(kinds[["kind", "rows", *COUNT_COLUMNS]], COUNT_COLUMNS + ["rows"],
                                        units=units, css="kinds"),
              _title("By kind, share of the total and arithmetic intensity (FLOPs per byte moved)"),
              _table(report._kind_shares(), ["intensity"], [f"{c}_%" for c in SHOWN_SHARES], units, css="shares"),
              f'<p class="small">{escape(INTENSITY_NOTE)}.</p>',
              f'<p class="finding"><b>Finding:</b> {escape(report.finding())}.</p>']
    if report.memory is not None:   # memory profiles (profiler.report.memory)
        from profiler.report.memory import html_section
        parts.append(html_section(report))

    view = layers[[c for c in LAYER_VIEW + BWD_COLUMNS + RC_COLUMNS if c in layers]]
    shown = shown_rows(layers, max_rows, keep)
    flagged = {i for i, row in enumerate(zip(*(layers[c] for c in ("status", "bwd_status") if c in layers)))
               if "uncounted" in row}
    parts.append(_title("Per layer"))
    if layers_note:
        parts.append(f"<p>{escape(layers_note)}</p>")
    hidden = len(view) - len(shown)
    if hidden:
        parts.append(f'<p class="shortened">{len(view):,} rows; shown: the {len(shown):,} that lead in '
                     f"multiplications or in parameters, in {order}; <b>{hidden:,} rows hidden</b> "
                     "(⋯ marks where). All rows: <code>report.layers</code> (a DataFrame), or "
                     "<code>profiler.report.html_report.to_html(report, max_rows=None)</code>.</p>")
    parts.append(_table(view, COUNT_COLUMNS + BWD_COLUMNS + RC_COLUMNS, units=units, css="layers",
                        rows=_with_gaps(shown, len(view)), flagged=flagged))
    parts.append("</div>")
    return "\n".join(parts) + "\n"
