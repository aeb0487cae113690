"""This process's device, and its peaks measured by short microbenchmarks (torch).

The roofline's bound (profiler.report.peaks) is a lower bound only if the peaks
are true peaks: the most the device does, by any kernel the model may run, at any
data size.  So the peaks are the best of many short trials (a noisy, shared machine
slows trials down, never speeds them up), over several kernels:

- FLOP/s at the model's dtype: large GEMMs and large 1x1 and 3x3 convolutions (on
  CPU, oneDNN's convolutions can beat the BLAS GEMM; on CUDA, cuDNN runs float32
  convolutions in TF32 by default, so float32 gets TF32's peak there).
- bandwidth: copies (2 bytes counted per byte copied), in-place updates (2 bytes per
  byte, as an in-place ReLU), reads (a sum) and writes (a fill), from sizes that
  stay in cache to sizes many times the last-level cache.  ``bandwidth`` is the best
  rate at any size, ``dram_bandwidth`` the best at the largest size.
- on a CPU with several threads, every trial but the DRAM-sized ones also runs on
  one thread: a busy
  machine stalls a parallel region until its last thread runs, and no core does
  more alone than with others, so the better of both is still at most the peak.

A ``Bench`` holds the trials and their buffers and runs them a slice at a time:
``measure`` runs a slice after each of the model's timed runs, so that the peaks
and the layers are measured on the same machine at the same moments (on a shared
machine, a microbenchmark run minutes apart sees other neighbours, as the issue
that asked for this found: 115 GFLOP/s in one run, 221 in the next).
``microbenchmark`` runs every trial in one go, for a prediction without a timed run.

On CUDA, each timed group of calls is synchronised before and after; the sizes are
far above a kernel launch's cost.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from typing import Callable

from profiler.errors import ProfilerError
from profiler.report.peaks import MIB, Peaks, device_label

SLICE_S = 0.01      # one slice of a trial in an interleaved run: a few timed groups


# --- this process's devices ----------------------------------------------------------------

def check_device(device: str) -> None:
    """A torch device this process can run on, or a one-line error."""
    import torch
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ProfilerError(f"device {device}: no CUDA device here (torch.cuda.is_available() is False)")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ProfilerError(f"device {device}: there are {torch.cuda.device_count()} CUDA devices")
    elif device != "cpu":
        raise ProfilerError(f"device {device!r}: expected cpu, cuda or cuda:N")


def float32_uses_tf32() -> bool:
    """Whether float32 convolutions or matmuls may run in TF32 on CUDA (cuDNN's default)."""
    import torch
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def cpu_cache_bytes() -> int | None:
    """The largest CPU cache (the last level), from sysfs; None where unknown."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = None
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "size")) as f:
                text = f.read().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text[:-1] if scale != 1 else text
        if digits.isdigit():
            size = int(digits) * scale
            best = size if best is None else max(best, size)
    return best


def describe_device(device: str) -> dict:
    """Where a measurement runs, in words and fields (for the report and the JSON)."""
    import torch
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return dict(kind="cuda", name=props.name, index=index, memory_bytes=int(props.total_memory),
                    cache_bytes=int(getattr(props, "L2_cache_size", 0)) or None, threads=None,
                    torch=torch.__version__, cuda=torch.version.cuda)
    return dict(kind="cpu", name=cpu_name(), index=None, memory_bytes=None, cache_bytes=cpu_cache_bytes(),
                threads=torch.get_num_threads(), torch=torch.__version__, cuda=None)


def sync_for(device: str) -> Callable[[], None]:
    import torch
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


# --- trials -------------------------------------------------------------------------------

class _Trial:
    """One kernel at one size (and thread count): its best rate so far.  Timed in
    groups of calls that last about ``group_s`` (a single call where one lasts
    longer): short groups catch a busy machine's quiet moments, as a short layer does."""

    def __init__(self, role: str, label: str, make: Callable[[], tuple[Callable[[], object], float]],
                 seconds: float, group_s: float, threads: int | None, warm: bool = True):
        self.role, self.label, self.make, self.seconds, self.group_s = role, label, make, seconds, group_s
        self.warm = warm                # an untimed first call (a memory trial's buffer is warm once made)
        self.threads = threads          # None: torch's own setting
        self.fn: Callable[[], object] | None = None
        self.work = 0.0
        self.size = 0                   # calls per timed group
        self.best = 0.0
        self.spent = 0.0

    def run(self, sync: Callable[[], None], seconds: float) -> None:
        """Time groups of calls for about ``seconds`` (at least one group)."""
        import torch
        threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        clock = time.perf_counter_ns
        began = clock()
        end = began + int(seconds * 1e9)
        try:
            if self.fn is None:   # its buffers, and a first call that warms caches and allocators
                self.fn, self.work = self.make()
                if self.warm:
                    self.fn()
                    sync()
            if not self.size:     # one call, timed: the group's size, and a first rate
                start = clock()
                self.fn()
                sync()
                once = max(clock() - start, 1)
                self.best = max(self.best, self.work * 1e9 / once)
                self.size = max(1, int(self.group_s * 1e9 / once))
                if clock() >= end:
                    return
            while True:
                start = clock()
                for _ in range(self.size):
                    self.fn()
                sync()
                self.best = max(self.best, self.work * self.size * 1e9 / max(clock() - start, 1))
                if clock() >= end:
                    break
        finally:
            if self.threads is not None:
                torch.set_num_threads(threads)
            self.spent += (clock() - began) / 1e9

    def free(self) -> None:
        self.fn = None


def _compute_trials(device: str, dtype, seconds: float, threads: int | None) -> list[_Trial]:
    """GEMMs and 1x1 and 3x3 convolutions at ``dtype`` (FLOP/s)."""
    import torch
    import torch.nn.functional as F
    if device.startswith("cuda"):
        gemms, conv1, conv3 = (8192, 4096), (8, 2048, 32), ((64, 256, 28), (32, 512, 14))
    else:
        gemms, conv1, conv3 = (768, 384), (1, 512, 32), ((1, 256, 28), (1, 256, 14))

    def rand(*shape):
        gen = torch.Generator(device="cpu").manual_seed(0)   # its own generator: torch's RNG is left alone
        return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)

    def gemm(n):
        a, b = rand(n, n), rand(n, n)
        return (lambda: torch.mm(a, b)), 2.0 * n ** 3

    def conv(batch, c, hw, k):
        x, w = rand(batch, c, hw, hw), rand(c, c, k, k)
        return (lambda: F.conv2d(x, w, padding=k // 2)), 2.0 * batch * c * c * k * k * hw * hw

    trials = [_Trial("flops", f"{n}x{n} GEMM", lambda n=n: gemm(n), seconds / 2, 2e-3, threads) for n in gemms]
    trials.append(_Trial("flops", "1x1 convolution", lambda: conv(*conv1, 1), seconds, 2e-3, threads))
    trials += [_Trial("flops", f"3x3 convolution at {hw}x{hw}", lambda s=(b, c, hw): conv(*s, 3), seconds / 2,
                      2e-3, threads) for b, c, hw in conv3]
    return trials


def _memory_trials(device: str, size: int, role: str, seconds: float, threads: int | None,
                   buffers: dict) -> list[_Trial]:
    """A copy, an in-place update, a read and a write of a ``size``-byte working set,
    sharing one buffer (kept in ``buffers`` while the bench lives)."""
    import torch

    def whole():
        if size not in buffers:
            buffers[size] = torch.ones(size // 4, device=device)
        return buffers[size]

    def copy():
        w = whole()
        src, dst = w[: w.numel() // 2], w[w.numel() // 2:]
        return (lambda: dst.copy_(src)), float(size)
    kinds = [("copy", copy), ("in-place update", lambda: ((lambda w=whole(): w.mul_(1.0)), 2.0 * size)),
             ("read", lambda: ((lambda w=whole(): w.sum()), float(size))),
             ("write", lambda: ((lambda w=whole(): w.fill_(1.0)), float(size)))]
    return [_Trial(role, f"{name} of {size / MIB:g} MiB", make, seconds, 5e-4, threads, warm=False)
            for name, make in kinds]


def _working_sets(device: str, cache: int | None) -> tuple[list[int], int]:
    """The memory trials' working sets in bytes: (the sizes within the cache, the
    one far beyond it)."""
    if device.startswith("cuda"):   # sizes within L2 that take longer than a kernel launch
        return [(cache or 40 * MIB) // 8, (cache or 40 * MIB) // 2], max(1 << 30, 8 * (cache or 0))
    # 8 times the last-level cache, at most 1 GiB: a VM may report its host's whole
    # cache (hundreds of MiB); a smaller set can only raise the rate seen, so the
    # bound stays a lower bound
    return [128 << 10, 512 << 10, 2 * MIB, 8 * MIB], min(max(256 * MIB, 8 * (cache or 0)), 1 << 30)


def bench_bytes(device: str) -> int:
    """The most memory a ``Bench`` on ``device`` holds at once, for the measured run's
    size check (it runs between the timed runs, beside the model): its memory
    trials' buffers (one per working set, kept until ``close``) and one compute
    trial's operands (the largest GEMM's three n×n float32 matrices, at most)."""
    small, big = _working_sets(device, describe_device(device)["cache_bytes"])
    n = 8192 if device.startswith("cuda") else 768
    return sum(small) + big + 3 * n * n * 4


class Bench:
    """The microbenchmark's trials on ``device`` at ``dtype``, run a slice at a time
    (``step``) or all at once (``run_all``); ``peaks()`` from the best rates so far.
    ``seconds``: each compute trial's time in ``run_all`` (the whole takes about 20
    times that).  Its buffers live until ``close()``."""

    def __init__(self, device: str, dtype: str, seconds: float = 0.25):
        import torch
        check_device(device)
        self.device, self.dtype, self.seconds = device, dtype, seconds
        self.info = describe_device(device)
        self.sync = sync_for(device)
        torch_dtype = getattr(torch, dtype)
        self.small, self.big = _working_sets(device, self.info["cache_bytes"])
        self.threads = torch.get_num_threads()
        settings: list[int | None] = [None]
        share = seconds
        if device == "cpu" and self.threads > 1:
            settings, share = [None, 1], seconds / 2
        self._buffers: dict = {}
        self.trials: list[_Trial] = []
        for threads in settings:
            self.trials += _compute_trials(device, torch_dtype, share, threads)
            for size in self.small:
                self.trials += _memory_trials(device, size, "near", share / 4, threads, self._buffers)
            if threads is None:   # DRAM is shared by the cores: one thread alone streams no faster
                self.trials += _memory_trials(device, self.big, "far", share / 2, threads, self._buffers)
        self._next = 0
        self.interleaved = False

    def step(self, seconds: float) -> None:
        """Run trials in turn, a slice each (``SLICE_S``), for about ``seconds`` (at
        least one slice): called between a model's timed runs."""
        self.interleaved = True
        end = time.perf_counter() + seconds
        while True:
            trial = self.trials[self._next]
            self._next = (self._next + 1) % len(self.trials)
            trial.run(self.sync, SLICE_S)
            if time.perf_counter() >= end:
                break

    def finish(self) -> None:
        """Give every trial that never ran one slice (a short interleaved run may not
        have reached them all)."""
        for trial in self.trials:
            if not trial.spent:
                trial.run(self.sync, SLICE_S)

    def run_all(self) -> None:
        for trial in self.trials:
            trial.run(self.sync, max(trial.seconds - trial.spent, 0.0))

    def close(self) -> None:
        for trial in self.trials:
            trial.free()
        self._buffers.clear()

    def peaks(self) -> Peaks:
        ran = [t for t in self.trials if t.best > 0]
        if not any(t.role == "flops" for t in ran) or not any(t.role == "far" for t in ran):
            self.finish()
            ran = self.trials
        flops = max((t for t in ran if t.role == "flops"), key=lambda t: t.best)
        bandwidth = max(t.best for t in ran if t.role != "flops")
        dram = max(t.best for t in ran if t.role == "far")
        cache = self.info["cache_bytes"]
        detail = flops.label + (" on one thread" if flops.threads == 1 else "")
        if flops.threads == 1:
            detail += (f": one thread did more than {self.threads}: the machine is busy, and its parallel regions "
                       "wait for their last thread (OMP_NUM_THREADS=1 gives steadier times)")
        if self.device.startswith("cuda") and self.dtype == "float32" and float32_uses_tf32():
            detail += ", TF32: PyTorch runs float32 convolutions in TF32 by default"
        how = ("in slices between the model's timed runs, so both saw the same machine" if self.interleaved
               else "in this process")
        spent = sum(t.spent for t in self.trials)
        return Peaks(f"{self.info['kind']}: {device_label(self.info)}", self.dtype, flops.best, bandwidth,
                     dram_bandwidth=dram if cache else None, cache_bytes=cache,
                     source=f"microbenchmark {how} ({spent:.1f} s in all): the best rate of GEMMs and 1x1 and 3x3 "
                            f"convolutions, and of copies, in-place updates, reads and writes of "
                            f"{_sizes(self.small)} and {_sizes([self.big])}"
                            + (f", on {self.threads} threads and on one" if len({t.threads for t in self.trials}) > 1
                               else ""),
                     detail=f"best: {detail}")


def _sizes(sizes: list[int]) -> str:
    return ", ".join(f"{s / MIB:g} MiB" for s in sizes)


# --- the peaks kept for the process -----------------------------------------------------------

_MEASURED: dict[tuple, Peaks] = {}     # microbenchmarked peaks, per device, dtype, TF32 setting and threads


def _key(device: str, dtype: str) -> tuple:
    import torch
    tf32 = device.startswith("cuda") and dtype == "float32" and float32_uses_tf32()
    return device, dtype, tf32, (torch.get_num_threads() if device == "cpu" else None)


def keep(peaks: Peaks, device: str, dtype: str) -> Peaks:
    """Keep ``peaks`` for the process, as the best of them and those kept before (a
    trial slowed by a busy machine is never the best); returns what is kept."""
    key = _key(device, dtype)
    old = _MEASURED.get(key)
    if old is not None:
        peaks = replace(peaks, flops=max(old.flops, peaks.flops), bandwidth=max(old.bandwidth, peaks.bandwidth),
                        dram_bandwidth=None if peaks.dram_bandwidth is None
                        else max(old.dram_bandwidth or 0.0, peaks.dram_bandwidth),
                        source=("the best of this process's microbenchmarks, the latest: " + peaks.source
                                if not peaks.source.startswith("the best of") else peaks.source),
                        detail=peaks.detail if peaks.flops >= old.flops else old.detail)
    _MEASURED[key] = peaks
    return peaks


def microbenchmark(device: str = "cpu", dtype: str = "float32", fresh: bool = False,
                   seconds: float = 0.25) -> Peaks:
    """The device's peaks from every trial run in one go, on the threads torch uses
    (see the module docstring): the best rate of each kernel over about ``seconds``
    (the whole takes about 20 times that).  Kept per device, dtype and thread count
    for the process; ``fresh`` runs them again and keeps the best of both."""
    check_device(device)
    key = _key(device, dtype)
    if key in _MEASURED and not fresh:
        return _MEASURED[key]
    bench = Bench(device, dtype, seconds)
    try:
        bench.run_all()
        return keep(bench.peaks(), device, dtype)
    finally:
        bench.close()
