"""Measured time beside counted work, and the roofline of every layer.

``measure(report, model)`` runs the model for real (random weights, seeded, where
it was given by name or sits on the meta device) on random inputs of the report's
shapes, on a CPU or a CUDA device, and puts the measured time of every row of the
report beside its exact counts:

- warm-up runs, then N timed runs (by default as many as fit in about
  ``DEFAULT_SECONDS``), each timed twice in turn: whole, without any hook, and with
  forward pre/post hooks on every module that read ``time.perf_counter_ns`` (after
  ``torch.cuda.synchronize`` on CUDA);
- every module call's self time is its time less its children's; a call that is no
  row of the report (a container that computes nothing of its own, a layer a
  formula module counts) adds its self time to the nearest enclosing row, so the
  rows' times add up to the forward;
- calls are matched to rows by module name, in call order (the report has one row
  per module call that costs or owns something, see profiler.count.rows);
- the timing hooks cost a little per call.  That cost is measured on a chain of
  empty modules with and without the same hooks (``hook_cost``), and taken out of
  the times: the part inside a call from the call, the part around it from its
  parent.  The report also gives the difference between the forward with and
  without hooks on the model itself.

On CUDA each hook synchronises, so every layer's time is its launches and its
kernels, one layer after the other: the launches no longer overlap the work queued
before them as they do in the plain forward, and where launches take longer than
the kernels (small batches) the layers add up to more than the forward.

Per row: the mean time over the runs (the figure that adds up: the rows' means sum
to the mean of the forward, which medians do not do on a busy machine, where each
run loses time to other processes in a few layers, different ones each time), its
median and interquartile range, the share of the forward, achieved FLOP/s and
bytes/s (``Report.moved_bytes``), all from the mean, and the roofline
(profiler.measure.roofline): the bound max(FLOPs / peak, memory time of the bytes), the
regime (compute- or memory-bound), and the efficiency bound / time.  A row whose
output is its input (a view, eval-mode dropout) and that computes nothing moves
nothing: its bound is 0.

Without timing (``time=False``) the roofline alone predicts each row's least time
from the peaks of the named device; the report says it is a bound.

The peaks come from a microbenchmark in this process (profiler.measure.roofline).  If a
row runs faster than its bound, the peaks were measured while the machine was
busier than during the runs: the microbenchmark is run again (the best of all runs
counts), at most ``RECHECKS`` times, and a note says so if a row still beats it.
"""
from __future__ import annotations

import copy
import gc
import math
import time as _time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from profiler.capture.modes import eval_state
from profiler.errors import ProfilerError, first_line
from profiler.measure.roofline import Peaks, describe_device, device_label, fmt_rate, parse_device, resolve_peaks

DEFAULT_SECONDS = 3.0      # the timed runs (with and without hooks) take about this long
DEFAULT_WARMUP = 2
MIN_RUNS, MAX_RUNS = 3, 100
RECHECKS = 2
MEASURED_COLUMNS = ["time_s", "time_median_s", "time_iqr_s", "time_%", "flops_per_s", "bytes_per_s", "bound_s",
                    "regime", "efficiency"]
PREDICTED_COLUMNS = ["bound_s", "bound_%", "regime"]
MACHINE_NOTE = ("machine-specific: measured on this machine, in this process; times differ on another "
                "machine, and between runs on a busy one")


@dataclass
class Measurement:
    """What ``measure`` found; ``Report.measurement``.  Times in seconds.

    ``per_run`` holds each row's time in each timed run (rows × runs), from which
    the per-layer columns and any grouped view are made."""

    measured: bool                        # False: the roofline's prediction alone (a bound)
    device: dict                          # profiler.measure.roofline.describe_device, or the data sheet's name
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
    notes: list[str] = field(default_factory=list)

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
                       outside_rows_s=_num(self.outside_s), timer_resolution_s=_num(self.timer_resolution_s))
        out["notes"] = list(self.notes)
        return out


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# --- building the real model and its inputs ----------------------------------------------

