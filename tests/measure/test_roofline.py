"""profiler.measure.roofline: the device peaks (data sheets, given figures, microbenchmarks),
the two-level memory roof and the per-layer bounds a roofline prediction is made of;
parsing and printing rates and device names."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch

import profiler
from profiler.cli import main
from profiler.errors import ProfilerError
from profiler.measure.timing import measure
from profiler.measure.roofline import (DATASHEET, Peaks, check_device, cpu_cache_bytes, cpu_name, datasheet_name,
                                       describe_device, device_label, fmt_rate, microbenchmark, parse_device,
                                       parse_rate, resolve_peaks, table_peaks)

CUDA = torch.cuda.is_available()


def test_given_peaks_give_the_textbook_roofline_without_running_anything():
    report = profiler.profile("alexnet")
    measure(report, "alexnet", peak_flops=1e12, peak_bandwidth=1e11, time=False)
    layers = report.layers
    moved = report.moved_bytes()
    expected = np.maximum(layers["flops"] / 1e12, moved / 1e11)
    assert np.allclose(layers["bound_s"], expected, rtol=1e-12)
    intensity = layers["flops"] / moved
    ridge = 1e12 / 1e11
    assert (layers.loc[intensity > ridge, "regime"] == "compute").all()
    assert (layers.loc[(intensity < ridge) & (moved > 0), "regime"] == "memory").all()
    assert "time_s" not in layers and report.by_kind["bound_%"].sum() == pytest.approx(100.0)
    text = report.to_string()
    assert "not measured" in text and "lower bound" in text


def test_datasheet_devices_and_their_figures():
    assert {"A100", "H100", "H200"} <= set(DATASHEET)
    for name, sheet in DATASHEET.items():
        assert sheet["source"].startswith("NVIDIA") and sheet["bandwidth"] > 1e12
        assert sheet["bf16"] == sheet["fp16"] >= sheet["tf32"] > sheet["fp32"]
    assert table_peaks("H100", "bfloat16").flops == 989.5e12
    assert table_peaks("H200", "float16").bandwidth == 4.8e12
    assert parse_device("h100") == ("cuda", "H100") and parse_device("cpu") == ("cpu", None)
    assert parse_rate("67T") == 67e12 and parse_rate("3.35e12") == 3.35e12
    report = profiler.profile("alexnet")
    measure(report, "alexnet", device="H100", time=False)   # no GPU needed to predict
    assert report.measurement.peaks.source == "NVIDIA H100 Tensor Core GPU data sheet"
    assert "H100" in report._time_finding()


def test_two_level_memory_roof_is_a_lower_bound_for_cache_sized_and_dram_sized_layers():
    peaks = Peaks("test", "float32", 1e11, bandwidth=1e11, dram_bandwidth=1e10, cache_bytes=32 << 20)
    assert peaks.memory_time(1 << 20) == pytest.approx((1 << 20) / 1e11)       # fits the cache
    big = 200 << 20
    written = 1 << 20   # a linear layer: reads its weights, writes a little
    assert peaks.memory_time(big, written) == pytest.approx((big - written - (32 << 20)) / 1e10)
    assert peaks.bound(0, 0) == (0.0, "")


def test_cli_device_without_measure_predicts(capsys):
    assert main(["profile", "alexnet", "--device", "H200"]) == 0
    out = capsys.readouterr().out
    assert "roofline on NVIDIA H200 SXM (data sheet)" in out and "lower bound" in out


# --- Peaks ---------------------------------------------------------------------------------

def test_ridge_and_regime_follow_from_the_two_roofs():
    peaks = Peaks("test", "float32", flops=1e12, bandwidth=1e11)
    assert peaks.ridge == 10.0 and peaks.dram_ridge is None
    assert peaks.bound(2e12, 1e11) == (2.0, "compute")         # 20 FLOPs per byte: above the ridge
    assert peaks.bound(1e12, 1e12) == (10.0, "memory")         # 1 FLOP per byte: below it
    assert peaks.bound(1e12, 1e11) == (1.0, "compute")         # on the ridge: the FLOP term, as large
    assert peaks.memory_time(5e11, written=1e11) == 5.0        # one level: every byte at the bandwidth


def test_unknown_written_bytes_count_at_most_half_past_the_cache():
    c = 32 << 20
    peaks = Peaks("test", "float32", 1e11, bandwidth=1e11, dram_bandwidth=1e10, cache_bytes=c)
    big = 1 << 30
    assert peaks.memory_time(big) == pytest.approx((big - 2 * c) / 1e10)
    assert peaks.memory_time(2 * c) == pytest.approx(2 * c / 1e11)   # all of it may sit in the cache
    assert peaks.dram_ridge == 10.0


def test_peaks_in_words_and_as_a_dict():
    one = Peaks("dev", "float16", 2e12, 5e11, source="a sheet", detail="tensor cores")
    assert one.lines() == ["peak 2 TFLOP/s at float16 (tensor cores)",
                           "memory 500 GB/s; ridge point 4.00 FLOPs per byte", "source: a sheet"]
    two = Peaks("dev", "float32", 1e12, 4e11, dram_bandwidth=1e11, cache_bytes=32 << 20, source="bench")
    assert two.lines()[1] == ("memory 400 GB/s within the 32 MiB last-level cache, 100 GB/s beyond it; "
                              "ridge points 2.50 and 10.00 FLOPs per byte")
    d = two.to_dict()
    assert d["ridge"] == 2.5 and d["dram_ridge"] == 10.0
    assert Peaks(**{k: v for k, v in d.items() if k not in ("ridge", "dram_ridge")}) == two


# --- rates and device names ------------------------------------------------------------------

def test_parse_rate_takes_prefixes_and_units():
    assert parse_rate("900G") == 900e9
    assert parse_rate("1.5 TFLOP/s") == 1.5e12
    assert parse_rate("2.5e11B/s") == 2.5e11
    assert parse_rate(" 3k ") == 3e3
    for bad in ("abc", "-1T", "0", "inf", ""):
        with pytest.raises(ProfilerError, match="malformed rate"):
            parse_rate(bad)


def test_fmt_rate_picks_the_prefix_with_three_digits():
    assert fmt_rate(1.234e11, "FLOP/s") == "123 GFLOP/s"
    assert fmt_rate(4.8e12, "B/s") == "4.8 TB/s"
    assert fmt_rate(1e15, "FLOP/s") == "1 PFLOP/s"
    assert fmt_rate(2500, "B/s") == "2.5 kB/s"
    assert fmt_rate(999, "B/s") == "999 B/s"


def test_datasheet_names_are_read_loosely():
    assert datasheet_name("h100") == "H100"
    assert datasheet_name("NVIDIA H100 SXM") == "H100"
    assert datasheet_name("h200 sxm5") == "H200"
    assert datasheet_name("a100_pcie") == "A100-PCIE"
    assert datasheet_name(" H200 NVL ") == "H200-NVL"
    assert datasheet_name("tpu9") is None and datasheet_name("rtx4090") is None


def test_parse_device_runs_data_sheets_on_cuda():
    assert parse_device("CPU") == ("cpu", None)
    assert parse_device("gpu") == ("cuda", None)
    assert parse_device("cuda:1") == ("cuda:1", None)
    assert parse_device("a100-40gb") == ("cuda", "A100-40GB")
    for bad in ("tpu9", "cuda:x", "mps"):
        with pytest.raises(ProfilerError, match="expected cpu, cuda, cuda:N"):
            parse_device(bad)


def test_check_device_accepts_only_what_this_process_has():
    check_device("cpu")
    with pytest.raises(ProfilerError, match="expected cpu, cuda or cuda:N"):
        check_device("mps")
    if not CUDA:
        with pytest.raises(ProfilerError, match="no CUDA device"):
            check_device("cuda")
    else:
        with pytest.raises(ProfilerError, match="CUDA devices"):
            check_device(f"cuda:{torch.cuda.device_count()}")


@contextmanager
def tf32(cudnn: bool, matmul: bool):
    """The two TF32 switches set for a block and put back after it.  Not monkeypatch:
    torch.backends.cuda.matmul keeps allow_tf32 as a property outside the instance's
    __dict__, and pytest >= 9.2 undoes a setattr it did not find there with delattr."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = cudnn, matmul
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_table_peaks_per_dtype_and_tf32_for_float32():
    assert table_peaks("A100", "float64").flops == 19.5e12
    assert table_peaks("H100-PCIE", "bfloat16").flops == 756.5e12
    with pytest.raises(ProfilerError, match="no data-sheet peak for dtype int8"):
        table_peaks("H100", "int8")
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with tf32(False, False):
        plain = table_peaks("H100", "float32")
    assert plain.flops == 67e12 and plain.detail == "FP32 CUDA cores"
    with tf32(True, False):
        tf = table_peaks("H100", "float32")
    assert tf.flops == 494.5e12 and tf.detail.startswith("TF32")
    assert tf.bandwidth == 3.35e12 and tf.device == "NVIDIA H100 SXM (data sheet)"
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


