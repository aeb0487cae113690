"""profiler.measure.timing: the measured run's setup: sized before it allocates, on
the model and inputs the profile had, and safe beside other threads.

* Size: a run above its limit is refused in one line naming the bytes, before any
  real tensor is built: the issue's three cases are run in a child process, whose
  peak resident memory (VmHWM) and time are read around each; the parts of the
  figure are checked against a count by hand of a Linear layer.
* Inputs: a transformers model by name is measured from the CLI and from Python on
  the inputs its profile made (tiny configs: tests/hf_tiny.py).
* State and threads: a measured profile leaves a model whose forward sets an
  attribute, writes a buffer and draws random numbers bit-identical, and the whole
  process too (tests/state.py); one thread measuring while another profiles the
  same model gives the sequential counts, without errors.

Time runs are one timed run (runs=1) of tiny models: this machine is small and busy.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

import profiler
from profiler.arguments import MEASURE_LIMIT_VARIABLE, available_memory_bytes, measure_limit_bytes
from profiler.errors import ProfilerError
from profiler.capture.run import Run
from profiler.measure.microbench import bench_bytes
from profiler.measure.timing import RECORD_BYTES, MAX_RUNS, measure, measured_bytes, run_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hf_tiny import TINY   # noqa: E402
from state import assert_untouched, snapshot   # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# --- sized before it allocates ---------------------------------------------------------------

# each case in a child process: its peak RSS (VmHWM, which only grows) read after the imports
# and after the refusal, and the refusal's time; the imports and one small profile come first,
# so that what is measured is the refused call alone
CHILD = textwrap.dedent("""
    import io, json, sys, time, contextlib
    import torch, torchvision
    from torch import nn
    import profiler
    from profiler.cli import main
    from profiler.errors import ProfilerError

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    profiler.profile(nn.Linear(2, 2), input_size=(2,))   # lazy imports of the profile itself
    case = sys.argv[1]
    before, start = hwm(), time.perf_counter()
    if case == "python":
        try:
            profiler.profile(nn.Linear(8, 8), input_size=(8,), batch=10**10, measure=True)
            code, err = 0, ""
        except ProfilerError as exc:
            code, err = 2, str(exc)
    else:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(case.split())
        err = stderr.getvalue()
    print(json.dumps(dict(code=code, err=err, seconds=time.perf_counter() - start, grew=hwm() - before)))