def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _real_model(report, model, device: str, dtype: torch.dtype, native: bool, config) -> tuple[nn.Module, str, str]:
    """(the model to time, its family, a note on its weights)."""
    from profiler.models.resolve import resolve
    from profiler.capture.session import on_meta, unwrapped
    if isinstance(model, str):
        spec = resolve(model, config, native=native)
        try:
            built = spec.build_seeded()
        except Exception as exc:
            raise ProfilerError(f"cannot build '{spec.name}' with real weights to time it: "
                                f"{type(exc).__name__}: {exc}") from exc
        return built.to(device=device, dtype=dtype).eval(), spec.family, "random weights (seeded), built by name"
    if not isinstance(model, nn.Module):
        raise ProfilerError(f"model: expected a model name or an nn.Module, got {type(model).__name__}")
    module = unwrapped(model)
    if on_meta(module):
        module = copy.deepcopy(module).to_empty(device=device)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            for m in module.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        return module.to(dtype=dtype).eval(), "custom", "random weights (seeded): the model was on the meta device"
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.device != torch.device(device) or (t.is_floating_point() and t.dtype != dtype) for t in tensors):
        module = copy.deepcopy(module).to(device=device, dtype=dtype)   # the caller's model stays as it is
        return module.eval(), "custom", f"a copy of the given model's weights, on {device} at {dtype}"
    return module, "custom", "the given model's own weights"


def _real_inputs(report, module, family, input_size, batch, inputs, kwargs, device, dtype):
    from profiler.capture.inputs import example_args, materialize, normalize_args, token_vocab
    if inputs is not None:
        args = normalize_args(inputs)
    else:
        size = input_size if input_size is not None else report.input_size
        if size is None:   # the profile's inputs were given, not made from a size
            raise ProfilerError(f"cannot make inputs of {report.input_desc!r} to time the model: "
                                "pass inputs= (and kwargs=) as for profile()")
        args = example_args(family, tuple(size), batch)
    generator = torch.Generator().manual_seed(0)

    def make(t):
        return t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype, copy=True)
    memo: dict = {}
    ids = token_vocab(module)
    args = materialize(args, make, dtype, generator, device, ids, memo)
    kwargs = materialize(kwargs or {}, make, dtype, generator, device, ids, memo)
    return args, kwargs


# --- timing -------------------------------------------------------------------------------

def _sync(device: str):
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return None


def _timing_hooks(modules: list[nn.Module], events: list, sync) -> list:
    """Pre and post hooks on every module appending (index, ns) and (~index, ns) to
    ``events``: nothing but the bookkeeping."""
    append, clock, handles = events.append, _time.perf_counter_ns, []
    for i, module in enumerate(modules):
        if sync is None:
            def pre(_module, _args, _i=i):
                append(_i)
                append(clock())

            def post(_module, _args, _out, _i=~i):
                t = clock()
                append(_i)
                append(t)
        else:
            def pre(_module, _args, _i=i):
                sync()
                append(_i)
                append(clock())

            def post(_module, _args, _out, _i=~i):
                sync()
                t = clock()
                append(_i)
                append(t)
        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    return handles


def _walk(events: list) -> tuple[list[int], list[int], list[int], list[int]]:
    """(module index, parent call, inclusive ns, self ns) per call, in call order."""
    mods, parents, incl, own, stack = [], [], [], [], []
    for k in range(0, len(events), 2):
        i, t = events[k], events[k + 1]
        if i >= 0:
            stack.append([len(mods), t, 0])
            parents.append(stack[-2][0] if len(stack) > 1 else -1)
            mods.append(i)
            incl.append(0)
            own.append(0)
        else:
            call, start, children = stack.pop()
            span = t - start
            incl[call], own[call] = span, span - children
            if stack:
                stack[-1][2] += span
    return mods, parents, incl, own


def _timed(fn, sync) -> int:
    if sync is not None:
        sync()
    start = _time.perf_counter_ns()
    fn()
    if sync is not None:
        sync()
    return _time.perf_counter_ns() - start


_HOOK_COST: dict[str, tuple[float, float]] = {}


