"""profiler.report.measured: the views of a measured (or roofline-predicted) report.

A measured report's columns over a grouped view (made again from the per-run
times); its text, Markdown and JSON sections; a report that was not measured shows
no time anywhere; the comparison's time columns; and a roofline prediction from
given peaks, worked by hand, in every view.  The reports are measured by
profiler.measure.timing (tested in tests/measure/test_timing.py).
"""
from __future__ import annotations

import json

import pytest
from torch import nn

import profiler
from profiler.cli import main
from profiler.measure.timing import measure
from profiler.report.json_report import to_dict
from profiler.report.measured import (MEASURED_COLUMNS, PREDICTED_COLUMNS, Measurement, compare_note, compare_row,
                                      finding, kind_fields, layer_fields, markdown_banner, summary_lines)


# --- a grouped view ----------------------------------------------------------------------------

def test_a_grouped_view_sums_the_per_run_times():
    from profiler.report.grouping import view
    from profiler.report.measured import view_columns
    report = profiler.profile("resnet18", input_size=(3, 64, 64))
    measure(report, "resnet18", runs=3)
    grouped, _ = view(report.layers, depth=1)
    columns = view_columns(report, grouped)
    assert columns["time_s"].notna().all()
    # the median of sums is not the sum of medians, but the per-run sums add up exactly
    assert columns["bound_s"].sum() == pytest.approx(report.layers["bound_s"].sum())
    text = report.to_string(layers=grouped)
    assert "measured time and roofline, per layer:" in text


# --- output: text, Markdown, JSON, CLI -----------------------------------------------------

@pytest.fixture(scope="module")
def measured_alexnet():
    report = profiler.profile("alexnet")
    return measure(report, "alexnet", runs=3)


def test_measured_text_markdown_and_json(measured_alexnet):
    report = measured_alexnet
    text = report.to_string()
    assert "machine-specific" in text and "finding in time: linear layers: 8.2% of multiplications" in text
    assert "timing hooks:" in text and "per-layer times sum to" in text
    markdown = report.markdown()
    assert "## Measured time and roofline" in markdown and "**Machine-specific**" in markdown
    document = json.loads(json.dumps(to_dict(report), allow_nan=False))
    assert list(document)[-2:] == ["measurement", "finding_time"]
    assert set(MEASURED_COLUMNS) <= set(document["layers"][0])
    assert {"time_s", "time_%", "regime"} <= set(document["by_kind"][0])
    assert document["measurement"]["peaks"]["flops"] > 0 and document["measurement"]["device"]["kind"] == "cpu"
    assert set(MEASURED_COLUMNS) <= set(report.layers.columns)


def test_unmeasured_report_has_no_time_anywhere():
    report = profiler.profile("alexnet_homework")
    assert report.measurement is None
    assert not set(MEASURED_COLUMNS + PREDICTED_COLUMNS) & set(report.layers.columns)
    assert "measure" not in report.to_string() and "measurement" not in to_dict(report)
    assert list(report.by_kind.columns)[-1] == "intensity"


def test_cli_compare_measure_batches(capsys):
    assert main(["compare", "alexnet", "--measure", "--batch", "1", "--batch", "64"]) == 0
    out = capsys.readouterr().out
    header, _, first, second = out.splitlines()[:4]
    assert "linear_time_%" in header and "linear_regime" in header
    assert first.split()[-1] == "memory"        # batch 1: 0.5 FLOPs per byte
    assert second.split()[-2:-1] == ["31.09"]   # batch 64: linear layers' intensity
    assert "times measured on cpu" in out


def test_compare_measures_a_transformers_model_by_name():
    """compare --measure times what each profile resolved and made (a transformers
    model's token ids), as profile --measure does: its counts are the profile's."""
    from profiler.compare import compare
    config = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=128)
    frame = compare(["hf:llama"], input_sizes=[(16,)], config=config, measure=True, runs=1,
                    peak_flops=1e12, peak_bandwidth=1e11)
    unmeasured = profiler.profile("hf:llama", input_size=(16,), config=config)
    assert frame["macs"].tolist() == [unmeasured.totals["macs"]] and frame["forward_ms"].iloc[0] > 0


