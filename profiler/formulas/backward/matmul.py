"""Backward of matrix products called as aten ops (conventions in
``profiler.formulas.backward``).  ``matmul_backward_cost`` is the batched
product's; grouped_mm reuses the forward's ``grouped_dot_products``."""
from __future__ import annotations

import torch

from profiler.formulas.cost import ZERO, Cost, Shape, dot_products, numel, sum_to_cost
from profiler.formulas.forward.matmul import euclidean_dist_sizes, grouped_dot_products, triangular_solve_cost
from profiler.formulas.registry import op_backward
from profiler.formulas.shapes import is_shape, need

aten = torch.ops.aten


def matmul_backward_cost(a: Shape, b: Shape, need_a: bool, need_b: bool) -> Cost:
    """C = A·B, batched over leading dimensions, A (…, M, K), B (…, K, N):
    grad A = g·Bᵀ: numel(A) dot products of N terms;
    grad B = Aᵀ·g: numel(B) dot products of M terms (summed over a broadcast
    batch as part of the same dot products)."""
    cost = dot_products(numel(a), b[-1]) if need_a else ZERO
    if need_b:
        cost += dot_products(numel(b), a[-2])
    return cost


@op_backward(aten.mm, aten.bmm)
def mm_backward(needs, out, a, b) -> Cost:
    return matmul_backward_cost(a, b, need(needs, 0), need(needs, 1))


@op_backward(aten.addmm, aten.baddbmm, aten.addbmm)
def addmm_backward(needs, out, bias, a, b, beta=1, alpha=1) -> Cost:
    """As mm for a and b (alpha ≠ 1: 1 mult per output); the bias's gradient is
    g reduced to its shape (beta ≠ 1: 1 mult per bias element)."""
    cost = matmul_backward_cost(a, b, need(needs, 1), need(needs, 2))
    if alpha != 1 and (need(needs, 1) or need(needs, 2)):
        cost += Cost(mults=numel(out))
    if need(needs, 0) and is_shape(bias):
        cost += sum_to_cost(numel(out), bias) + Cost(mults=numel(bias) * (beta != 1))
    return cost


@op_backward(aten._grouped_mm)
def grouped_mm_backward(needs, out, a, b, offs=None, *args, **kwargs) -> Cost:
    """torch._grouped_mm, with the forward's conventions (the offsets cover the
    jagged dimension, every group non-empty: the count does not depend on them):
    * 2D a (S, K) × 3D b (G, K, N): grad a = g·b[e]ᵀ per row, S·K dot products
      of N; grad b[e] = a_eᵀ·g_e over its S_e rows, G·K·N dot products of
      S·K·N terms in all (the weight gradient is a 2D×2D grouped mm);
    * 3D × 3D: as bmm;
    * 3D a (G, M, K) × 2D b (K, N) grouping N: grad a[e] = g_e·b_eᵀ, G·M·K dot
      products of M·K·N terms in all; grad b = a[e]ᵀ·g_e, K·N dot products of M;
    * 2D a (M, K) × 2D b (K, N) grouping K, out (G, M, N): grad a[:, k_e] =
      g[e]·b[k_e]ᵀ, M·K dot products of N; grad b[k_e] = a[:, k_e]ᵀ·g[e], K·N dot
      products of M."""
    need_a, need_b = need(needs, 0), need(needs, 1)
    cost = ZERO
    if len(a) == 2 and len(b) == 3:
        if need_a:
            cost += dot_products(numel(a), b[-1])
        if need_b:
            cost += grouped_dot_products(numel(b), a[0] * numel(b[1:]))
    elif len(a) == 3 and len(b) == 2:
        if need_a:
            cost += grouped_dot_products(numel(a), numel(a[1:]) * b[-1])
        if need_b:
            cost += dot_products(numel(b), a[1])
    elif len(a) == 2 and len(b) == 2:
        if need_a:
            cost += dot_products(numel(a), b[-1])
        if need_b:
            cost += dot_products(numel(b), a[0])
    else:
        cost = matmul_backward_cost(a, b, need_a, need_b)
    return cost


@op_backward(aten._euclidean_dist, inputs=(0, 1))
def euclidean_dist_backward(needs, out, x1, x2) -> Cost:
    """ATen's _euclidean_dist_backward, which makes both gradients in one call:
    ratio = g / d (n = B·r1·r2 divisions), zeroed where d = 0 (n comparisons);
    grad x1 = x1·Σ_j ratio − ratio·x2 (B·r1·(r2 − 1) adds for the row sums, B·r1·m
    mults, B·r1·m dot products of r2 terms, B·r1·m subtractions), grad x2 the same
    with the roles swapped (column sums of ratio, ratioᵀ·x1)."""
    b, r1, r2, m = euclidean_dist_sizes(out, x1, x2)
    n = numel(out)
    cost = Cost(other=2 * n)
    for rows, other_rows in ((r1, r2), (r2, r1)):
        k = b * rows * m                                 # elements of this side's gradient
        cost += Cost(adds=b * rows * max(other_rows - 1, 0) + k, mults=k) + dot_products(k, other_rows)
    return cost


@op_backward(aten.mv, aten.addmv)
def mv_backward(needs, out, *args, beta=1, alpha=1) -> Cost:
    """y = A·v: grad A = g⊗v (1 mult each), grad v = Aᵀ·g."""
    offset = len(args) - 2
    a, v = args[offset], args[offset + 1]
    cost = dot_products(numel(a), 1) if need(needs, offset) else ZERO
    if need(needs, offset + 1):
        cost += dot_products(v[0], a[0])
    if offset and need(needs, 0):
        cost += sum_to_cost(numel(out), args[0])
    return cost


@op_backward(aten.dot, aten.vdot)
def dot_backward(needs, out, a, b) -> Cost:
    """a·b: each gradient is g times the other vector, 1 mult per element."""
    return sum((dot_products(numel(a), 1) for i in (0, 1) if need(needs, i)), ZERO)


@op_backward(aten.linalg_solve_triangular, inputs=(0, 1))
def linalg_solve_triangular_backward(needs, out, a, b, *, upper, left=True, unitriangular=False) -> Cost:
    """X = A⁻¹B (left) or B·A⁻¹: autograd solves with Aᵀ for G_B (the forward's
    count, needed for either gradient); grad A = −G_B·Xᵀ (left) or −Xᵀ·G_B, an n×n
    product of dot products of k terms per batch, masked to its triangle (free),
    reduced over a broadcast batch of A."""
    cost = triangular_solve_cost(a, out, unitriangular)
    if need(needs, 0):
        n = a[-1]
        k = out[-1] if left else out[-2]
        full = numel(out[:-2]) * n * n
        cost += dot_products(full, k) + sum_to_cost(full, a)
    return cost
