"""profile()'s fallback chain: meta twins first, then fake tensors, then real
tensors for a data-dependent op only, within the memory limit (profiler/api.py)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
import state


class MakesCpuTensors(nn.Module):
    """Adds a tensor it makes on the CPU: cannot mix with meta tensors."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(x) + torch.ones(6)


class ReadsAValue(nn.Module):
    """A branch on a value: only real tensors can run it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        y = self.fc(x)
        return y * 2 if y.sum().item() > 1e9 else y


@pytest.mark.parametrize("cls,mode,said", [
    (MakesCpuTensors, "fake", "fake tensors"),          # meta cannot mix with its CPU tensor
    (ReadsAValue, "real", "real CPU tensors"),         # nor can fake tensors branch on a value
])
def test_each_fallback_runs_only_where_the_step_before_cannot_and_says_so(cls, mode, said):
    model = cls()
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(6,))
    assert report.execution == mode
    assert any(said in note for note in report.notes)
    assert report.totals["macs"] == 36
    state.assert_untouched(model, before)


def test_a_meta_model_that_needs_real_tensors_says_so_in_one_line():
    with torch.device("meta"):
        model = ReadsAValue()
    with pytest.raises(profiler.ProfilerError, match="meta device: pass it built with real weights") as info:
        profiler.profile(model, input_size=(6,))
    assert "\n" not in str(info.value)


def test_a_real_fallback_above_the_memory_limit_is_refused(monkeypatch):
    monkeypatch.setenv("PROFILER_REAL_LIMIT_GB", str(100 / 2**30))   # 100 bytes: less than the weights
    model = ReadsAValue()
    before = state.snapshot(model)
    with pytest.raises(profiler.ProfilerError, match="above the .* limit"):
        profiler.profile(model, input_size=(6,))
    state.assert_untouched(model, before)


def test_a_shape_error_is_reported_without_any_fallback():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 4))
    with pytest.raises(profiler.ProfilerError, match=r"layer '1' \(Linear\) on input 1x4"):
        profiler.profile(model, input_size=(4,))


class LazyAfterAMask(nn.Module):
    """A lazy layer after a boolean mask: runs on real tensors only, with its
    parameters still uninitialised when the real forward's size is checked."""

    def __init__(self):
        super().__init__()
        self.fc = nn.LazyLinear(4)

    def forward(self, x):
        return self.fc(x[x == x].reshape(x.shape))


@pytest.mark.parametrize("training", [False, True])
def test_a_lazy_model_that_needs_real_tensors_runs_and_stays_lazy(training):
    from torch.utils.flop_counter import FlopCounterMode
    model = LazyAfterAMask()
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(8,), batch=2, training=training)
    state.assert_untouched(model, before)
    assert report.execution == "real" and isinstance(model.fc, nn.LazyLinear)
    copy = LazyAfterAMask()
    copy(torch.randn(2, 8))          # materialised by a real forward
    with FlopCounterMode(display=False) as counted:
        copy(torch.randn(2, 8))
    assert report.totals["macs"] == counted.get_total_flops() // 2 == 2 * 8 * 4
