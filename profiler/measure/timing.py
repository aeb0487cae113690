"""Run the model for real and time every layer (torch).  What it finds, a
``Measurement``, goes on the report through ``attach`` (profiler.report.measured,
which holds every view of a measured report, without torch).

The run takes a profile's ``Run`` (profiler.capture.run): ``profile(...,
measure=True)`` hands over its own, so nothing is resolved or made twice, and
``measure(report, model)`` on its own makes one (``run_of``).  Its memory is
checked before anything real is built (``check_measured_size``); it holds the
profile's lock and RNG snapshot, and a caller's model runs on copies of its
tensors inside a snapshot of its modules (``real_model``).  The timing: warm-up,
then pairs of forwards without and with hooks (``_run_and_time``); each call's self
time goes to its row, or to the nearest enclosing row (``_match``), less the hooks'
own cost (``hook_cost``); the peaks are measured between the runs
(profiler.measure.microbench), again where a row beats its bound (``RECHECKS``).
The method and its figures: docs/measured-time.md.
"""
from __future__ import annotations

import contextlib
import copy
import gc
import math
import os
import time as _time
import warnings
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import UninitializedTensorMixin

from profiler.capture.modes import eval_state
from profiler.capture.run import Run
from profiler.errors import ProfilerError, first_line
from profiler.measure.microbench import SLICE_S, Bench, bench_bytes, keep
from profiler.measure.roofline import (Peaks, datasheet_of_gpu, describe_device, fmt_rate, parse_device,
                                       resolve_peaks, table_peaks)
from profiler.report.measured import Measurement, attach

DEFAULT_SECONDS = 3.0      # the timed runs (with and without hooks) take about this long
DEFAULT_WARMUP = 2
MIN_RUNS, MAX_RUNS = 10, 1000
RECHECKS = 2


# --- what the measured run runs: the profile's model and inputs (a Run) --------------------

def run_of(report, model, input_size, batch, inputs, kwargs, native, config) -> Run:
    """The Run of ``measure(report, model, ...)`` called on its own, where no profile
    hands one over: the model resolved (built on meta: nothing real is built before
    the size check) and the inputs made from the report's size, or given."""
    from profiler.capture.inputs import example_args, normalize_args, token_vocab
    from profiler.capture.session import unwrapped
    from profiler.models.resolve import resolve
    spec = None
    if isinstance(model, str):
        spec = resolve(model, config, native=native)
        try:
            module = spec.build(meta=True)
        except Exception:
            module = None      # its size is known only once built: the real build's own limit guards it
        family = spec.family
    elif isinstance(model, nn.Module):
        module, family = unwrapped(model), "custom"
    else:
        raise ProfilerError(f"model: expected a model name or an nn.Module, got {type(model).__name__}")
    ids = token_vocab(module) if module is not None else None
    if inputs is not None:
        args = normalize_args(inputs)
    else:
        size = input_size if input_size is not None else report.input_size
        if size is None:   # the profile's inputs were given or made, not made from a size
            raise ProfilerError(f"cannot make inputs of {report.input_desc!r} to time the model: pass inputs= "
                                "(and kwargs=) as for profile(), or time it in the profile, which takes the "
                                "inputs it made: profile(model, ..., measure=True)")
        args = example_args(family, tuple(size), batch)
    label = spec.name if spec is not None else type(module).__name__
    return Run(label, module, spec=spec, family=family, args=args, kwargs=dict(kwargs or {}), ids=ids, batch=batch)


# --- its size, checked before anything real is built -----------------------------------------

RECORD_BYTES = 128   # per module call and timed run: the hooks' two (index, clock) pairs, its self time, its row


def _bytes_of(t: torch.Tensor, dtype: torch.dtype) -> int:
    return t.numel() * (dtype.itemsize if t.is_floating_point() else t.element_size())


