"""The roofline figure of a measured (or roofline-predicted) report.

Left: arithmetic intensity (FLOPs per byte moved) against achieved FLOP/s, log-log,
one point per layer coloured by kind, under the two roofs: the compute peak
(horizontal) and the memory bandwidth (a slope of one; dashed beyond the
last-level cache where the peaks have two levels).  A layer's distance below
the roof is its inefficiency.  Without a measurement the points sit at the rate the
roofline bound allows (on the roof).  Right: each kind's share of the FLOPs next to
its share of the time (or of the bound).  Built as a matplotlib Figure without
pyplot, like profiler.report.plots.
"""
from __future__ import annotations

import math

import numpy as np

from profiler.report.plots import KIND_COLORS, _figure
from profiler.report.peaks import fmt_rate


def roofline_figure(report, layers=None):
    """The Figure (see the module docstring); ``layers`` is a view of the rows
    (grouped, sorted, cut), as for profiler.report.plots.report_figure."""
    from profiler.report.measured import view_columns
    m = report.measurement
    if m is None:
        raise ValueError("roofline_figure needs a measured report (profiler.measure.measure)")
    peaks = m.peaks
    view = view_columns(report, layers)
    moved = report.moved_bytes(view).to_numpy(dtype=np.float64)
    flops = view["flops"].to_numpy(dtype=np.float64)
    seconds = (view["time_s"] if m.measured else view["bound_s"]).to_numpy(dtype=np.float64)
    ok = (flops > 0) & (moved > 0) & (seconds > 0) & np.isfinite(seconds)
    intensity = np.where(ok, flops / np.where(moved > 0, moved, 1.0), np.nan)
    rate = np.where(ok, flops / np.where(seconds > 0, seconds, 1.0), np.nan)

    fig = _figure(15, 6.5)
    grid = fig.add_gridspec(1, 2, width_ratios=[1.7, 1.0])
    ax = fig.add_subplot(grid[0, 0])
    bars = fig.add_subplot(grid[0, 1])

    kinds = view["kind"].to_numpy()
    for kind in dict.fromkeys(kinds[ok]):
        mask = ok & (kinds == kind)
        ax.scatter(intensity[mask], rate[mask], s=28, color=KIND_COLORS.get(kind, KIND_COLORS["other"]),
                   alpha=0.8, linewidths=0, label=kind, zorder=3)
    ridge = peaks.ridge
    lo = min([ridge / 10, *intensity[ok]]) / 2 if ok.any() else ridge / 100
    hi = max([ridge * 10, *intensity[ok]]) * 2 if ok.any() else ridge * 100
    xs = np.geomspace(lo, hi, 200)
    ax.plot(xs, np.minimum(peaks.flops, peaks.bandwidth * xs), color="black", lw=1.6, zorder=2,
            label=f"roof: {fmt_rate(peaks.flops, 'FLOP/s')}, {fmt_rate(peaks.bandwidth, 'B/s')}")
    if peaks.dram_bandwidth and peaks.cache_bytes is not None and peaks.dram_bandwidth < peaks.bandwidth:
        ax.plot(xs, np.minimum(peaks.flops, peaks.dram_bandwidth * xs), color="black", lw=1.0, ls="--", zorder=2,
                label=f"beyond the {peaks.cache_bytes / 2**20:g} MiB cache: {fmt_rate(peaks.dram_bandwidth, 'B/s')}")
    ax.axvline(ridge, color="0.6", lw=0.8, ls=":", zorder=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    low_rate = np.nanmin(rate) if ok.any() else peaks.flops / 1e4
    ax.set_ylim(min(low_rate, peaks.bandwidth * lo) / 2, peaks.flops * 2)
    ax.set_xlabel("arithmetic intensity (FLOPs per byte moved)")
    ax.set_ylabel("achieved FLOP/s" if m.measured else "FLOP/s the roofline bound allows")
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title("roofline, one point per layer" + ("" if m.measured else " (bounds, not measured)"))
    ax.legend(fontsize=8, loc="lower right")

    by_kind = report.by_kind
    share = "time_%" if m.measured else "bound_%"
    names = list(by_kind["kind"])
    ys = np.arange(len(names))
    height = 0.38
    colors = [KIND_COLORS.get(k, KIND_COLORS["other"]) for k in names]
    bars.barh(ys - height / 2, by_kind["flops_%"].astype(float), height, color=colors, alpha=0.45,
              label="share of FLOPs")
    bars.barh(ys + height / 2, by_kind[share].astype(float), height, color=colors,
              label="share of the measured time" if m.measured else "share of the roofline bound")
    for y, f, t in zip(ys, by_kind["flops_%"], by_kind[share]):
        bars.text(max(f, 0) + 1, y - height / 2, f"{f:.1f}%", va="center", fontsize=7)
        bars.text(max(t, 0) + 1, y + height / 2, f"{t:.1f}%", va="center", fontsize=7)
    bars.set_yticks(ys, names)
    bars.set_ylim(len(names) - 0.5, -0.5)
    bars.set_xlim(0, 110)
    bars.set_xlabel("% of the model's total")
    bars.set_title("share of FLOPs (light) and of time (dark), by kind")
    bars.grid(axis="x", alpha=0.3)
    where = (f"measured on {peaks.device}" if m.measured else f"roofline bounds on {peaks.device}")
    total = (f"forward {m.forward_s * 1e3:.3g} ms" if m.measured and math.isfinite(m.forward_s)
             else f"at least {float(report.layers['bound_s'].sum()) * 1e3:.3g} ms")
    dtype = "" if report.dtype == "float32" else f" · {report.dtype}"
    fig.suptitle(f"{report.model} · input {report.input_desc} · batch {report.batch}{dtype} · {where} · {total}",
                 fontsize=10)
    return fig
