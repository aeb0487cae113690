"""profiler.measure.timing: measured time beside counted work.

The acceptance tests time alexnet, resnet50 and vit_b_16 for real and check that
(a) the per-layer times sum to within 15% of the whole forward timed without hooks,
(b) no row's measured time is below its roofline bound by more than the timer's
resolution, and (c) every row keeps the profiler's exact counts.  This machine is
shared and noisy: the figures are medians, a failed check measures once more, the
inputs are small where the model allows (resnet50 at 128x128; ViT-B/16 takes only
224x224), and the CPU tests run torch on one thread, where a busy machine slows each
op in proportion instead of stalling a parallel region until its last thread is
scheduled.  The same tests run on CUDA when a GPU is present, at batch sizes where
the GPU's work, not the launches, takes the time (per-layer timing synchronises
after every layer, so launches no longer overlap the work before them).

Also: rows matched to calls, self times and the hooks' cost on small models; the
CLI's errors; the hooks' calibration and the timer's resolution; what measure()
refuses.  The views of a measured report (its columns, text, Markdown, JSON and
comparison) are tested in tests/report/test_measured.py.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch
from torch import nn

import profiler
from profiler.cli import main
from profiler.errors import ProfilerError
from profiler.measure.timing import hook_cost, measure, timer_resolution

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA device"))]
# model, input, batch, timed runs: per device
CASES = {
    "cpu": {"alexnet": ((3, 227, 227), 1, 15), "resnet50": ((3, 128, 128), 1, 15), "vit_b_16": ((3, 224, 224), 1, 5)},
    "cuda": {"alexnet": ((3, 227, 227), 256, 10), "resnet50": ((3, 224, 224), 128, 10),
             "vit_b_16": ((3, 224, 224), 64, 10)},
}
FIGURES = os.environ.get("PROFILER_MEASURE_FIGURES")   # a file to append each case's figures to


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _problems(report) -> list[str]:
    """What breaks (a) or (b) in a measured report."""
    m, layers = report.measurement, report.layers
    problems = []
    total = float(layers["time_s"].sum())
    if abs(total - m.forward_s) > 0.15 * m.forward_s:
        problems.append(f"per-layer times sum to {total * 1e3:.3f} ms, the forward took {m.forward_s * 1e3:.3f} ms")
    for column in ("time_s", "time_median_s"):   # the mean and the median
        low = layers[layers[column] < layers["bound_s"] - m.timer_resolution_s]
        problems += [f"{r.name}: {getattr(r, column) * 1e6:.2f} us measured ({column}), bound {r.bound_s * 1e6:.2f} us"
                     for r in low.itertuples()]
    return problems


def _measured(name: str, device: str):
    size, batch, runs = CASES[device][name]
    for attempt in range(2):           # a busy machine may spoil one measurement: measure once more
        report = profiler.profile(name, input_size=size, batch=batch)
        measure(report, name, device=device, runs=runs)
        problems = _problems(report)
        if not problems:
            break
    return report, problems, attempt


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["alexnet", "resnet50", "vit_b_16"])
def test_measured_layers_sum_to_the_forward_and_respect_the_roofline(name, device, one_thread):
    report, problems, attempt = _measured(name, device)
    m, layers = report.measurement, report.layers
    total = float(layers["time_s"].sum())
    efficiency = float((layers["bound_s"] / layers[["time_s", "time_median_s"]].min(axis=1))
                       .replace([np.inf], np.nan).max())
    line = (f"{device} {name}: per-layer sum {total * 1e3:.3f} ms / forward {m.forward_s * 1e3:.3f} ms = "
            f"{total / m.forward_s:.3f}; largest bound/measured {efficiency:.3f}; hooks "
            f"{m.hook_s * 1e6:.2f} us x {m.calls} calls; {m.runs} runs; attempt {attempt + 1}; {m.peaks.lines()[0]}")
    print(line)
    if FIGURES:
        with open(FIGURES, "a") as f:
            f.write(line + "\n")
    assert not problems, problems
    # (c) the exact counts, row for row, and a time for every row that ran
    fresh = profiler.profile(name, input_size=CASES[device][name][0], batch=CASES[device][name][1]).layers
    assert list(layers["name"]) == list(fresh["name"])
    for column in ("flops", "mults", "adds", "other", "macs", "params", "act_bytes", "in_bytes"):
        assert layers[column].tolist() == fresh[column].tolist(), column
    ran = layers["status"] != "not called"
    assert layers.loc[ran, "time_s"].notna().all()
    assert m.forward_s > 0 and m.runs == CASES[device][name][2]
    # shares by kind: of the per-layer times, next to the shares of FLOPs
    kinds = report.by_kind
    assert kinds["time_%"].sum() == pytest.approx(100.0)
    assert kinds["time_s"].sum() == pytest.approx(total)


# --- matching, self times and the hooks' cost, on small models ------------------------------

class Twice(nn.Module):
    """A container with an op of its own (the residual add) and a child called twice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.act = nn.ReLU()
        self.inner = nn.Sequential(nn.Linear(64, 64), nn.Identity())

    def forward(self, x):
        y = self.act(self.fc(x))
        y = self.act(self.fc(y)) + x
        return self.inner(y)


