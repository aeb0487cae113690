"""The roofline on this process's devices: the peak model (profiler.report.peaks)
joined with what torch says and measures (profiler.measure.microbench).

- ``table_peaks(name, dtype)``: a data sheet's peaks, float32 at TF32 where torch
  lets float32 convolutions or matmuls use it;
- ``resolve_peaks``: the peaks a report's roofline uses (given figures, a data sheet
  or a microbenchmark);
- the names every caller has imported from here, re-exported: ``Peaks``,
  ``DATASHEET``, ``parse_rate``, ``fmt_rate``, ``parse_device``, ``datasheet_name``,
  ``device_label`` (profiler.report.peaks, no torch), ``microbenchmark``,
  ``describe_device``, ``check_device``, ``cpu_name``, ``cpu_cache_bytes``
  (profiler.measure.microbench).
"""
from __future__ import annotations

from dataclasses import replace

from profiler.errors import ProfilerError
from profiler.measure.microbench import (check_device, cpu_cache_bytes, cpu_name, describe_device,
                                         float32_uses_tf32, microbenchmark)
from profiler.report.peaks import (DATASHEET, MIB, Peaks, datasheet_name, datasheet_of_gpu, datasheet_peaks,
                                   device_label, fmt_rate, limit, parse_device, parse_rate)

__all__ = ["DATASHEET", "MIB", "Peaks", "check_device", "cpu_cache_bytes", "cpu_name", "datasheet_name",
           "datasheet_of_gpu", "describe_device", "device_label", "fmt_rate", "limit", "microbenchmark",
           "parse_device", "parse_rate", "resolve_peaks", "table_peaks"]


def table_peaks(name: str, dtype: str) -> Peaks:
    """Data-sheet peaks of DATASHEET[name] at ``dtype`` (float32 at TF32 where PyTorch
    lets float32 convolutions or matmuls use it, as it does for convolutions by default)."""
    return datasheet_peaks(name, dtype, tf32=dtype == "float32" and float32_uses_tf32())


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
