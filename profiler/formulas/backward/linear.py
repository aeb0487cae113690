"""Backward of dense layers (conventions in
``profiler.formulas.backward``).  ``linear_backward_cost`` also counts
nn.MultiheadAttention's projections (``backward/attention.py``)."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel
from profiler.formulas.registry import CallShapes, module_backward
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
def linear_module_backward(m, call: CallShapes, needs) -> Cost:
    return linear_backward_cost(call.x, call.out, m.in_features, m.out_features, need(needs, 0),
                                *module_params_need(m, "weight", "bias"))


def bilinear_backward_cost(rows: int, in1: int, in2: int, out: int, need_x1: bool, need_x2: bool,
                           need_w: bool, need_b: bool) -> Cost:
    """y_k = x1ᵀ·A_k·x2 + b_k over R rows, A of shape (out, in1, in2).  Each
    gradient is a three-way product summed in two steps, the pair that does not
    hold the result's free index first:
    grad x1_i = Σ_j (Σ_k g_k·A_kij)·x2_j: R·in1·in2 dot products of out terms,
        then R·in1 of in2 terms;
    grad x2_j = Σ_k (Σ_i x1_i·A_kij)·g_k: R·out·in2 dot products of in1 terms
        (the forward's u_kj, not saved by autograd, computed again), then R·in2
        of out terms;
    grad A_kij = Σ_rows (x1_i·g_k)·x2_j: R·out·in1 products, then out·in1·in2
        dot products of R terms;
    grad b = Σ_rows g: (R−1)·out additions."""
    cost = ZERO
    if need_x1:
        cost += dot_products(rows * in1 * in2, out) + dot_products(rows * in1, in2)
    if need_x2:
        cost += dot_products(rows * out * in2, in1) + dot_products(rows * in2, out)
    if need_w:
        cost += Cost(mults=rows * out * in1) + dot_products(out * in1 * in2, rows)
    if need_b:
        cost += Cost(adds=(rows - 1) * out)
    return cost


@module_backward(nn.Bilinear)
def bilinear_module_backward(m, call: CallShapes, needs) -> Cost:
    rows = numel(call.out) // m.out_features
    return bilinear_backward_cost(rows, m.in1_features, m.in2_features, m.out_features, need(needs, 0),
                                  need(needs, 1), *module_params_need(m, "weight", "bias"))
