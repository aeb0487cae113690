"""Will it fit?  The memory what-ifs of a step, on the shapes-only run: the step
that must fit, mixed precision's fp32 master copy, model states per device under
ZeRO/FSDP, and the largest batch that fits a capacity, found by profiling again
at each batch tried (never by extrapolating from one).

``plan(model, fits="80GB", optimizer="adamw", amp="bf16", shard="zero3:8", ...)``
returns ``profile()``'s Report at the asked batch with ``Report.memory_plan`` set
(a profiler.report.memory.MemoryPlan, which every report format shows).

Conventions (each stated in the report):

* The step that must fit is the peak of a step from the second on, when the
  optimizer's states are held through the forward and backward
  (profiler.report.memory.step_peak).
* ``amp`` ("bf16" or "fp16"): the mixed-precision recipe of DeepSpeed and Megatron
  (profiler.formulas.optimizers, "master"): the step runs with parameters,
  gradients and activations in 16 bits (the profile runs at that dtype), and the
  optimizer keeps an fp32 master copy of the parameters (4 bytes per parameter,
  held through the whole step: twice the 16-bit gradients' bytes) and its states in
  fp32 (twice the bytes of the states the profile's 16-bit step made: every state
  tensor is at the parameter's dtype; Adam's and Adafactor's 4-byte ``step``
  tensors are counted twice over, an excess of 4 bytes per parameter tensor).
  torch.autocast's recipe (fp32 parameters, 16-bit compute) cannot be profiled:
  autocast does not act on meta tensors.
* ``shard`` ("zero1:8", "zero2:8", "zero3:8", "fsdp:8", "ddp:8"): model states per
  device as the ZeRO paper counts them (profiler.formulas.sharding), at every
  stage; the step peak per device keeps the activations of one device at its
  batch and the model states at their sharded size (the gradients live at the
  peak, when the peak is the profile's own).
* The largest batch: the step peak is taken to grow with the batch; batches are
  tried doubling from the profile's own batch while they fit, then bisected
  between the last that fit and the first that did not, each a full profile at
  that batch.  The search stops at ``max_batch``.
"""
from __future__ import annotations

from typing import Any, Callable

from profiler.errors import ProfilerError
from profiler.formulas.optimizers import check_optimizer
from profiler.formulas.sharding import every_stage, parse_shard
from profiler.report.memory import Fit, MemoryPlan, step_peak, step_peaks
from profiler.report.peaks import parse_capacity

AMP = {"bf16": "bfloat16", "fp16": "float16"}
MAX_BATCH = 1 << 16
OPTIMIZER_NAMES = {"sgd": "SGD", "sgd-momentum": "SGD with momentum", "adam": "Adam", "adamw": "AdamW",
                   "adafactor": "Adafactor"}


def check_amp(amp: str | None) -> str | None:
    if amp is not None and amp not in AMP:
        raise ProfilerError(f"amp={amp!r}: expected one of {', '.join(AMP)} (16-bit parameters and "
                            "gradients, fp32 master weights and optimizer states)")
    return amp


def recipe(optimizer: str | None, amp: str | None, dtype: str) -> str:
    """The optimizer and precision in words."""
    name = OPTIMIZER_NAMES.get(optimizer, "no optimizer") if optimizer else "no optimizer"
    if amp:
        return f"{name}, {amp} parameters, gradients and activations with fp32 master weights and states"
    return f"{name}, {dtype}"


def _terms(memory, amp: str | None) -> tuple[int, int]:
    """(held, grown) of the amp recipe (module docstring), from the 16-bit profile."""
    if not amp:
        return 0, 0
    held = 2 * memory.totals.get("gradients", 0)                       # fp32 master: 4 bytes for 2
    grown = memory.totals.get("optimizer", 0) if memory.optimizer else 0   # fp32 states: twice the 16-bit
    return held, grown