def test_rows_match_calls_in_order_and_containers_keep_their_own_time():
    report = profiler.profile(Twice(), inputs=((8, 64),))
    measure(report, Twice(), inputs=((8, 64),), runs=5)
    layers = report.layers
    assert list(layers["name"]) == ["(model)", "fc", "act", "fc", "act", "inner.0", "inner.1"]
    assert layers["time_s"].notna().all() and (layers["time_s"] >= 0).all()
    assert layers.loc[0, "status"] == "functional" and layers.loc[0, "time_s"] > 0   # the add
    # the identity computes nothing and returns its input: it moves nothing either
    assert layers.loc[6, "bound_s"] == 0.0 and layers.loc[6, "regime"] == ""
    m = report.measurement
    assert m.calls == 8   # the model, fc, act twice each, inner and its two children
    assert m.hook_s > 0 and 0 <= m.hook_inside_s <= m.hook_s
    assert m.per_run.shape == (7, 5)


def test_meta_model_gets_seeded_random_weights_and_the_callers_model_is_untouched():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(32, 16), nn.ReLU())
    report = measure(profiler.profile(model, input_size=(32,)), model, input_size=(32,), runs=3)
    assert report.measurement.measured and report.layers["time_s"].notna().all()
    assert all(p.is_meta for p in model.parameters())
    assert any("seeded" in n for n in report.measurement.notes)


# --- the CLI's errors ----------------------------------------------------------------------

