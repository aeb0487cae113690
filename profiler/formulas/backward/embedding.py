"""Backward of table lookups: Embedding, EmbeddingBag (conventions in
``profiler.formulas.backward``)."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import ZERO, Cost, dot_products, numel
from profiler.formulas.forward.embedding import embedding_bag_weighted
from profiler.formulas.registry import CallShapes, module_backward
from profiler.formulas.shapes import need


@module_backward(nn.Embedding)
def embedding_module_backward(m, call: CallShapes, needs) -> Cost:
    return ZERO  # rows of the gradient go back to their indices; repeated indices' sums are data-dependent


def embedding_bag_backward_cost(n: int, bags: int, width: int, mode: str, weighted: bool,
                                need_w: bool, need_psw: bool) -> Cost:
    """EmbeddingBag over B bags holding n looked-up rows of width D in all.  The
    table's gradient: each looked-up row receives its bag's gradient, routed
    (sum), taken at the saved argmax (max), times 1/size once per bag (mean: B·D
    mults), or times its per-sample weight (n·D mults).  Rows looked up more than
    once sum their gradients; how often depends on the indices and, as for
    nn.Embedding, those additions are not counted.  The per-sample weights'
    gradient: Σ_d g_bag,d·E_row,d, n dot products of D terms."""
    cost = ZERO
    if need_w:
        if mode == "mean":
            cost += Cost(mults=bags * width)
        if weighted:
            cost += Cost(mults=n * width)
    if weighted and need_psw:
        cost += dot_products(n, width)
    return cost


@module_backward(nn.EmbeddingBag)
def embedding_bag_module_backward(m, call: CallShapes, needs) -> Cost:
    """The bags and their width as the forward reads them; per-sample weights are
    the last input tensor: the third beside 1-D indices and offsets, the second
    beside 2-D indices (which take no offsets)."""
    n, bags, width = numel(call.x), call.out[0] if len(call.out) == 2 else 1, call.out[-1]
    weighted = embedding_bag_weighted(call)
    return embedding_bag_backward_cost(n, bags, width, m.mode, weighted, m.weight.requires_grad,
                                       weighted and need(needs, len(call.inputs) - 1))
