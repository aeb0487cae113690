"""profiler.capture.twins: stand-ins (twins) for a model's tensors, made on the
meta device, as fake tensors or as real copies, keeping shape, strides, dtype (or
a given floating dtype), Parameter-ness and requires_grad; swapped in for one
forward, tied weights sharing one twin; and ModuleState, which puts every module
back as it was (class, attributes, parameters, buffers, submodules, hooks).
Training profiles on twins: a computed input's twin is computed too, so in-place
ops run as in eager, and lazy modules materialise on their twins; both counted
as FlopCounterMode counts the real step, the model and input left as found."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

import profiler
import state
from profiler.capture.twins import ModuleState, fake_maker, floating, meta_maker, real_maker, swap_in_twins, twin


# --- a profile runs on twins (moved from tests/test_functional_ops.py) -----------------------

def test_real_weights_model_runs_on_meta_twins_without_touching_it():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = profiler.profile(model, input_size=(3, 64, 64))
    assert report.execution == "meta"   # its tensors' meta twins ran, not the weights (FakeTensorMode before)
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


# --- autograd status: a computed input's twin is computed too -----------------------------------

MAKERS = {"meta": lambda: meta_maker(), "fake": lambda: fake_maker(FakeTensorMode()), "real": lambda: real_maker()}


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("maker", MAKERS)
def test_the_twin_of_a_computed_tensor_is_a_non_leaf_that_takes_in_place_ops(maker, grad):
    leaf = torch.randn(4, 6, requires_grad=True)
    for t in (leaf * 1, (leaf * 1).t()):
        version, grad_fn = t._version, t.grad_fn
        with torch.set_grad_enabled(grad):   # an inference profile makes its twins with grad off
            made = twin(t, MAKERS[maker]())
        assert not made.is_leaf and made.requires_grad and made.grad_fn is not None
        assert made.shape == t.shape and made.stride() == t.stride() and made.dtype == t.dtype
        assert not made._is_view()           # autograd refuses in-place ops on a view of a leaf as well
        if maker == "real":
            assert torch.equal(made.detach(), t.detach())
        with torch.enable_grad():
            made.relu_()                     # what eager allows on t: a leaf that requires grad refuses it
        assert t._version == version and t.grad_fn is grad_fn and leaf.grad is None
    frozen = twin(torch.randn(3), MAKERS[maker]())
    assert frozen.is_leaf and not frozen.requires_grad
    assert twin(leaf, MAKERS[maker]()).is_leaf and twin(leaf, MAKERS[maker]()).requires_grad


def test_in_place_relu_on_a_computed_input_counts_as_flop_counter_and_leaves_the_input():
    """The issue's reproducer: eager runs an in-place ReLU on ``x * 1``; so does a
    training profile, and its forward and backward MACs are FlopCounterMode's on
    the real step (which counts the Linear's forward, weight and input gradients:
    its input is computed from x, so it requires grad; ReLU's threshold_backward
    and the loss's sum are no MACs to it)."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, requires_grad=True) * 1
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(4, 4))
    before, inputs_before, version = state.snapshot(model), state.freeze(x), x._version
    report = profiler.profile(model, inputs=(x,), training=True)
    state.assert_untouched(model, before)
    assert state.freeze(x) == inputs_before and x._version == version
    assert report.execution == "meta"
    forward, backward = _flop_counter_step(model, x.detach().clone().requires_grad_() * 1)
    assert (forward, backward) == (2 * 4 * 4, 2 * (2 * 4 * 4))       # by hand: y = xWᵀ, dW and dx
    assert _macs(report) == (forward, backward)


class _NeedsFake(nn.Module):
    """A CPU tensor of its own: the meta forward fails, the fake one runs."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, x):
        x.relu_()
        return self.linear(x) + torch.ones(4)


class _NeedsReal(_NeedsFake):
    """A value read back: only real tensors run it."""

    def forward(self, x):
        x.relu_()
        y = self.linear(x)
        return y * float(y.sum().item() != 0.5)


@pytest.mark.parametrize("cls,mode", [(_NeedsFake, "fake"), (_NeedsReal, "real")])
def test_in_place_on_a_computed_input_runs_on_fake_and_real_twins(cls, mode):
    torch.manual_seed(0)
    model, x = cls(), torch.randn(2, 8, requires_grad=True) * 1
    before, inputs_before, version = state.snapshot(model), state.freeze(x), x._version
    report = profiler.profile(model, inputs=(x,), training=True)
    state.assert_untouched(model, before)
    assert state.freeze(x) == inputs_before and x._version == version
    assert report.execution == mode
    assert _macs(report) == _flop_counter_step(model, x.detach().clone().requires_grad_() * 1)


def test_a_failing_training_profile_on_a_computed_input_leaves_model_and_input():
    x = torch.randn(2, 4, requires_grad=True) * 1
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(5, 4))   # 4 features in, 5 expected
    before, inputs_before, version = state.snapshot(model), state.freeze(x), x._version
    with pytest.raises(profiler.ProfilerError, match=r"layer '\d' \(Linear\)"):
        profiler.profile(model, inputs=(x,), training=True)
    state.assert_untouched(model, before)
    assert state.freeze(x) == inputs_before and x._version == version


# --- lazy modules: materialised on their twins, in training profiles too -------------------------

class _ReadsShapes(TorchDispatchMode):
    """Reads the shape of every tensor argument, as the capture does for each op
    of a training profile (profiler.capture.record), and keeps the ops' names."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        for t in tree_leaves((args, kwargs)):
            if isinstance(t, torch.Tensor):
                t.shape
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("maker,dtype", [(meta_maker(torch.float16), torch.float16), (real_maker(), torch.float64)],
                         ids=["meta", "real"])