def _input_bytes(tree: Any, dtype: torch.dtype, ids: int | None) -> int:
    """Bytes of the real inputs made from ``tree`` (shapes at ``dtype``, or int64 token
    ids; tensors at ``dtype`` when floating)."""
    from profiler.capture.inputs import is_shape, tensors_in
    if is_shape(tree):
        return math.prod(tree) * (8 if ids is not None else dtype.itemsize)
    if isinstance(tree, dict):
        return sum(_input_bytes(v, dtype, ids) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_input_bytes(v, dtype, ids) for v in tree)
    return sum(_bytes_of(t, dtype) for t in tensors_in(tree))


def _weight_bytes(module: nn.Module | None):
    """A function of the dtype: (bytes of the model's tensors at that dtype, bytes at
    their own dtype).  Each tensor counted once (tied weights); a lazy module's
    uninitialised ones have no size yet."""
    seen, tensors = set(), []
    for m in (module.modules() if module is not None else ()):
        for t in (*m._parameters.values(), *m._buffers.values(),
                  *(v for v in vars(m).values() if isinstance(v, torch.Tensor))):
            if t is None or id(t) in seen or isinstance(t, UninitializedTensorMixin):
                continue
            seen.add(id(t))
            tensors.append(t)
    own = sum(t.numel() * t.element_size() for t in tensors)
    return lambda dtype: (sum(_bytes_of(t, dtype) for t in tensors), own)


def measured_bytes(report, run: Run, dtype: torch.dtype, runs: int | None,
                   device: str = "cpu", bench: bool = False) -> dict[str, int]:
    """A lower bound on the memory a measured run takes, from the profile alone, by
    part: ``weights``: the model's tensors at the dtype, on the device (a
    built-by-name model, or a copy of the caller's, whose forward may write them);
    ``build``: the model's tensors at their own dtype where they are built before
    being converted or moved (a by-name model is built on the host, then converted
    to the dtype: both held for a moment; a meta model's copy is made on the
    device at its own dtype; 0 where the build is the weights); ``inputs``;
    ``activations``: the largest row's input and output bytes (at a time, a layer
    holds at least these; the report's, scaled to the run's batch); ``records``:
    the timing hooks' records, RECORD_BYTES per module call and timed run (the
    calls: a row or a module each at most once per row, ``MAX_RUNS`` runs unless
    ``runs`` is given); ``bench``: the microbenchmark's buffers where it runs between
    the timed runs (``microbench.bench_bytes``), else 0."""
    weights, own = _weight_bytes(run.module)(dtype)
    by_name, meta = run.spec is not None, run.module is not None and _on_meta(run.module)
    moved = device != "cpu" and by_name          # built on the host, then moved to the device
    build = own if (by_name or meta) and (own != weights or moved) else 0
    layers = report.layers
    largest = int((layers["in_bytes"] + layers["act_bytes"]).max()) if len(layers) else 0
    scale = run.batch / report.batch if report.batch else 1
    modules = sum(1 for _ in run.module.modules()) if run.module is not None else 0
    return dict(weights=weights, build=build, inputs=_input_bytes((run.args, run.kwargs), dtype, run.ids),
                activations=int(largest * scale),
                records=(len(layers) + modules) * (runs or MAX_RUNS) * RECORD_BYTES,
                bench=bench_bytes(device) if bench else 0)


def _on_meta(module: nn.Module) -> bool:
    from profiler.capture.session import on_meta
    return on_meta(module)