""")


@pytest.mark.parametrize("case,fix", [
    ("profile vgg16 --measure --batch 100000", "lower --batch or --input"),
    ("profile resnet18 --measure --input 3x30000x30000", "lower --batch or --input"),
    ("python", "lower batch= or input_size="),
])
def test_a_run_too_large_is_refused_at_once_without_allocating(case, fix):
    env = {k: v for k, v in os.environ.items() if k != MEASURE_LIMIT_VARIABLE}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", CHILD, case], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(case, f"{got['seconds']:.2f} s, peak RSS +{got['grew'] / 2**20:.0f} MiB:", got["err"].strip())
    assert got["code"] == 2
    err = got["err"].strip()
    assert len(err.splitlines()) == 1 and "would take at least" in err and " bytes (" in err and fix in err
    assert got["seconds"] < 2.0
    assert got["grew"] < 2**30


def _linear_case(batch=10, width=1000):
    model = nn.Linear(width, width)
    report = profiler.profile(model, input_size=(width,), batch=batch)
    return model, report, Run("Linear", model, args=((batch, width),), batch=batch)


def test_the_figure_is_weights_inputs_largest_layer_and_records():
    model, report, run = _linear_case()
    parts = measured_bytes(report, run, torch.float32, runs=None)
    # by hand: a float32 copy of W (1000x1000) and b; a 10x1000 input; the layer holds its
    # input and its output (10x1000 each); 2 rows or modules, MAX_RUNS runs
    assert parts == dict(weights=(1000 * 1000 + 1000) * 4, build=0, inputs=10 * 1000 * 4,
                         activations=2 * 10 * 1000 * 4, records=(1 + 1) * MAX_RUNS * RECORD_BYTES, bench=0)
    half = measured_bytes(report, run, torch.bfloat16, runs=3)
    assert half["weights"] == (1000 * 1000 + 1000) * 2 and half["records"] == 2 * 3 * RECORD_BYTES


def test_a_model_built_by_name_at_another_dtype_holds_its_build_and_its_converted_copy():
    import torchvision
    reference = torchvision.models.resnet18()   # built by torchvision itself: the independent count
    params = sum(p.numel() for p in reference.parameters())
    assert params == 11_689_512                  # torchvision's published figure for ResNet-18
    floating = params + sum(b.numel() for b in reference.buffers() if b.is_floating_point())
    counters = sum(b.numel() for b in reference.buffers() if not b.is_floating_point())   # int64 batch counts
    report = profiler.profile("resnet18", input_size=(3, 32, 32), dtype=torch.bfloat16)
    run = run_of(report, "resnet18", None, 1, None, None, False, None)
    parts = measured_bytes(report, run, torch.bfloat16, runs=1)
    assert parts["weights"] == floating * 2 + counters * 8
    assert parts["build"] == floating * 4 + counters * 8      # built at float32, then converted
    assert parts["inputs"] == 3 * 32 * 32 * 2
    at_own = measured_bytes(report, run, torch.float32, runs=1)
    assert at_own["weights"] == floating * 4 + counters * 8 and at_own["build"] == 0   # nothing converted
    # for CUDA it is built on the host and moved: the host holds the build, the device the weights
    on_cuda = measured_bytes(report, run, torch.float32, runs=1, device="cuda")
    assert on_cuda["build"] == on_cuda["weights"] == floating * 4 + counters * 8


def test_the_limit_variable_caps_the_run_and_is_named(monkeypatch):
    model = nn.Linear(1000, 1000)
    monkeypatch.setenv(MEASURE_LIMIT_VARIABLE, "0.001")   # 1 MiB: below the 4 MB of weights
    before = snapshot(model)
    with pytest.raises(ProfilerError, match=f"above the 0.0 GiB limit \\({MEASURE_LIMIT_VARIABLE}\\): "
                                            f"measure a smaller model, or raise {MEASURE_LIMIT_VARIABLE}"):
        profiler.profile(model, input_size=(1000,), measure=True, runs=1, peak_flops=1e12, peak_bandwidth=1e11)
    assert_untouched(model, before)
    # with the peaks measured between the runs, their buffers (sized by this machine's caches)
    # are most of the need: a limit of half of them, far above the model's 4 MB, refuses the run
    monkeypatch.setenv(MEASURE_LIMIT_VARIABLE, str(bench_bytes("cpu") / 2 / 2**30))
    with pytest.raises(ProfilerError, match="the microbenchmark's buffers between the runs .*give the peaks"):
        profiler.profile(model, input_size=(1000,), measure=True, runs=1)
    monkeypatch.setenv(MEASURE_LIMIT_VARIABLE, "lots")
    with pytest.raises(ProfilerError, match=f"{MEASURE_LIMIT_VARIABLE}='lots': expected a positive number"):
        measure_limit_bytes()
    monkeypatch.delenv(MEASURE_LIMIT_VARIABLE)
    assert measure_limit_bytes() is None


def test_available_memory_is_the_tighter_of_meminfo_and_the_cgroup(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal: 2048 kB\nMemFree: 100 kB\nMemAvailable: 1024 kB\n")
    assert available_memory_bytes(str(tmp_path / "meminfo"), str(tmp_path)) == 1024 * 1024
    (tmp_path / "memory.max").write_text("800000\n")
    (tmp_path / "memory.current").write_text("300000\n")
    assert available_memory_bytes(str(tmp_path / "meminfo"), str(tmp_path)) == 500000
    (tmp_path / "memory.max").write_text("max\n")
    assert available_memory_bytes(str(tmp_path / "meminfo"), str(tmp_path)) == 1024 * 1024
    assert available_memory_bytes(str(tmp_path / "none"), str(tmp_path / "none")) is None


# --- transformers and timm models, on the inputs the profile made ------------------------------

LLAMA = [f"--config={k}={v}" for k, v in {**TINY["llama"], "num_hidden_layers": 1}.items()]


def test_a_transformers_model_is_measured_from_the_cli_on_its_made_inputs(cli):
    code, out, err = cli("profile", "hf:llama", *LLAMA, "--measure", "--runs", "1")
    assert code == 0, err
    assert "finding in time:" in out and "lm_head" in out


def test_a_transformers_model_is_measured_from_python_with_every_row_timed():
    config = {**TINY["llama"], "num_hidden_layers": 1}
    report = profiler.profile("hf:llama", config=config, measure=True, runs=1)
    m, layers = report.measurement, report.layers
    assert m.measured and m.runs == 1
    assert "weights: random weights (seeded), built by name" in m.notes
    ran = layers["status"] != "not called"
    assert layers.loc[ran, "time_s"].notna().all()
    # the counts are the profile's: the same as without measuring
    plain = profiler.profile("hf:llama", config=config).layers
    assert layers["flops"].tolist() == plain["flops"].tolist()


def test_a_timm_model_is_measured_from_the_cli(cli):
    code, out, err = cli("profile", "timm:resnet10t", "--input", "3x32x32", "--measure", "--runs", "1")
    assert code == 0, err
    assert "finding in time:" in out


# --- side effects and threads ------------------------------------------------------------------

class Busy(nn.Module):
    """A forward with side effects: it counts its calls in an attribute and in a
    buffer written in place, and draws from torch's global RNG."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.register_buffer("seen", torch.zeros(()))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        self.seen.add_(1)
        return self.fc(x + 0.01 * torch.randn_like(x))


