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

from profiler.report import atomic
from profiler.columns import KINDS

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


MARKER_SIZE = 30            # scatter marker area, points²
LABEL_FONT = 7
LABEL_PAD = 3.0             # pixels between a label and its marker, or the axes' edge


def compare_figure(table: pd.DataFrame, title: str = "MACs vs parameters"):
    """MACs against parameters, log-log, one labelled point per row of a
    ``compare`` table (rows with zero MACs or parameters cannot be placed and are left out).

    Markers are translucent, so points that (nearly) coincide stay visible as a
    darker overlap.  The legend sits below the plot, outside the axes, so it covers
    no point.  Each label goes next to its point where there is room (``_place_labels``),
    else to the nearest free spot inside the axes with a thin line to its point;
    no label overlaps another label or any marker."""
    rows = table[(table["macs"] > 0) & (table["params"] > 0)]
    fig = _figure(10, 7)
    ax = fig.add_subplot()
    conv_heavy = rows["conv_mults_%"] >= rows["linear_mults_%"]
    for mask, kind, label in ((conv_heavy, "conv", "most multiplications in conv layers"),
                              (~conv_heavy, "linear", "most multiplications in linear layers")):
        if mask.any():
            ax.scatter(rows.loc[mask, "params"].astype(float), rows.loc[mask, "macs"].astype(float),
                       s=MARKER_SIZE, color=KIND_COLORS[kind], alpha=0.7, linewidths=0, label=label, zorder=2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.autoscale_view()
    ax.set_xlabel("parameters")
    ax.set_ylabel("MACs (multiply-accumulates)")
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title(title)
    if len(rows):
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8,
                   frameon=False)
        _place_labels(fig, ax, rows[["params", "macs"]].astype(float).to_numpy(), _point_labels(rows))
    return fig