def test_cli_errors_are_one_line(capsys):
    assert main(["profile", "alexnet", "--runs", "3"]) == 2
    assert "--runs goes with --measure" in capsys.readouterr().err
    assert main(["profile", "alexnet", "--device", "tpu9"]) == 2
    assert "--device 'tpu9'" in capsys.readouterr().err
    if not CUDA:
        assert main(["profile", "alexnet", "--measure", "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


# --- the clock and the hooks' calibration ----------------------------------------------------

def test_timer_resolution_is_a_real_step_of_the_clock():
    resolution = timer_resolution()
    assert resolution >= time.get_clock_info("perf_counter").resolution
    assert 0 < resolution < 1e-3          # perf_counter steps in well under a millisecond


def test_hook_cost_is_small_positive_and_kept_for_the_process():
    per_call, inside = hook_cost("cpu")
    assert 0.0 <= inside <= per_call < 1e-3
    assert hook_cost("cpu") == (per_call, inside)


def test_measure_refuses_what_it_cannot_time():
    with pytest.raises(ProfilerError, match="takes the report of a profile"):
        measure("alexnet")
    report = profiler.profile(nn.Linear(4, 2), inputs=((1, 4),))
    with pytest.raises(ProfilerError, match="runs=0"):
        measure(report, nn.Linear(4, 2), inputs=((1, 4),), runs=0)
    training = profiler.profile(nn.Linear(4, 2), inputs=((1, 4),), training=True)
    with pytest.raises(ProfilerError, match="without training"):
        measure(training, nn.Linear(4, 2), inputs=((1, 4),))


# --- the time budget, the peaks between the runs, the machine's load ------------------------

def test_more_runs_until_the_budget_is_spent_at_least_ten():
    from profiler.measure.timing import MAX_RUNS, MIN_RUNS, _more_runs
    assert MIN_RUNS == 10
    assert _more_runs(9, None, 100.0, 3.0)            # fewer than ten: on, whatever the time
    assert not _more_runs(10, None, 3.0, 3.0)         # ten, and the budget spent
    assert _more_runs(10, None, 1.0, 3.0)             # budget left
    assert not _more_runs(MAX_RUNS, None, 0.0, 3.0)
    assert _more_runs(2, 3, 100.0, 3.0) and not _more_runs(3, 3, 0.0, 3.0)   # runs= says how many


def test_default_runs_fill_the_budget_and_peaks_are_measured_between_them():
    from profiler.measure.timing import MAX_RUNS
    model = nn.Sequential(nn.Linear(512, 512), nn.ReLU())
    report = profiler.profile(model, inputs=((64, 512),))
    measure(report, model, inputs=((64, 512),), seconds=0.3)
    m = report.measurement
    # a forward of about a millisecond: many more than ten pairs fit in 0.3 s, and
    # the runs stop once their pairs have taken it
    assert 10 < m.runs < MAX_RUNS and m.per_run.shape == (2, m.runs)
    spent = m.runs * (m.forward_s + m.hooked_s)
    assert 0.3 <= spent < 0.3 + 2 * (m.forward_s + m.hooked_s) + 0.05
    # the peaks measured between the runs, unless a row beat their bound (a busier
    # moment for the microbenchmark than for the runs): then the best of all its runs
    assert ("between the model's timed runs" in m.peaks.source
            or any("the microbenchmark ran again on its own" in n for n in m.notes))
    assert m.cores >= 1 and m.load_before is not None and m.load_after is not None
    assert m.busy == (max(m.load_before, m.load_after) > m.cores)


# --- an independent check: torch.profiler's attribution --------------------------------------

class Ranged(nn.Module):
    """Four Linears of different sizes, each called inside a torch.profiler
    record_function range of its own: the profiler's attribution, independent of the
    hooks measure() puts on the modules."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(512, 2048), nn.Linear(2048, 1024)
        self.c, self.d = nn.Linear(1024, 1024), nn.Linear(1024, 256)

    def forward(self, x):
        for name in "abcd":
            with torch.profiler.record_function(f"range.{name}"):
                x = getattr(self, name)(x)
        return x


def _hooked_spans(prof, runs: int, attribute: str) -> dict[str, np.ndarray]:
    """Per range, its time (µs) in each of the ``runs`` hooked forwards, by the
    profiler.  measure() runs the forward once to record shapes, ``warmup - 1`` more
    times, then pairs of (without hooks, with hooks): with the default 2 warm-ups, the
    hooked forwards are occurrences 3, 5, 7, ... of each range."""
    spans: dict[str, list] = {}
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        if event.name.startswith("range."):
            spans.setdefault(event.name[len("range."):], []).append(getattr(event, attribute))
    return {k: np.array(v[3::2][:runs], dtype=np.float64) for k, v in spans.items() if len(v) == 2 + 2 * runs}


@pytest.mark.filterwarnings("ignore:profiler.*uncounted")   # the record_function ops have no formula
def test_per_module_times_agree_with_torch_profiler(one_thread):
    """Each layer's share of the four layers' time, run by run, by measure() (module
    hooks, self times, the hooks' cost taken out) and by torch.profiler (the CPU time
    of each record_function range) in the same hooked forwards; compared as medians
    over the runs.

    Tolerance: 5 percentage points of share.  The layers take 1-20 ms each at batch
    64 on one thread; the timing hooks cost about 2 µs per call and the profiler
    about 10 µs per recorded op (3 ops per Linear), both well under 1% of a layer.
    Both read the very same forwards, so a busy machine slows both alike.  Shares, not
    absolute times, because the profiler's own overhead scales every range.  An
    attribution error, a layer's time given to its neighbour or its parent, moves a
    share by 5 to 50 points (the smallest layer has 5% of the time)."""
    model = Ranged()
    runs = 8
    hook_cost("cpu")   # calibrated once, outside the profiler
    report = profiler.profile(model, inputs=((64, 512),))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        measure(report, model, inputs=((64, 512),), runs=runs, peak_flops=1e12, peak_bandwidth=1e11)
    share, their_share = _shares(report, _hooked_spans(prof, runs, "cpu_time_total"))
    print(dict(zip("abcd", zip(share.round(1), their_share.round(1)))))
    assert np.abs(share - their_share).max() <= 5.0, (share, their_share)


def _shares(report, theirs: dict) -> tuple[np.ndarray, np.ndarray]:
    """The median per-run share (%) of layers a to d, ours and torch.profiler's."""
    assert sorted(theirs) == list("abcd")
    per_run = report.measurement.per_run
    rows = {k: list(report.layers["name"]).index(k) for k in "abcd"}
    ours = np.array([per_run[rows[k]] for k in "abcd"])
    other = np.array([theirs[k] for k in "abcd"])
    return np.median(100 * ours / ours.sum(axis=0), axis=1), np.median(100 * other / other.sum(axis=0), axis=1)


@pytest.mark.skipif(not CUDA, reason="no CUDA device: torch.cuda.is_available() is False")
@pytest.mark.filterwarnings("ignore:profiler.*uncounted")
def test_cuda_event_times_agree_with_torch_profiler_cuda_time():
    """On CUDA: each layer's share by measure()'s CUDA events against the device time
    torch.profiler gives each record_function range (its kernels' time), in the same
    hooked forwards, at a batch where the kernels, not the launches, take the time.
    The same 5-point tolerance: the events add no device work, and the kernels run
    for a millisecond or more each, far above a launch's few microseconds."""
    model = Ranged().cuda()
    x = ((8192, 512),)
    runs = 10
    hook_cost("cuda")
    report = profiler.profile(model, inputs=x)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        measure(report, model, inputs=x, device="cuda", runs=runs, peak_flops=1e15, peak_bandwidth=1e12)
    share, their_share = _shares(report, _hooked_spans(prof, runs, "device_time_total"))
    assert np.abs(share - their_share).max() <= 5.0, (share, their_share)
    assert all(p.device.type == "cuda" for p in model.parameters())
