"""profile(memory=, optimizer=): Report.memory and the memory columns, the counts
unchanged by them, the caller's model left as it was, the refusals, a KV cache."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

import profiler
from profiler.columns import BWD_COLUMNS, COLUMNS, RC_COLUMNS
from profiler.count.memory import CATEGORIES, MEMORY_COLUMNS, Memory
from profiler.errors import ProfilerError
from memory_cases import Attention
from state import assert_untouched, snapshot


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class Region(nn.Module):
    """Two 64x64 Linears and a custom Function, checkpointed as one region (or not)."""

    def __init__(self, kind: str | None):
        super().__init__()
        self.a, self.b, self.kind = nn.Linear(64, 64), nn.Linear(64, 64), kind

    def region(self, x):
        return self.b(Square.apply(self.a(x)))

    def forward(self, x):
        if self.kind is None:
            return self.region(x)
        return checkpoint(self.region, x, use_reentrant=self.kind == "reentrant")


def _counts(report) -> list:
    layers = report.layers
    return layers[[c for c in COLUMNS + BWD_COLUMNS + RC_COLUMNS if c in layers]].to_dict("records")


@pytest.mark.parametrize("kind", [None, "reentrant", "non-reentrant"])
def test_counts_are_the_same_with_memory(kind):
    model, x = Region(kind), torch.randn(16, 64, requires_grad=True)
    plain = profiler.profile(model, inputs=(x,), training=True)
    with_memory = profiler.profile(model, inputs=(x,), training=True, optimizer="adamw")
    assert _counts(with_memory) == _counts(plain)
    assert with_memory.passes.equals(plain.passes)
    assert plain.memory is None and not set(MEMORY_COLUMNS) & set(plain.layers)
    assert isinstance(with_memory.memory, Memory) and set(MEMORY_COLUMNS) <= set(with_memory.layers)


def test_counts_are_the_same_with_memory_resnet18():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    plain = profiler.profile(model, input_size=(3, 64, 64), batch=2, training=True)
    with_memory = profiler.profile(model, input_size=(3, 64, 64), batch=2, training=True, memory=True)
    assert _counts(with_memory) == _counts(plain)


@pytest.mark.parametrize("checkpointed", [False, True])
def test_counts_are_the_same_with_memory_llama(checkpointed):
    """The fused-attention accounting (profiler.capture.saved._Fused) changes no count,
    with transformers' checkpointing recomputing the attention in the backward too."""
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=128)
    model = transformers.LlamaForCausalLM(config)
    if checkpointed:
        from profiler.models.checkpointing import enable   # transformers' own switch, by version
        enable(model, "non-reentrant", "llama")
    ids = torch.zeros(2, 16, dtype=torch.long)
    plain = profiler.profile(model, inputs=(ids,), kwargs={"use_cache": False}, training=True)
    with_memory = profiler.profile(model, inputs=(ids,), kwargs={"use_cache": False}, training=True,
                                   optimizer="adamw")
    assert _counts(with_memory) == _counts(plain)
    assert with_memory.passes.equals(plain.passes)
    assert with_memory.memory.totals["saved"] > 0
    # AdamW's states put the peak in the step, where no backward temporary is left: the
    # recompute's graph (its saved tensors) dies in the backward, as autograd frees it
    memory = with_memory.memory
    assert (memory.peak_phase, memory.at_peak["temporaries"], memory.at_peak["saved"]) == ("optimizer", 0, 0)


def test_checkpointing_saves_less_and_its_region_is_recomputed_in_the_backward():
    x = torch.randn(16, 64, requires_grad=True)   # the reentrant kind needs an input requiring grad
    plain = profiler.profile(Region(None), inputs=(x,), training=True, memory=True).memory
    for kind in ("reentrant", "non-reentrant"):
        kept = profiler.profile(Region(kind), inputs=(x,), training=True, memory=True).memory
        assert kept.totals["gradients"] == plain.totals["gradients"] == (2 * 64 * 64 + 2 * 64) * 4
        # without checkpointing: a's output (saved by Square) and Square's (saved by b), 16x64 float32 each
        assert plain.totals["saved"] == 2 * 16 * 64 * 4
        assert kept.totals["saved"] < plain.totals["saved"]
        assert kept.totals["temporaries"] > plain.totals["temporaries"]   # the recomputed region


def test_rows_and_categories():
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    report = profiler.profile(model, input_size=(32,), batch=4, training=True, optimizer="sgd-momentum")
    memory, rows = report.memory, report.layers.set_index("name")
    assert set(memory.at_peak) == set(memory.totals) == set(CATEGORIES)
    assert sum(memory.at_peak.values()) == memory.peak_bytes == max(b for *_, b in memory.timeline)
    params = (32 * 64 + 64 + 64 * 8 + 8) * 4
    assert memory.totals["parameters"] == memory.totals["gradients"] == memory.totals["optimizer"] == params
    assert list(rows["param_bytes"]) == list(rows["grad_bytes"]) == [(32 * 64 + 64) * 4, 0, (64 * 8 + 8) * 4]
    assert list(rows["saved_bytes"]) == [0, 4 * 64 * 4, 0]   # ReLU's output (also b's input)
    assert memory.totals["inputs"] == 4 * 32 * 4
    assert {phase for phase, *_ in memory.timeline} == {"forward", "backward", "optimizer"}
    assert memory.assumptions


