"""profiler.report.peaks: the torch-free peak model: Peaks, the two-level memory roof,
the roofline rule (``limit``, the one place the bound and the regime are decided),
the data sheets, and parsing and printing rates and device names."""
from __future__ import annotations

import subprocess
import sys

import pytest

from profiler.errors import ProfilerError
from profiler.report.peaks import (DATASHEET, Peaks, datasheet_name, datasheet_of_gpu, datasheet_peaks, device_label,
                                   fmt_rate, limit, parse_device, parse_rate)


def test_the_peak_model_imports_no_torch():
    code = "import sys, profiler.report.peaks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_limit_is_the_larger_term_and_names_it():
    assert limit(2.0, 1.0) == (2.0, "compute")
    assert limit(1.0, 3.0) == (3.0, "memory")
    assert limit(1.0, 1.0) == (1.0, "compute")     # a tie: the FLOP term
    assert limit(0.0, 0.0) == (0.0, "")            # no work
    assert limit(0.0, 1e-9) == (1e-9, "memory")


def test_peaks_bound_is_limit_of_its_two_terms():
    peaks = Peaks("test", "float32", 1e11, bandwidth=1e11, dram_bandwidth=1e10, cache_bytes=32 << 20)
    for flops, moved, written in ((1e9, 1e6, 5e5), (1e6, 1e9, 1e6), (0, 0, 0), (5e8, 4e8, None)):
        terms = peaks.terms(flops, moved, written)
        assert terms == (flops / 1e11, peaks.memory_time(moved, written))
        assert peaks.bound(flops, moved, written) == limit(*terms)


def test_datasheet_peaks_take_tf32_as_an_argument():
    assert datasheet_peaks("H100", "float32").flops == 67e12
    tf = datasheet_peaks("H100", "float32", tf32=True)
    assert tf.flops == 494.5e12 and tf.detail.startswith("TF32")
    assert datasheet_peaks("H100", "bfloat16", tf32=True).flops == 989.5e12   # TF32 is for float32 only
    with pytest.raises(ProfilerError, match="no data-sheet peak for dtype int8"):
        datasheet_peaks("A100", "int8")


def test_gpus_as_cuda_names_them_find_their_data_sheet():
    assert datasheet_of_gpu("NVIDIA H100 80GB HBM3") == "H100"
    assert datasheet_of_gpu("NVIDIA H100 PCIe") == "H100-PCIE"
    assert datasheet_of_gpu("NVIDIA H100 NVL") == "H100-NVL"
    assert datasheet_of_gpu("NVIDIA H200") == "H200"
    assert datasheet_of_gpu("NVIDIA A100-SXM4-80GB") == "A100"
    assert datasheet_of_gpu("NVIDIA A100-SXM4-40GB") == "A100-40GB"
    assert datasheet_of_gpu("NVIDIA GeForce RTX 4090") is None


def test_datasheet_table_is_complete():
    for sheet in DATASHEET.values():
        assert sheet["source"].startswith("NVIDIA") and sheet["bandwidth"] > 1e12
        assert sheet["bf16"] == sheet["fp16"] >= sheet["tf32"] > sheet["fp32"]


def test_two_level_memory_roof_is_a_lower_bound_for_cache_sized_and_dram_sized_layers():
    peaks = Peaks("test", "float32", 1e11, bandwidth=1e11, dram_bandwidth=1e10, cache_bytes=32 << 20)
    assert peaks.memory_time(1 << 20) == pytest.approx((1 << 20) / 1e11)       # fits the cache
    big = 200 << 20
    written = 1 << 20   # a linear layer: reads its weights, writes a little
    assert peaks.memory_time(big, written) == pytest.approx((big - written - (32 << 20)) / 1e10)
    assert peaks.bound(0, 0) == (0.0, "")


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


def test_device_label():
    assert device_label({"kind": "cpu", "name": "Some CPU", "threads": 1}) == "Some CPU, 1 thread"
    assert device_label({"kind": "cpu", "name": "Some CPU", "threads": 8}) == "Some CPU, 8 threads"
    assert device_label({"kind": "cuda", "name": "NVIDIA H200", "index": 0}) == "NVIDIA H200 (cuda:0)"


def test_the_report_stage_imports_nothing_from_measure():
    """The stage order (report below measure): the peak model sits in the report
    stage, so the report's views import it from here, not from profiler.measure."""
    import ast
    from pathlib import Path

    import profiler.report
    found = []
    for path in Path(profiler.report.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.name}: {n}" for n in names if n.startswith("profiler.measure")]
    assert not found, found