def _renderer(fig):
    """The Agg renderer of ``fig`` (its canvas becomes an Agg one; no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


def _overlapping(x0, y0, w: float, h: float, boxes):
    """For candidate boxes with lower-left corners (x0, y0) and size w×h: whether
    each overlaps any of ``boxes`` (rows x0, y0, x1, y1)."""
    import numpy as np
    if not len(boxes):
        return np.zeros(len(x0), dtype=bool)
    x0, y0 = x0[:, None], y0[:, None]
    return ((x0 < boxes[:, 2]) & (boxes[:, 0] < x0 + w) & (y0 < boxes[:, 3]) & (boxes[:, 1] < y0 + h)).any(axis=1)


def _box_gaps(x0, y0, w: float, h: float, points):
    """Distances (pixels) from candidate boxes (lower-left corners x0, y0; size w×h)
    to each of ``points``: one row per box, one column per point."""
    import numpy as np
    px, py = points[None, :, 0], points[None, :, 1]
    dx = np.maximum(np.maximum(x0[:, None] - px, px - x0[:, None] - w), 0)
    dy = np.maximum(np.maximum(y0[:, None] - py, py - y0[:, None] - h), 0)
    return np.hypot(dx, dy)


def _place_labels(fig, ax, points, labels: list[str]) -> None:
    """Annotate each point (data coordinates) with its label, placed in pixels once
    the layout is final.  Greedy, the most crowded points first: the first free spot
    of eight around the point (right, left, above, below, the diagonals) that is
    nearer this point than any other, else the free spot inside the axes nearest to
    the point, joined to it by a thin line.  A spot is free when its box (the text's
    extent from the renderer) overlaps no marker and no label placed before.  Only where the axes hold no free spot at
    all does a label go to its nearest spot regardless."""
    import numpy as np
    from matplotlib.text import Text
    renderer = _renderer(fig)
    fig.draw_without_rendering()              # constrained layout: the axes' final place
    scale = fig.dpi / 72.0                    # pixels per point
    xy = ax.transData.transform(points)
    radius = (MARKER_SIZE ** 0.5) / 2 * scale + 1.0
    sizes = []
    for label in labels:
        text = Text(0, 0, label, fontsize=LABEL_FONT, ha="left", va="bottom")
        text.set_figure(fig)
        extent = text.get_window_extent(renderer)
        sizes.append((extent.width + 1.0, extent.height + 1.0))
    frame = ax.get_window_extent(renderer)
    left, bottom = frame.x0 + LABEL_PAD, frame.y0 + LABEL_PAD
    right, top = frame.x1 - LABEL_PAD, frame.y1 - LABEL_PAD
    occupied = [(x - radius, y - radius, x + radius, y + radius) for x, y in xy]
    near = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) < 60
    order = sorted(range(len(labels)), key=lambda i: (-int(near[i].sum()), i))
    placed: dict[int, tuple[float, float, bool]] = {}
    step = 4.0
    for i in order:
        (px, py), (w, h) = xy[i], sizes[i]
        gap = radius + LABEL_PAD
        spots = np.array([(px + gap, py - h / 2), (px - gap - w, py - h / 2), (px - w / 2, py + gap),
                          (px - w / 2, py - gap - h), (px + gap * 0.7, py + gap * 0.7),
                          (px + gap * 0.7, py - gap * 0.7 - h), (px - gap * 0.7 - w, py + gap * 0.7),
                          (px - gap * 0.7 - w, py - gap * 0.7 - h)])
        boxes = np.array(occupied)
        choice = None
        # the eight spots, then the nearest free spot within a window around the point,
        # then within the whole axes: most labels stop at the first stage
        for reach in (0.0, 120.0, None):
            if reach == 0.0:
                candidates = spots
            else:
                lo_x, hi_x = (left, right - w) if reach is None else (max(left, px - reach - w), min(right - w, px + reach))
                lo_y, hi_y = (bottom, top - h) if reach is None else (max(bottom, py - reach - h), min(top - h, py + reach))
                gx, gy = np.meshgrid(np.arange(lo_x, max(lo_x, hi_x) + step / 2, step),
                                     np.arange(lo_y, max(lo_y, hi_y) + step / 2, step))
                grid = np.column_stack([gx.ravel(), gy.ravel()])
                distance = np.hypot(np.maximum(np.maximum(grid[:, 0] - px, px - grid[:, 0] - w), 0),
                                    np.maximum(np.maximum(grid[:, 1] - py, py - grid[:, 1] - h), 0))
                candidates = grid[np.argsort(distance, kind="stable")]
            x0, y0 = candidates[:, 0], candidates[:, 1]
            inside = (x0 >= left - 1e-6) & (y0 >= bottom - 1e-6) & (x0 + w <= right + 1e-6) & (y0 + h <= top + 1e-6)
            free = inside & ~_overlapping(x0, y0, w, h, boxes)
            if reach == 0.0 and len(xy) > 1:
                # a label without a line must be nearer its own point than any other
                gaps = _box_gaps(x0, y0, w, h, xy)
                own = gaps[:, i].copy()
                gaps[:, i] = np.inf
                free &= (gaps > own[:, None] + LABEL_PAD).all(axis=1)
            if free.any():
                choice = int(np.argmax(free))
                break
        if choice is None:   # no free spot anywhere: the nearest spot inside the axes
            choice = int(np.argmax(inside)) if inside.any() else 0
        x, y = candidates[choice]
        occupied.append((x, y, x + w, y + h))
        placed[i] = (x, y, reach != 0.0)
    for i, label in enumerate(labels):
        (px, py), (w, h), (x, y, far) = xy[i], sizes[i], placed[i]
        line = None
        if far:   # a thin line from the label's edge nearest the point to the point
            relpos = (min(max((px - x) / w, 0.0), 1.0), min(max((py - y) / h, 0.0), 1.0))
            line = dict(arrowstyle="-", color="0.45", lw=0.6, relpos=relpos, shrinkA=0, shrinkB=radius / scale)
        note = ax.annotate(label, tuple(points[i]), xytext=((x - px) / scale, (y - py) / scale),
                           textcoords="offset points", fontsize=LABEL_FONT, ha="left", va="bottom",
                           arrowprops=line, zorder=3)
        note.set_in_layout(False)             # labels stay inside the axes: the layout is done


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
