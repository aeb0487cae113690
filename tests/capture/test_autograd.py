"""Training profiles of what the analytic backward formulas cannot see
(profiler.capture.autograd): custom autograd Functions, and activation
checkpointing (reentrant and not, torch's checkpoint and checkpoint_sequential,
transformers' gradient_checkpointing_enable and timm's set_grad_checkpointing).

The reference is torch's FlopCounterMode around a real training step on real
tensors, with SDPA on its math path: the forward, then the backward from zero
gradients of every output that requires grad (what the profile assumes: a loss
depending on every output; a sum's own backward is an expand, which costs
nothing).  FlopCounterMode sees what the device runs, recompute included, so its
total is our *hardware* FLOPs (``forward+backward+recompute``); the *model* FLOPs
(``forward+backward``) equal the same model's without checkpointing."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint, checkpoint_sequential
from torch.utils.flop_counter import FlopCounterMode

import profiler
from state import assert_untouched, snapshot


def _outputs(out) -> list[torch.Tensor]:
    if isinstance(out, dict):
        out = tuple(out.values())
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [t for t in out if isinstance(t, torch.Tensor) and t.requires_grad]


def flop_counter_step(model: nn.Module, *inputs) -> tuple[int, int]:
    """(forward, whole step) MACs of a real training step under FlopCounterMode."""
    model.train()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as step:
        out = _outputs(model(*inputs))
        forward = step.get_total_flops() // 2
        torch.autograd.backward(out, [torch.zeros_like(t) for t in out])
    return forward, step.get_total_flops() // 2


def passes(model: nn.Module, *inputs) -> dict[str, int]:
    report = profiler.profile(model, inputs=inputs, training=True)
    return report.passes.set_index("pass")["macs"].to_dict()


# --- custom autograd Functions ------------------------------------------------------


class Square(torch.autograd.Function):
    """The issue's reproducer: a backward of two matmuls."""

    @staticmethod
    def forward(ctx, x):
        return torch.mm(x, x)

    @staticmethod
    def backward(ctx, g):
        return torch.mm(g, g) + torch.mm(g, g)