def measure_limit(device: str) -> tuple[int | None, str]:
    """(the most memory a measured run may take on ``device``, in bytes, or None for
    no known limit; what sets it): the smaller of the memory available (the host's
    for "cpu": ``available_memory_bytes``; a CUDA device's free memory,
    torch.cuda.mem_get_info) and PROFILER_MEASURE_LIMIT_GB where it is set."""
    from profiler.arguments import MEASURE_LIMIT_VARIABLE, available_memory_bytes, measure_limit_bytes
    limits = []
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        limits.append((int(free), f"the free memory of {device}"))
    else:
        available = available_memory_bytes()
        if available is not None:
            limits.append((available, "the memory available"))
    cap = measure_limit_bytes()
    if cap is not None:
        limits.append((cap, MEASURE_LIMIT_VARIABLE))
    return min(limits, default=(None, "no limit known"), key=lambda pair: pair[0])


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_measured_size(report, run: Run, device: str, dtype: torch.dtype, runs: int | None,
                        bench: bool = False) -> dict[str, int]:
    """Refuse a measured run whose memory (``measured_bytes``) is above its limit
    (``measure_limit``), in one line naming the bytes and how to lower them, before
    anything real is built or drawn.  On CUDA the device holds the weights, inputs
    and activations, and the host the build and the records; on the CPU, all of
    them.  Returns the parts."""
    from profiler.arguments import MEASURE_LIMIT_VARIABLE
    parts = measured_bytes(report, run, dtype, runs, device, bench)
    if device.startswith("cuda"):
        # a by-name model is built on the host; a meta model's copy is made on the device
        built_on = "cpu" if run.spec is not None else device
        checks = [(("records", *(("build",) if built_on == "cpu" else ())), "cpu"),
                  (("weights", "inputs", "activations", "bench", *(("build",) if built_on != "cpu" else ())),
                   device)]
    else:
        checks = [(("weights", "build", "inputs", "activations", "records", "bench"), "cpu")]
    for names, where in checks:
        need = sum(parts[n] for n in names)
        limit, why = measure_limit(where)
        if limit is None or need <= limit:
            continue
        words = {"weights": "weights", "build": "weights as built", "inputs": "inputs",
                 "activations": "largest layer's input and output", "records": "timing records",
                 "bench": "the microbenchmark's buffers between the runs"}
        detail = ", ".join(f"{words[n]} {_gib(parts[n])}" for n in names if parts[n])
        if "bench" in names and parts["bench"] > need / 2:   # the microbenchmark, not the model
            fix = ("give the peaks instead of measuring them beside the model (device= a data sheet's name, "
                   "or peak_flops= and peak_bandwidth=)")
        else:
            fix = _smaller(report, run, parts["weights"] + parts["build"] > need / 2)
        if why == MEASURE_LIMIT_VARIABLE:
            fix += f", or raise {MEASURE_LIMIT_VARIABLE}"
        raise ProfilerError(f"{report.model}: the measured run on {where} would take at least {need:,} bytes "
                            f"({_gib(need)}: {detail}), above the {_gib(limit)} limit ({why}): {fix}")
    return parts


def _smaller(report, run: Run, weights: bool) -> str:
    """How to lower a measured run's memory, in the arguments that set it."""
    hf = run.spec is not None and run.spec.config is not None
    if weights:
        return "shrink the model (config= overrides such as num_hidden_layers=2)" if hf else "measure a smaller model"
    if report.input_size is not None:
        return "lower batch= or input_size="
    return "lower batch=" if hf else "give smaller inputs="


# --- building the real model and its inputs ----------------------------------------------

def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


@contextlib.contextmanager
def real_model(run: Run, device: str, dtype: torch.dtype) -> Iterator[tuple[nn.Module, str]]:
    """(the model to time, a note on its weights), for the duration.  A by-name model
    is built with real weights, seeded (within its build's own memory limit:
    ModelSpec.build_seeded); a caller's model on meta is copied and given seeded
    random weights; a caller's real model runs as it is, on copies of its tensors at
    the device and dtype (its twins, profiler.capture.twins) inside a snapshot of
    its modules: whatever its forward writes (an attribute, a buffer) goes to the
    twins or is put back, and its own tensors are never read by the forward."""
    from profiler.capture.session import _unwrap_children, on_meta
    from profiler.capture.twins import ModuleState, swap_in_twins
    if run.spec is not None and run.module is not None and not on_meta(run.module):
        # the profile built it for real (its builder cannot build on meta): ours, seeded, used as it is
        yield run.module.to(device=device, dtype=dtype).eval(), "random weights (seeded), built by name"
        return
    if run.spec is not None:
        try:
            built = run.spec.build_seeded()
        except ProfilerError:
            raise
        except Exception as exc:
            raise ProfilerError(f"cannot build '{run.spec.name}' with real weights to time it: "
                                f"{type(exc).__name__}: {first_line(exc)}") from exc
        yield built.to(device=device, dtype=dtype).eval(), "random weights (seeded), built by name"
        return
    module = run.module
    if on_meta(module):
        module = copy.deepcopy(module).to_empty(device=device)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            for m in module.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        yield module.to(dtype=dtype).eval(), "random weights (seeded): the model was on the meta device"
        return
    modules = list(module.modules())
    saved = ModuleState(modules)
    try:
        _unwrap_children(modules)

        def make(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype, copy=True)
        swap_in_twins(modules, make, saved.tensor_attributes, undo=saved.undo)
        yield module, f"the given model's weights (a copy, on {device} at {str(dtype).removeprefix('torch.')})"
    finally:
        saved.restore()