def make_plan(report, optimizer: str | None = None, amp: str | None = None,
              shard: tuple[int, int] | None = None, fit: Fit | None = None) -> MemoryPlan:
    """The MemoryPlan of a memory profile ``report`` (module docstring)."""
    memory = report.memory
    if memory is None:
        raise ProfilerError("the report has no memory profile: profile with memory=True")
    held, grown = _terms(memory, amp)
    peak = step_peak(memory, held, grown)
    training = any(phase == "backward" for phase, _, _ in memory.timeline)
    words = recipe(memory.optimizer or optimizer, amp, report.dtype) if training else report.dtype
    plan = dict(recipe=words, step_peak=peak, held=held,
                grown=grown, fit=fit)
    if shard is None:
        return MemoryPlan(**plan)
    stage, devices = shard
    totals = memory.totals
    parameters, gradients = totals.get("parameters", 0), totals.get("gradients", 0)
    optimizer_bytes = (totals.get("optimizer", 0) if memory.optimizer else 0) + held + grown
    numel = gradients // report.itemsize if report.itemsize else 0
    stages = every_stage(parameters, gradients, optimizer_bytes, numel, devices)
    # per device, each side of the step peak with its model states sharded; the activations
    # (and the optimizer's temporaries) unchanged.  The forward/backward side holds every
    # state and the master copy, the parameters, and the gradients live at its peak: those of
    # the profile's own peak where that is its peak, else none (the side's per-device peak is
    # then an upper bound); the optimizer side holds every gradient.
    cut = lambda b, sharded: -(-b // devices) if sharded else b   # noqa: E731
    sides = step_peaks(memory, held, grown)
    states = totals.get("optimizer", 0) if memory.optimizer else 0
    own = memory.peak_phase != "optimizer" and sides["forward/backward"] == memory.peak_bytes + states + held
    per_device = []
    for side, bytes_ in sides.items():
        grads = gradients if side == "optimizer" else memory.at_peak.get("gradients", 0) if own else 0
        model = parameters + grads + optimizer_bytes
        sharded = cut(parameters, stage >= 3) + cut(grads, stage >= 2) + cut(optimizer_bytes, stage >= 1)
        per_device.append(bytes_ - model + sharded)
    return MemoryPlan(**plan, stages=tuple(s.to_dict() for s in stages), stage=stage, devices=devices,
                      device_peak=max(per_device))


def search(peak_at: Callable[[int], int], capacity: int, max_batch: int = MAX_BATCH, start: int = 1,
           known: dict[int, int] | None = None) -> tuple[int, tuple[tuple[int, int], ...], int | None]:
    """The largest batch b ≤ max_batch with peak_at(b) ≤ capacity: (b, the (batch,
    peak) pairs tried in order, max_batch if the search stopped there still
    fitting, else None).  From ``start`` (the profile's own batch, which runs
    anyway), doubling while the batch fits, then bisecting between the last batch
    that fit (0: none) and the first that did not; ``known`` peaks are not asked
    again.  The peak is taken to grow with the batch."""
    known = dict(known or {})
    tried: list[tuple[int, int]] = []

    def fits(b: int) -> bool:
        if b not in known:
            known[b] = peak_at(b)
        tried.append((b, known[b]))
        return known[b] <= capacity

    low, high = 0, min(max(start, 1), max_batch)
    while fits(high):
        low = high
        if high >= max_batch:
            return low, tuple(tried), max_batch
        high = min(2 * high, max_batch)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low, tuple(tried), None


def plan(model: Any, fits: str | int | None = None, optimizer: str | None = None, amp: str | None = None,
         shard: str | tuple[int, int] | None = None, batch: int = 1, max_batch: int = MAX_BATCH,
         **kwargs) -> Any:
    """Profile ``model`` with memory at ``batch`` (``kwargs`` go to profiler.profile:
    training=True for a step, tokens=, checkpointing=, dtype=, ...) and attach the
    what-ifs as ``Report.memory_plan``: ``optimizer`` (one of
    profiler.formulas.optimizers.OPTIMIZERS, a training step's), ``amp`` ("bf16",
    "fp16": the profile runs at that dtype, with fp32 master weights and states),
    ``shard`` ("zero3:8" or (stage, devices)), and ``fits`` (a capacity: "80GB",
    "24GiB", a device name "H100", or bytes), for which the largest batch that fits
    is searched (module docstring).  Returns the Report at ``batch``."""
    from profiler.api import profile
    optimizer = None if optimizer is None else check_optimizer(optimizer)
    amp = check_amp(amp)
    if isinstance(shard, str):
        shard = parse_shard(shard)
    capacity = None
    if fits is not None:
        capacity, label = (int(fits), f"{int(fits):,} bytes") if isinstance(fits, int) else parse_capacity(fits)
        if capacity <= 0:
            raise ProfilerError(f"fits={fits!r}: expected a positive size")
    if amp:
        if kwargs.get("dtype") not in (None, AMP[amp]):
            raise ProfilerError(f"amp={amp!r} runs the step in {AMP[amp]}: it does not go with dtype="
                                f"{kwargs['dtype']!r}")
        kwargs["dtype"] = AMP[amp]
    if capacity is not None and ("inputs" in kwargs or "kwargs" in kwargs):
        raise ProfilerError("fits= searches the batch of the made inputs: give input_size=, batch= or "
                            "tokens= rather than inputs=")
    if optimizer is not None and not kwargs.get("training"):
        raise ProfilerError("optimizer= steps a training step: add training=True")
    options = dict(kwargs, memory=True, **({"optimizer": optimizer} if optimizer else {}))

    def run(b: int):
        report = profile(model, batch=b, **options)
        return report, make_plan(report, optimizer, amp, shard)

    def per_device(p: MemoryPlan) -> int:
        return p.device_peak if p.device_peak is not None else p.step_peak

    report, first = run(batch)
    fit = None
    if capacity is not None:
        def peak_at(b: int) -> int:
            try:
                return per_device(run(b)[1])
            except ProfilerError as exc:   # e.g. a size past what a tensor holds: stop there
                raise _Stop(b, exc) from None
        try:
            largest, tried, ceiling = search(peak_at, capacity, max_batch, batch, {batch: per_device(first)})
        except _Stop as stop:
            raise ProfilerError(f"fits=: searching the largest batch, the profile at batch {stop.batch} "
                                f"failed: {stop.error}") from None
        fit = Fit(capacity=capacity, capacity_label=label, batch=batch, peak=per_device(first),
                  largest_batch=largest, tried=tried, ceiling=ceiling)
    report.memory_plan = make_plan(report, optimizer, amp, shard, fit)
    return report


class _Stop(Exception):
    def __init__(self, batch: int, error: Exception):
        super().__init__(str(error))
        self.batch, self.error = batch, error
