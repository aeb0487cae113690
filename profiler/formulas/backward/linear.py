"""Backward of dense layers and table lookups (conventions in
``profiler.formulas.backward``).  ``linear_backward_cost`` also counts
nn.MultiheadAttention's projections (``backward/attention.py``)."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel
from profiler.formulas.registry import Call, module_backward
from profiler.formulas.shapes import module_params_need, need


def linear_backward_cost(x: Shape, out: Shape, in_features: int, out_features: int,
                         need_x: bool, need_w: bool, need_b: bool) -> Cost:
    """y = x·Wᵀ + b over R = numel(out)/out rows:
    grad x = g·W: numel(x) dot products of out terms;
    grad W = gᵀ·x: out·in dot products of R terms;
    grad b = Σ_rows g: (R−1)·out additions."""
    rows = numel(out) // out_features if out_features else 0
    cost = dot_products(numel(x), out_features) if need_x else ZERO
    if need_w:
        cost += dot_products(out_features * in_features, rows)
    if need_b:
        cost += Cost(adds=numel(out) - out_features)
    return cost


@module_backward(nn.Linear)
def linear_module_backward(m, call: Call, needs) -> Cost:
    return linear_backward_cost(call.x, call.out, m.in_features, m.out_features, need(needs, 0),
                                *module_params_need(m, "weight", "bias"))


@module_backward(nn.Embedding)
def embedding_module_backward(m, call: Call, needs) -> Cost:
    return ZERO  # rows of the gradient go back to their indices; repeated indices' sums are data-dependent
