"""The roofline: a device's peak FLOP/s and memory bandwidth, and per-layer bounds.

A layer that does F FLOPs and moves B bytes (``Report.moved_bytes``: parameters,
inputs and outputs once each) cannot take less than

    bound = max(F / peak FLOP/s, memory time of B)

on a device, whatever its kernels do.  The bound is a lower bound only if the peaks
are true peaks: the most the device does, by any kernel the model may run, at any
data size.  So the peaks come from the best of several short microbenchmark trials
(a noisy, shared machine slows trials down, never speeds them up), over several
kernels:

- FLOP/s at the model's dtype: a large GEMM and large 1x1 and 3x3 convolutions
  (on CPU, oneDNN's convolutions can beat the BLAS GEMM; on CUDA, cuDNN runs
  float32 convolutions in TF32 by default, so float32 gets TF32's peak there).
- bandwidth: copies (2 bytes counted per byte copied), reads (a sum) and writes (a
  fill), from sizes that stay in cache to sizes many times the last-level cache.

A cache-resident layer moves its bytes at cache speed, far above DRAM's, so the
memory roof has two levels.  ``bandwidth`` is the best rate seen at any size;
``dram_bandwidth`` the best rate at sizes far beyond the last-level cache of
``cache_bytes`` (C).  A layer that reads R bytes and writes W (B = R + W) finds at
most C of what it reads in the cache (what was there when it started) and leaves at
most C of what it writes there when it ends, so at least (R - C)⁺ + (W - C)⁺ bytes
cross to DRAM:

    memory time = max(B / bandwidth, ((R - C)⁺ + (W - C)⁺) / dram_bandwidth)

A layer is compute-bound when its FLOP term is the larger, memory-bound otherwise:
its arithmetic intensity (FLOPs per byte) is above or below its ridge point.

Data-sheet peaks (``DATASHEET``) have one bandwidth (HBM) and no cache level.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

from profiler.errors import ProfilerError

# Dense peaks (no structured sparsity: the data sheets' tensor-core figures marked
# "with sparsity" are halved here), FLOP/s per dtype, and memory bandwidth in bytes/s.
#   A100: "NVIDIA A100 Tensor Core GPU" data sheet (nvidia-a100-datasheet-us-nvidia-1758950-r4):
#         FP64 Tensor Core 19.5 TF, FP32 19.5 TF, TF32 156 TF, BF16 312 TF, FP16 312 TF;
#         GPU memory bandwidth 80GB SXM 2,039 GB/s, 80GB PCIe 1,935 GB/s, 40GB 1,555 GB/s
#   H100: "NVIDIA H100 Tensor Core GPU" data sheet (h100-datasheet-2430615):
#         SXM: FP64 Tensor Core 67 TF, FP32 67 TF, TF32 989 TF*, BF16 1,979 TF*, FP16 1,979 TF*,
#         3.35 TB/s; PCIe: 51 TF FP32 (FP64 Tensor Core 51), TF32 756 TF*, BF16/FP16 1,513 TF*,
#         2 TB/s; NVL: FP32 60 TF (FP64 Tensor Core 60), TF32 835 TF*, BF16/FP16 1,671 TF*, 3.9 TB/s
#   H200: "NVIDIA H200 Tensor Core GPU" data sheet (h200-datasheet-3002446):
#         SXM: FP64 Tensor Core 67 TF, FP32 67 TF, TF32 989 TF*, BF16 1,979 TF*, FP16 1,979 TF*,
#         4.8 TB/s; NVL: FP32 60 TF (FP64 Tensor Core 60), TF32 835 TF*, BF16/FP16 1,671 TF*, 4.8 TB/s
#   (* with sparsity: dense is half)
_T, _G = 1e12, 1e9
DATASHEET = {
    "A100": dict(name="NVIDIA A100 SXM 80GB", fp64=19.5 * _T, fp32=19.5 * _T, tf32=156 * _T,
                 bf16=312 * _T, fp16=312 * _T, bandwidth=2039 * _G, l2=40 << 20,
                 source="NVIDIA A100 Tensor Core GPU data sheet"),
    "A100-PCIE": dict(name="NVIDIA A100 PCIe 80GB", fp64=19.5 * _T, fp32=19.5 * _T, tf32=156 * _T,
                      bf16=312 * _T, fp16=312 * _T, bandwidth=1935 * _G, l2=40 << 20,
                      source="NVIDIA A100 Tensor Core GPU data sheet"),
    "A100-40GB": dict(name="NVIDIA A100 40GB", fp64=19.5 * _T, fp32=19.5 * _T, tf32=156 * _T,
                      bf16=312 * _T, fp16=312 * _T, bandwidth=1555 * _G, l2=40 << 20,
                      source="NVIDIA A100 Tensor Core GPU data sheet"),
    "H100": dict(name="NVIDIA H100 SXM", fp64=67 * _T, fp32=67 * _T, tf32=494.5 * _T,
                 bf16=989.5 * _T, fp16=989.5 * _T, bandwidth=3350 * _G, l2=50 << 20,
                 source="NVIDIA H100 Tensor Core GPU data sheet"),
    "H100-PCIE": dict(name="NVIDIA H100 PCIe", fp64=51 * _T, fp32=51 * _T, tf32=378 * _T,
                      bf16=756.5 * _T, fp16=756.5 * _T, bandwidth=2000 * _G, l2=50 << 20,
                      source="NVIDIA H100 Tensor Core GPU data sheet"),
    "H100-NVL": dict(name="NVIDIA H100 NVL", fp64=60 * _T, fp32=60 * _T, tf32=417.5 * _T,
                     bf16=835.5 * _T, fp16=835.5 * _T, bandwidth=3900 * _G, l2=50 << 20,
                     source="NVIDIA H100 Tensor Core GPU data sheet"),
    "H200": dict(name="NVIDIA H200 SXM", fp64=67 * _T, fp32=67 * _T, tf32=494.5 * _T,
                 bf16=989.5 * _T, fp16=989.5 * _T, bandwidth=4800 * _G, l2=50 << 20,
                 source="NVIDIA H200 Tensor Core GPU data sheet"),
    "H200-NVL": dict(name="NVIDIA H200 NVL", fp64=60 * _T, fp32=60 * _T, tf32=417.5 * _T,
                     bf16=835.5 * _T, fp16=835.5 * _T, bandwidth=4800 * _G, l2=50 << 20,
                     source="NVIDIA H200 Tensor Core GPU data sheet"),
}
_DTYPE_KEYS = {"float64": "fp64", "float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
MIB = 1 << 20


@dataclass(frozen=True)
class Peaks:
    """A device's roofs.  ``flops`` in FLOP/s at ``dtype``; ``bandwidth`` in bytes/s,
    the best at any data size; ``dram_bandwidth`` the best at sizes far beyond the
    last-level cache of ``cache_bytes`` (both None where there is one level only)."""

    device: str                    # "cpu: AMD EPYC, 2 threads", "NVIDIA H200 SXM (data sheet)"
    dtype: str                     # the dtype the FLOP/s are for
    flops: float
    bandwidth: float
    dram_bandwidth: float | None = None
    cache_bytes: int | None = None
    source: str = ""               # where the figures come from
    detail: str = ""               # what the FLOP/s are (e.g. "TF32 tensor cores")

    @property
    def ridge(self) -> float:
        """FLOPs per byte above which a layer whose bytes move at ``bandwidth`` is compute-bound."""
        return self.flops / self.bandwidth

    @property
    def dram_ridge(self) -> float | None:
        return self.flops / self.dram_bandwidth if self.dram_bandwidth else None

    def memory_time(self, moved: float, written: float | None = None) -> float:
        """Least time, in seconds, to move ``moved`` bytes of which ``written`` are
        written (see the module docstring; unknown: at most half)."""
        t = moved / self.bandwidth
        if self.dram_bandwidth and self.cache_bytes is not None:
            c = self.cache_bytes
            far = (max(0.0, moved - 2 * c) if written is None
                   else max(0.0, moved - written - c) + max(0.0, written - c))
            t = max(t, far / self.dram_bandwidth)
        return t

    def bound(self, flops: float, moved: float, written: float | None = None) -> tuple[float, str]:
        """(the roofline bound in seconds, "compute" or "memory"); (0, "") for no work."""
        compute, memory = flops / self.flops, self.memory_time(moved, written)
        if compute == 0 and memory == 0:
            return 0.0, ""
        return max(compute, memory), "compute" if compute >= memory else "memory"

    def lines(self) -> list[str]:
        """The peaks in words, for the report."""
        out = [f"peak {fmt_rate(self.flops, 'FLOP/s')} at {self.dtype}"
               + (f" ({self.detail})" if self.detail else "")]
        if self.dram_bandwidth and self.cache_bytes is not None:
            out.append(f"memory {fmt_rate(self.bandwidth, 'B/s')} within the {self.cache_bytes / MIB:g} MiB "
                       f"last-level cache, {fmt_rate(self.dram_bandwidth, 'B/s')} beyond it; ridge points "
                       f"{self.ridge:.2f} and {self.dram_ridge:.2f} FLOPs per byte")
        else:
            out.append(f"memory {fmt_rate(self.bandwidth, 'B/s')}; ridge point {self.ridge:.2f} FLOPs per byte")
        out.append(f"source: {self.source}")
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ridge"] = round(self.ridge, 4)
        d["dram_ridge"] = None if self.dram_ridge is None else round(self.dram_ridge, 4)
        return d


_PREFIXES = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_rate(text: str) -> float:
    """'67e12', '67T', '3.35T', '900G' → per second (a trailing "FLOP/s", "B/s" or "/s" is allowed)."""
    body = text.strip()
    for unit in ("FLOP/s", "FLOPS", "flop/s", "flops", "B/s", "/s"):
        body = body.removesuffix(unit)
    scale = _PREFIXES.get(body[-1:].upper(), 1.0) if body else 1.0
    if scale != 1.0:
        body = body[:-1]
    try:
        value = float(body) * scale
    except ValueError:
        raise ProfilerError(f"malformed rate {text!r}: expected a number per second such as 67e12 or 67T") from None
    if not value > 0 or value == float("inf"):
        raise ProfilerError(f"malformed rate {text!r}: expected a positive number per second")
    return value


def fmt_rate(value: float, unit: str) -> str:
    """1.234e11, "FLOP/s" → '123.4 GFLOP/s'."""
    for size, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


# --- devices ---------------------------------------------------------------------------

def datasheet_name(text: str) -> str | None:
    """The DATASHEET key ``text`` names ("h100", "H100 SXM", "a100_pcie"), else None."""
    key = text.strip().upper().replace("_", "-").replace(" ", "-")
    key = key.removeprefix("NVIDIA-").removesuffix("-SXM").removesuffix("-SXM5").removesuffix("-SXM4")
    return key if key in DATASHEET else None


def parse_device(text: str) -> tuple[str, str | None]:
    """``device=``: (the torch device the forward runs on, the data-sheet name or
    None).  cpu, cuda, cuda:N, or a data-sheet name (runs on cuda)."""
    lowered = text.strip().lower()
    if lowered == "cpu":
        return "cpu", None
    if lowered in ("cuda", "gpu") or (lowered.startswith("cuda:") and lowered[5:].isdigit()):
        return ("cuda" if lowered == "gpu" else lowered), None
    name = datasheet_name(text)
    if name is not None:
        return "cuda", name
    raise ProfilerError(f"device={text!r}: expected cpu, cuda, cuda:N or one of "
                        f"{', '.join(DATASHEET)} (data-sheet peaks)")


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


def _float32_uses_tf32() -> bool:
    """Whether float32 convolutions or matmuls may run in TF32 on CUDA (cuDNN's default)."""
    import torch
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


def table_peaks(name: str, dtype: str) -> Peaks:
    """Data-sheet peaks of DATASHEET[name] at ``dtype`` (float32 at TF32 where PyTorch
    lets float32 convolutions or matmuls use it, as it does for convolutions by default)."""
    sheet = DATASHEET[name]
    key = _DTYPE_KEYS.get(dtype)
    if key is None:
        raise ProfilerError(f"no data-sheet peak for dtype {dtype}: the table has "
                            f"{', '.join(_DTYPE_KEYS)}")
    detail = {"fp64": "FP64 tensor cores", "fp32": "FP32 CUDA cores", "bf16": "BF16 tensor cores, dense",
              "fp16": "FP16 tensor cores, dense"}[key]
    if key == "fp32" and _float32_uses_tf32():
        key, detail = "tf32", "TF32 tensor cores, dense: PyTorch runs float32 convolutions in TF32 by default"
    return Peaks(f"{sheet['name']} (data sheet)", dtype, sheet[key], sheet["bandwidth"], source=sheet["source"],
                 detail=detail)


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


def device_label(info: dict) -> str:
    if info["kind"] == "cuda":
        return f"{info['name']} (cuda:{info['index']})"
    return f"{info['name']}, {info['threads']} thread{'s' if info['threads'] != 1 else ''}"


# --- microbenchmark ----------------------------------------------------------------------

_MEASURED: dict[tuple, Peaks] = {}     # microbenchmarked peaks, per device, dtype and TF32 setting


def _sync_for(device: str) -> Callable[[], None]:
    import torch
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def _best_rate(fn: Callable[[], object], work: float, sync: Callable[[], None], seconds: float,
               group_s: float = 2e-3) -> float:
    """The best rate (``work`` units per call, per second) of ``fn`` over about
    ``seconds``, timed in groups of calls that last about ``group_s`` (a single call
    where one lasts longer).  A busy machine slows some groups down and none up, and
    short groups catch its quiet moments, as a short layer does: the best group is
    the device's rate."""
    fn()
    sync()
    clock = time.perf_counter_ns
    start = clock()
    fn()
    sync()
    once = max(clock() - start, 1)
    size = max(1, int(group_s * 1e9 / once))
    best, end = work * 1e9 / once, clock() + int(seconds * 1e9)
    while clock() < end:
        start = clock()
        for _ in range(size):
            fn()
        sync()
        best = max(best, work * size * 1e9 / max(clock() - start, 1))
    return best


def _compute_rates(device: str, dtype, seconds: float) -> dict[str, float]:
    """FLOP/s of GEMMs and of 1x1 and 3x3 convolutions at ``dtype`` (``seconds`` each)."""
    import torch
    import torch.nn.functional as F
    sync = _sync_for(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    if device.startswith("cuda"):
        gemms, conv1, conv3 = (8192, 4096), (8, 2048, 32), ((64, 256, 28), (32, 512, 14))
    else:
        gemms, conv1, conv3 = (768, 384), (1, 512, 32), ((1, 256, 28), (1, 256, 14))

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)
    rates = {}
    with torch.no_grad():
        for n in gemms:
            a, b = rand(n, n), rand(n, n)
            rates[f"{n}x{n} GEMM"] = _best_rate(lambda: torch.mm(a, b), 2.0 * n ** 3, sync, seconds / 2)
        batch, c, hw = conv1
        x, w = rand(batch, c, hw, hw), rand(c, c, 1, 1)
        rates["1x1 convolution"] = _best_rate(lambda: F.conv2d(x, w), 2.0 * batch * c * c * hw * hw, sync, seconds)
        for batch, c, hw in conv3:
            x, w = rand(batch, c, hw, hw), rand(c, c, 3, 3)
            rates[f"3x3 convolution at {hw}x{hw}"] = _best_rate(
                lambda: F.conv2d(x, w, padding=1), 2.0 * batch * c * c * 9 * hw * hw, sync, seconds / 2)
    return rates


def _memory_rates(device: str, sizes: list[int], seconds: float) -> dict[int, float]:
    """Per working-set size in bytes: the best bytes/s of a copy (half the set to the
    other half: 2 bytes counted per byte copied), an in-place update (2 bytes per
    byte, as an in-place ReLU), a read (a sum) and a write (a fill), ``seconds`` each."""
    import torch
    sync = _sync_for(device)

    def best_at(size: int) -> float:   # its buffer is freed on return, before the next size's
        n = size // 4
        whole = torch.ones(n, device=device)
        src, dst = whole[: n // 2], whole[n // 2:]
        return max(_best_rate(lambda: dst.copy_(src), float(size), sync, seconds, 5e-4),
                   _best_rate(lambda: whole.mul_(1.0), 2.0 * size, sync, seconds, 5e-4),
                   _best_rate(lambda: whole.sum(), float(size), sync, seconds, 5e-4),
                   _best_rate(lambda: whole.fill_(1.0), float(size), sync, seconds, 5e-4))

    with torch.no_grad():
        return {size: best_at(size) for size in sizes}


def microbenchmark(device: str = "cpu", dtype: str = "float32", fresh: bool = False,
                   seconds: float = 0.25) -> Peaks:
    """The device's peaks from short microbenchmarks in this process, on the threads
    torch uses (see the module docstring): the best rate of each kernel over about
    ``seconds`` (the whole takes about 20 times that; on a CPU with several threads,
    half of it on one thread).  Kept per device, dtype and thread count for the
    process; ``fresh`` runs them again and keeps the best of both (a trial slowed by
    a busy machine is never the best)."""
    import torch
    check_device(device)
    torch_dtype = getattr(torch, dtype)
    info = describe_device(device)
    tf32 = device.startswith("cuda") and dtype == "float32" and _float32_uses_tf32()
    key = (device, dtype, tf32, info["threads"])
    if key in _MEASURED and not fresh:
        return _MEASURED[key]
    cache = info["cache_bytes"]
    if device.startswith("cuda"):   # sizes within L2 that take longer than a kernel launch
        small = [(cache or 40 * MIB) // 8, (cache or 40 * MIB) // 2]
        big = max(1 << 30, 8 * (cache or 0))
    else:
        small = [128 << 10, 512 << 10, 2 * MIB, 8 * MIB]
        big = max(256 * MIB, 8 * (cache or 0))
    threads = torch.get_num_threads()
    alone = ""
    if device == "cpu" and threads > 1:
        # also on one thread: a busy machine stalls a parallel region until its last
        # thread runs, and no core does more alone than with others, so the better of
        # both is still at most the peak
        many = _rates(device, torch_dtype, small, big, seconds / 2)
        one = _one_thread(lambda: _rates(device, torch_dtype, small, big, seconds / 2))
        flops, near, far = _best_of(many, one)
        if max(one[0].values()) > max(many[0].values()):
            alone = (f"; one thread did more than {threads}: the machine is busy, and its parallel regions wait "
                     "for their last thread (OMP_NUM_THREADS=1 gives steadier times)")
    else:
        flops, near, far = _rates(device, torch_dtype, small, big, seconds)
    best_flops, detail = max((v, k) for k, v in flops.items())
    bandwidth = max([*near.values(), *far.values()])
    dram = max(far.values())
    if tf32:
        detail += ", TF32: PyTorch runs float32 convolutions in TF32 by default"
    peaks = Peaks(f"{info['kind']}: {device_label(info)}", dtype, best_flops, bandwidth,
                  dram_bandwidth=dram if cache else None, cache_bytes=cache,
                  source=f"microbenchmark in this process: the best rate over {seconds:g} s each of GEMMs and 1x1 "
                         f"and 3x3 convolutions, and of copies, in-place updates, reads and writes of "
                         f"{_sizes(small)} and {_sizes([big])}"
                         + (f", on {threads} threads and on one" if device == "cpu" and threads > 1 else ""),
                  detail=f"best: {detail}{alone}")
    if key in _MEASURED:   # fresh: the best of both runs
        old = _MEASURED[key]
        peaks = replace(peaks, flops=max(old.flops, peaks.flops), bandwidth=max(old.bandwidth, peaks.bandwidth),
                        dram_bandwidth=None if peaks.dram_bandwidth is None
                        else max(old.dram_bandwidth or 0.0, peaks.dram_bandwidth))
    _MEASURED[key] = peaks
    return peaks


def _rates(device, dtype, small, big, seconds):
    return (_compute_rates(device, dtype, seconds), _memory_rates(device, small, seconds / 4),
            _memory_rates(device, [big], seconds / 2))


def _best_of(a, b):
    return tuple({k: max(x[k], y[k]) for k in x} for x, y in zip(a, b))


def _one_thread(fn):
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def _sizes(sizes: list[int]) -> str:
    return ", ".join(f"{s / MIB:g} MiB" for s in sizes)


def resolve_peaks(device: str = "cpu", dtype: str = "float32", datasheet: str | None = None,
                  peak_flops: float | None = None, peak_bandwidth: float | None = None,
                  fresh: bool = False) -> Peaks:
    """The peaks a report's roofline uses: ``peak_flops``/``peak_bandwidth`` where
    given, else the data sheet of ``datasheet`` (a DATASHEET name), else a
    microbenchmark of ``device``."""
    for name, value in (("peak_flops", peak_flops), ("peak_bandwidth", peak_bandwidth)):
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ProfilerError(f"{name}={value!r}: expected a positive number (per second)")
    if peak_flops is not None and peak_bandwidth is not None:
        base = Peaks("given", dtype, float(peak_flops), float(peak_bandwidth), source="given")
    elif datasheet is not None:
        base = table_peaks(datasheet, dtype)
    else:
        base = microbenchmark(device, dtype, fresh=fresh)
    if peak_flops is None and peak_bandwidth is None:
        return base
    given = []
    if peak_flops is not None:
        base = replace(base, flops=float(peak_flops), detail="given")
        given.append("peak FLOP/s given")
    if peak_bandwidth is not None:
        base = replace(base, bandwidth=float(peak_bandwidth), dram_bandwidth=None, cache_bytes=None)
        given.append("bandwidth given")
    return replace(base, source="; ".join([*given, base.source]) if base.source != "given" else "given")