def test_inference_holds_weights_and_live_activations_only():
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    memory = profiler.profile(model, input_size=(32,), batch=4, memory=True).memory
    assert memory.peak_phase == "forward"
    assert memory.at_peak["gradients"] == memory.at_peak["saved"] == memory.at_peak["optimizer"] == 0
    # at the peak: the input, the Linear's output and ReLU's (not in place)
    assert memory.peak_bytes == (32 * 64 + 64 + 64 * 8 + 8) * 4 + 4 * 32 * 4 + 2 * 4 * 64 * 4


def test_kv_cache_of_a_language_model():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=128)
    model = transformers.LlamaForCausalLM(config)
    memory = profiler.profile(model, inputs=(torch.zeros(2, 16, dtype=torch.long),), memory=True).memory
    # keys and values, 2 layers, batch 2, 2 KV heads, 16 tokens, head dim 16, float32
    assert memory.totals["kv_cache"] == 2 * 2 * (2 * 2 * 16 * 16 * 4)


def test_the_callers_model_is_left_as_it_was():
    model = nn.Sequential(nn.Linear(32, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 8))
    before = snapshot(model)
    profiler.profile(model, input_size=(32,), batch=4, training=True, optimizer="adamw")
    profiler.profile(model, input_size=(32,), batch=4, memory=True)
    assert_untouched(model, before)


@pytest.mark.parametrize("kwargs, words", [
    (dict(optimizer="lion", training=True), "optimizer='lion': expected one of"),
    (dict(optimizer="adamw"), "add training=True"),
    (dict(memory="yes"), "memory='yes': expected True or False"),
])
def test_refusals(kwargs, words):
    with pytest.raises(ProfilerError, match=words):
        profiler.profile(nn.Linear(4, 4), input_size=(4,), **kwargs)


def test_adafactor_states_by_hand():
    """Adafactor (torch's own step, on the profile's meta parameters): a matrix keeps a
    row and a column second moment (float32 like the parameter), a vector a full one,
    each parameter a 4-byte step count."""
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    memory = profiler.profile(model, input_size=(32,), batch=4, training=True, optimizer="adafactor").memory
    assert memory.totals["optimizer"] == ((64 + 32) + 64 + (8 + 64) + 8) * 4 + 4 * 4
    assert memory.optimizer == "adafactor"




@pytest.mark.parametrize("kind", [None, "non-reentrant"])
def test_attention_is_seen_with_or_without_the_captures_function_mode(kind):
    """SDPA is seen by the capture's own function mode where its forward carries input
    values (a real input tensor: profiler.capture.known), else by the trace's _Fused
    mode (shapes given): the same memory either way, a checkpoint's recompute in the
    backward included.  Saved by hand, at batch 2, 128 tokens, 4 heads of 16, float32:
    each attention holds its fused kernel's set: q, k and v (views of one (2, 128, 192)
    projection: 196,608 bytes), its output (2 × 128 × 64: 65,536 bytes, which the out
    Linear's input views: its (B, L, H, D) memory reshaped) and a log-sum-exp per query
    row (2 × 4 × 128 × 4 = 4,096 bytes), never the math path's (2, 4, 128, 128) scores;
    and the second attention's qkv Linear its input (65,536 bytes; the first's is the
    model's input)."""
    model = nn.Sequential(Attention(), Attention())
    if kind is not None:
        inner = model

        class Checkpointed(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return checkpoint(self.inner, x, use_reentrant=False)
        model = Checkpointed()
    torch.manual_seed(0)
    x = torch.randn(2, 128, 64)
    given = profiler.profile(model, inputs=(x,), training=True, optimizer="sgd").memory
    shapes = profiler.profile(model, input_size=(128, 64), batch=2, training=True, optimizer="sgd").memory
    assert given == shapes
    if kind is None:
        assert given.totals["saved"] == 2 * (196608 + 65536 + 4096) + 65536


def test_the_gradient_hooks_are_gone_after_the_step():
    """The trace's gradient hooks (one shared dict per kind, set on each parameter that
    has none) leave nothing behind: on a model the profile owns, whose own parameters
    it steps, no hook dict is left set, a parameter's hook of its own still runs, and
    a later backward calls none of the trace's."""
    from profiler.capture.run import Run
    from profiler.capture.saved import Request
    from profiler.capture.session import captured
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    seen = []
    handle = model[2].weight.register_hook(lambda g: seen.append(tuple(g.shape)))
    request = Request("sgd")
    x = torch.empty(4, 8, device="meta")
    with captured(Run("model", model, args=(x,), training=True, memory=request, owned=True), "meta"):
        pass
    assert seen == [(2, 8)]
    assert request.trace.grad_bytes == (8 * 8 + 8 + 2 * 8 + 2) * 4
    for p in model.parameters():
        assert p.grad is None and p._post_accumulate_grad_hooks is None
        assert p._backward_hooks is None or p is model[2].weight
    events = len(request.trace.events)
    model(x).sum().backward()
    assert len(request.trace.events) == events and seen == [(2, 8), (2, 8)]
    handle.remove()
