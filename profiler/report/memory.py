"""The memory section of a report: the peak and where it occurs, the bytes by
category at the peak and over the step, the step that must fit, the largest batch
that fits, model states per device under ZeRO/FSDP, and the plot of live memory
layer by layer (text, Markdown, JSON, HTML, PNG).  Torch-free.

It renders ``Report.memory`` (profiler.count.memory.Memory, read by its fields
only: this module imports nothing from profiler.count) and ``Report.memory_plan``
(a ``MemoryPlan``, made by profiler.fits: the what-ifs).  Bytes are shown in
decimal units, GB = 10^9 bytes, as GPU data sheets print capacities.

The step that must fit.  A profile follows the *first* training step, on which the
optimizer's states are made only at its step, after the backward.  From the
second step on they are held through the forward and backward too, so the step
that must fit is::

    step peak = max(largest live bytes in the forward and backward + optimizer states
                    + held + grown,
                    largest live bytes in the optimizer's step + held + grown)

where ``held`` is memory held through the whole step that the profile did not
allocate (an fp32 master copy, profiler.formulas.optimizers) and ``grown`` what the
states grow by under a recipe that keeps them at another dtype (fp32 states of
16-bit parameters).  The largest live bytes of a phase are read from
``Memory.timeline`` (module boundaries, and the first step's peak itself).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.report.peaks import GB, fmt_bytes

if TYPE_CHECKING:
    from profiler.count.memory import Memory   # noqa: F401  (read by its fields only)
    from profiler.report import Report

CATEGORY_LABELS = {"parameters": "parameters", "buffers": "buffers", "gradients": "gradients",
                   "optimizer": "optimizer states", "inputs": "inputs", "saved": "activations saved for the backward",
                   "activations": "other activations", "temporaries": "backward temporaries",
                   "kv_cache": "KV cache"}
PHASE_COLORS = {"forward": "#1f77b4", "backward": "#d62728", "optimizer": "#2ca02c"}


@dataclass(frozen=True)
class Fit:
    """Whether a step fits in ``capacity`` bytes, and the largest batch that does.

    ``peak``: the step peak at the profile's ``batch`` (per device where
    ``MemoryPlan.devices`` is set).  ``largest_batch``: the largest batch whose step
    peak is at most the capacity, found by profiling again at each batch tried
    (``tried``: (batch, step peak) in the order run: doubling from 1 until a batch
    does not fit, then bisecting); 0 when batch 1 does not fit; at least
    ``ceiling`` (the search stopped there, still fitting) when ``ceiling`` is set."""

    capacity: int
    capacity_label: str
    batch: int
    peak: int
    largest_batch: int | None = None
    tried: tuple[tuple[int, int], ...] = ()
    ceiling: int | None = None

    @property
    def fits(self) -> bool:
        return self.peak <= self.capacity

    def sentence(self) -> str:
        """'fits on 80 GB at batch ≤ 3', 'does not fit on 24 GB even at batch 1'."""
        on = f"on {self.capacity_label}"
        if self.largest_batch is None:
            return (f"fits {on} at batch {self.batch}" if self.fits
                    else f"does not fit {on} at batch {self.batch}")
        if self.largest_batch == 0:
            return f"does not fit {on} even at batch 1"
        if self.ceiling is not None:
            return f"fits {on} at batch ≥ {self.ceiling} (the search stops there)"
        return f"fits {on} at batch ≤ {self.largest_batch}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tried"] = [list(t) for t in self.tried]
        d["fits"] = self.fits
        return d


@dataclass(frozen=True)
class MemoryPlan:
    """The what-ifs of a memory profile (profiler.fits makes it).

    recipe: the optimizer and precision in words.  step_peak: the peak of a step
    from the second on (see the module docstring), on one device.  held, grown:
    its terms beyond the profile.  stages: model states per device at each
    sharding stage (profiler.formulas.sharding.Sharded.to_dict()), data parallel
    first; stage, devices: the one asked for.  device_peak: the step peak per
    device under it: activations unchanged, model states sharded.  fit: the
    capacity answer, or None."""

    recipe: str
    step_peak: int
    held: int = 0
    grown: int = 0
    stages: tuple[dict, ...] = ()
    stage: int | None = None
    devices: int | None = None
    device_peak: int | None = None
    fit: Fit | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"] = [dict(s) for s in self.stages]
        d["notes"] = list(self.notes)
        d["fit"] = None if self.fit is None else self.fit.to_dict()
        return d


# --- the numbers ------------------------------------------------------------------------

def phase_peaks(memory) -> dict[str, int]:
    """The largest live bytes of each phase in ``memory.timeline`` (and the peak's)."""
    out: dict[str, int] = {}
    for phase, _, live in memory.timeline:
        out[phase] = max(out.get(phase, 0), live)
    out[memory.peak_phase] = max(out.get(memory.peak_phase, 0), memory.peak_bytes)
    return out


def step_peaks(memory, held: int = 0, grown: int = 0) -> dict[str, int]:
    """The two sides of ``step_peak``: {"forward/backward": ..., "optimizer": ...}
    (the second absent without an optimizer's step); without an optimizer, the
    profile's peak plus ``held`` as "forward/backward"."""
    if not getattr(memory, "optimizer", None):
        return {"forward/backward": memory.peak_bytes + held}
    peaks = phase_peaks(memory)
    states = memory.totals.get("optimizer", 0)
    return {"forward/backward": max(peaks.get("forward", 0), peaks.get("backward", 0)) + states + grown + held,
            "optimizer": peaks.get("optimizer", 0) + held + grown}


def step_peak(memory, held: int = 0, grown: int = 0) -> int:
    """The peak of a step from the second on (module docstring); without an
    optimizer (inference, or a training step with none), the profile's peak plus
    ``held``."""
    return max(step_peaks(memory, held, grown).values())


def shares(memory) -> dict[str, float]:
    """Each category's share (%) of the peak."""
    return {c: 100.0 * v / memory.peak_bytes if memory.peak_bytes else 0.0 for c, v in memory.at_peak.items()}


def where(memory) -> str:
    """'the backward of layers.31.mlp', 'the forward of the model', 'the optimizer step'."""
    if memory.peak_phase == "optimizer":
        return "the optimizer step"
    return f"the {memory.peak_phase} of {memory.peak_at or 'the model (top level)'}"


def finding(memory, plan: MemoryPlan | None = None) -> str:
    """One line: 'peak 21.3 GB at the backward of layers.31.mlp; activations saved
    64%, optimizer states 24%; fits on 24 GB at batch ≤ 3'."""
    share = shares(memory)
    top = sorted((c for c in share if share[c] >= 1.0), key=lambda c: -share[c])[:3]
    parts = [f"peak {fmt_bytes(memory.peak_bytes)} at {where(memory)}",
             ", ".join(f"{_short(c)} {share[c]:.0f}%" for c in top)]
    if plan is not None:
        if plan.step_peak != memory.peak_bytes:
            parts.append(f"{fmt_bytes(plan.step_peak)} from the second step on")
        if plan.devices is not None and plan.device_peak is not None:
            parts.append(f"{fmt_bytes(plan.device_peak)} per device under {_stage_name(plan)}")
        if plan.fit is not None:
            parts.append(plan.fit.sentence())
    return "; ".join(p for p in parts if p)


def _short(category: str) -> str:
    return {"saved": "activations saved", "activations": "other activations", "optimizer": "optimizer states",
            "kv_cache": "KV cache", "temporaries": "backward temporaries"}.get(category, category)


def _stage_name(plan: MemoryPlan) -> str:
    names = {s["stage"]: s["name"] for s in plan.stages}
    return f"{names.get(plan.stage, plan.stage)} over {plan.devices} devices"


# --- text and Markdown ------------------------------------------------------------------

def _category_rows(memory) -> list[list[Any]]:
    share = shares(memory)
    return [[CATEGORY_LABELS.get(c, c), fmt_bytes(memory.at_peak.get(c, 0)), f"{share.get(c, 0.0):.1f}%",
             fmt_bytes(memory.totals.get(c, 0))]
            for c in CATEGORY_LABELS if memory.at_peak.get(c, 0) or memory.totals.get(c, 0)]


def _stage_rows(plan: MemoryPlan) -> list[list[Any]]:
    return [[("→ " if s["stage"] == plan.stage else "") + s["name"], fmt_bytes(s["parameters"]),
             fmt_bytes(s["gradients"]), fmt_bytes(s["optimizer"]), fmt_bytes(s["total"]), s["formula"]]
            for s in plan.stages]


def lines(memory, plan: MemoryPlan | None = None, markdown: bool = False) -> list[str]:
    """The memory section's lines (text, or Markdown with ``markdown``)."""
    from tabulate import tabulate
    fmt = "github" if markdown else "simple"
    what = f"training step with {memory.optimizer}" if memory.optimizer else (
        "training step (no optimizer)" if "backward" in phase_peaks(memory) else "inference")
    if plan is not None and plan.recipe:
        what = f"{what.partition(' with ')[0]}: {plan.recipe}"
    head = f"{what}; GB = 10^9 bytes"
    peak = f"peak {fmt_bytes(memory.peak_bytes)} ({memory.peak_bytes:,} bytes) at {where(memory)}"
    table = tabulate(_category_rows(memory), headers=["category", "at the peak", "share", "whole step"],
                     tablefmt=fmt, colalign=("left", "right", "right", "right"), disable_numparse=True)
    out = ([f"- {head}", f"- **{peak}**", "", table, ""] if markdown
           else [f"  {head}", f"  {peak}", *(f"  {row}" for row in table.splitlines())])
    extra: list[str] = []
    if plan is not None:
        if plan.step_peak != memory.peak_bytes or plan.held:
            states = memory.totals.get("optimizer", 0) + plan.grown if memory.optimizer else 0
            terms = "; ".join(t for t in (
                f"the optimizer's states ({fmt_bytes(states)}{', fp32' if plan.grown else ''}) held through the "
                f"forward and backward" if states else "",
                f"the fp32 master weights ({fmt_bytes(plan.held)}) held throughout" if plan.held else "") if t)
            extra.append(f"step peak from the second step on: {fmt_bytes(plan.step_peak)} ({terms})")
        if plan.stages:
            extra.append(f"model states per device over N = {plan.devices} devices (activations per device "
                         "unchanged; sharded terms ⌈B / N⌉, as a padded flat buffer):")
        extra += list(plan.notes)
    if markdown:
        out += [f"- {e}" for e in extra if not e.endswith(":")]
    else:
        out += [f"  {e}" for e in extra if not e.endswith(":")]
    if plan is not None and plan.stages:
        stages = tabulate(_stage_rows(plan), headers=["stage", "parameters", "gradients", "optimizer", "total",
                                                      "formula (Ψ parameters)"],
                          tablefmt=fmt, colalign=("left", "right", "right", "right", "right", "left"),
                          disable_numparse=True)
        title = next(e for e in extra if e.endswith(":"))
        out += (["", title, "", stages, ""] if markdown else [f"  {title}", *(f"  {r}" for r in stages.splitlines())])
        if plan.device_peak is not None:
            text = f"step peak per device under {_stage_name(plan)}: {fmt_bytes(plan.device_peak)}"
            out.append(f"- {text}" if markdown else f"  {text}")
    if plan is not None and plan.fit is not None:
        fit = plan.fit
        text = (f"{'fits' if fit.fits else 'does not fit'} on {fit.capacity_label} at batch {fit.batch} "
                f"({fmt_bytes(fit.peak)} of {fmt_bytes(fit.capacity)})")
        if fit.largest_batch is not None:
            text += f"; largest batch that fits: {_largest(fit)}"
            if len(fit.tried) > 1:
                text += f" ({_tried(fit.tried)})"
        out.append(f"- **{text}**" if markdown else f"  {text}")
    note = f"assumptions: {memory.assumptions}"
    out.append(f"- {note}" if markdown else f"  {note}")
    return out


def _tried(tried: tuple[tuple[int, int], ...], shown: int = 8) -> str:
    """'searched: 1: 21 GB, 2: 22 GB, ...': every batch tried, or the first and last
    few of a long search (JSON has them all)."""
    pairs = [f"{b}: {fmt_bytes(p)}" for b, p in tried]
    if len(pairs) > shown:
        pairs = [*pairs[:shown // 2], "…", *pairs[-(shown // 2):]]
    return f"{len(tried)} profile{'s' * (len(tried) != 1)} searched: " + ", ".join(pairs)


def _largest(fit: Fit) -> str:
    if fit.largest_batch == 0:
        return "none, not even batch 1"
    if fit.ceiling is not None:
        return f"at least {fit.ceiling} (the search stops there)"
    return str(fit.largest_batch)


def text_section(report: Report) -> list[str]:
    """The terminal report's memory section (empty without ``report.memory``)."""
    memory = report.memory
    if memory is None:
        return []
    return ["memory:", *lines(memory, getattr(report, "memory_plan", None)), ""]


def markdown_section(report: Report, plot: str | None = None) -> list[str]:
    """The Markdown report's "## Memory" (empty without ``report.memory``); ``plot`` a
    relative link to the memory plot."""
    memory = report.memory
    if memory is None:
        return []
    out = ["## Memory", "", *lines(memory, getattr(report, "memory_plan", None), markdown=True), ""]
    if plot:
        out += [f"![{report.model}: live memory over the step, layer by layer]({plot})", ""]
    return out


def to_dict(report: Report) -> dict | None:
    """The JSON report's "memory" field (None without ``report.memory``): the Memory's
    fields (timeline as [phase, module, bytes] lists), "finding", and "plan" (a
    ``MemoryPlan.to_dict()``, or null)."""
    memory = report.memory
    if memory is None:
        return None
    plan = getattr(report, "memory_plan", None)
    return {"peak_bytes": int(memory.peak_bytes), "peak_phase": memory.peak_phase, "peak_at": memory.peak_at,
            "at_peak": {k: int(v) for k, v in memory.at_peak.items()},
            "totals": {k: int(v) for k, v in memory.totals.items()},
            "optimizer": getattr(memory, "optimizer", None),
            "timeline": [[p, m, int(b)] for p, m, b in memory.timeline],
            "assumptions": memory.assumptions, "finding": finding(memory, plan),
            "plan": None if plan is None else plan.to_dict()}


def html_section(report: Report) -> str:
    """The HTML report's memory section ("" without ``report.memory``)."""
    memory = report.memory
    if memory is None:
        return ""
    plan = getattr(report, "memory_plan", None)
    rows = "".join("<tr>" + "".join(f'<td class="n">{escape(str(v))}</td>' if i else f"<td>{escape(str(v))}</td>"
                                    for i, v in enumerate(row)) + "</tr>" for row in _category_rows(memory))
    head = "".join(f'<th class="n">{h}</th>' if i else f"<th>{h}</th>"
                   for i, h in enumerate(("category", "at the peak", "share", "whole step")))
    items = "".join(f"<li>{escape(line.strip().removeprefix('- ').replace('**', ''))}</li>"
                    for line in lines(memory, plan, markdown=True)
                    if line.startswith("- "))
    return (f'<p class="title">Memory</p><p><b>{escape(finding(memory, plan))}</b></p>'
            f'<table class="memory"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f'<ul class="memory-notes">{items}</ul>')


# --- the plot ---------------------------------------------------------------------------

def memory_figure(report: Report, capacity: int | None = None):
    """Live memory after each step of ``report.memory.timeline`` (each module's end in
    the forward, each module's backward, the optimizer step), in GB, coloured by
    phase, the peak marked and named, and a capacity line (the --fits capacity
    when a plan has one).  A matplotlib Figure (no pyplot)."""
    from matplotlib.figure import Figure
    memory = report.memory
    plan = getattr(report, "memory_plan", None)
    if capacity is None and plan is not None and plan.fit is not None:
        capacity = plan.fit.capacity
    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    points = list(memory.timeline)
    highest = max([memory.peak_bytes, *(b for _, _, b in points),
                   plan.step_peak if plan is not None else 0])
    unit, scale = ("GB", GB) if highest >= GB else ("MB", 10 ** 6)
    xs = list(range(len(points)))
    ys = [b / scale for _, _, b in points]
    ax.plot(xs, ys, color="#555555", linewidth=0.8, zorder=1)
    for phase, color in PHASE_COLORS.items():
        chosen = [i for i, (p, _, _) in enumerate(points) if p == phase]
        if chosen:
            ax.fill_between(chosen, [ys[i] for i in chosen], color=color, alpha=0.25, linewidth=0)
            ax.scatter(chosen, [ys[i] for i in chosen], s=6, color=color, label=phase, zorder=2)
    peak = next((i for i, (p, m, b) in enumerate(points)
                 if b == memory.peak_bytes and p == memory.peak_phase), None)
    if peak is None and points:
        peak = max(xs, key=lambda i: ys[i])
    if peak is not None:
        ax.scatter([peak], [memory.peak_bytes / scale], s=60, marker="v", color="black", zorder=3)
        side = "right" if peak > 0.85 * len(points) else "left" if peak < 0.15 * len(points) else "center"
        ax.annotate(f"peak {fmt_bytes(memory.peak_bytes)}\n{where(memory)}", (peak, memory.peak_bytes / scale),
                    textcoords="offset points", xytext=(0, 10), ha=side, fontsize=8)
    if plan is not None and plan.step_peak != memory.peak_bytes:
        ax.axhline(plan.step_peak / scale, color="#9467bd", linestyle=":", linewidth=1,
                   label=f"step peak from the 2nd step {fmt_bytes(plan.step_peak)}")
    top = highest
    if capacity is not None:
        if capacity <= 2 * highest:   # a capacity far above would flatten the curve: named only
            ax.axhline(capacity / scale, color="#c00", linestyle="--", linewidth=1,
                       label=f"capacity {fmt_bytes(capacity)}")
            top = max(top, capacity)
        else:
            ax.plot([], [], color="#c00", linestyle="--", linewidth=1,
                    label=f"capacity {fmt_bytes(capacity)} (above the plot)")
    ax.set_xlim(-0.5, max(len(points) - 0.5, 0.5))
    ax.set_ylim(0, (top / scale or 1.0) * 1.18)
    ax.set_ylabel(f"live memory ({unit} = 10^{9 if unit == 'GB' else 6} bytes)")
    ax.set_xlabel("step of the run: each module's end in the forward, its backward, then the optimizer")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{report.header()}: live memory, layer by layer", fontsize=10)
    return fig


def plot_path(plot: str | Path) -> str:
    """Where the memory plot goes beside a report's plot: 'a/llama.png' → 'a/llama_memory.png'."""
    path = Path(plot)
    return path.with_name(f"{path.stem}_memory{path.suffix or '.png'}").as_posix()


def save_memory_plot(report: Report, path: str | Path) -> Path:
    """``memory_figure`` as PNG, written whole or not at all (no software tag: the
    bytes depend only on the figure and matplotlib)."""
    import io

    from profiler.report import atomic
    buffer = io.BytesIO()
    memory_figure(report).savefig(buffer, format="png", metadata={"Software": None})
    return atomic.write_bytes(path, buffer.getvalue())
