"""Functional ops below the module level and the attention fast path.  (Explicit
inputs: tests/capture/test_inputs.py; meta twins of real weights: tests/capture/test_twins.py.)"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import profiler


def _macs_by_flop_counter(model, *args, **kwargs) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model(*args, **kwargs)
    return counter.get_total_flops() // 2


class Residual(nn.Module):
    """A block whose residual add and squeeze-excite product are functional, not modules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        gate = torch.sigmoid(self.fc(x.mean((2, 3))))[:, :, None, None]
        return x + self.conv(x) * gate


def test_residual_add_and_gate_product_are_charged_to_the_block():
    report = profiler.profile(Residual(), input_size=(8, 5, 5))
    block = report.layers[report.layers["name"] == "(model)"].iloc[0]
    n = 8 * 5 * 5
    # mean: 8·(25−1) adds + 8 mults; sigmoid: 8·(1 add, 2 other); product: n mults; add: n adds
    assert block["mults"] == 8 + n
    assert block["adds"] == 8 * 24 + 8 + n
    assert block["other"] == 2 * 8
    assert block["status"] == "functional"
    assert report.total["flops"] == report.layers["flops"].sum()


class AttentionByHand(nn.Module):
    """Attention written with matmul, einsum and softmax, as ViT-style code does."""

    def __init__(self, dim=16):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = torch.einsum("bld,bsd->bls", q, k) / 4.0
        return torch.matmul(scores.softmax(-1), v)


def test_matmul_and_einsum_macs_equal_flop_counter_half():
    model = AttentionByHand()
    report = profiler.profile(model, inputs=(2, 7, 16))
    assert report.total["macs"] == _macs_by_flop_counter(model, torch.randn(2, 7, 16))
    own = report.layers[report.layers["name"] == "(model)"].iloc[0]
    assert own["kind"] == "attention"   # it holds the attention product (see profiler/kinds.py)
    assert own["macs"] == 2 * (2 * 7 * 7 * 16)  # scores and weights·V


def test_sdpa_counts_both_matmuls():
    class SDPA(nn.Module):
        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.randn(1, 2, 5, 8)
    k = torch.randn(1, 2, 6, 8)
    report = profiler.profile(SDPA(), inputs=(q, k, k))
    assert report.total["macs"] == 2 * (1 * 2 * 5 * 6 * 8)
    assert report.uncounted.empty


class UsesExp(nn.Module):
    """A layer type with no formula that does its own arithmetic."""

    def forward(self, x):
        return torch.exp(x) * 2


def test_module_without_formula_is_counted_through_its_aten_ops():
    report = profiler.profile(nn.Sequential(nn.Linear(4, 4), UsesExp()), inputs=(3, 4))
    row = report.layers[report.layers["type"] == "UsesExp"].iloc[0]
    assert (row["other"], row["mults"]) == (12, 12)
    assert row["status"] == "functional"
    assert report.uncounted.empty


class UsesUnknownOp(nn.Module):
    def forward(self, x):
        return torch.special.bessel_j0(x)


def test_op_without_formula_is_listed_as_uncounted_never_dropped(recwarn):
    report = profiler.profile(UsesUnknownOp(), inputs=(3, 4))
    assert list(report.uncounted["name"]) == ["(model)"]
    assert "special_bessel_j0" in report.uncounted.iloc[0]["ops"]
    assert any("uncounted" in str(w.message) for w in recwarn)


def _encoder_layer():
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)


def test_encoder_layer_in_eval_under_no_grad_counts_as_in_train_mode():
    layer = _encoder_layer()
    layer.train()
    train_counts = profiler.profile(layer, inputs=(2, 10, 32)).total
    layer.eval()
    with torch.no_grad():
        eval_report = profiler.profile(layer, inputs=(2, 10, 32))
    assert eval_report.total.equals(train_counts)
    assert "self_attn" in set(eval_report.layers["name"])   # the fused path would hide it
    assert torch.backends.mha.get_fastpath_enabled()        # the flag is restored


def test_multihead_attention_fast_path_is_avoided_and_matches_flop_counter_math_path():
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        report = profiler.profile(mha, inputs=(x, x, x), kwargs={"need_weights": False})
    # the math path, as FlopCounterMode sees it on meta tensors: projections and both matmuls
    expected = 2 * 10 * 32 * 32 * 4 + 2 * (2 * 4 * 10 * 10 * 8)
    assert report.total["macs"] == expected
    assert report.uncounted.empty
