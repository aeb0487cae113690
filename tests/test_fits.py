"""profiler.fits: the largest-batch search against a linear scan (an independent
search), the plan's terms (the amp recipe's master copy and fp32 states, ZeRO per
device) against hand counts on a small MLP, and the batch it finds against profiles
run at that batch and the next."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import profiler
from profiler.errors import ProfilerError
from profiler.fits import MAX_BATCH, make_plan, plan, search
from profiler.report.memory import step_peak, step_peaks


def _linear_scan(peak_at, capacity: int, max_batch: int) -> int:
    best = 0
    for b in range(1, max_batch + 1):
        if peak_at(b) > capacity:
            break
        best = b
    return best


@settings(max_examples=200, deadline=None)
@given(base=st.integers(0, 10 ** 6), per=st.integers(1, 10 ** 4), square=st.integers(0, 50),
       capacity=st.integers(1, 3 * 10 ** 6), max_batch=st.integers(1, 300), start=st.integers(1, 400))
def test_the_search_finds_what_a_linear_scan_finds(base, per, square, capacity, max_batch, start):
    peak_at = lambda b: base + per * b + square * b * b   # noqa: E731  (grows with the batch)
    largest, tried, ceiling = search(peak_at, capacity, max_batch, start)
    assert largest == _linear_scan(peak_at, capacity, max_batch)
    assert ceiling == (max_batch if largest == max_batch else None)
    assert all(p == peak_at(b) for b, p in tried)
    assert len(tried) <= 2 * max_batch.bit_length() + 2          # doubling, then bisecting
    assert tried[0][0] == min(start, max_batch)                   # the profile's own batch first


def test_known_peaks_are_not_asked_again():
    asked = []
    largest, tried, _ = search(lambda b: asked.append(b) or 10 * b, 55, known={1: 10, 8: 80})
    assert largest == 5 and 1 not in asked and 8 not in asked
    assert [b for b, _ in tried] == [1, 2, 4, 8, 6, 5]
    # from a batch that does not fit: bisecting below it
    assert [b for b, _ in search(lambda b: 10 * b, 55, start=16)[1]] == [16, 8, 4, 6, 5]


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 10))


PSI = 512 * 1024 + 1024 + 1024 * 10 + 10   # 535,562 parameters


def test_the_amp_recipe_adds_an_fp32_master_copy_and_doubles_the_16_bit_states():
    report = plan(_mlp(), input_size=(512,), batch=8, training=True, optimizer="adamw", amp="bf16")
    memory, p = report.memory, report.memory_plan
    assert report.dtype == "bfloat16" and memory.totals["gradients"] == 2 * PSI
    assert p.held == 4 * PSI                                  # the master copy, 4 bytes per parameter
    assert p.grown == memory.totals["optimizer"]              # bf16 states made fp32: twice their bytes
    assert p.step_peak == step_peak(memory, 4 * PSI, memory.totals["optimizer"])
    assert "bf16 parameters, gradients and activations with fp32 master weights" in p.recipe


def test_zero3_per_device_keeps_the_activations_and_shards_the_model_states():
    report = plan(_mlp(), input_size=(512,), batch=8, training=True, optimizer="adamw", shard="zero3:4")
    memory, p = report.memory, report.memory_plan
    states = memory.totals["optimizer"]
    assert [s["name"] for s in p.stages] == ["data parallel", "ZeRO-1", "ZeRO-2", "ZeRO-3"]
    zero3 = p.stages[3]
    assert (zero3["parameters"], zero3["gradients"], zero3["optimizer"]) == (
        -(-4 * PSI // 4), -(-4 * PSI // 4), -(-states // 4))
    assert p.stages[0]["total"] == 8 * PSI + states and p.stage == 3 and p.devices == 4
    # the MLP's step peak is in the optimizer's step: every gradient is live there, and that side
    # stays the larger per device (the forward/backward side holds no gradient at its peak)
    model_states = 4 * PSI + 4 * PSI + states
    assert p.device_peak == p.step_peak - model_states + zero3["total"]
    sides = step_peaks(memory)
    assert sides["optimizer"] == p.step_peak > sides["forward/backward"]


def test_per_device_takes_the_larger_side_once_sharded():
    """A step whose peak is in the optimizer's step (model states) can peak per device in
    the backward (activations, unsharded): both sides are sharded, the larger kept.
    Hand-chosen figures, in GB, of a 16-bit step with AdamW under the amp recipe:
    parameters 10, gradients 10, 16-bit states 20 (so a master copy of 20 held and the
    states grown by 20); the backward's peak 30 (at a module other than the profile's
    peak), the optimizer's 65."""
    from profiler.count.memory import Memory
    from profiler.report import Report
    gb = 10 ** 9
    memory = Memory(peak_bytes=65 * gb, peak_phase="optimizer", peak_at="optimizer",
                    at_peak={"parameters": 10 * gb, "gradients": 10 * gb, "optimizer": 20 * gb,
                             "activations": 25 * gb},
                    totals={"parameters": 10 * gb, "gradients": 10 * gb, "optimizer": 20 * gb},
                    timeline=(("forward", "a", 20 * gb), ("backward", "a", 30 * gb), ("optimizer", "optimizer", 65 * gb)),
                    optimizer="adamw")
    report = Report.from_rows("hand", [], input_desc="", batch=1, execution="meta", itemsize=2, dtype="bfloat16")
    report.memory = memory
    p = make_plan(report, "adamw", "bf16", (3, 10))
    assert (p.held, p.grown) == (20 * gb, 20 * gb)
    # unsharded: backward 30 + 20 + 20 + 20 = 90; optimizer 65 + 20 + 20 = 105
    assert step_peaks(memory, p.held, p.grown) == {"forward/backward": 90 * gb, "optimizer": 105 * gb}
    assert p.step_peak == 105 * gb
    # ZeRO-3 over 10: model states 10 + 10 + 60 = 80 GB become 8 GB on the optimizer's side
    # (105 - 80 + 8 = 33); the backward's side holds 10 + 60 of them (no gradient counted at
    # a peak that is not the profile's own): 90 - 70 + 1 + 6 = 27
    assert p.device_peak == 33 * gb
    assert p.stages[3]["total"] == 8 * gb and p.stages[3]["formula"] == "(2Ψ + 2Ψ + 12Ψ) / N"
    # the activations of the optimizer's side shrunk: the backward's side is the larger
    memory2 = Memory(**{**memory.__dict__, "peak_bytes": 50 * gb, "at_peak": {**memory.at_peak, "activations": 10 * gb},
                        "timeline": memory.timeline[:2] + (("optimizer", "optimizer", 50 * gb),)})
    report.memory = memory2
    p2 = make_plan(report, "adamw", "bf16", (3, 10))
    assert p2.step_peak == 90 * gb and p2.device_peak == 27 * gb          # 50 + 40 - 80 + 8 = 18 < 27


