"""PNG plots of a report and of a comparison.

Figures are built as ``matplotlib.figure.Figure`` objects and rendered by the Agg
canvas, never through pyplot, so the caller's backend and global state are left
alone; matplotlib is imported only when a plot is asked for.  The figure
functions return the Figure (tests inspect its bars and points); ``save`` writes
it atomically.
"""
from __future__ import annotations

import io
import itertools
from pathlib import Path

import pandas as pd

from . import atomic
from .formulas.registry import KINDS

# tab10 then tab20 tones: one fixed colour per kind, the same in every plot
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a"]
KIND_COLORS = dict(zip(KINDS, itertools.cycle(_PALETTE)))   # cycles if kinds are added
SHARE_METRICS = {"params": "parameters", "mults": "multiplications", "flops": "FLOPs",
                 "act_bytes": "activation memory"}
MAX_LABELLED_ROWS = 120     # beyond this the per-layer tick labels would overlap


def _figure(width: float, height: float):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plotted_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """The rows drawn per layer: those with multiplications or parameters."""
    return layers[(layers["mults"] > 0) | (layers["params"] > 0)].reset_index(drop=True)


def report_figure(report, layers: pd.DataFrame | None = None):
    """Per-layer multiplications and parameters side by side, coloured by kind,
    and each kind's share of parameters, multiplications, FLOPs and activation
    memory as 100% stacked bars.  ``layers`` replaces the report's per-layer rows
    (a grouped, sorted or cut view)."""
    rows = plotted_layers(report.layers if layers is None else layers)
    n = len(rows)
    layer_height = min(56.0, max(3.0, 0.2 * n + 1.0))
    fig = _figure(14, layer_height + 3.0)
    grid = fig.add_gridspec(2, 2, height_ratios=[2.4, layer_height])
    ax_k = fig.add_subplot(grid[0, :])
    ax_m = fig.add_subplot(grid[1, 0])
    ax_p = fig.add_subplot(grid[1, 1], sharey=ax_m)
    colors = [KIND_COLORS.get(k, KIND_COLORS["other"]) for k in rows["kind"]]
    ys = list(range(n))
    for ax, column, title in ((ax_m, "mults", "multiplications"), (ax_p, "params", "parameters")):
        ax.barh(ys, rows[column].astype(float), color=colors)
        ax.set_title(f"{title} per layer")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.grid(axis="x", alpha=0.3)
    ax_m.set_yticks(ys, rows["name"] if n <= MAX_LABELLED_ROWS else [""] * n, fontsize=7)
    ax_m.set_ylim(n - 0.5, -0.5)           # first layer on top, no empty margin
    ax_p.tick_params(axis="y", labelleft=False)

    metrics = list(SHARE_METRICS)
    left = [0.0] * len(metrics)
    for r in report.by_kind.to_dict("records"):
        widths = [float(r[f"{m}_%"]) for m in metrics]
        ax_k.barh(range(len(metrics)), widths, left=left, color=KIND_COLORS.get(r["kind"], KIND_COLORS["other"]),
                  label=r["kind"])
        left = [a + b for a, b in zip(left, widths)]
    ax_k.set_yticks(range(len(metrics)), list(SHARE_METRICS.values()))
    ax_k.set_ylim(len(metrics) - 0.5, -0.5)
    ax_k.set_xlim(0, 100)
    ax_k.set_xlabel("% of the model's total")
    ax_k.set_title("share by kind")
    ax_k.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(report.header())
    return fig


def compare_figure(table: pd.DataFrame, title: str = "MACs vs parameters"):
    """MACs against parameters, log-log, one labelled point per row of a
    ``compare`` table (rows with zero MACs or parameters cannot be placed and are left out)."""
    rows = table[(table["macs"] > 0) & (table["params"] > 0)]
    fig = _figure(10, 7)
    ax = fig.add_subplot()
    conv_heavy = rows["conv_mults_%"] >= rows["linear_mults_%"]
    for mask, kind, label in ((conv_heavy, "conv", "most multiplications in conv layers"),
                              (~conv_heavy, "linear", "most multiplications in linear layers")):
        if mask.any():
            ax.scatter(rows.loc[mask, "params"].astype(float), rows.loc[mask, "macs"].astype(float),
                       color=KIND_COLORS[kind], label=label, zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.autoscale_view()
    points = ax.transData.transform(rows[["params", "macs"]].astype(float).to_numpy()) if len(rows) else []
    for (x, y), label, (dx, dy, align) in zip(zip(rows["params"], rows["macs"]), _point_labels(rows),
                                              _label_offsets(points, _point_labels(rows))):
        ax.annotate(label, (float(x), float(y)), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                    ha=align)
    if len(rows):
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("parameters")
    ax.set_ylabel("MACs (multiply-accumulates)")
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title(title)
    return fig


_LABEL_SPOTS = [(4, 3, "left"), (4, -10, "left"), (-4, 3, "right"), (-4, -10, "right"),
                (4, 12, "left"), (-4, 12, "right"), (4, -19, "left"), (-4, -19, "right")]


def _label_offsets(points, labels, char_px: float = 5.5, height_px: float = 10.0):
    """Greedy placement: for each point, the first of a few spots around it (offsets
    in points, 100 dpi) whose estimated label box overlaps no marker and no label placed before."""
    placed, out = [(px - 4, py - 4, px + 4, py + 4) for px, py in points], []
    scale = 100 / 72
    for (px, py), label in zip(points, labels):
        width = char_px * len(label)
        for dx, dy, align in _LABEL_SPOTS:
            x0 = px + dx * scale - (width if align == "right" else 0)
            box = (x0, py + dy * scale, x0 + width, py + dy * scale + height_px)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        out.append((dx, dy, align))
    return out


def _point_labels(rows: pd.DataFrame) -> list[str]:
    """The model name, plus its input and batch where that model has several rows
    that differ in them."""
    vary = {model: [c for c in ("input", "batch") if c in group and group[c].nunique() > 1]
            for model, group in rows.groupby("model", sort=False)}
    out = []
    for r in rows.to_dict("records"):
        extra = [str(r["input"]) if c == "input" else f"batch {r['batch']}" for c in vary[r["model"]]]
        out.append(" · ".join([str(r["model"]), *extra]))
    return out


def save(fig, path: str | Path) -> Path:
    """Render ``fig`` as PNG and write it whole or not at all.  No software tag in the
    metadata, so the bytes depend only on the figure and the matplotlib version."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return atomic.write_bytes(path, buffer.getvalue())
