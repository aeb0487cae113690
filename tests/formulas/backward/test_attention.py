"""profiler.formulas.backward.attention: nn.MultiheadAttention's backward with
bias_k/v and the zero row (MACs against FlopCounterMode around loss.backward() on
the math path; the bias_k/v gradients' batch sums against counting scalars), and
the scaled-dot-product ops' backward against FlopCounterMode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
import profiler
from formula_access import find_op_backward
from backward_cases import training_row as _row


def _fcm_backward_macs(module, *inputs) -> int:
    """MACs FlopCounterMode sees in loss.backward(), loss = Σ of every output
    tensor; oneDNN off, whose fused CPU LSTM kernel it cannot see into."""
    with torch.backends.mkldnn.flags(enabled=False):
        out = module(*inputs)
        loss = sum(o.sum() for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor))
        with FlopCounterMode(display=False) as counter:
            loss.backward()
    return counter.get_total_flops() // 2


# --- nn.MultiheadAttention with bias_k/v and the zero row ----------------------------------

class _Attend(nn.Module):
    """nn.MultiheadAttention called with need_weights as given (a module's own call
    cannot take keyword arguments through profile)."""

    def __init__(self, need_weights: bool, **ctor):
        super().__init__()
        self.mha, self.need_weights = nn.MultiheadAttention(8, 2, **ctor), need_weights

    def forward(self, q, k, v):
        return self.mha(q, k, v, need_weights=self.need_weights)


def _mha_inputs(m: nn.MultiheadAttention, batch=3, tgt=5, src=7):
    def seq(length, width):
        return torch.randn((batch, length, width) if m.batch_first else (length, batch, width))
    return seq(tgt, m.embed_dim), seq(src, m.kdim), seq(src, m.vdim)


_MHA = {
    "bias-kv-zero-attn-weights": (True, dict(add_bias_kv=True, add_zero_attn=True)),
    "bias-kv-sdpa": (False, dict(add_bias_kv=True, batch_first=True)),
    "zero-attn-kdim-vdim-weights": (True, dict(add_zero_attn=True, kdim=4, vdim=10, batch_first=True)),
    "bias-kv-zero-attn-kdim-vdim-sdpa": (False, dict(add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=10)),
}


@pytest.mark.parametrize("name", _MHA)
def test_multihead_attention_backward_macs_equal_flop_counter_with_appended_keys(name):
    """The k and v projections run on the S keys given; bias_k/v and the zero row are
    appended after them, so only the core sees S + 1 or S + 2 keys: FlopCounterMode
    around loss.backward() on the math path (scaled_dot_product_attention's when
    need_weights=False, bmm's otherwise)."""
    need_weights, ctor = _MHA[name]
    torch.manual_seed(13)
    model = _Attend(need_weights, **ctor)
    inputs = [x.requires_grad_() for x in _mha_inputs(model.mha)]
    ours = int(profiler.profile(model, inputs=tuple(inputs), training=True).layers["bwd_macs"].sum())
    with sdpa_kernel(SDPBackend.MATH):
        assert ours == _fcm_backward_macs(model.train(), *inputs)


def test_multihead_attention_bias_kv_gradients_sum_the_batch_copies():
    """bias_k and bias_v are repeated over the N batch elements before joining the
    keys and values: each gradient is the sum of its N copies' gradients, (N − 1)·E
    additions.  The copies' gradients are taken one batch element at a time (the
    elements are independent), summed with counting scalars, checked against the
    batched gradient; the training profile's counts differ by that tally exactly
    between bias_k/v learned and frozen."""
    torch.manual_seed(14)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    q, k, v = _mha_inputs(m)
    m(q, k, v)[0].sum().backward()
    batched = m.bias_k.grad.clone(), m.bias_v.grad.clone()
    copies = []
    for i in range(q.shape[1]):
        m.zero_grad()
        m(q[:, i:i + 1], k[:, i:i + 1], v[:, i:i + 1])[0].sum().backward()
        copies.append((m.bias_k.grad.double().flatten().numpy(), m.bias_v.grad.double().flatten().numpy()))
    tally = bf.Tally()
    for which, want in enumerate(batched):
        got = [bf.total([tally.num(c[which][d]) for c in copies]).v for d in range(m.embed_dim)]
        np.testing.assert_allclose(got, want.flatten().double().numpy(), rtol=1e-5, atol=1e-6)
    learned, _ = _row(m, q, k, v)
    m.bias_k.requires_grad_(False)
    m.bias_v.requires_grad_(False)
    frozen, _ = _row(m, q, k, v)
    assert tuple(a - b for a, b in zip(learned, frozen)) == tally.as_tuple() == (0, 2 * 2 * 8, 0)


# --- the scaled-dot-product ops -------------------------------------------------------------

@pytest.mark.parametrize("heads_q,heads_kv", [(2, 2), (4, 2)])
@pytest.mark.parametrize("needs", [(True, True, True), (True, False, False), (False, False, True)])
def test_sdpa_backward_macs_equal_flop_counter_on_the_math_path(heads_q, heads_kv, needs):
    """Q (2, hq, 3, 4), K (2, hkv, 5, 4), V (2, hkv, 5, 6); with fewer key/value heads
    (enable_gqa) each is shared by hq/hkv query heads.  FlopCounterMode around
    loss.backward() sees the math path's matmuls: g·Vᵀ, Pᵀ·g, dS·K, dSᵀ·Q."""
    torch.manual_seed(15)
    q = torch.randn(2, heads_q, 3, 4, requires_grad=needs[0])
    k = torch.randn(2, heads_kv, 5, 4, requires_grad=needs[1])
    v = torch.randn(2, heads_kv, 5, 6, requires_grad=needs[2])
    with sdpa_kernel(SDPBackend.MATH):
        loss = F.scaled_dot_product_attention(q, k, v, enable_gqa=heads_q != heads_kv).sum()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    cost = find_op_backward(torch.ops.aten.scaled_dot_product_attention)(
        needs, (2, heads_q, 3, 6), tuple(q.shape), tuple(k.shape), tuple(v.shape))
    assert cost.macs == counter.get_total_flops() // 2