def hook_cost(device: str = "cpu", fresh: bool = False) -> tuple[float, float]:
    """(seconds the timing hooks add per module call, the part of it inside the call's
    own time), from a chain of empty modules run with and without the hooks: medians
    of many runs.  Kept per device for the process."""
    if device in _HOOK_COST and not fresh:
        return _HOOK_COST[device]
    n = 64
    chain = nn.Sequential(*[nn.Identity() for _ in range(n)])
    modules = list(chain.modules())
    x = torch.zeros(1, device=device)
    sync = _sync(device)
    plain, hooked, inside = [], [], []
    events: list = []
    handles = []
    try:
        for _ in range(200):
            plain.append(_timed(lambda: chain(x), sync))
            events.clear()
            handles = _timing_hooks(modules, events, sync)
            hooked.append(_timed(lambda: chain(x), sync))
            for h in handles:
                h.remove()
            handles = []
            mods, _, incl, _ = _walk(events)
            inside.extend(span for m, span in zip(mods, incl) if m > 0)
    finally:
        for h in handles:
            h.remove()
    per_call = max(0.0, (float(np.median(hooked)) - float(np.median(plain))) / (n + 1)) / 1e9
    within = min(per_call, float(np.median(inside)) / 1e9)
    _HOOK_COST[device] = (per_call, within)
    return _HOOK_COST[device]


def timer_resolution() -> float:
    """Seconds: the larger of the clock's stated resolution and the least step seen."""
    clock = _time.perf_counter_ns
    steps = []
    for _ in range(2000):
        a, b = clock(), clock()
        while b == a:
            b = clock()
        steps.append(b - a)
    return max(_time.get_clock_info("perf_counter").resolution, min(steps) / 1e9)


def _record(model, modules, args, kwargs, sync) -> list[tuple[int, str, bool]]:
    """One forward with hooks that see the tensors: per call (module index, its
    input shapes as the report writes them, whether it computed nothing new: every
    output shares storage with an input)."""
    from profiler.capture.record import _tensor_leaves
    from profiler.columns import fmt_shapes
    calls, stack, handles = [], [], []

    def storages(tree) -> set[int]:
        return {t.untyped_storage().data_ptr() for t in _tensor_leaves(tree) if t.numel()}

    for i, module in enumerate(modules):
        def pre(_module, a, kw, _i=i):
            tensors = _tensor_leaves((a, kw))
            stack.append(len(calls))
            calls.append([_i, fmt_shapes(tuple(tuple(t.shape) for t in tensors)), storages((a, kw)), False])

        def post(_module, a, kw, out):
            call = calls[stack.pop()]
            outs = storages(out)
            call[3] = bool(outs) and outs <= call[2]
            call[2] = None
        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(module.register_forward_hook(post, with_kwargs=True))
    try:
        _timed(lambda: model(*args, **kwargs), sync)
    finally:
        for h in handles:
            h.remove()
    return [(i, shapes, aliased) for i, shapes, _, aliased in calls]


def _match(layers, names: list[str], recorded: list[tuple[int, str, bool]],
           parents: list[int]) -> tuple[np.ndarray, dict[int, int], list[str]]:
    """Per call, the index of the report row its time goes to (-1: inside no row);
    per row, its own call; and notes.  Rows and calls of one module name are matched in order, a row taking
    the next call with its input shapes (else the next call)."""
    from collections import defaultdict, deque
    pending: dict[str, deque] = defaultdict(deque)
    for c, (i, shapes, _) in enumerate(recorded):
        pending[names[i]].append(c)
    target = np.full(len(recorded), -1, dtype=np.int64)
    unmatched, primary = [], {}
    for r, (name, shapes, status) in enumerate(zip(layers["name"], layers["input_shapes"], layers["status"])):
        if status == "not called":
            continue
        queue = pending.get(name)
        if not queue:
            unmatched.append(name)
            continue
        pick = next((c for c in queue if recorded[c][1] == shapes), queue[0])
        while queue and queue[0] != pick:   # calls before it are not rows: their time goes to their parent
            queue.popleft()
        queue.popleft()
        target[pick] = r
        primary[r] = pick
    for c in range(len(recorded)):           # parents come before children
        if target[c] < 0 and parents[c] >= 0:
            target[c] = target[parents[c]]
    notes = []
    if unmatched:
        notes.append(f"{len(unmatched)} row(s) not matched to a module call of the real forward (no time): "
                     + ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else ""))
    return target, primary, notes


