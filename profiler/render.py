"""Number formatting and tables for the terminal and Markdown (via tabulate)."""
from __future__ import annotations

import pandas as pd
from tabulate import tabulate

UNITS = ("grouped", "raw", "human", "sci")


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
        if col in shown:
            shown[col] = [fmt_count(v, units) for v in shown[col]]
    for col in share_columns:
        if col in shown:
            shown[col] = [fmt_share(v) for v in shown[col]]
    right = {c for c in shown.columns if c in set(count_columns) | set(share_columns)}
    align = ["right" if c in right else "left" for c in shown.columns]
    return tabulate(shown.values.tolist(), headers=list(shown.columns),
                    tablefmt="github" if markdown else "simple", colalign=align, disable_numparse=True)
