"""Attention: nn.MultiheadAttention counted whole from its shapes, and the fused
scaled-dot-product attention ops.  Both are the same core, ``attention_core_cost``.

Profiling turns PyTorch's fused MHA fast path off (torch.backends.mha), so the
module always runs its composite forward; its formula then charges the whole of
it here.  Backward: ``backward/attention.py``, which reuses ``mha_shapes``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from profiler.formulas.cost import Cost, dot_products, numel
from profiler.formulas.forward.activation import softmax_cost
from profiler.formulas.registry import CallShapes, aten_formula, module_formula

aten = torch.ops.aten


def attention_core_cost(q, k, v, masks: int, scaled_scores: bool) -> Cost:
    """softmax(Q·Kᵀ·scale + masks)·V over L queries and S keys, Q (…, L, E),
    K (…, S, E), V (…, S, Ev): Q·Kᵀ is (…·L·S) dot products of length E; the
    scale 1 mult per score (``scaled_scores``; nn.MultiheadAttention scales the
    queries instead); each mask 1 add per score; softmax over S; ·V is (…·L·Ev)
    dot products of length S."""
    scores = numel(q[:-1]) * k[-2]
    return (dot_products(scores, q[-1]) + Cost(mults=scores * scaled_scores, adds=scores * masks)
            + softmax_cost(scores, k[-2]) + dot_products(numel(q[:-1]) * v[-1], k[-2]))


@aten_formula(aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
              aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
              aten.scaled_dot_product_attention, kind="matmul")
def sdpa(out, q, k, v, *args, attn_mask=None, **kwargs) -> Cost:
    """F.scaled_dot_product_attention: the core, with the scores scaled and at most one mask."""
    mask = attn_mask if attn_mask is not None else next(
        (a for a in args if isinstance(a, tuple)), None)
    return attention_core_cost(q, k, v, int(mask is not None), True)


class MhaShapes(NamedTuple):
    """The sizes of one nn.MultiheadAttention call: batch N, queries L, keys S as
    given, and keys attended (S plus the bias_k/v row and the zero row, which are
    appended after the projections)."""

    batch: int
    tgt: int
    src: int
    keys: int


def mha_shapes(m: nn.MultiheadAttention, call: CallShapes) -> MhaShapes:
    """Batch and lengths from the query and key shapes: (L, N, E), or (N, L, E)
    with batch_first, or unbatched (L, E)."""
    q, k = call.inputs[0], call.inputs[1]
    batched = len(q) == 3
    length_axis = 1 if (batched and m.batch_first) else 0
    n = q[0 if length_axis else 1] if batched else 1
    src = k[length_axis]
    return MhaShapes(n, q[length_axis], src, src + int(m.bias_k is not None) + int(m.add_zero_attn))


@module_formula(nn.MultiheadAttention, kind="attention")
def mha_module(m: nn.MultiheadAttention, call: CallShapes) -> Cost:
    """Multi-head attention of L queries over S keys, embed E, h heads of size
    d = E/h, batch N:
    * q, k, v projections: N·L·E dot products of length E, N·S·E of kdim and
      N·S·E of vdim (+1 add each with in_proj bias);
    * scaling the queries by 1/√d: N·L·E mults;
    * the core (``attention_core_cost``) over N·h heads, unscaled scores: scores
      Q·Kᵀ: N·h·L·S dot products of length d; each mask given adds N·h·L·S
      additions; softmax over S for N·h·L rows (S exps, S−1 adds, S divisions a
      row); weights·V: N·L·E dot products of length S;
    * out projection: N·L·E dot products of length E (+1 add with bias);
    * returning head-averaged weights (need_weights=True, the default): (h−1)
      adds and 1 mult per element of the N·L·S weights.
    add_bias_kv and add_zero_attn each lengthen S by one (for the core only).
    """
    n, tgt, src, keys = mha_shapes(m, call)
    e, h = m.embed_dim, m.num_heads
    bias = m.in_proj_bias is not None
    cost = (dot_products(n * tgt * e, e, bias) + dot_products(n * src * e, m.kdim, bias)
            + dot_products(n * src * e, m.vdim, bias) + Cost(mults=n * tgt * e))
    heads_q, heads_kv = (n * h, tgt, e // h), (n * h, keys, e // h)
    masks = len(call.inputs) - 3
    cost += attention_core_cost(heads_q, heads_kv, heads_kv, masks, False)
    cost += dot_products(n * tgt * e, e, m.out_proj.bias is not None)
    weights = call.outputs[1] if len(call.outputs) > 1 else None
    if weights is not None and len(weights) == len(call.inputs[0]):  # averaged over heads
        cost += Cost(mults=n * tgt * keys, adds=n * tgt * keys * (h - 1))
    return cost