def test_compare_shows_where_linear_layers_turn_compute_bound():
    """With given roofs (ridge at 10 FLOPs per byte) the regimes follow from the counts alone."""
    from profiler.compare import compare
    from profiler.report.profiles_table import to_text
    frame = compare(["alexnet"], batches=[1, 8, 64], device="cpu", peak_flops=1e12, peak_bandwidth=1e11)
    assert list(frame["linear_regime"]) == ["memory", "memory", "compute"]
    assert frame["linear_intensity"].is_monotonic_increasing
    assert "linear_bound_%" in to_text(frame)


# --- a prediction from given peaks, worked by hand ---------------------------------------------

@pytest.fixture
def predicted_linear():
    """nn.Linear(64, 32) at batch 4, float32, under roofs of 1 TFLOP/s and 100 GB/s (no cache level)."""
    report = profiler.profile(nn.Linear(64, 32), inputs=((4, 64),))
    return measure(report, peak_flops=1e12, peak_bandwidth=1e11, measure=False)


# 4 x 32 outputs, each 64 mults, 63 adds and a bias add; moves its 64x32+32 parameters,
# its 4x64 inputs and its 4x32 outputs once, 4 bytes each
FLOPS = 4 * 32 * (64 + 63 + 1)
MOVED = 4 * (64 * 32 + 32 + 4 * 64 + 4 * 32)
BOUND = max(FLOPS / 1e12, MOVED / 1e11)       # the memory term: 9.856e-8 s


def test_predicted_fields_of_one_linear_layer(predicted_linear):
    report = predicted_linear
    assert MOVED / 1e11 > FLOPS / 1e12
    assert layer_fields(report) == [{"bound_s": pytest.approx(BOUND), "bound_%": 100.0, "regime": "memory"}]
    row = report.by_kind.set_index("kind").loc["linear"].to_dict()
    assert kind_fields(row, measured=False) == {"bound_s": pytest.approx(BOUND), "bound_%": 100.0,
                                                "regime": "memory"}
    assert compare_row(report) == {"bound_ms": pytest.approx(BOUND * 1e3), "conv_bound_%": 0.0,
                                   "linear_bound_%": 100.0, "linear_intensity": pytest.approx(FLOPS / MOVED),
                                   "linear_regime": "memory"}


def test_predicted_words_say_bound_not_measured(predicted_linear):
    report = predicted_linear
    m = report.measurement
    assert not m.measured and m.peaks.device == "given"
    assert markdown_banner(report).startswith("Times below are roofline bounds on given")
    assert compare_note(report) == ["roofline bounds on given, not measured: lower bounds on time",
                                    *m.peaks.lines()]
    lines = summary_lines(report)
    assert "not measured" in lines[0] and lines[1:-1] == m.peaks.lines()
    assert lines[-1] == f"forward: at least {BOUND * 1e3:.3f} ms (the sum of the per-layer bounds)"
    assert f"memory-bound at {FLOPS / MOVED:.1f} FLOPs per byte" in finding(report)
    assert m.to_dict()["measured"] is False and "runs" not in m.to_dict()


def test_measurement_overhead_is_hooked_less_plain():
    m = Measurement(True, {"kind": "cpu"}, None, 1, forward_s=0.010, hooked_s=0.012)
    assert m.overhead_s == pytest.approx(0.002)


# --- the spread of the shares, a noisy finding, a busy machine ----------------------------------

