"""profiler.measure.microbench: this process's devices and their peaks from short
microbenchmarks, run all at once or a slice at a time between a model's runs."""
from __future__ import annotations

import pytest
import torch

from profiler.errors import ProfilerError
from profiler.measure.microbench import (Bench, check_device, cpu_cache_bytes, cpu_name, describe_device, keep,
                                         microbenchmark)
from profiler.measure.roofline import resolve_peaks
from profiler.report.peaks import Peaks

CUDA = torch.cuda.is_available()


def test_a_bench_in_slices_measures_every_kernel_and_leaves_torch_as_it_was():
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    bench = Bench("cpu", "float32", seconds=0.01)
    try:
        bench.step(0.0)                   # one slice: the first trial only
        assert sum(t.spent > 0 for t in bench.trials) == 1
        bench.step(0.05)
        peaks = bench.peaks()             # the trials not reached yet get a slice each
    finally:
        bench.close()
    assert all(t.spent > 0 and t.best > 0 for t in bench.trials)
    assert peaks.flops == max(t.best for t in bench.trials if t.role == "flops")
    assert peaks.bandwidth == max(t.best for t in bench.trials if t.role != "flops")
    assert "between the model's timed runs" in peaks.source
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)


def test_kept_peaks_are_the_best_of_all_seen():
    device = "cpu"
    kept = microbenchmark(device, "float64", seconds=0.01)
    low = Peaks(kept.device, "float64", kept.flops / 2, kept.bandwidth / 2,
                dram_bandwidth=kept.dram_bandwidth and kept.dram_bandwidth / 2, cache_bytes=kept.cache_bytes)
    assert keep(low, device, "float64").flops == kept.flops
    high = Peaks(kept.device, "float64", kept.flops * 2, kept.bandwidth, dram_bandwidth=kept.dram_bandwidth,
                 cache_bytes=kept.cache_bytes)
    assert keep(high, device, "float64").flops == kept.flops * 2
    assert microbenchmark(device, "float64").flops == kept.flops * 2


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


def test_this_cpu_described():
    name, cache = cpu_name(), cpu_cache_bytes()
    assert isinstance(name, str) and name.strip()
    assert cache is None or (cache > 0 and cache % 1024 == 0)
    info = describe_device("cpu")
    assert info["kind"] == "cpu" and info["name"] == name and info["cache_bytes"] == cache
    assert info["threads"] == torch.get_num_threads() and info["torch"] == torch.__version__
    assert info["cuda"] is None and info["index"] is None


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