def real_inputs(run: Run, device: str, dtype: torch.dtype) -> tuple[tuple, dict]:
    """The inputs of the timed forwards, drawn from seed 0: shapes and made meta
    tensors become random tensors (token ids below the vocabulary, integers zeros,
    booleans true), given and made real tensors copies on the device."""
    from profiler.capture.inputs import materialize
    generator = torch.Generator().manual_seed(0)

    def make(t: torch.Tensor) -> torch.Tensor:
        if t.is_meta:
            if t.is_floating_point():
                return torch.randn(t.shape, dtype=dtype, generator=generator).to(device)
            return torch.full(t.shape, t.dtype == torch.bool, dtype=t.dtype, device=device)
        return t.detach().to(device=device, dtype=dtype if t.is_floating_point() else t.dtype, copy=True)
    memo: dict = {}
    args = materialize(run.args, make, dtype, generator, device, run.ids, memo)
    kwargs = materialize(run.kwargs, make, dtype, generator, device, run.ids, memo)
    return args, kwargs


# --- timing -------------------------------------------------------------------------------

def _sync(device: str):
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return None


def _timing_hooks(modules: list[nn.Module], events: list, device: str = "cpu") -> list:
    """Pre and post hooks on every module appending (index, stamp) and (~index,
    stamp) to ``events``: nothing but the bookkeeping.  On CPU the stamp is
    ``time.perf_counter_ns()``; on CUDA a ``torch.cuda.Event`` recorded on the
    current stream, read once the forward is done (``_stamps_ns``): the time between
    two events is the device's, without a synchronisation per layer, so launches
    overlap the work queued before them as in the plain forward (where launches
    take longer than the kernels, the device's idle time goes to the layer whose
    launches it waits for)."""
    append, handles = events.append, []
    if device.startswith("cuda"):
        event = torch.cuda.Event
        stream = torch.cuda.current_stream(torch.device(device))   # the model's device's, not the current device's

        def stamp():
            e = event(enable_timing=True)
            e.record(stream)
            return e
    else:
        stamp = _time.perf_counter_ns
    for i, module in enumerate(modules):
        def pre(_module, _args, _i=i):
            append(_i)
            append(stamp())

        def post(_module, _args, _out, _i=~i):
            t = stamp()
            append(_i)
            append(t)
        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    return handles


def _stamps_ns(events: list) -> list:
    """``events`` with CUDA events turned into nanoseconds since the first (the
    device is synchronised first); CPU stamps as they are."""
    if not events or not isinstance(events[1], torch.cuda.Event):
        return events
    events[-1].synchronize()
    first = events[1]
    return [e if k % 2 == 0 else first.elapsed_time(e) * 1e6 for k, e in enumerate(events)]


def _walk(events: list) -> tuple[list[int], list[int], list[float], list[float]]:
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
            handles = _timing_hooks(modules, events, device)
            hooked.append(_timed(lambda: chain(x), sync))
            for h in handles:
                h.remove()
            handles = []
            mods, _, incl, _ = _walk(_stamps_ns(events))
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
    from profiler.capture.record import tensor_leaves
    from profiler.columns import fmt_shapes
    calls, stack, handles = [], [], []

    def storages(tree) -> set[int]:
        return {t.untyped_storage().data_ptr() for t in tensor_leaves(tree) if t.numel()}

    for i, module in enumerate(modules):
        def pre(_module, a, kw, _i=i):
            tensors = tensor_leaves((a, kw))
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