def _hand_measured(per_run, load_before=0.5, load_after=0.5, cores=2):
    """Linear(8, 8), ReLU, Linear(8, 4) at batch 2 with per-run times set by hand
    (rows: linear, activation, linear)."""
    import numpy as np
    from profiler.measure.roofline import Peaks
    from profiler.report.measured import attach
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    report = profiler.profile(model, inputs=((2, 8),))
    assert list(report.layers["kind"]) == ["linear", "activation", "linear"]
    per_run = np.array(per_run, dtype=float).T * 1e-3          # runs x rows in ms, to rows x runs in s
    forward = float(per_run.sum(axis=0).mean())
    m = Measurement(True, {"kind": "cpu", "name": "a CPU", "threads": 1}, Peaks("given", "float32", 1e12, 1e11,
                    source="given"), 2, runs=per_run.shape[1], warmup=2, forward_s=forward,
                    forward_median_s=forward, forward_iqr_s=0.0, hooked_s=forward, hook_s=1e-6, hook_inside_s=5e-7,
                    calls=4, outside_s=0.0, timer_resolution_s=1e-7, per_run=per_run,
                    nothing_moved=np.zeros(3, dtype=bool), load_before=load_before, load_after=load_after,
                    cores=cores)
    attach(report, m)
    return report


def test_each_kinds_share_has_its_spread_across_runs_and_a_wide_one_is_noisy():
    from profiler.report.measured import NOISY_IQR_POINTS
    # linear layers' share of each run: 4/5, 4/6, 5/6, 4/6
    report = _hand_measured([[3, 1, 1], [3, 2, 1], [4, 1, 1], [2, 2, 2]])
    shares = sorted([80.0, 400 / 6, 500 / 6, 400 / 6])
    q1 = shares[0] + 0.75 * (shares[1] - shares[0])        # numpy's linear interpolation, by hand
    q3 = shares[2] + 0.25 * (shares[3] - shares[2])
    linear = report.by_kind.set_index("kind").loc["linear"]
    assert linear["time_%_q1"] == pytest.approx(q1) and linear["time_%_q3"] == pytest.approx(q3)
    assert q3 - q1 > NOISY_IQR_POINTS and bool(linear["noisy"])
    assert linear["time_%"] == pytest.approx(100 * 17 / 23)   # the share of the means: 17 of 23 ms
    text = report.to_string()
    assert "time_%_iqr" in text and f"{q1:.1f}-{q3:.1f}% noisy" in text
    assert f"(IQR across runs {q1:.1f}-{q3:.1f}%; noisy: wider than 5 points" in report._time_finding()
    fields = kind_fields(report.by_kind.to_dict("records")[0], measured=True)
    assert fields["noisy"] is True and fields["time_%_q3"] == pytest.approx(q3)


def test_a_steady_share_is_not_noisy():
    report = _hand_measured([[2, 1, 2], [4, 2, 4], [3, 1.5, 3], [2.2, 1.1, 2.2]])   # every run 80% linear
    linear = report.by_kind.set_index("kind").loc["linear"]
    assert linear["time_%_q1"] == pytest.approx(80.0) and linear["time_%_q3"] == pytest.approx(80.0)
    assert not linear["noisy"] and "noisy" not in report._time_finding()


def test_a_busy_machine_is_named_in_the_header():
    quiet = _hand_measured([[2, 1, 2]] * 3, load_before=1.5, load_after=1.9, cores=2)
    assert not quiet.measurement.busy
    lines = summary_lines(quiet)
    assert "BUSY" not in lines[0]
    assert "load average 1.50 before the runs and 1.90 after, on 2 cores" in lines
    busy = _hand_measured([[2, 1, 2]] * 3, load_before=1.5, load_after=3.2, cores=2)
    assert busy.measurement.busy and summary_lines(busy)[0].endswith("BUSY MACHINE (see below)")
    assert any(line.startswith("BUSY MACHINE: load average 1.50 before the runs and 3.20 after")
               for line in summary_lines(busy))
    assert busy.measurement.to_dict()["busy"] is True and "on a busy machine" in busy._time_finding()
