"""profiler.formulas.forward.attention: nn.MultiheadAttention and the scaled
dot-product attention ops (math, flash, efficient, cuDNN), as literal arithmetic
for one small call of each (the efficient op also against FlopCounterMode), and
MultiheadAttention over masks, batch_first, kdim/vdim, bias_k/v and the zero row
against its explicit steps and FlopCounterMode."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from formula_cases import (M, Case, Op, assert_module_literal_cost, assert_op_literal_cost,
                           assert_op_macs_equal_flop_counter_half, case_ids, flop_counted_params, op_params, t)
from layer_cases import MHA_CASES, mha_inputs


Q, K, V = (1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 6)
# attention with B=1, H=2, L=3, S=5, E=4, Ev=6: scores 1·2·3·5 = 30 dot products of 4
# (120 mults, 90 adds) + 30 scaling mults; softmax over 6 rows of 5 (6·4 adds, 60 other);
# ·V 1·2·3·6 = 36 dot products of 5 (180 mults, 144 adds)
SDPA = (120 + 30 + 180, 90 + 6 * 4 + 144, 60, 120 + 180)
SDPA_MASKED = (SDPA[0], SDPA[1] + 30, SDPA[2], SDPA[3])   # + 1 add per score
SDPA_SAME_V = (120 + 30 + 120, 90 + 24 + 96, 60, 240)       # Ev = 4: ·V is 24 dots of 5


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- attention: L = S = 3, N = 1, E = 4, h = 2 heads of d = 2, biases, head-averaged weights
    Case("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2).eval(),
         lambda: (t(3, 1, 4), t(3, 1, 4), t(3, 1, 4)),
         # q, k, v, out projections: 4 × (12 dot products of 4, + bias): 48 mults, 48 adds each;
         # query scaling 12 mults; scores 2·3·3 = 18 dot products of 2: 36 mults, 18 adds;
         # softmax 6 rows of 3: 12 adds, 36 other; weights·V 12 dot products of 3: 36, 24;
         # averaging the weights over 2 heads: 9 mults, 9·(2 − 1) adds
         (4 * 48 + 12 + 36 + 36 + 9, 4 * 48 + 18 + 12 + 24 + 9, 36, 4 * 48 + 36 + 36)),
]


OPS: list[Op] = [
    # --- attention
    Op(["scaled_dot_product_attention"], lambda: (M(*Q), M(*K), M(*V)), SDPA),
    Op(["scaled_dot_product_attention"], lambda: (M(*Q), M(*K), M(*V)), SDPA_MASKED,
       kwargs={"attn_mask": M(3, 5)}, id="masked"),
    Op(["_scaled_dot_product_flash_attention_for_cpu"], lambda: (M(*Q), M(*K), M(*V)), SDPA),
    Op(["_scaled_dot_product_flash_attention"], lambda: (M(*Q), M(*K), M(*K)), SDPA_SAME_V),
    Op(["_scaled_dot_product_efficient_attention"], lambda: (M(*Q), M(*K), M(*V), None, False), SDPA),
    Op(["_scaled_dot_product_efficient_attention"], lambda: (M(*Q), M(*K), M(*V), M(1, 2, 3, 5), False),
       SDPA_MASKED, id="bias"),
    Op(["_scaled_dot_product_cudnn_attention"], lambda: (M(*Q), M(*K), M(*V), None, False), SDPA),
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)


FLOP_COUNTED = ["_scaled_dot_product_efficient_attention"]


@pytest.mark.parametrize("op,name", flop_counted_params(OPS, FLOP_COUNTED), ids=lambda v: getattr(v, "id", v))
def test_op_macs_equal_flop_counter_half(op: Op, name: str):
    """torch's FlopCounterMode on the same call: 2 flops per MAC."""
    assert_op_macs_equal_flop_counter_half(op, name)


# --- multi-head attention: explicit steps and FlopCounterMode ------------------------------

def _dots(count: int, length: int, bias: bool = False) -> tuple[int, int]:
    """(mults, adds) of ``count`` dot products of ``length`` terms, + bias."""
    return count * length, count * (length - 1 + bias)


def mha_explicit(m: nn.MultiheadAttention, tgt: int, src: int, batch: int, masks: int,
                 need_weights: bool, average: bool) -> tuple[int, int, int, int]:
    """(mults, adds, other, macs) of nn.MultiheadAttention's composite forward, step by step."""
    e, h = m.embed_dim, m.num_heads
    d = e // h
    bias = m.in_proj_bias is not None
    keys = src + (m.bias_k is not None) + m.add_zero_attn   # rows appended after projecting
    steps = [
        _dots(batch * tgt * e, e, bias),                      # q = x·W_qᵀ + b_q
        _dots(batch * src * e, m.kdim, bias),                 # k
        _dots(batch * src * e, m.vdim, bias),                 # v
        _dots(batch * h * tgt * keys, d),                     # scores q·kᵀ
        _dots(batch * tgt * e, keys),                         # weights·v
        _dots(batch * tgt * e, e, m.out_proj.bias is not None),  # out projection
    ]
    macs = sum(mults for mults, _ in steps)
    mults = macs + batch * tgt * e                            # q scaled by 1/√d
    adds = sum(a for _, a in steps) + masks * batch * h * tgt * keys
    rows = batch * h * tgt
    adds += rows * (keys - 1)                                 # softmax sums
    other = 2 * rows * keys                                   # softmax exps and divisions
    if need_weights and average:                              # mean over heads
        mults += batch * tgt * keys
        adds += batch * tgt * keys * (h - 1)
    return mults, adds, other, macs


@pytest.mark.parametrize("ctor,batched,masks,call", MHA_CASES)
def test_multihead_attention_matches_its_explicit_steps_and_flop_counter(layer_cost, ctor, batched, masks, call):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(6, 2, **ctor)
    (q, k, v), mask_kwargs = mha_inputs(m, batched, masks)
    kwargs = {**mask_kwargs, **call}
    got = layer_cost(m, q, k, v, **kwargs)
    expected = mha_explicit(m, 3, 5, 2 if batched else 1, len(masks), call.get("need_weights", True),
                            call.get("average_attn_weights", True))
    assert (got["mults"], got["adds"], got["other"], got["macs"]) == expected

    # FlopCounterMode counts the matmuls of the composite (math) path, with or without grad
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        for grad in (True, False):
            with torch.set_grad_enabled(grad), sdpa_kernel(SDPBackend.MATH), \
                    FlopCounterMode(display=False) as counter:
                m(q, k, v, **kwargs)
            assert counter.get_total_flops() == 2 * got["macs"]
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
