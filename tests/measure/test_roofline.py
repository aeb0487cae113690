"""profiler.measure.roofline: the peaks a roofline uses (data sheets with torch's TF32
setting, given figures, microbenchmarks) and a prediction from them; the names it
re-exports.  The peak model itself is tested in tests/report/test_peaks.py, the
microbenchmarks in tests/measure/test_microbench.py."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch

import profiler
from profiler.cli import main
from profiler.errors import ProfilerError
from profiler.measure.timing import measure
from profiler.measure.roofline import DATASHEET, parse_device, parse_rate, resolve_peaks, table_peaks

CUDA = torch.cuda.is_available()


def test_given_peaks_give_the_textbook_roofline_without_running_anything():
    report = profiler.profile("alexnet")
    measure(report, "alexnet", peak_flops=1e12, peak_bandwidth=1e11, measure=False)
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


def test_time_is_the_deprecated_name_of_measure():
    """measure(time=) was renamed measure=, the word profile() and compare() take: the
    old name still predicts (with a DeprecationWarning) for one release; both refused."""
    predicted = measure(profiler.profile("alexnet"), "alexnet", peak_flops=1e12, peak_bandwidth=1e11,
                        measure=False)
    with pytest.warns(DeprecationWarning, match=r"measure\(time=\) is deprecated: use measure="):
        old = measure(profiler.profile("alexnet"), "alexnet", peak_flops=1e12, peak_bandwidth=1e11, time=False)
    assert not old.measurement.measured
    assert old.layers["bound_s"].tolist() == predicted.layers["bound_s"].tolist()
    with pytest.raises(ProfilerError, match="not both"):
        measure(profiler.profile("alexnet"), "alexnet", measure=False, time=False)


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
    measure(report, "alexnet", device="H100", measure=False)   # no GPU needed to predict
    assert report.measurement.peaks.source == "NVIDIA H100 Tensor Core GPU data sheet"
    assert "H100" in report._time_finding()


def test_cli_device_without_measure_predicts(capsys):
    assert main(["profile", "alexnet", "--device", "H200"]) == 0
    out = capsys.readouterr().out
    assert "roofline on NVIDIA H200 SXM (data sheet)" in out and "lower bound" in out


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



def test_names_imported_from_here_stay_importable():
    from profiler.measure import roofline
    from profiler.measure.microbench import microbenchmark
    from profiler.report import peaks
    assert roofline.Peaks is peaks.Peaks and roofline.DATASHEET is peaks.DATASHEET
    assert roofline.microbenchmark is microbenchmark and roofline.limit is peaks.limit
    assert all(hasattr(roofline, name) for name in roofline.__all__)
