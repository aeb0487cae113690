"""Number formatting, notes and tables for the terminal and Markdown (via tabulate)."""
from __future__ import annotations

import re

import pandas as pd
from tabulate import tabulate

UNITS = ("grouped", "raw", "human", "sci")
NOTE_WIDTH = 160        # a note on the terminal is one line of at most this many characters
QUOTE_WIDTH = 80        # of which a quoted error message takes at most this many

# "(SomeError: text)" inside a note: an exception quoted by the profile (one level of
# parentheses inside it, as in "torch.nonzero()")
_QUOTED_ERROR = re.compile(r"\((?P<error>[A-Za-z_][\w.]*(?:Error|Exception)): "
                           r"(?P<text>[^()]*(?:\([^()]*\)[^()]*)*)\)")


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: cut at a word, ending in '…'."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def _short_quote(match: re.Match) -> str:
    text = match["text"].strip()
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if len(sentence) > QUOTE_WIDTH and ", " in sentence:
        sentence = sentence[:sentence.index(", ")] + "…"
    return f"({match['error']}: {_cut(sentence, QUOTE_WIDTH)})"


def short_note(note: str, width: int = NOTE_WIDTH) -> str:
    """A note as one short line: whitespace (newlines too) collapsed, a quoted error
    message cut to the start of its first sentence, and the whole cut to ``width``
    characters at a word ('…' where anything was left out).  The full text stays in
    the report (``Report.notes``); ``profiler profile --verbose`` prints it."""
    line = " ".join(str(note).split())
    if len(line) <= width:
        return line
    return _cut(_QUOTED_ERROR.sub(_short_quote, line), width)


def fmt_count(value, units: str = "grouped") -> str:
    """70276800 → '70,276,800' (grouped), '70276800' (raw), '70.28M' (human), '7.028e+07' (sci)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.2f}"
    value = int(value)
    if units == "raw":
        return str(value)
    if units == "sci":
        return f"{value:.3e}"
    if units == "human":
        for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
            if abs(value) >= size:
                return f"{value / size:.2f}{suffix}"
        return str(value)
    return f"{value:,}"


def fmt_share(value: float) -> str:
    return f"{value:.2f}%"


def table(df: pd.DataFrame, count_columns, share_columns=(), units: str = "grouped",
          markdown: bool = False) -> str:
    """Render ``df`` with counts formatted per ``units`` and shares as percentages."""
    shown = df.copy()
    for col in count_columns:
        if col in shown:   # text in a count column ("n/a") is shown as it is
            shown[col] = [v if isinstance(v, str) else fmt_count(v, units) for v in shown[col]]
    for col in share_columns:
        if col in shown:
            shown[col] = [fmt_share(v) for v in shown[col]]
    right = {c for c in shown.columns if c in set(count_columns) | set(share_columns)}
    align = ["right" if c in right else "left" for c in shown.columns]
    return tabulate(shown.values.tolist(), headers=list(shown.columns),
                    tablefmt="github" if markdown else "simple", colalign=align, disable_numparse=True)