def _more_runs(done: int, runs: int | None, spent_s: float, seconds: float) -> bool:
    """Whether to time another run: ``runs`` where given; else until the timed runs
    (with and without hooks) have taken ``seconds``, and at least ``MIN_RUNS`` (a
    spread of fewer is no spread), at most ``MAX_RUNS``."""
    if runs is not None:
        return done < runs
    return done < MIN_RUNS or (spent_s < seconds and done < MAX_RUNS)


def _run_and_time(model, args, kwargs, device, runs, warmup, seconds, bench=None):
    """Warm-up (the first run records shapes), then pairs of timed forwards, without
    and with the timing hooks (``_more_runs`` says how many).  Between pairs,
    ``bench`` (a profiler.measure.microbench.Bench, or None) runs its trials for as
    long as the pairs since its last turn took (once that is a slice, ``SLICE_S``;
    at most its share of ``seconds`` over the runs), until it has had ``seconds`` in
    all: the peaks are measured between the runs, on the same machine, for about as
    long as the runs.  Returns a dict of raw figures."""
    named = list(model.named_modules())
    modules = [m for _, m in named]
    names = [n or "(model)" for n, _ in named]
    sync = _sync(device)
    forward = (lambda: model(*args, **kwargs))
    recorded = _record(model, modules, args, kwargs, sync)
    for _ in range(max(1, warmup - 1)):
        _timed(forward, sync)
    plain, hooked, owns = [], [], []
    events: list = []
    structure = None
    spent = bench_spent = owed = 0.0
    share = seconds / (runs or MIN_RUNS)   # the bench's most per turn: spread over the runs, not spent on the first
    collecting = gc.isenabled()
    gc.disable()
    try:
        while _more_runs(len(plain), runs, spent, seconds):
            plain.append(_timed(forward, sync))
            events.clear()
            handles = _timing_hooks(modules, events, device)
            try:
                hooked.append(_timed(forward, sync))
            finally:
                for h in handles:
                    h.remove()
            pair = (plain[-1] + hooked[-1]) / 1e9
            spent += pair
            mods, parents, _, own = _walk(_stamps_ns(events))
            if structure is None:
                structure = (mods, parents)
                if [m for m, _, _ in recorded] != mods:
                    raise ProfilerError("the forward called different modules from one run to the next: "
                                        "its per-layer times cannot be matched to rows")
            elif mods != structure[0]:
                raise ProfilerError("the forward called different modules from one run to the next: "
                                    "its per-layer times cannot be matched to rows")
            owns.append(own)
            owed += pair
            if bench is not None and bench_spent < seconds and owed >= SLICE_S:
                # as long as the runs since the last slices took (a slice at least)
                began = _time.perf_counter()
                bench.step(min(owed, seconds - bench_spent, share))
                bench_spent += _time.perf_counter() - began
                owed = 0.0
    finally:
        if collecting:
            gc.enable()
    return dict(names=names, recorded=recorded, parents=structure[1], plain=np.array(plain, dtype=np.float64),
                hooked=np.array(hooked, dtype=np.float64), own=np.array(owns, dtype=np.float64).T,
                runs=len(plain))


