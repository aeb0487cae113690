"""profiler.capture.twins: stand-ins (twins) for a model's tensors, made on the
meta device, as fake tensors or as real copies, keeping shape, strides, dtype (or
a given floating dtype), Parameter-ness and requires_grad; swapped in for one
forward, tied weights sharing one twin; and ModuleState, which puts every module
back as it was (class, attributes, parameters, buffers, submodules, hooks)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.nn.parameter import UninitializedParameter

import profiler
import state
from profiler.capture.twins import ModuleState, fake_maker, floating, meta_maker, real_maker, swap_in_twins, twin


# --- a profile runs on twins (moved from tests/test_functional_ops.py) -----------------------

def test_real_weights_model_runs_on_meta_twins_without_touching_it():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = profiler.profile(model, input_size=(3, 64, 64))
    assert report.mode == "meta"   # its tensors' meta twins ran, not the weights (FakeTensorMode before)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- twins -----------------------------------------------------------------------------------

def test_floating_gives_the_dtype_to_floating_tensors_only():
    to_half = floating(torch.float16)
    assert to_half(torch.ones(1)) is torch.float16 and to_half(torch.ones(1, dtype=torch.int64)) is torch.int64
    assert floating(None)(torch.ones(1, dtype=torch.float64)) is torch.float64


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_meta_twins_keep_shape_strides_and_integer_dtypes(dtype):
    base = torch.randn(4, 6)
    for t in (base, base.t(), base[:, ::2], torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)):
        made = meta_maker(dtype)(t)
        assert made.is_meta and made.shape == t.shape and made.stride() == t.stride()
        assert made.dtype == (dtype or t.dtype)
    ints = meta_maker(dtype)(torch.arange(6))
    assert ints.dtype == torch.int64 and ints.is_meta


def test_fake_and_real_twins():
    t = torch.randn(3, 4)
    fake = fake_maker(FakeTensorMode(), torch.float16)(t)
    assert isinstance(fake, FakeTensor) and fake.shape == t.shape and fake.dtype == torch.float16
    assert fake.device == t.device
    copy = real_maker()(t)
    assert torch.equal(copy, t) and copy.data_ptr() != t.data_ptr()
    copy.add_(1)                                                # writing the copy leaves the original
    assert not torch.equal(copy, t)
    assert real_maker(torch.float64)(t).dtype == torch.float64


def test_twin_keeps_parameters_requires_grad_and_uninitialised_parameters():
    p = nn.Parameter(torch.randn(2, 2))
    frozen = nn.Parameter(torch.randn(2), requires_grad=False)
    made = twin(p, meta_maker())
    assert type(made) is nn.Parameter and made.requires_grad and made.is_meta
    assert type(twin(frozen, meta_maker())) is nn.Parameter and not twin(frozen, meta_maker()).requires_grad
    plain = twin(torch.randn(3, requires_grad=True), meta_maker())
    assert type(plain) is torch.Tensor and plain.requires_grad and plain.is_leaf
    lazy = twin(UninitializedParameter(), meta_maker(torch.float16))
    assert isinstance(lazy, UninitializedParameter) and lazy.device.type == "meta" and lazy.dtype == torch.float16


class WithAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight                     # tied
        self.register_buffer("scale", torch.ones(4))
        self.mask = torch.ones(4, dtype=torch.bool)              # a plain tensor attribute


def test_swap_in_twins_replaces_every_tensor_once_and_keeps_ties():
    model = WithAttribute()
    originals = {"weight": model.embed.weight, "scale": model.scale, "mask": model.mask}
    modules = list(model.modules())
    saved = ModuleState(modules)
    twins = swap_in_twins(modules, meta_maker(), saved.tensor_attributes)
    try:
        assert model.head.weight is model.embed.weight and model.embed.weight.is_meta
        assert model.scale.is_meta and model.mask.is_meta and model.mask.dtype == torch.bool
        assert set(twins) == {id(t) for t in originals.values()}
        assert sum(p.numel() for p in model.parameters()) == 10 * 4   # one tensor, counted once
    finally:
        saved.restore()
    assert model.embed.weight is originals["weight"] and model.head.weight is originals["weight"]
    assert model.scale is originals["scale"] and model.mask is originals["mask"]


def test_swap_in_twins_finds_tensor_attributes_without_a_snapshot():
    model = WithAttribute()
    mask = model.mask
    saved = ModuleState(list(model.modules()))
    swap_in_twins(list(model.modules()), meta_maker())
    assert model.mask.is_meta
    saved.restore()
    assert model.mask is mask


def test_module_state_restores_everything_a_forward_may_change():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    model[1].eval()
    before = state.snapshot(model)
    saved = ModuleState(list(model.modules()))
    linear = model[0]
    linear.register_buffer("seen", torch.zeros(1))
    linear.note = "set during the forward"
    linear.register_forward_hook(lambda *args: None)
    linear.weight = nn.Parameter(torch.zeros(4, 4))
    model.add_module("extra", nn.Tanh())
    model.train()
    del linear.bias
    saved.restore()
    state.assert_untouched(model, before)


def test_module_state_puts_a_materialised_lazy_module_back():
    lazy = nn.LazyLinear(3)
    before = state.snapshot(lazy)
    saved = ModuleState([lazy])
    swap_in_twins([lazy], meta_maker(), saved.tensor_attributes)
    lazy(torch.empty(2, 5, device="meta"))
    assert type(lazy) is nn.Linear and lazy.weight.shape == (3, 5)
    saved.restore()
    assert type(lazy) is nn.LazyLinear and isinstance(lazy.weight, UninitializedParameter)
    state.assert_untouched(lazy, before)
    report = profiler.profile(lazy, input_size=(5,))
    assert report.totals["macs"] == 5 * 3 and report.totals["params"] == 5 * 3 + 3
