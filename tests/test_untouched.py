"""Profiling leaves the user's model and the process as it found them."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules import module as module_globals

import profiler


class Mixed(nn.Module):
    """Conv, BatchNorm, dropout, attention and an LSTM; some modules left in
    train mode, some in eval."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.drop(self.bn(self.conv(x)).relu())
        seq = x.flatten(2).transpose(1, 2)
        seq, _ = self.attn(seq, seq, seq)
        out, _ = self.lstm(seq)
        return self.head(out)


class Noisy(nn.Module):
    """Draws from the global RNG and needs real tensors (a data-dependent branch)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        x = x + torch.randn_like(x)
        return self.fc(x) if x.sum().item() != 0.123 else x


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.ok = nn.Linear(4, 4)
        self.bad = nn.Linear(5, 4)

    def forward(self, x):
        return self.bad(self.ok(x))


def _mixed() -> Mixed:
    torch.manual_seed(0)
    model = Mixed()
    model.train()
    model.bn.eval()
    model.attn.eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_()
    return model


def _snapshot(model: nn.Module) -> dict:
    return dict(
        state={k: v.clone() for k, v in model.state_dict().items()},
        training={name: m.training for name, m in model.named_modules()},
        attrs={name: set(vars(m)) for name, m in model.named_modules()},
        members={name: (set(m._parameters), set(m._buffers), set(m._modules))
                 for name, m in model.named_modules()},
        devices={k: (v.device, v.requires_grad) for k, v in [*model.named_parameters(), *model.named_buffers()]},
    )


def _assert_untouched(model: nn.Module, before: dict):
    after = _snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key
    assert after["training"] == before["training"]
    assert after["attrs"] == before["attrs"]
    assert after["members"] == before["members"]
    assert after["devices"] == before["devices"]
    for name, m in model.named_modules():
        hooks = (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks,
                 m._forward_hooks_with_kwargs, m._forward_pre_hooks_with_kwargs, m._state_dict_hooks)
        assert not any(hooks), name
    assert not module_globals._global_forward_hooks
    assert not module_globals._global_forward_pre_hooks


@pytest.mark.parametrize("fastpath", [True, False])
def test_profiling_leaves_model_modes_hooks_and_global_state_as_found(fastpath):
    model = _mixed()
    before = _snapshot(model)
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(fastpath)
    try:
        rng = torch.get_rng_state()
        grad = torch.is_grad_enabled()
        report = profiler.profile(model, input_size=(3, 4, 4))
        assert report.total["mults"] > 0
        _assert_untouched(model, before)
        assert torch.backends.mha.get_fastpath_enabled() is fastpath
        assert torch.equal(torch.get_rng_state(), rng)
        assert torch.is_grad_enabled() is grad
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def test_a_model_that_needs_real_tensors_and_draws_random_numbers_leaves_the_rng_alone():
    torch.manual_seed(0)
    model = Noisy()
    before = _snapshot(model)
    rng = torch.get_rng_state()
    report = profiler.profile(model, input_size=(4,))
    assert report.execution == "real"
    assert torch.equal(torch.get_rng_state(), rng)
    _assert_untouched(model, before)


def test_a_forward_that_raises_leaves_no_hooks_and_restores_modes():
    model = Broken()
    model.ok.eval()
    before = _snapshot(model)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(profiler.ProfilerError, match="bad"):
        profiler.profile(model, input_size=(4,))
    _assert_untouched(model, before)
    assert torch.backends.mha.get_fastpath_enabled() is fastpath


def test_a_model_on_the_meta_device_stays_there():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    before = {k: (v.device, v.shape) for k, v in model.state_dict().items()}
    profiler.profile(model, input_size=(3, 8, 8))
    assert {k: (v.device, v.shape) for k, v in model.state_dict().items()} == before
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks)


def test_profiling_by_name_leaves_the_rng_alone():
    rng = torch.get_rng_state()
    profiler.profile("alexnet_homework")
    assert torch.equal(torch.get_rng_state(), rng)


def test_a_measured_profile_leaves_the_whole_state_as_found():
    """The measured run (profiler.measure.timing) runs the caller's model for real:
    on copies of its tensors, inside a snapshot of its modules, under the
    profile's RNG snapshot (tests/state.py compares everything)."""
    import state
    model = _mixed()
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(3, 4, 4), measure=True, runs=1)
    assert report.measurement.measured
    state.assert_untouched(model, before)