def _choose_runs(seconds: float, forward_s: float) -> int:
    return int(min(MAX_RUNS, max(MIN_RUNS, seconds / max(2 * forward_s, 1e-6))))


def _run_and_time(model, args, kwargs, device, runs, warmup, seconds):
    """Warm-up (the first run records shapes), then ``runs`` pairs of timed forwards,
    without and with the timing hooks.  Returns a dict of raw figures."""
    named = list(model.named_modules())
    modules = [m for _, m in named]
    names = [n or "(model)" for n, _ in named]
    sync = _sync(device)
    forward = (lambda: model(*args, **kwargs))
    recorded = _record(model, modules, args, kwargs, sync)
    warm = [_timed(forward, sync) for _ in range(max(0, warmup - 1))] or [_timed(forward, sync)]
    if runs is None:
        runs = _choose_runs(seconds, min(warm) / 1e9)
    plain, hooked, owns = [], [], []
    events: list = []
    structure = None
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            plain.append(_timed(forward, sync))
            events.clear()
            handles = _timing_hooks(modules, events, sync)
            try:
                hooked.append(_timed(forward, sync))
            finally:
                for h in handles:
                    h.remove()
            mods, parents, _, own = _walk(events)
            if structure is None:
                structure = (mods, parents)
                if [m for m, _, _ in recorded] != mods:
                    raise ProfilerError("the forward called different modules from one run to the next: "
                                        "its per-layer times cannot be matched to rows")
            elif mods != structure[0]:
                raise ProfilerError("the forward called different modules from one run to the next: "
                                    "its per-layer times cannot be matched to rows")
            owns.append(own)
    finally:
        if collecting:
            gc.enable()
    return dict(names=names, recorded=recorded, parents=structure[1], plain=np.array(plain, dtype=np.float64),
                hooked=np.array(hooked, dtype=np.float64), own=np.array(owns, dtype=np.float64).T,
                runs=runs)


# --- the public entry point ----------------------------------------------------------------