def _load() -> float | None:
    """The 1-minute load average (profiler.report.measured.Measurement.busy reads it
    against the core count), None where the platform has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):   # not on every platform
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# --- the public entry point ----------------------------------------------------------------

def measure(report, model=None, *, input_size=None, batch: int | None = None, inputs: Any = None,
            kwargs: dict | None = None, dtype=None, native: bool = False, config: dict | None = None,
            device: str = "cpu", runs: int | None = None, warmup: int | None = None,
            seconds: float = DEFAULT_SECONDS, peak_flops: float | None = None,
            peak_bandwidth: float | None = None, measure: bool | None = None, time: bool | None = None):
    """Measure a profile's layers, or predict them from the roofline alone; returns
    the Report with ``measurement`` set and the measured columns in ``layers``.

    report: a Report from ``profile()``; ``model``: the model it profiled (a name
        or an nn.Module; by default the report's model name), run with the
        input_size/batch/inputs/kwargs/dtype/native/config it was profiled with.
        From a model in one call: ``profiler.profile(model, ..., measure=True)``.
    device: where the forward runs, "cpu", "cuda" or "cuda:N"; or a data-sheet name
        (profiler.measure.roofline.DATASHEET: "A100", "H100", "H200", ...) whose peaks the
        roofline uses (the forward then runs on cuda).
    runs: timed runs (default: as many as fit in about ``seconds``, at least
        ``MIN_RUNS`` = 10, at most ``MAX_RUNS``);
        warmup: untimed runs first (default 2).
    peak_flops, peak_bandwidth: the roofs (FLOP/s, bytes/s) instead of a
        microbenchmark or a data sheet.
    measure: False predicts each row's least time from the roofline without running
        the model (the report says these are bounds), as ``profile(..., measure=False,
        device=...)`` does; ``time=`` is its deprecated name (removed in the next release).
    """
    if isinstance(report, (str, nn.Module)):
        # profiling is profile()'s business (which calls this one): no import cycle
        raise ProfilerError("measure() takes the report of a profile: profiler.profile(model, ..., measure=True), "
                            "or measure(profiler.profile(model, ...), model, ...)")
    from profiler.capture.session import exclusive, kept_rng
    measure = _measure_or_time(measure, time)
    model = report.model if model is None else model
    batch = report.batch if batch is None else batch
    _check_options(report, runs, warmup)
    run_device, sheet = parse_device(device)
    if measure and run_device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.init()   # before kept_rng: the CUDA generators are then kept as well
    with exclusive(), kept_rng():
        run = run_of(report, model, input_size, batch, inputs, kwargs, native, config) if measure else None
        return measure_run(report, run, device=device, runs=runs, warmup=warmup, seconds=seconds,
                           peak_flops=peak_flops, peak_bandwidth=peak_bandwidth, measure=measure, batch=batch)


def _measure_or_time(measure: bool | None, time: bool | None) -> bool:
    """``measure=``, or its deprecated name ``time=`` (with a DeprecationWarning);
    True when neither is given."""
    if time is None:
        return True if measure is None else measure
    if measure is not None:
        raise ProfilerError("measure() takes measure= (time= is its deprecated name), not both")
    warnings.warn("measure(time=) is deprecated: use measure= (the same word as profile(measure=))",
                  DeprecationWarning, stacklevel=3)
    return time


def _check_options(report, runs, warmup) -> None:
    if "bwd_macs" in report.layers:
        raise ProfilerError("measuring times the inference forward: profile without training")
    for name, value in (("runs", runs), ("warmup", warmup)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < (name == "runs")):
            raise ProfilerError(f"{name}={value!r}: expected a {'positive' if name == 'runs' else 'non-negative'} "
                                "integer")


def measure_run(report, run: Run | None, *, device: str = "cpu", runs: int | None = None,
                warmup: int | None = None, seconds: float = DEFAULT_SECONDS, peak_flops: float | None = None,
                peak_bandwidth: float | None = None, measure: bool = True, batch: int | None = None):
    """``measure`` on the model and inputs of ``run`` (profiler.capture.run.Run; None
    without ``measure``, a roofline prediction): what profile() calls with its own run, under its lock and state snapshot (the caller holds them:
    profiler.capture.session.exclusive and kept_rng).  The run's memory is checked
    against its limit (``check_measured_size``) before anything real is built."""
    _check_options(report, runs, warmup)
    run_device, sheet = parse_device(device)
    batch = report.batch if batch is None else batch
    if measure or sheet is None:
        from profiler.measure.roofline import check_device
        check_device(run_device)
    torch_dtype = _torch_dtype(report.dtype)
    interleave = measure and sheet is None and peak_flops is None and peak_bandwidth is None
    if measure:   # before the microbenchmark and any real tensor
        check_measured_size(report, run, run_device, torch_dtype, runs, interleave)
    peaks = None if interleave else resolve_peaks(run_device, report.dtype, sheet, peak_flops, peak_bandwidth)
    info = describe_device(run_device) if (measure or sheet is None) else {"kind": "datasheet", "name": sheet}
    if not measure:
        attach(report, Measurement(False, info, peaks, batch))
        return report

    fastpath = torch.backends.mha.get_fastpath_enabled()
    bench = None
    try:
        with real_model(run, run_device, torch_dtype) as (built, weights):
            args, kw = real_inputs(run, run_device, torch_dtype)
            with eval_state(built):
                per_call, inside = hook_cost(run_device)
                bench = Bench(run_device, report.dtype) if interleave else None
                load_before = _load()
                torch.manual_seed(0)   # a forward that draws numbers draws the same ones each time
                raw = _run_and_time(built, args, kw, run_device, runs,
                                    DEFAULT_WARMUP if warmup is None else warmup, seconds, bench)
                load_after = _load()
            del args, kw
        built = None   # the real model goes before any microbenchmark is run again (below)
        if bench is not None:
            peaks, peak_notes = _bench_peaks(bench, run_device, report.dtype, info)
    except ProfilerError:
        raise
    except Exception as exc:
        raise ProfilerError(f"{report.model}: the timed forward failed on {run_device}: {first_line(exc)}") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        if bench is not None:
            bench.close()

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
                    per_run=per_run, nothing_moved=aliased, load_before=load_before, load_after=load_after,
                    cores=_cores(), notes=[f"weights: {weights}", *notes, *(peak_notes if interleave else [])])
    attach(report, m)
    if interleave and m.peaks.source.startswith("microbenchmark"):
        first = _beaten(report)
        for attempt in range(RECHECKS):
            if not _beaten(report):
                break
            m.peaks = resolve_peaks(run_device, report.dtype, fresh=True)
            attach(report, m)
        if first:
            m.notes.append(f"{len(first)} row(s) ran faster than the bound from the peaks measured between the "
                           "runs: the microbenchmark ran again on its own, and the bounds use the best of all its "
                           "runs in this process")
        beaten = _beaten(report)
        if beaten:
            m.notes.append(f"{len(beaten)} row(s) ran faster than their roofline bound even after the "
                           f"microbenchmark ran {RECHECKS + 1} times (the machine was busier then): "
                           + ", ".join(beaten[:5]))
            attach(report, m)
    return report


def _bench_peaks(bench: Bench, device: str, dtype: str, info: dict) -> tuple[Peaks, list[str]]:
    """The peaks of a measured run and notes on them: the interleaved
    microbenchmark's (kept for the process as the best so far, see
    profiler.measure.microbench.keep), or on a GPU the data sheet knows, the data
    sheet's, a true upper limit, with the share of it the microbenchmark reached."""
    measured = bench.peaks()
    keep(measured, device, dtype)
    sheet = datasheet_of_gpu(info["name"]) if info.get("kind") == "cuda" else None
    if sheet is None:
        return measured, []
    try:
        table = table_peaks(sheet, dtype)
    except ProfilerError:   # a dtype the sheet has no figure for
        return measured, []
    return table, [f"microbenchmark on this GPU, between the runs: {fmt_rate(measured.flops, 'FLOP/s')} "
                   f"({100 * measured.flops / table.flops:.0f}% of the data sheet's) and "
                   f"{fmt_rate(measured.bandwidth, 'B/s')} ({100 * measured.bandwidth / table.bandwidth:.0f}%); "
                   f"the bounds use the data sheet's peaks"]


def _iqr(values: np.ndarray) -> float:
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def _beaten(report) -> list[str]:
    """Rows whose median time is below their bound by more than the timer's resolution."""
    layers, m = report.layers, report.measurement
    low = layers["time_median_s"] < layers["bound_s"] - m.timer_resolution_s
    return list(layers.loc[low.fillna(False), "name"])