class NoFormula(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return torch.special.zeta(g, g)


class ReadsValues(NoFormula):
    @staticmethod
    def backward(ctx, g):
        return g * float(g.sum())   # .item(): cannot run on meta


class Calls(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.lin = nn.Linear(5, 5)

    def forward(self, x):
        return self.lin(self.fn.apply(x))


def test_custom_function_backward_equals_flop_counter():
    class M(nn.Module):
        def forward(self, x):
            return Square.apply(x)
    x = torch.randn(5, 5, requires_grad=True)
    forward, step = flop_counter_step(M(), x)
    counted = passes(M(), x)
    assert (counted["forward"], counted["forward+backward"]) == (forward, step) == (125, 375)
    assert counted["backward"] == 250
    assert "recompute" not in counted


def test_custom_function_backward_is_charged_to_the_module_that_applied_it():
    x = torch.randn(5, 5, requires_grad=True)
    report = profiler.profile(Calls(Square), inputs=(x,), training=True)
    rows = report.layers.set_index("name")
    assert rows.loc["(model)", "bwd_macs"] == 250          # the Function's two matmuls
    assert rows.loc["lin", "bwd_macs"] == 2 * 25 * 5        # grad x and grad W of the Linear
    forward, step = flop_counter_step(Calls(Square), x)
    assert report.passes.set_index("pass").loc["forward+backward", "macs"] == step


@pytest.mark.parametrize("fn, reason", [(NoFormula, "no formula: special_zeta×1"),
                                        (ReadsValues, "could not run: RuntimeError")])
def test_a_custom_backward_that_cannot_be_counted_is_uncounted_never_zero(fn, reason):
    x = torch.randn(5, 5, requires_grad=True)
    with pytest.warns(UserWarning, match="backward of"):
        report = profiler.profile(Calls(fn), inputs=(x,), training=True)
    bad = report.uncounted.set_index("name")
    assert list(bad.index) == ["(model)"]
    assert reason in bad.loc["(model)", "ops"]
    assert report.layers.set_index("name").loc["lin", "bwd_status"] == "formula"


def test_calls_under_no_grad_have_no_backward():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.trained = nn.Linear(8, 8), nn.Linear(8, 8)

        def forward(self, x):
            with torch.no_grad():
                x = self.frozen(x)
            return self.trained(x)
    x = torch.randn(4, 8)
    forward, step = flop_counter_step(Frozen(), x)
    counted = passes(Frozen(), x)
    assert (counted["forward"], counted["forward+backward"]) == (forward, step)


# --- activation checkpointing ------------------------------------------------------------


class TwoLinears(nn.Module):
    """The issue's toy: two 64x64 Linears, checkpointed as one region (or not)."""

    def __init__(self, kind: str | None):
        super().__init__()
        self.a, self.b, self.kind = nn.Linear(64, 64), nn.Linear(64, 64), kind

    def region(self, x):
        return self.b(self.a(x))

    def forward(self, x):
        if self.kind is None:
            return self.region(x)
        return checkpoint(self.region, x, use_reentrant=self.kind == "reentrant")


@pytest.mark.parametrize("kind", ["reentrant", "non-reentrant"])
def test_checkpointed_toy_hardware_equals_flop_counter_and_model_flops_equal_plain(kind):
    torch.manual_seed(0)
    x = torch.randn(16, 64, requires_grad=True)
    model = TwoLinears(kind)
    _, step = flop_counter_step(model, x)
    counted = passes(model, x)
    plain = passes(TwoLinears(None), x)
    assert counted["forward+backward+recompute"] == step
    assert counted["forward+backward"] == plain["forward+backward"] == 3 * 2 * 16 * 64 * 64
    # gradients reach the input through both Linears: 131,072 backward MACs, not 65,536
    assert counted["backward"] == 2 * 2 * 16 * 64 * 64
    # the reentrant kind reruns the whole region; the other stops at the last tensor it
    # needs: b's input, saved before b's matmul runs, so only a reruns
    assert counted["recompute"] == (2 if kind == "reentrant" else 1) * 16 * 64 * 64


def test_recompute_is_its_own_pass_per_layer():
    x = torch.randn(16, 64, requires_grad=True)
    report = profiler.profile(TwoLinears("reentrant"), inputs=(x,), training=True)
    rows = report.layers.set_index("name")
    assert list(rows["rc_macs"]) == list(rows["macs"]) == [16 * 64 * 64] * 2
    assert list(rows["bwd_macs"]) == [2 * 16 * 64 * 64] * 2
    assert "recompute" in report.to_string()
    assert "rc_macs" not in profiler.profile(TwoLinears(None), inputs=(x,), training=True).layers


@pytest.mark.parametrize("reentrant", [True, False])
def test_checkpoint_sequential(reentrant):
    torch.manual_seed(0)
    layers = nn.Sequential(*[nn.Linear(32, 32) for _ in range(4)])

    class Segments(nn.Module):
        def __init__(self, segments):
            super().__init__()
            self.layers, self.segments = layers, segments

        def forward(self, x):
            if not self.segments:
                return self.layers(x)
            return checkpoint_sequential(self.layers, self.segments, x, use_reentrant=reentrant)
    x = torch.randn(8, 32, requires_grad=True)
    _, step = flop_counter_step(Segments(2), x)
    counted = passes(Segments(2), x)
    assert counted["forward+backward+recompute"] == step
    assert counted["forward+backward"] == passes(Segments(0), x)["forward+backward"]
    assert counted["recompute"] > 0


def _llama():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=128,
                                      num_attention_heads=8, num_key_value_heads=2, vocab_size=100,
                                      max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config)


@pytest.mark.parametrize("reentrant", [None, True, False])
def test_transformers_gradient_checkpointing(reentrant):
    ids = torch.randint(0, 100, (2, 16), generator=torch.Generator().manual_seed(1))
    plain = passes(_llama(), ids)
    model = _llama()
    model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs=None if reentrant is None else {"use_reentrant": reentrant})
    _, step = flop_counter_step(model, ids)
    before = snapshot(model)
    counted = passes(model, ids)
    assert_untouched(model, before)
    assert counted["forward+backward+recompute"] == step
    assert counted["forward+backward"] == plain["forward+backward"]
    assert 0 < counted["recompute"] < counted["forward"]


def test_timm_grad_checkpointing():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    plain = passes(timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64), x)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64)
    model.set_grad_checkpointing(True)
    _, step = flop_counter_step(model, x)
    counted = passes(model, x)
    assert counted["forward+backward+recompute"] == step
    assert counted["forward+backward"] == plain["forward+backward"]
    assert counted["recompute"] > 0


@pytest.mark.parametrize("kind", ["reentrant", "non-reentrant"])
def test_the_replay_leaves_model_inputs_and_process_untouched(kind):
    torch.manual_seed(0)
    model = TwoLinears(kind)
    x = torch.randn(16, 64, requires_grad=True)
    y = x * 1   # a non-leaf input: its graph is the caller's
    other, calls = torch.randn(5, 5, requires_grad=True), Calls(Square)
    before, x_before = snapshot(model), (x.grad, y.grad_fn)
    profiler.profile(model, inputs=(x,), training=True)
    profiler.profile(calls, inputs=(other,), training=True)
    profiler.profile(model, inputs=(y,), training=True)
    assert_untouched(model, before)
    assert (x.grad, y.grad_fn) == x_before and other.grad is None
    assert all(p.grad is None for p in model.parameters())


def test_a_meta_model_of_the_caller_gets_no_gradients():
    with torch.device("meta"):
        model = TwoLinears("non-reentrant")
    before = snapshot(model)
    profiler.profile(model, inputs=(torch.empty(16, 64, device="meta", requires_grad=True),), training=True)
    assert_untouched(model, before)
    assert all(p.grad is None for p in model.parameters())