def measure(report, model=None, *, input_size=None, batch: int | None = None, inputs: Any = None,
            kwargs: dict | None = None, dtype=None, native: bool = False, config: dict | None = None,
            device: str = "cpu", runs: int | None = None, warmup: int | None = None,
            seconds: float = DEFAULT_SECONDS, peak_flops: float | None = None,
            peak_bandwidth: float | None = None, time: bool = True):
    """Measure a profile's layers, or predict them from the roofline alone; returns
    the Report with ``measurement`` set and the measured columns in ``layers``.

    report: a Report from ``profile()``; ``model``: the model it profiled (a name
        or an nn.Module; by default the report's model name), run with the
        input_size/batch/inputs/kwargs/dtype/native/config it was profiled with.
        From a model in one call: ``profiler.profile(model, ..., measure=True)``.
    device: where the forward runs, "cpu", "cuda" or "cuda:N"; or a data-sheet name
        (profiler.measure.roofline.DATASHEET: "A100", "H100", "H200", ...) whose peaks the
        roofline uses (the forward then runs on cuda).
    runs: timed runs (default: as many as fit in about ``seconds``, 3 to 100);
        warmup: untimed runs first (default 2).
    peak_flops, peak_bandwidth: the roofs (FLOP/s, bytes/s) instead of a
        microbenchmark or a data sheet.
    time: False predicts each row's least time from the roofline without running
        the model (the report says these are bounds).
    """
    if isinstance(report, (str, nn.Module)):
        # profiling is profile()'s business (which calls this one): no import cycle
        raise ProfilerError("measure() takes the report of a profile: profiler.profile(model, ..., measure=True), "
                            "or measure(profiler.profile(model, ...), model, ...)")
    model = report.model if model is None else model
    if "bwd_macs" in report.layers:
        raise ProfilerError("measuring times the inference forward: profile without training")
    for name, value in (("runs", runs), ("warmup", warmup)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < (name == "runs")):
            raise ProfilerError(f"{name}={value!r}: expected a {'positive' if name == 'runs' else 'non-negative'} "
                                "integer")
    run_device, sheet = parse_device(device)
    batch = report.batch if batch is None else batch
    if time or sheet is None:
        from profiler.measure.roofline import check_device
        check_device(run_device)
    peaks = resolve_peaks(run_device, report.dtype, sheet, peak_flops, peak_bandwidth)
    info = describe_device(run_device) if (time or sheet is None) else {"kind": "datasheet", "name": sheet}
    if not time:
        attach(report, Measurement(False, info, peaks, batch))
        return report

    torch_dtype = _torch_dtype(report.dtype)
    with torch.random.fork_rng(devices=[]):
        built, family, weights = _real_model(report, model, run_device, torch_dtype, native, config)
        args, kw = _real_inputs(report, built, family, input_size, batch, inputs, kwargs, run_device, torch_dtype)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        with eval_state(built):
            per_call, inside = hook_cost(run_device)
            raw = _run_and_time(built, args, kw, run_device, runs, DEFAULT_WARMUP if warmup is None else warmup,
                                seconds)
    except ProfilerError:
        raise
    except Exception as exc:
        raise ProfilerError(f"{report.model}: the timed forward failed on {run_device}: {first_line(exc)}") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)

    layers = report.layers
    target, primary, notes = _match(layers, raw["names"], raw["recorded"], raw["parents"])
    children = np.bincount(np.array([p for p in raw["parents"] if p >= 0], dtype=np.int64),
                           minlength=len(target)) if len(target) else np.zeros(0)
    # the hooks' cost: inside each call's own span, and around each child in its parent's
    corrected = raw["own"] / 1e9 - inside - (per_call - inside) * children[:, None]
    per_run = np.zeros((len(layers), raw["runs"]))
    np.add.at(per_run, target[target >= 0], corrected[target >= 0])
    outside = corrected[target < 0].sum(axis=0) if (target < 0).any() else np.zeros(raw["runs"])
    per_run = np.maximum(per_run, 0.0)
    aliased = np.zeros(len(layers), dtype=bool)
    for r, c in primary.items():
        aliased[r] = raw["recorded"][c][2]
    plain = raw["plain"] / 1e9
    m = Measurement(True, info, peaks, batch, runs=raw["runs"], warmup=DEFAULT_WARMUP if warmup is None else warmup,
                    forward_s=float(np.mean(plain)), forward_median_s=float(np.median(plain)),
                    forward_iqr_s=_iqr(plain), hooked_s=float(np.mean(raw["hooked"])) / 1e9, hook_s=per_call,
                    hook_inside_s=inside,
                    calls=len(target), outside_s=float(np.mean(outside)), timer_resolution_s=timer_resolution(),
                    per_run=per_run, nothing_moved=aliased, notes=[f"weights: {weights}", *notes])
    attach(report, m)
    if sheet is None and peak_flops is None and peak_bandwidth is None:
        for attempt in range(RECHECKS):
            if not _beaten(report):
                break
            m.peaks = resolve_peaks(run_device, report.dtype, fresh=True)
            attach(report, m)
        beaten = _beaten(report)
        if beaten:
            m.notes.append(f"{len(beaten)} row(s) ran faster than their roofline bound even after the "
                           f"microbenchmark ran {RECHECKS + 1} times (the machine was busier then): "
                           + ", ".join(beaten[:5]))
            attach(report, m)
    return report


def _iqr(values: np.ndarray) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def _beaten(report) -> list[str]:
    """Rows whose median time is below their bound by more than the timer's resolution."""
    layers, m = report.layers, report.measurement
    low = layers["time_median_s"] < layers["bound_s"] - m.timer_resolution_s
    return list(layers.loc[low.fillna(False), "name"])


# --- columns -------------------------------------------------------------------------------