def test_a_measured_profile_leaves_the_model_and_the_process_bit_identical():
    torch.manual_seed(0)
    model = Busy()
    before = snapshot(model)
    report = profiler.profile(model, input_size=(16,), batch=2, measure=True, runs=1)
    assert report.measurement.measured and report.layers["time_s"].notna().all()
    assert_untouched(model, before)
    assert model.calls == 0 and model.seen.item() == 0
    # measured on its own, after the profile, too
    measure(profiler.profile(model, input_size=(16,), batch=2), model, runs=1)
    assert_untouched(model, before)


def test_measuring_while_another_thread_profiles_gives_the_sequential_results():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    before = snapshot(model)
    expected = profiler.profile(model, input_size=(32,), batch=4).layers["flops"].tolist()
    errors, measured, counted = [], [], []

    def measuring():
        try:
            for alone in (False, True, False):   # in the profile, and measure() on its own
                if alone:
                    report = measure(profiler.profile(model, input_size=(32,), batch=4), model, runs=1)
                else:
                    report = profiler.profile(model, input_size=(32,), batch=4, measure=True, runs=1)
                measured.append((report.layers["flops"].tolist(), bool(report.layers["time_s"].notna().all())))
        except Exception as exc:   # noqa: BLE001: the test reports whatever a thread raised
            errors.append(exc)

    def profiling():
        try:
            for _ in range(20):
                counted.append(profiler.profile(model, input_size=(32,), batch=4).layers["flops"].tolist())
        except Exception as exc:   # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=measuring), threading.Thread(target=profiling)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert measured == [(expected, True)] * 3
    assert counted == [expected] * 20
    assert_untouched(model, before)


def test_the_interleaved_microbenchmark_is_counted_at_what_it_really_holds():
    """The peaks are measured between the timed runs, beside the model: its buffers
    count.  Checked against what a Bench really allocates (its memory trials' buffers,
    one per working set) plus the largest CPU GEMM's three 768x768 float32 operands."""
    from profiler.measure.microbench import Bench, bench_bytes
    _, report, run = _linear_case()
    bench = Bench("cpu", "float32", seconds=0.005)
    try:
        bench.run_all()
        held = sum(t.numel() * t.element_size() for t in bench._buffers.values())
    finally:
        bench.close()
    assert bench_bytes("cpu") == held + 3 * 768 * 768 * 4
    assert measured_bytes(report, run, torch.float32, runs=1, bench=True)["bench"] == bench_bytes("cpu")


class Caching(nn.Module):
    """Real bf16 weights and a cache the forward appends to (a list of past inputs)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.cache: list[torch.Tensor] = []

    def forward(self, x):
        self.cache.append(x)
        return self.fc(x)


def test_a_bf16_compiled_model_holding_a_cache_comes_back_bit_identical_after_a_measured_profile():
    torch.manual_seed(0)
    model = Caching().to(torch.bfloat16)
    model.cache.append(torch.ones(2, 16, dtype=torch.bfloat16))
    compiled = torch.compile(model)
    before, wrapped = snapshot(model), snapshot(compiled)
    report = profiler.profile(compiled, input_size=(16,), batch=2, measure=True, runs=1)
    assert report.measurement.measured and report.dtype == "bfloat16"
    assert_untouched(model, before)
    assert_untouched(compiled, wrapped)
    assert len(model.cache) == 1
