"""Matrix products called as aten ops: mm, bmm, matmul, the add* forms, mv, dot,
grouped_mm, the Euclidean distances of torch.cdist (_euclidean_dist); and
triangular solves (linalg_solve_triangular).  (nn.Linear and nn.Bilinear have module formulas in ``linear``.)
Backward: ``backward/matmul.py``, which reuses ``grouped_dot_products``."""
from __future__ import annotations

import torch

from profiler.formulas.cost import ZERO, Cost, dot_products, numel
from profiler.formulas.registry import aten_formula

aten = torch.ops.aten


@aten_formula(aten.mm, kind="matmul")
def mm(out, a, b) -> Cost:
    """(M×K)·(K×N): M·N dot products of length K."""
    return dot_products(numel(out), a[-1])


@aten_formula(aten.addmm, kind="matmul")
def addmm(out, bias, a, b, beta=1, alpha=1) -> Cost:
    """bias + a·b: as mm plus 1 add per output; beta, alpha ≠ 1 add 1 mult each."""
    n = numel(out)
    return dot_products(n, a[-1], bias=True) + Cost(mults=n * ((beta != 1) + (alpha != 1)))


@aten_formula(aten.bmm, aten.matmul, kind="matmul")
def bmm(out, a, b) -> Cost:
    """Batched (B×M×K)·(B×K×N): B·M·N dot products of length K."""
    return dot_products(numel(out), a[-1])


@aten_formula(aten.baddbmm, aten.addbmm, kind="matmul")
def baddbmm(out, bias, a, b, beta=1, alpha=1) -> Cost:
    """bias + a·b batched: bmm plus 1 add per output (addbmm also sums the batch:
    (B−1) adds per output); beta, alpha ≠ 1 add 1 mult each."""
    n = numel(out)
    products = numel(a[:-1]) * b[-1]  # every (batch, row, column) dot product
    # (products − n) adds sum addbmm's batch, n add the bias: products in all
    return dot_products(products, a[-1]) + Cost(adds=products, mults=n * ((beta != 1) + (alpha != 1)))


def grouped_dot_products(outputs: int, products: int) -> Cost:
    """``outputs`` dot products sharing ``products`` terms in all, each of at least
    one term: products mults and products − outputs adds."""
    if outputs == 0 or products == 0:
        return ZERO
    return Cost(mults=products, adds=products - outputs, macs=products)


@aten_formula(aten._grouped_mm, kind="matmul")
def grouped_mm(out, a, b, offs=None, bias=None, out_dtype=None) -> Cost:
    """torch._grouped_mm (F.grouped_mm): one matmul per group, the groups given by
    the 1D ``offs`` (cumulative ends) along the jagged dimension of a 2D operand.
    Counted from shapes, with the offsets taken to cover the whole jagged
    dimension (offs[-1] = its length; rows or columns past offs[-1] are skipped
    by the kernel and would cost nothing) and every group non-empty (an empty
    group of a 2D×2D call costs no additions rather than −M·N).  So the count
    does not depend on the offsets' values: for a mixture of experts, on the
    routing.
    * 2D (S, K) × 3D (G, K, N) (the MoE forward: the S = tokens·top_k rows sorted
      by expert, G experts' K×N weights): every row meets exactly one expert, so
      S·N dot products of length K: S·K·N MACs, whatever the routing;
    * 3D (G, M, K) × 3D (G, K, N), no offs: a bmm, G·M·N dot products of K;
    * 3D (G, M, K) × 2D (K, N), offs grouping the N columns: column block g of
      the (M, N) output is a[g]·b[:, block], M·N dot products of K;
    * 2D (M, K) × 2D (K, N), offs grouping K (the MoE weight gradient): output
      (G, M, N), group g the M·N dot products over its K_g slice: M·N·K MACs in
      all, M·N·K − G·M·N additions.
    bias and out_dtype are refused by the kernel (bias) or change no arithmetic."""
    if len(a) == 2 and len(b) == 2:
        return grouped_dot_products(numel(out), numel(out[1:]) * a[-1])
    return dot_products(numel(out), a[-1])


@aten_formula(aten.mv, aten.dot, aten.vdot, kind="matmul")
def mv(out, a, b) -> Cost:
    return dot_products(numel(out), a[-1])


@aten_formula(aten.addmv, kind="matmul")
def addmv(out, bias, a, b, beta=1, alpha=1) -> Cost:
    return dot_products(numel(out), a[-1], bias=True)


def euclidean_dist_sizes(out, x1, x2) -> tuple[int, int, int, int]:
    """(B, r1, r2, m) of _euclidean_dist: x1 (…, r1, m), x2 (…, r2, m), out
    (…, r1, r2), B the product of the batch dimensions."""
    r1, r2, m = x1[-2], x2[-2], x1[-1]
    return (numel(out) // (r1 * r2) if r1 * r2 else 0), r1, r2, m


@aten_formula(aten._euclidean_dist, kind="matmul")
def euclidean_dist(out, x1, x2) -> Cost:
    """torch.cdist's p = 2 kernel through a matrix product (its compute_mode
    'use_mm_for_euclid_dist', and the default once either side has more than 25
    rows), as ATen writes it: the squared norms x.pow(2).sum(-1) of each side (r·m
    pows, ``other`` as aten.pow's; r·(m − 1) adds), x1·(−2) (r1·m mults), the rows
    padded with the norms and ones and multiplied, [−2·x1, ‖x1‖², 1]·[x2, 1, ‖x2‖²]ᵀ:
    r1·r2 dot products of m + 2 terms, then clamp_min(0) and sqrt (r1·r2 each,
    ``other``); per batch, the B batches of the output."""
    m = x1[-1]
    rows = numel(x1[:-1]) + numel(x2[:-1])          # a squared norm each, both sides
    return (dot_products(numel(out), m + 2)
            + Cost(mults=numel(x1), adds=rows * max(m - 1, 0), other=numel(x1) + numel(x2) + 2 * numel(out)))


def triangular_solve_cost(a, out, unitriangular: bool = False) -> Cost:
    """Solving T·x = b, T an n×n triangular matrix, by substitution, for each of the
    numel(out)/n right-hand sides: row i (i = 0 … n−1) subtracts its i known terms
    (i mults, i adds) and divides by the diagonal (1 division, none when
    unitriangular): n(n−1)/2 mults, n(n−1)/2 adds, n divisions per right-hand side.
    left=False (x·T = b) solves the rows of b the same way: the count is the same."""
    n = a[-1]
    if n == 0:
        return ZERO
    rhs = numel(out) // n
    half = n * (n - 1) // 2
    return Cost(mults=rhs * half, adds=rhs * half, other=0 if unitriangular else rhs * n)


@aten_formula(aten.linalg_solve_triangular, kind="matmul")
def linalg_solve_triangular(out, a, b, *, upper, left=True, unitriangular=False) -> Cost:
    """torch.linalg.solve_triangular(A, B): see ``triangular_solve_cost``."""
    return triangular_solve_cost(a, out, unitriangular)