def _bounds(flops: np.ndarray, moved: np.ndarray, written: np.ndarray, peaks: Peaks,
            nothing_moved: np.ndarray | None = None):
    """(bound seconds, regime, compute seconds, memory seconds) per row."""
    compute = flops / peaks.flops
    memory = np.array([peaks.memory_time(float(b), float(w)) for b, w in zip(moved, written)])
    if nothing_moved is not None:
        memory = np.where(nothing_moved & (flops == 0), 0.0, memory)
    bound = np.maximum(compute, memory)
    regime = np.where(bound <= 0, "", np.where(compute >= memory, "compute", "memory"))
    return bound, regime, compute, memory


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
    kind's share of the per-layer times), ``flops_per_s``; predicted, ``bound_s`` and
    ``bound_%``; both, the kind's ``regime`` (its FLOP term against its memory term)."""
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
    regime = {k: ("" if not (compute[by == k].sum() or memory[by == k].sum()) else
                  "compute" if compute[by == k].sum() >= memory[by == k].sum() else "memory") for k in kinds}
    share = column.replace("_s", "_%")
    out[column] = [sums[k] for k in kinds]
    out[share] = [100.0 * sums[k] / total if total else 0.0 for k in kinds]
    if m.measured:
        out["flops_per_s"] = [out["flops"].iloc[i] / sums[k] if sums[k] else math.nan for i, k in enumerate(kinds)]
    out["regime"] = [regime[k] for k in kinds]
    return out


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
    regime = np.where(bound <= 0, "", np.where(comp >= mem, "compute", "memory"))
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
                         _t(r["time_s"], scale), _g(r["flops_per_s"]), f"{r['intensity']:.2f}", r["regime"]])
        else:
            rows.append([r["kind"], _pct(r["flops_%"]), _pct(r["mults_%"]), _pct(r["bound_%"]),
                         _t(r["bound_s"], scale), f"{r['intensity']:.2f}", r["regime"]])
    head = (["kind", "flops_%", "mults_%", "time_%", f"time_{unit}", "GFLOP/s", "intensity", "regime"] if m.measured
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
             f"warm-up runs; {MACHINE_NOTE}", *p.lines(),
             f"forward: {_ms(m.forward_s)} ms without hooks (mean; median {_ms(m.forward_median_s)} ms, IQR "
             f"{_ms(m.forward_iqr_s)} ms), {_ms(m.hooked_s)} ms with the timing hooks",
             f"timing hooks: {m.hook_s * 1e6:.2f} µs per module call (calibrated on empty modules) × {m.calls} calls "
             f"= {_ms(m.hook_s * m.calls)} ms, taken out of the per-layer times; on this model the forward with "
             f"hooks took {_ms(abs(m.overhead_s))} ms ({100.0 * abs(m.overhead_s) / m.forward_s:.1f}%) "
             + ("more than without" if m.overhead_s >= 0 else "less than without, which is noise"),
             f"per-layer times sum to {_ms(rows_sum)} ms ({100.0 * rows_sum / m.forward_s:.1f}% of the forward "
             f"without hooks); {_ms(m.outside_s)} ms ran in containers that are no row; timer resolution "
             f"{m.timer_resolution_s * 1e9:.0f} ns",
             *m.notes]
    return lines


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
            parts.append(f"{label}: {kinds.loc[kind, 'mults_%']:.1f}% of multiplications, "
                         f"{kinds.loc[kind, share]:.1f}% {what}{'' if len(parts) else ' ' + where}; "
                         f"{kinds.loc[kind, 'regime']}-bound at {kinds.loc[kind, 'intensity']:.1f} FLOPs per byte")
    if m.measured:
        parts.append(f"the forward took {_ms(m.forward_s)} ms on {device_label(m.device)} "
                     f"({fmt_rate(report.totals['flops'] / m.forward_s, 'FLOP/s')})")
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
    columns = ["time_s", "time_%", "flops_per_s", "regime"] if measured else ["bound_s", "bound_%", "regime"]
    return {c: (row[c] if isinstance(row[c], str) else _num(float(row[c]))) for c in columns}


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
