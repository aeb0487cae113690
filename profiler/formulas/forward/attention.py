"""nn.MultiheadAttention, counted whole from its shapes.

Profiling turns PyTorch's fused fast path off (torch.backends.mha), so the module
always runs its composite forward; this formula then charges the whole of it here.
"""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import Cost, dot_products
from profiler.formulas.forward.activation import softmax_cost
from profiler.formulas.registry import Call, module_formula


@module_formula(nn.MultiheadAttention, kind="attention")
def mha_module(m: nn.MultiheadAttention, call: Call) -> Cost:
    """Multi-head attention of L queries over S keys, embed E, h heads of size
    d = E/h, batch N:
    * q, k, v projections: N·L·E dot products of length E, N·S·E of kdim and
      N·S·E of vdim (+1 add each with in_proj bias);
    * scaling the queries by 1/√d: N·L·E mults;
    * scores Q·Kᵀ: N·h·L·S dot products of length d; each mask given adds
      N·h·L·S additions;
    * softmax over S for N·h·L rows (S exps, S−1 adds, S divisions a row);
    * weights·V: N·L·E dot products of length S;
    * out projection: N·L·E dot products of length E (+1 add with bias);
    * returning head-averaged weights (need_weights=True, the default): (h−1)
      adds and 1 mult per element of the N·L·S weights.
    add_bias_kv and add_zero_attn each lengthen S by one.
    """
    q, k = call.inputs[0], call.inputs[1]
    batched = len(q) == 3
    length_axis = 1 if (batched and m.batch_first) else 0
    n = q[0 if length_axis else 1] if batched else 1
    tgt, src = q[length_axis], k[length_axis]
    e, h = m.embed_dim, m.num_heads
    bias = m.in_proj_bias is not None
    cost = (dot_products(n * tgt * e, e, bias) + dot_products(n * src * e, m.kdim, bias)
            + dot_products(n * src * e, m.vdim, bias) + Cost(mults=n * tgt * e))
    # the bias_k/v row and the zero row are appended after the projections
    src += int(m.bias_k is not None) + int(m.add_zero_attn)
    scores = n * h * tgt * src
    masks = len(call.inputs) - 3
    cost += dot_products(scores, e // h) + Cost(adds=scores * masks) + softmax_cost(scores, src)
    cost += dot_products(n * tgt * e, src)
    cost += dot_products(n * tgt * e, e, m.out_proj.bias is not None)
    weights = call.outputs[1] if len(call.outputs) > 1 else None
    if weights is not None and len(weights) == len(q):  # averaged over heads
        cost += Cost(mults=n * tgt * src, adds=n * tgt * src * (h - 1))
    return cost