# --- this machine -----------------------------------------------------------------------------

def test_this_cpu_described():
    name, cache = cpu_name(), cpu_cache_bytes()
    assert isinstance(name, str) and name.strip()
    assert cache is None or (cache > 0 and cache % 1024 == 0)
    info = describe_device("cpu")
    assert info["kind"] == "cpu" and info["name"] == name and info["cache_bytes"] == cache
    assert info["threads"] == torch.get_num_threads() and info["torch"] == torch.__version__
    assert info["cuda"] is None and info["index"] is None


def test_device_label():
    assert device_label({"kind": "cpu", "name": "Some CPU", "threads": 1}) == "Some CPU, 1 thread"
    assert device_label({"kind": "cpu", "name": "Some CPU", "threads": 8}) == "Some CPU, 8 threads"
    assert device_label({"kind": "cuda", "name": "NVIDIA H200", "index": 0}) == "NVIDIA H200 (cuda:0)"


def test_resolve_peaks_given_figures_override_the_data_sheet():
    given = resolve_peaks(peak_flops=1e12, peak_bandwidth=1e11)
    assert (given.device, given.flops, given.bandwidth, given.source) == ("given", 1e12, 1e11, "given")
    sheet = resolve_peaks("cuda", "bfloat16", datasheet="H200")
    assert sheet == table_peaks("H200", "bfloat16")
    flops_only = resolve_peaks("cuda", "bfloat16", datasheet="H200", peak_flops=5e14)
    assert flops_only.flops == 5e14 and flops_only.bandwidth == 4.8e12
    assert flops_only.source == "peak FLOP/s given; NVIDIA H200 Tensor Core GPU data sheet"
    for bad in (0, -1.0, "1T"):
        with pytest.raises(ProfilerError, match="expected a positive number"):
            resolve_peaks(peak_flops=bad, peak_bandwidth=1e11)


def test_microbenchmark_peaks_are_positive_kept_and_only_improved_by_a_fresh_run():
    peaks = microbenchmark("cpu", "float32", seconds=0.01)
    assert peaks.flops > 0 and peaks.bandwidth > 0 and peaks.dtype == "float32"
    assert peaks.device.startswith("cpu: ") and "microbenchmark" in peaks.source
    if peaks.cache_bytes is not None:
        assert 0 < peaks.dram_bandwidth <= peaks.bandwidth
    assert microbenchmark("cpu", "float32", seconds=0.01) is peaks      # kept for the process
    again = microbenchmark("cpu", "float32", fresh=True, seconds=0.01)
    assert again.flops >= peaks.flops and again.bandwidth >= peaks.bandwidth
    assert resolve_peaks("cpu", "float32") is again