@pytest.mark.parametrize("kind,becomes", [(UninitializedParameter, nn.Parameter),
                                          (UninitializedBuffer, torch.Tensor)])
def test_an_uninitialised_twin_materialises_where_every_op_has_its_shapes_read(kind, becomes, maker, dtype):
    """A lazy module's own ``materialize`` reads ``.data`` (an aten.detach of the
    shapeless tensor, under a dispatch mode); its twin knows its device and dtype."""
    original = kind(requires_grad=kind is UninitializedParameter, dtype=torch.float64)
    made = twin(original, maker)
    assert isinstance(made, kind) and made.requires_grad == original.requires_grad
    reader = _ReadsShapes()
    with reader:
        made.materialize((3, 5))
    assert reader.ops == ["empty"]
    assert type(made) is becomes and made.shape == (3, 5) and made.dtype == dtype
    assert made.device.type == ("meta" if dtype is torch.float16 else "cpu")
    assert type(original) is kind and not hasattr(original, "_twin_place")   # the original stays shapeless


LAZY = {
    "linear": lambda: nn.Sequential(nn.LazyLinear(4)),
    "conv2d": lambda: nn.Sequential(nn.LazyConv2d(4, 3)),
    "batchnorm2d": lambda: nn.Sequential(nn.LazyBatchNorm2d()),
    "mixed": lambda: nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                                   nn.LazyLinear(2)),
    "alone": lambda: nn.LazyLinear(4),
}


@pytest.mark.parametrize("name", LAZY)
def test_lazy_modules_in_a_training_profile_count_as_materialised_and_stay_lazy(name):
    """Forward and backward MACs are FlopCounterMode's on the same model
    materialised by a real forward; every count, both passes, is the profile of
    that materialised model; the lazy model keeps its classes, its uninitialised
    tensors and its hooks."""
    model = _seeded(LAZY[name])
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(3, 8, 8), batch=2, training=True)
    state.assert_untouched(model, before)
    lazies = [m for m in model.modules() if isinstance(m, nn.modules.lazy.LazyModuleMixin)]
    assert lazies and all(m.has_uninitialized_params() for m in lazies)
    assert report.execution == "meta"

    materialised = _seeded(LAZY[name])
    materialised(torch.randn(2, 3, 8, 8))
    assert not any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in materialised.modules())
    assert _macs(report) == _flop_counter_step(materialised, torch.randn(2, 3, 8, 8))
    plain = profiler.profile(materialised, input_size=(3, 8, 8), batch=2, training=True)
    assert report.passes.equals(plain.passes)
    assert report.layers.drop(columns="ops").equals(plain.layers.drop(columns="ops"))


class _LazyNeedsFake(nn.Module):
    """Lazy layers and a CPU tensor of the model's own: the meta forward fails, the
    fake one runs, its lazy twins materialised as fake tensors in their slots."""

    def __init__(self):
        super().__init__()
        self.linear = nn.LazyLinear(4)
        self.norm = nn.LazyBatchNorm1d()

    def forward(self, x):
        return self.norm(self.linear(x)) + torch.ones(4)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_lazy_modules_run_on_fake_twins(training):
    model = _seeded(_LazyNeedsFake)
    before = state.snapshot(model)
    report = profiler.profile(model, input_size=(8,), batch=2, training=training)
    state.assert_untouched(model, before)
    assert report.execution == "fake"
    materialised = _seeded(_LazyNeedsFake)
    materialised(torch.randn(2, 8))
    plain = profiler.profile(materialised, input_size=(8,), batch=2, training=training)
    assert report.layers.drop(columns="ops").equals(plain.layers.drop(columns="ops"))
    if training:
        assert _macs(report) == _flop_counter_step(materialised, torch.randn(2, 8)) == (2 * 8 * 4, 2 * 8 * 4)


def test_a_failing_lazy_training_profile_leaves_the_module_lazy():
    model = nn.Sequential(nn.LazyLinear(4), nn.Linear(5, 2))   # LazyLinear materialises, then 4 != 5
    before = state.snapshot(model)
    with pytest.raises(profiler.ProfilerError, match=r"layer '\d' \(Linear\)"):
        profiler.profile(model, input_size=(3,), training=True)
    state.assert_untouched(model, before)
    assert type(model[0]) is nn.LazyLinear and isinstance(model[0].weight, UninitializedParameter)


def _seeded(build):
    torch.manual_seed(0)
    return build()


def _macs(report) -> tuple[int, int]:
    """(forward, backward) MACs of a training profile."""
    return int(report.layers["macs"].sum()), int(report.layers["bwd_macs"].sum())


def _flop_counter_step(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """FlopCounterMode's (forward, backward) MACs of a real training step in train
    mode, loss = out.sum() (whose reduction FlopCounterMode does not count);
    its flops are 2 × MACs."""
    model.train()
    with FlopCounterMode(display=False) as counter:
        out = model(x)
    forward = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    backward = counter.get_total_flops()
    assert forward % 2 == 0 and backward % 2 == 0
    return forward // 2, backward // 2
