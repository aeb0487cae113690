"""The roofline: a device's peak FLOP/s and memory bandwidth, and per-layer bounds (no torch).

A layer that does F FLOPs and moves B bytes (``Report.moved_bytes``: parameters,
inputs and outputs once each) cannot take less than

    bound = max(F / peak FLOP/s, memory time of B)

on a device, whatever its kernels do.  The bound is a lower bound only if the peaks
are true peaks: the most the device does, by any kernel the model may run, at any
data size.  So the peaks come from the best of many short microbenchmark trials
(profiler.measure.microbench; a noisy, shared machine slows trials down, never
speeds them up), over several kernels:

- FLOP/s at the model's dtype: a large GEMM and large 1x1 and 3x3 convolutions
  (on CPU, oneDNN's convolutions can beat the BLAS GEMM; on CUDA, cuDNN runs
  float32 convolutions in TF32 by default, so float32 gets TF32's peak there).
- bandwidth: copies (2 bytes counted per byte copied), reads (a sum) and writes (a
  fill), from sizes that stay in cache to sizes many times the last-level cache.

A cache-resident layer moves its bytes at cache speed, far above DRAM's, so the
memory roof has two levels.  ``bandwidth`` is the best rate seen at any size;
``dram_bandwidth`` the best rate at sizes beyond the last-level cache of
``cache_bytes`` (C); a set too small to leave the cache entirely only raises that
rate, which keeps the bound a lower bound.  A layer that reads R bytes and writes W (B = R + W) finds at
most C of what it reads in the cache (what was there when it started) and leaves at
most C of what it writes there when it ends, so at least (R - C)⁺ + (W - C)⁺ bytes
cross to DRAM:

    memory time = max(B / bandwidth, ((R - C)⁺ + (W - C)⁺) / dram_bandwidth)

A layer is compute-bound when its FLOP term is the larger, memory-bound otherwise:
its arithmetic intensity (FLOPs per byte) is above or below its ridge point.

Data-sheet peaks (``DATASHEET``) have one bandwidth (HBM) and no cache level.

The rule that turns the two terms into a bound and a regime is ``limit``, the one
place it is written: ``Peaks.bound`` and every view of a measured report
(profiler.report.measured) call it.  This module imports no torch, so that a report
can be read, rendered and compared without it; the peaks measured on this machine
come from profiler.measure.microbench, and profiler.measure.roofline joins the two.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

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
# Memory capacity per device, as its data sheet prints it (GB), read as 10^9 bytes: below
# the device's physical memory (binary, 2^30-byte GiB), which leaves room for the CUDA
# context and the caching allocator's reserve, so that "fits" errs on the safe side.
#   A100: 80GB HBM2e (SXM and PCIe), 40GB HBM2; H100: SXM 80GB, PCIe 80GB, NVL 94GB;
#   H200: SXM and NVL 141GB (the data sheets above); L4: 24GB ("NVIDIA L4 Tensor Core GPU"
#   data sheet); L40S: 48GB ("NVIDIA L40S" data sheet); A10: 24GB ("NVIDIA A10 Tensor Core
#   GPU" data sheet); T4: 16GB ("NVIDIA T4" data sheet); V100: 32GB and 16GB ("NVIDIA
#   Tesla V100" data sheet); GeForce RTX 4090: 24GB, RTX 3090: 24GB, RTX 5090: 32GB (NVIDIA's
#   GeForce specifications pages)
CAPACITY = {"A100": 80, "A100-PCIE": 80, "A100-40GB": 40, "H100": 80, "H100-PCIE": 80, "H100-NVL": 94,
            "H200": 141, "H200-NVL": 141, "L4": 24, "L40S": 48, "A10": 24, "T4": 16, "V100": 32,
            "V100-16GB": 16, "RTX-4090": 24, "RTX-3090": 24, "RTX-5090": 32}
GB = 10 ** 9
_DTYPE_KEYS = {"float64": "fp64", "float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
MIB = 1 << 20




def limit(compute: float, memory: float) -> tuple[float, str]:
    """The roofline rule: (bound, regime) from a FLOP term and a memory term, in
    seconds.  The bound is the larger term (the device does both at once at best);
    the regime names it, "compute" on a tie; (0, "") where there is no work."""
    if compute == 0 and memory == 0:
        return 0.0, ""
    return max(compute, memory), "compute" if compute >= memory else "memory"


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
        return limit(*self.terms(flops, moved, written))

    def terms(self, flops: float, moved: float, written: float | None = None) -> tuple[float, float]:
        """(the FLOP term, the memory term), in seconds: the two sides of ``limit``."""
        return flops / self.flops, self.memory_time(moved, written)

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



# --- device names ------------------------------------------------------------------------

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


def datasheet_peaks(name: str, dtype: str, tf32: bool = False) -> Peaks:
    """Data-sheet peaks of DATASHEET[name] at ``dtype``; ``tf32``: float32 runs in
    TF32 (PyTorch's default for float32 convolutions on CUDA), so float32 gets TF32's
    peak.  profiler.measure.roofline.table_peaks reads that setting from torch."""
    sheet = DATASHEET[name]
    key = _DTYPE_KEYS.get(dtype)
    if key is None:
        raise ProfilerError(f"no data-sheet peak for dtype {dtype}: the table has "
                            f"{', '.join(_DTYPE_KEYS)}")
    detail = {"fp64": "FP64 tensor cores", "fp32": "FP32 CUDA cores", "bf16": "BF16 tensor cores, dense",
              "fp16": "FP16 tensor cores, dense"}[key]
    if key == "fp32" and tf32:
        key, detail = "tf32", "TF32 tensor cores, dense: PyTorch runs float32 convolutions in TF32 by default"
    return Peaks(f"{sheet['name']} (data sheet)", dtype, sheet[key], sheet["bandwidth"], source=sheet["source"],
                 detail=detail)


def datasheet_of_gpu(gpu_name: str) -> str | None:
    """The DATASHEET key of a GPU as CUDA names it ("NVIDIA H100 80GB HBM3": H100,
    "NVIDIA H100 PCIe": H100-PCIE, "NVIDIA A100-SXM4-40GB": A100-40GB), else None.
    The SXM part is the default where the name says neither PCIe nor NVL."""
    text = gpu_name.upper().replace("_", "-")
    for model in ("H200", "H100", "A100"):
        if model in text:
            if "PCIE" in text:
                key = f"{model}-PCIE"
            elif "NVL" in text:
                key = f"{model}-NVL"
            elif model == "A100" and "40GB" in text:
                key = "A100-40GB"
            else:
                key = model
            return key if key in DATASHEET else None
    return None


def device_label(info: dict) -> str:
    if info["kind"] == "cuda":
        return f"{info['name']} (cuda:{info['index']})"
    return f"{info['name']}, {info['threads']} thread{'s' if info['threads'] != 1 else ''}"




# --- memory capacity ---------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": GB, "TB": 10 ** 12,
               "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def capacity_name(text: str) -> str | None:
    """The CAPACITY key ``text`` names ("h100", "NVIDIA H100 SXM", "rtx4090", "GeForce RTX 4090"), else None."""
    key = text.strip().upper().replace("_", "-").replace(" ", "-")
    for prefix in ("NVIDIA-", "GEFORCE-"):
        key = key.removeprefix(prefix)
    key = key.removesuffix("-SXM").removesuffix("-SXM5").removesuffix("-SXM4")
    if key.startswith("RTX") and not key.startswith("RTX-"):
        key = "RTX-" + key[3:]
    return key if key in CAPACITY else None


def parse_capacity(text: str) -> tuple[int, str]:
    """A memory size or a device: (bytes, its label).  '80GB' (10^9 bytes a GB),
    '24GiB' (2^30), '80e9' (bytes), or a device of ``CAPACITY`` ('H100': its data
    sheet's 80 GB)."""
    name = capacity_name(str(text))
    if name is not None:
        return CAPACITY[name] * GB, f"{name} ({CAPACITY[name]} GB)"
    body = str(text).strip().upper().replace(" ", "")
    number = body.rstrip("KMGTIB")
    unit = body[len(number):]
    try:
        value = float(number) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        value = None
    if value is None or not 0 < value < float("inf"):
        raise ProfilerError(f"fits={text!r}: expected a memory size such as 80GB, 24GiB or 8e10 (bytes), or a "
                            f"device: {', '.join(CAPACITY)}")
    if unit in ("", "B"):
        return int(value), fmt_bytes(int(value))
    units = {"KIB": "KiB", "MIB": "MiB", "GIB": "GiB", "TIB": "TiB", "KB": "kB"}
    return int(value), f"{number} {units.get(unit, unit)}"


def fmt_bytes(n: float) -> str:
    """Bytes in decimal units: 21_300_000_000 → '21.3 GB', 512 → '512 B'."""
    for size, unit in ((10 ** 12, "TB"), (GB, "GB"), (10 ** 6, "MB"), (10 ** 3, "kB")):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g} B"
