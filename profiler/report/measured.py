"""The views of a measured (or roofline-predicted) report, without torch.

``profiler.measure.timing.measure`` runs the model and times every layer; what it
found is a ``Measurement`` (``Report.measurement``), and everything that reads it
lives here, so that reading, rendering or comparing a measured report imports no
torch:

- ``attach``: sets ``report.measurement`` and the measured (``MEASURED_COLUMNS``) or
  predicted (``PREDICTED_COLUMNS``) columns of ``report.layers``: per row the mean
  time over the runs, its median and interquartile range, the share of the forward,
  achieved FLOP/s and bytes/s, and the roofline (profiler.report.peaks): the
  bound, the regime and the efficiency bound / time;
- ``kind_columns`` (the time columns of ``Report.by_kind``, each kind's share with
  the quartiles of its per-run share and whether that spread is "noisy":
  ``NOISY_IQR_POINTS``) and ``view_columns``
  (the columns of a grouped, sorted or cut view, made again from the per-run times);
- the text and Markdown sections (``summary_lines``, ``text_section``,
  ``markdown_section``, ``markdown_banner``; a busy machine, by its load average, is
  named in the header: ``busy_lines``) and the finding in time (``finding``, each
  share with its spread);
- the JSON fields (``layer_fields``, ``kind_fields``);
- a comparison's time columns (``COMPARE_MEASURED``, ``COMPARE_PREDICTED``,
  ``compare_row``, ``compare_note``).

numpy is imported here; pandas, tabulate and the report's renderers only inside
the functions that use them (``profiler.report`` imports this module lazily).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from profiler.report.peaks import Peaks, device_label, fmt_rate, limit

MEASURED_COLUMNS = ["time_s", "time_median_s", "time_iqr_s", "time_%", "flops_per_s", "bytes_per_s", "bound_s",
                    "regime", "efficiency"]
PREDICTED_COLUMNS = ["bound_s", "bound_%", "regime"]
# A kind's share of the time is "noisy" when the interquartile range of its per-run
# share is above this many percentage points.  Why 5: the finding in time sets a
# kind's share of the time beside its share of the multiplications, and the
# contrasts it exists to show are tens of points wide (AlexNet's linear layers: 8%
# of the multiplications, 18-40% of the time at batch 1).  Half the runs fall inside
# the IQR; a band wider than 5 points is as wide as the smaller of those contrasts'
# margins, and the share may move that much between two measurements, so the reader
# is told.  An absolute threshold, not one relative to the share: a kind with 1% of
# the time whose share doubles does not change what the finding says.  The IQR, not
# the range: one run interrupted by another process (common on a shared machine)
# moves the range, not the IQR.
NOISY_IQR_POINTS = 5.0
MACHINE_NOTE = ("machine-specific: measured on this machine, in this process; times differ on another "
                "machine, and between runs on a busy one")


@dataclass
class Measurement:
    """What ``measure`` found; ``Report.measurement``.  Times in seconds.

    ``per_run`` holds each row's time in each timed run (rows × runs), from which
    the per-layer columns and any grouped view are made."""

    measured: bool                        # False: the roofline's prediction alone (a bound)
    device: dict                          # the device as measure describes it, or the data sheet's name
    peaks: Peaks
    batch: int
    runs: int = 0
    warmup: int = 0
    forward_s: float = math.nan           # mean of the whole forward, without hooks
    forward_median_s: float = math.nan
    forward_iqr_s: float = math.nan
    hooked_s: float = math.nan            # mean of the whole forward with the timing hooks
    hook_s: float = math.nan              # the timing hooks' cost per module call (calibrated)
    hook_inside_s: float = math.nan       # the part of it inside the call's own time
    calls: int = 0                        # module calls per forward
    outside_s: float = math.nan           # time in calls inside no row (containers of rows)
    timer_resolution_s: float = math.nan
    per_run: np.ndarray | None = None     # rows × runs, seconds
    nothing_moved: np.ndarray | None = None   # per row: computes nothing, its output is its input
    load_before: float | None = None      # 1-minute load average before the timed runs, and after
    load_after: float | None = None
    cores: int | None = None              # cores this process may run on
    notes: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """The machine was busy: its load average, before or after the runs, above its
        core count (more runnable processes than cores: some wait, and a timed run
        may be one of them)."""
        loads = [x for x in (self.load_before, self.load_after) if x is not None]
        return bool(self.cores) and any(x > self.cores for x in loads)

    @property
    def overhead_s(self) -> float:
        """The forward with the timing hooks less the forward without them (means)."""
        return self.hooked_s - self.forward_s

    @property
    def device_text(self) -> str:
        return self.peaks.device

    def to_dict(self) -> dict:
        out = dict(measured=self.measured, machine_specific=True, device=self.device, peaks=self.peaks.to_dict(),
                   batch=self.batch)
        if self.measured:
            out.update(runs=self.runs, warmup=self.warmup, forward_s=_num(self.forward_s),
                       forward_median_s=_num(self.forward_median_s), forward_iqr_s=_num(self.forward_iqr_s),
                       hooked_s=_num(self.hooked_s),
                       hook_per_call_s=_num(self.hook_s), calls=self.calls,
                       hooks_total_s=_num(self.hook_s * self.calls), overhead_s=_num(self.overhead_s),
                       outside_rows_s=_num(self.outside_s), timer_resolution_s=_num(self.timer_resolution_s),
                       load_before=_num(self.load_before), load_after=_num(self.load_after), cores=self.cores,
                       busy=self.busy, noisy_iqr_points=NOISY_IQR_POINTS)
        out["notes"] = list(self.notes)
        return out


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --- columns -------------------------------------------------------------------------------

def _bounds(flops: np.ndarray, moved: np.ndarray, written: np.ndarray, peaks: Peaks,
            nothing_moved: np.ndarray | None = None):
    """(bound seconds, regime, compute seconds, memory seconds) per row: each row's
    two terms from ``Peaks.terms``, joined by the roofline rule (``limit``)."""
    terms = [peaks.terms(float(f), float(b), float(w)) for f, b, w in zip(flops, moved, written)]
    compute = np.array([c for c, _ in terms], dtype=np.float64)
    memory = np.array([m for _, m in terms], dtype=np.float64)
    if nothing_moved is not None:
        memory = np.where(nothing_moved & (flops == 0), 0.0, memory)
    bound, regime = _limits(compute, memory)
    return bound, regime, compute, memory


def _limits(compute: np.ndarray, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``limit`` per element."""
    pairs = [limit(float(c), float(m)) for c, m in zip(compute, memory)]
    return (np.array([b for b, _ in pairs], dtype=np.float64),
            np.array([r for _, r in pairs], dtype=str))