def test_the_largest_batch_fits_and_the_next_does_not():
    capacity = 20_000_000
    report = plan(_mlp(), input_size=(512,), batch=8, training=True, optimizer="adamw", fits=capacity)
    fit = report.memory_plan.fit
    assert fit.capacity == capacity and fit.fits and fit.largest_batch > 8

    def peak(batch: int) -> int:
        return step_peak(profiler.profile(_mlp(), input_size=(512,), batch=batch, training=True,
                                          optimizer="adamw").memory)
    assert peak(fit.largest_batch) <= capacity < peak(fit.largest_batch + 1)


def test_inference_fits_and_a_capacity_by_device_name():
    report = plan(_mlp(), input_size=(512,), batch=1, fits="RTX-4090", max_batch=64)
    fit = report.memory_plan.fit
    assert fit.capacity == 24 * 10 ** 9 and fit.capacity_label == "RTX-4090 (24 GB)"
    assert fit.largest_batch == 64 and fit.ceiling == 64       # the search stops at max_batch
    assert report.memory_plan.step_peak == report.memory.peak_bytes


def test_bad_arguments_are_refused_in_one_line():
    for kwargs, match in (({"amp": "fp8", "training": True}, "amp='fp8'"),
                          ({"optimizer": "nope", "training": True}, "optimizer='nope'"),
                          ({"optimizer": "adamw"}, "add training=True"),
                          ({"fits": "abc"}, "fits='abc'"),
                          ({"shard": "zero9:2", "training": True}, "shard='zero9:2'"),
                          ({"amp": "bf16", "training": True, "dtype": "float32"}, "does not go with dtype"),
                          ({"fits": "1GB", "inputs": (torch.randn(1, 512),)}, "rather than inputs=")):
        with pytest.raises(ProfilerError, match=match):
            plan(_mlp(), **kwargs)
    assert MAX_BATCH == 1 << 16
    with pytest.raises(ProfilerError, match="no memory profile"):
        make_plan(profiler.profile(_mlp(), input_size=(512,)))
