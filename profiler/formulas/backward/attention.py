"""Backward of attention: the fused scaled-dot-product ops and
nn.MultiheadAttention, both around ``attention_backward_cost`` (conventions in
``profiler.formulas.backward``)."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.backward.activation import softmax_backward_cost
from profiler.formulas.backward.linear import linear_backward_cost
from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel
from profiler.formulas.forward.attention import mha_shapes
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import module_params_need, need

aten = torch.ops.aten


def attention_backward_cost(q: Shape, k: Shape, v: Shape, need_q: bool, need_k: bool,
                            need_v: bool, scaled_scores: bool = True) -> Cost:
    """softmax(Q·Kᵀ·scale)·V over L queries, S keys, B = ∏ leading dims of Q:
    grad P = g·Vᵀ: B·L·S dot products of E_v terms (if Q or K need grads);
    grad V = Pᵀ·g: numel(V) dot products of r·L terms;
    softmax backward over B·L rows of S (see ``softmax_backward_cost``), then the
    scale, 1 mult per score (``scaled_scores``; nn.MultiheadAttention scales the
    queries instead); grad Q = dS·K: numel(Q) dot products of S terms;
    grad K = dSᵀ·Q: numel(K) dot products of r·L terms.

    r = B / ∏ leading dims of K: the query heads that share one key/value head
    (grouped-query attention, ``enable_gqa``: 32 query heads on 8 kv heads give
    r = 4) or a batch K and V broadcast over; 1 otherwise.  Each shared K/V
    element's gradient sums the products of all r query heads: r·L terms, the
    same MACs and additions as the math path's repeat of K and V, its per-head
    products and the sum of the repeats' gradients."""
    L, S = q[-2], k[-2]
    scores = numel(q[:-2]) * L * S
    shared = max(numel(q[:-2]) // max(numel(k[:-2]), 1), 1)
    cost = dot_products(numel(v), shared * L) if need_v else ZERO
    if need_q or need_k:
        cost += dot_products(scores, v[-1]) + softmax_backward_cost(scores, S)
        cost += Cost(mults=scores * scaled_scores)
    if need_q:
        cost += dot_products(numel(q), S)
    if need_k:
        cost += dot_products(numel(k), shared * L)
    return cost


@op_backward(aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
             aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
             aten.scaled_dot_product_attention)
def sdpa_backward(needs, out, q, k, v, *args, **kwargs) -> Cost:
    return attention_backward_cost(q, k, v, need(needs, 0), need(needs, 1), need(needs, 2))


@module_backward(nn.MultiheadAttention)
def mha_module_backward(m, call: CallShapes, needs) -> Cost:
    """The forward's steps in reverse: out projection (a Linear), weights·V and
    softmax(Q·Kᵀ) (``attention_backward_cost``, with the query scaling's 1 mult per
    query element), then the q, k and v projections (Linears).  Attention dropout in
    training: 1 mult per attention weight; head-averaged weights returned: 1 mult
    per element of them.  As in the forward, the core runs over the keys attended
    (S plus the bias_k/v row and the zero row) and the k and v projections over the
    S keys given: autograd concatenates bias_k/v and the zeros after projecting, so
    their gradient rows stop at the concatenation.  bias_k and bias_v are repeated
    over the batch: each gradient sums N rows of E, (N−1)·E additions."""
    n, tgt, src, keys = mha_shapes(m, call)
    e, h = m.embed_dim, m.num_heads
    head = (n * h, tgt, e // h), (n * h, keys, e // h)
    need_w = module_params_need(m.out_proj, "weight", "bias")
    cost = linear_backward_cost((n * tgt, e), (n * tgt, e), e, e, True, *need_w)
    cost += attention_backward_cost(*head, head[1], True, True, True, scaled_scores=False)
    cost += Cost(mults=n * tgt * e)  # the queries' scaling by 1/√d
    if m.training and m.dropout > 0:
        cost += Cost(mults=n * h * tgt * keys)
    weights = call.outputs[1] if len(call.outputs) > 1 else None
    if weights is not None and len(weights) == len(call.inputs[0]):
        cost += Cost(mults=n * tgt * keys)
    for bias_kv in (m.bias_k, m.bias_v):
        if bias_kv is not None and bias_kv.requires_grad:
            cost += Cost(adds=(n - 1) * e)
    packed = m._qkv_same_embed_dim
    w_names = ("in_proj_weight",) * 3 if packed else ("q_proj_weight", "k_proj_weight", "v_proj_weight")
    need_b = m.in_proj_bias is not None and m.in_proj_bias.requires_grad
    for i, (rows, width) in enumerate(((n * tgt, e), (n * src, m.kdim), (n * src, m.vdim))):
        need_w = getattr(m, w_names[i]).requires_grad
        cost += linear_backward_cost((rows, width), (rows, e), width, e, need(needs, i), need_w, need_b)
    return cost