def attach(report, m: Measurement) -> None:
    """Set ``report.measurement`` and its columns in ``report.layers``."""
    layers = report.layers
    flops = layers["flops"].to_numpy(dtype=np.float64)
    moved = report.moved_bytes(layers).to_numpy(dtype=np.float64)
    nothing = m.nothing_moved if m.nothing_moved is not None and len(m.nothing_moved) == len(layers) else None
    bound, regime, _, _ = _bounds(flops, moved, layers["act_bytes"].to_numpy(dtype=np.float64), m.peaks, nothing)
    for column in MEASURED_COLUMNS + PREDICTED_COLUMNS:
        if column in layers:
            del layers[column]
    if m.measured:
        per_run = m.per_run
        t = per_run.mean(axis=1) if per_run.shape[1] else np.full(len(layers), np.nan)
        q1, q2, q3 = (np.percentile(per_run, [25, 50, 75], axis=1) if per_run.shape[1]
                      else (np.full(len(layers), np.nan),) * 3)
        total = np.nansum(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            layers["time_s"] = t
            layers["time_median_s"] = q2
            layers["time_iqr_s"] = q3 - q1
            layers["time_%"] = 100.0 * t / total if total else 0.0
            layers["flops_per_s"] = np.where(t > 0, flops / t, np.nan)
            layers["bytes_per_s"] = np.where(t > 0, moved / t, np.nan)
            layers["bound_s"] = bound
            layers["regime"] = regime
            layers["efficiency"] = np.where(t > 0, bound / t, np.nan)
    else:
        total = bound.sum()
        layers["bound_s"] = bound
        layers["bound_%"] = 100.0 * bound / total if total else 0.0
        layers["regime"] = regime
    # set last: the report drops its derived tables (by_kind) then, with the columns in place
    report.measurement = m


def kind_columns(report, out):
    """``by_kind`` plus the time columns: measured, ``time_s`` and ``time_%`` (each
    kind's share of the per-layer times, from the means), ``flops_per_s``, and
    ``time_%_q1``, ``time_%_q3`` (the quartiles of the kind's share run by run) and
    ``noisy`` (their gap above ``NOISY_IQR_POINTS``); predicted, ``bound_s`` and
    ``bound_%``; both, the kind's ``regime`` (its FLOP term against its memory term,
    by the roofline rule ``limit``)."""
    m, layers = report.measurement, report.layers
    kinds = out["kind"] if "kind" in out else out.index
    flops = layers["flops"].to_numpy(dtype=np.float64)
    nothing = m.nothing_moved if m.nothing_moved is not None and len(m.nothing_moved) == len(layers) else None
    _, _, compute, memory = _bounds(flops, report.moved_bytes(layers).to_numpy(dtype=np.float64),
                                    layers["act_bytes"].to_numpy(dtype=np.float64), m.peaks, nothing)
    by = layers["kind"].to_numpy()
    column = "time_s" if m.measured else "bound_s"
    values = layers[column].to_numpy(dtype=np.float64)
    total = np.nansum(values)
    sums = {k: float(np.nansum(values[by == k])) for k in kinds}
    regime = {k: limit(float(compute[by == k].sum()), float(memory[by == k].sum()))[1] for k in kinds}
    share = column.replace("_s", "_%")
    out[column] = [sums[k] for k in kinds]
    out[share] = [100.0 * sums[k] / total if total else 0.0 for k in kinds]
    if m.measured:
        out["flops_per_s"] = [out["flops"].iloc[i] / sums[k] if sums[k] else math.nan for i, k in enumerate(kinds)]
        spread = {k: share_spread(m.per_run, by == k) for k in kinds}
        out["time_%_q1"] = [spread[k][0] for k in kinds]
        out["time_%_q3"] = [spread[k][1] for k in kinds]
        out["noisy"] = [spread[k][1] - spread[k][0] > NOISY_IQR_POINTS for k in kinds]
    out["regime"] = [regime[k] for k in kinds]
    return out


def run_shares(per_run: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The share (%) of each run's per-layer time that the ``members`` rows took."""
    totals = np.nansum(per_run, axis=0)
    part = np.nansum(per_run[members], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, 100.0 * part / totals, np.nan)


def share_spread(per_run: np.ndarray, members: np.ndarray) -> tuple[float, float]:
    """(first quartile, third quartile) of the rows' per-run share, in %."""
    shares = run_shares(per_run, members)
    shares = shares[np.isfinite(shares)]
    if not len(shares):
        return math.nan, math.nan
    q1, q3 = np.percentile(shares, [25, 75])
    return float(q1), float(q3)


def view_columns(report, layers=None):
    """The measured (or predicted) columns for a view of the per-layer rows: the
    report's own where the view keeps them (sorted, cut), else made again from the
    per-run times of each group's rows (``--depth``: a row goes to the view row whose
    name is its own or its nearest ancestor's)."""
    import pandas as pd
    full = report.layers
    if layers is None or layers is full:
        return full
    m = report.measurement
    columns = MEASURED_COLUMNS if m.measured else PREDICTED_COLUMNS
    key = columns[0]
    if key in layers and layers[key].notna().all():
        return layers
    # grouped: map each row of the report to its group
    names = list(layers["name"])
    index = {n: i for i, n in enumerate(names)}
    group = np.full(len(full), -1, dtype=np.int64)
    for r, name in enumerate(full["name"]):
        probe = name
        while True:
            if probe in index:
                group[r] = index[probe]
                break
            if "." not in probe:
                group[r] = index.get("(model)", -1)
                break
            probe = probe.rsplit(".", 1)[0]
    out = layers.drop(columns=[c for c in MEASURED_COLUMNS + PREDICTED_COLUMNS if c in layers]).copy()
    flops = out["flops"].to_numpy(dtype=np.float64)
    moved = report.moved_bytes(out).to_numpy(dtype=np.float64)
    member_bound = full["bound_s"].to_numpy(dtype=np.float64)
    member_memory = np.where(full["regime"].to_numpy() == "memory", member_bound, 0.0)
    member_compute = np.where(full["regime"].to_numpy() == "compute", member_bound, 0.0)
    bound, comp, mem = (np.zeros(len(out)) for _ in range(3))
    ok = group >= 0
    np.add.at(bound, group[ok], member_bound[ok])   # layers run one after the other: bounds add up
    np.add.at(comp, group[ok], member_compute[ok])
    np.add.at(mem, group[ok], member_memory[ok])
    _, regime = _limits(comp, mem)
    if m.measured:
        per_run = np.zeros((len(out), m.per_run.shape[1]))
        np.add.at(per_run, group[ok], m.per_run[ok])
        t = per_run.mean(axis=1)
        q1, q2, q3 = np.percentile(per_run, [25, 50, 75], axis=1)
        total = full["time_s"].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {"time_s": t, "time_median_s": q2, "time_iqr_s": q3 - q1,
                      "time_%": 100.0 * t / total if total else 0.0,
                      "flops_per_s": np.where(t > 0, flops / t, np.nan),
                      "bytes_per_s": np.where(t > 0, moved / t, np.nan), "bound_s": bound, "regime": regime,
                      "efficiency": np.where(t > 0, bound / t, np.nan)}
    else:
        total = full["bound_s"].sum()
        values = {"bound_s": bound, "bound_%": 100.0 * bound / total if total else 0.0, "regime": regime}
    for c in columns:
        out[c] = pd.Series(values[c], index=out.index) if not np.isscalar(values[c]) else values[c]
    return out


# --- rendering ----------------------------------------------------------------------------

def _ms(x) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x * 1e3:.3f}"


def _time_unit(values) -> tuple[str, float]:
    """ms for tables whose largest time is 1 ms or more, else µs."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return ("ms", 1e3) if finite and max(finite) >= 1e-3 else ("us", 1e6)


def _t(x, scale: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x * scale:.3f}"


def _g(x, scale=1e9) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x / scale:.3g}"


def _pct(x) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.2f}%"


def _spread(q1, q3) -> str:
    """'15.1-21.0%': a share's interquartile range across the runs."""
    if q1 is None or not (math.isfinite(q1) and math.isfinite(q3)):
        return ""
    return f"{q1:.1f}-{q3:.1f}%"


def _layer_table(report, layers, units: str, markdown: bool) -> str:
    from profiler.report.render import fmt_count
    from tabulate import tabulate
    m = report.measurement
    view = view_columns(report, layers)
    moved = report.moved_bytes(view)
    unit, scale = _time_unit(view["time_s" if m.measured else "bound_s"])
    rows = []
    for (_, r), b in zip(view.iterrows(), moved):
        intensity = r["flops"] / b if b else 0.0
        base = [r["name"], r["kind"], fmt_count(int(r["flops"]), units), fmt_count(int(b), units), f"{intensity:.2f}"]
        if m.measured:
            rows.append(base + [_t(r["time_s"], scale), _t(r["time_median_s"], scale), _t(r["time_iqr_s"], scale),
                                _pct(r["time_%"]),
                                _g(r["flops_per_s"]), _g(r["bytes_per_s"]), _t(r["bound_s"], scale), r["regime"],
                                _pct(100.0 * r["efficiency"]) if math.isfinite(r["efficiency"]) else ""])
        else:
            rows.append(base + [_t(r["bound_s"], scale), _pct(r["bound_%"]), r["regime"]])
    head = ["name", "kind", "flops", "moved_bytes", "intensity"]
    head += ([f"time_{unit}", f"median_{unit}", f"iqr_{unit}", "time_%", "GFLOP/s", "GB/s", f"bound_{unit}",
              "regime", "efficiency"]
             if m.measured else [f"bound_{unit}", "bound_%", "regime"])
    align = ["left", "left"] + ["right"] * (len(head) - 2)
    align[head.index("regime")] = "left"
    return tabulate(rows, headers=head, tablefmt="github" if markdown else "simple", colalign=align,
                    disable_numparse=True)


def _kind_table(report, markdown: bool) -> str:
    from tabulate import tabulate
    m = report.measurement
    kinds = report.by_kind
    unit, scale = _time_unit(kinds["time_s" if m.measured else "bound_s"])
    rows = []
    for r in kinds.to_dict("records"):
        if m.measured:
            rows.append([r["kind"], _pct(r["flops_%"]), _pct(r["mults_%"]), _pct(r["time_%"]),
                         _spread(r["time_%_q1"], r["time_%_q3"]) + (" noisy" if r["noisy"] else ""),
                         _t(r["time_s"], scale), _g(r["flops_per_s"]), f"{r['intensity']:.2f}", r["regime"]])
        else:
            rows.append([r["kind"], _pct(r["flops_%"]), _pct(r["mults_%"]), _pct(r["bound_%"]),
                         _t(r["bound_s"], scale), f"{r['intensity']:.2f}", r["regime"]])
    head = (["kind", "flops_%", "mults_%", "time_%", "time_%_iqr", f"time_{unit}", "GFLOP/s", "intensity", "regime"]
            if m.measured
            else ["kind", "flops_%", "mults_%", "bound_%", f"bound_{unit}", "intensity", "regime"])
    align = ["left"] + ["right"] * (len(head) - 2) + ["left"]
    return tabulate(rows, headers=head, tablefmt="github" if markdown else "simple", colalign=align,
                    disable_numparse=True)


def summary_lines(report) -> list[str]:
    """The measurement in words: device, peaks, forward time, the hooks' cost."""
    m = report.measurement
    p = m.peaks
    if not m.measured:
        lines = [f"roofline on {p.device} at batch {m.batch}: predicted from the peaks alone, not measured; "
                 "each time is a lower bound (the roofline bound), no kernel can beat it",
                 *p.lines()]
        total = float(report.layers["bound_s"].sum())
        lines.append(f"forward: at least {_ms(total)} ms (the sum of the per-layer bounds)")
        return lines
    rows_sum = float(report.layers["time_s"].sum())
    lines = [f"measured on {p.device} at {report.dtype}, batch {m.batch}: {m.runs} timed runs after {m.warmup} "
             f"warm-up runs; {MACHINE_NOTE}" + ("; BUSY MACHINE (see below)" if m.busy else ""), *p.lines(),
             f"forward: {_ms(m.forward_s)} ms without hooks (mean; median {_ms(m.forward_median_s)} ms, IQR "
             f"{_ms(m.forward_iqr_s)} ms), {_ms(m.hooked_s)} ms with the timing hooks",
             f"timing hooks: {m.hook_s * 1e6:.2f} µs per module call (calibrated on empty modules) × {m.calls} calls "
             f"= {_ms(m.hook_s * m.calls)} ms, taken out of the per-layer times; on this model the forward with "
             f"hooks took {_ms(abs(m.overhead_s))} ms ({100.0 * abs(m.overhead_s) / m.forward_s:.1f}%) "
             + ("more than without" if m.overhead_s >= 0 else "less than without, which is noise"),
             *busy_lines(m),
             f"per-layer times sum to {_ms(rows_sum)} ms ({100.0 * rows_sum / m.forward_s:.1f}% of the forward "
             f"without hooks); {_ms(m.outside_s)} ms ran in containers that are no row; timer resolution "
             f"{m.timer_resolution_s * 1e9:.0f} ns",
             *m.notes]
    return lines


def busy_lines(m: Measurement) -> list[str]:
    """The machine's load, where known; a warning where it was busy."""
    if m.load_before is None and m.load_after is None:
        return []
    loads = (f"load average {_load(m.load_before)} before the runs and {_load(m.load_after)} after, "
             f"on {m.cores} core{'s' if m.cores != 1 else ''}")
    if m.busy:
        return [f"BUSY MACHINE: {loads}: other processes competed for the cores, so the times are longer and "
                "spread wider than on a quiet machine"]
    return [loads]


def _load(x) -> str:
    return "unknown" if x is None else f"{x:.2f}"


def text_section(report, units: str = "grouped", layers=None) -> list[str]:
    """Lines of the terminal report's measured section."""
    m = report.measurement
    title = "measured time and roofline, per layer:" if m.measured else "roofline bound per layer (not measured):"
    kinds = ("by kind, share of the measured time next to the share of FLOPs:" if m.measured
             else "by kind, share of the roofline bound next to the share of FLOPs:")
    first, *rest = summary_lines(report)
    return [first, *(f"  {line}" for line in rest), "", title, _layer_table(report, layers, units, False), "",
            kinds, _kind_table(report, False), ""]


def markdown_section(report, units: str = "grouped", layers=None) -> list[str]:
    m = report.measurement
    head = "## Measured time and roofline" if m.measured else "## Roofline bound (not measured)"
    note = ([f"**Machine-specific**: {MACHINE_NOTE}."] if m.measured
            else ["Predicted from the peaks alone: every time is a lower bound, not a measurement."])
    return [head, "", *note, "", *(f"- {line}" for line in summary_lines(report)), "",
            "Per layer (time: mean of the runs, which adds up to the forward; median and iqr: its median and "
            "interquartile range; GFLOP/s, GB/s and efficiency from the mean; bound: the roofline's least time, "
            "max(FLOPs / peak, memory time of the bytes moved); efficiency: bound / time):" if m.measured else
            "Per layer (bound: max(FLOPs / peak, bytes moved / bandwidth)):", "",
            _layer_table(report, layers, units, True), "",
            "By kind, share of the measured time next to the share of FLOPs:" if m.measured else
            "By kind, share of the roofline bound next to the share of FLOPs:", "",
            _kind_table(report, True), ""]


def markdown_banner(report) -> str:
    """The Markdown report's opening note on a measured (or predicted) report."""
    m = report.measurement
    if m.measured:
        return (f"**Machine-specific**: the times below were measured on {m.peaks.device}, in one process; "
                "they differ on another machine, and between runs on a busy one. The counts do not.")
    return f"Times below are roofline bounds on {m.peaks.device}, predicted from its peaks, not measured."


def finding(report) -> str:
    """The finding in time: each heavy kind's share of multiplications and of the
    time, its regime and arithmetic intensity."""
    from profiler.columns import KIND_LABELS
    m = report.measurement
    kinds = report.by_kind.set_index("kind")
    share = "time_%" if m.measured else "bound_%"
    what = "of the measured time" if m.measured else "of the roofline bound"
    where = (f"at batch {m.batch} on this {'GPU' if m.device.get('kind') == 'cuda' else 'CPU'}" if m.measured
             else f"at batch {m.batch} on {m.peaks.device}")
    parts = []
    for kind, label in KIND_LABELS.items():
        if kind in kinds.index and (kinds.loc[kind, "mults"] or kinds.loc[kind, share]):
            spread = ""
            if m.measured:
                spread = f" (IQR across runs {_spread(kinds.loc[kind, 'time_%_q1'], kinds.loc[kind, 'time_%_q3'])}"
                spread += (f"; noisy: wider than {NOISY_IQR_POINTS:g} points, the share is not settled)"
                           if kinds.loc[kind, "noisy"] else ")")
            parts.append(f"{label}: {kinds.loc[kind, 'mults_%']:.1f}% of multiplications, "
                         f"{kinds.loc[kind, share]:.1f}%{spread} {what}{'' if len(parts) else ' ' + where}; "
                         f"{kinds.loc[kind, 'regime']}-bound at {kinds.loc[kind, 'intensity']:.1f} FLOPs per byte")
    if m.measured:
        parts.append(f"the forward took {_ms(m.forward_s)} ms on {device_label(m.device)} "
                     f"({fmt_rate(report.totals['flops'] / m.forward_s, 'FLOP/s')})"
                     + (" on a busy machine" if m.busy else ""))
    else:
        parts.append(f"the forward takes at least {_ms(float(report.layers['bound_s'].sum()))} ms "
                     f"(the sum of the per-layer bounds{'' if parts else ' ' + where})")
    return "; ".join(parts)


# --- JSON ---------------------------------------------------------------------------------

def layer_fields(report, layers=None) -> list[dict]:
    """Per view row, the measured (or predicted) fields for the JSON."""
    m = report.measurement
    view = view_columns(report, layers)
    columns = MEASURED_COLUMNS if m.measured else PREDICTED_COLUMNS
    out = []
    for r in view[columns].to_dict("records"):
        out.append({c: (r[c] if isinstance(r[c], str) else _num(float(r[c]))) for c in columns})
    return out


def kind_fields(row: dict, measured: bool) -> dict:
    columns = (["time_s", "time_%", "time_%_q1", "time_%_q3", "noisy", "flops_per_s", "regime"] if measured
               else ["bound_s", "bound_%", "regime"])
    return {c: (row[c] if isinstance(row[c], str) else bool(row[c]) if c == "noisy" else _num(float(row[c])))
            for c in columns}


# --- compare -------------------------------------------------------------------------------

COMPARE_MEASURED = ["forward_ms", "gflop_per_s", "conv_time_%", "linear_time_%", "linear_intensity",
                    "linear_regime"]
COMPARE_PREDICTED = ["bound_ms", "conv_bound_%", "linear_bound_%", "linear_intensity", "linear_regime"]


def compare_row(report) -> dict:
    """The comparison columns of a measured (or roofline-predicted) report: the
    forward's time, and conv and linear layers' share of it; linear layers'
    intensity and regime (compute-bound once their intensity passes the ridge)."""
    m = report.measurement
    kinds = report.by_kind.set_index("kind")

    def of(kind, column, default):
        return kinds.loc[kind, column] if kind in kinds.index else default
    if m.measured:
        return {"forward_ms": m.forward_s * 1e3, "gflop_per_s": report.totals["flops"] / m.forward_s / 1e9,
                "conv_time_%": float(of("conv", "time_%", 0.0)), "linear_time_%": float(of("linear", "time_%", 0.0)),
                "linear_intensity": float(of("linear", "intensity", 0.0)), "linear_regime": of("linear", "regime", "")}
    return {"bound_ms": float(report.layers["bound_s"].sum()) * 1e3,
            "conv_bound_%": float(of("conv", "bound_%", 0.0)), "linear_bound_%": float(of("linear", "bound_%", 0.0)),
            "linear_intensity": float(of("linear", "intensity", 0.0)), "linear_regime": of("linear", "regime", "")}


def compare_note(report) -> list[str]:
    """The device and its roofs, for a comparison's footer."""
    m = report.measurement
    first = (f"times measured on {m.peaks.device} ({MACHINE_NOTE}); forward_ms: mean of the whole forward "
             "without hooks; shares: of the per-layer times" if m.measured else
             f"roofline bounds on {m.peaks.device}, not measured: lower bounds on time")
    return [first, *m.peaks.lines()]
