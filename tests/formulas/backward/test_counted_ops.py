"""The backward formulas of the ops added for transformers models (issue 19)
against naive gradients written with self-counting scalars (tests/bruteforce.py),
their values checked against autograd's (the elementwise rows, acos, asinh,
nan_to_num, erfinv, ..., are in test_elementwise.py's table)."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from formula_access import find_op_backward
from elementwise_scalars import cos, equal, sin

aten = torch.ops.aten
RNG = np.random.default_rng(190)


def backward(op, needs, out, *args, **kwargs):
    cost = find_op_backward(op)(needs, out, *args, **kwargs)
    return cost.mults, cost.adds, cost.other


def grads(fn, inputs, g):
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dim", [1, None])
def test_prod_backward_tests_for_zeros_then_scales_g_by_y_over_x(dim):
    """The zero test (prod(dim) also counts the zeros per slice and in all: n − 1
    adds), then g·(y/x) per element."""
    x = RNG.normal(size=(3, 4))
    y = x.prod(1) if dim else x.prod()
    g = RNG.normal(size=y.shape)
    t = bf.Tally()
    zeros = [[float(equal(t.num(v), 0.0)) for v in row] for row in x]
    if dim:
        per_slice = [bf.total([t.num(z) for z in row]) for row in zeros]
        bf.total(per_slice)
    yb, gb = np.broadcast_to(y.reshape(-1, 1) if dim else y, x.shape), np.broadcast_to(
        g.reshape(-1, 1) if dim else g, x.shape)
    gx = [[(t.num(gb[i, j]) * (t.num(yb[i, j]) / x[i, j])).v for j in range(4)] for i in range(3)]
    fn = (lambda a: a.prod(1)) if dim else (lambda a: a.prod())
    np.testing.assert_allclose(gx, grads(fn, [x], g)[0])
    args = (1,) if dim else ()
    assert backward(aten.prod, (True,), y.shape, (3, 4), *args) == t.as_tuple()


def test_cummax_backward_scatter_adds_g_at_the_indices():
    x, g = RNG.normal(size=(3, 5)), RNG.normal(size=(3, 5))
    idx = torch.cummax(torch.tensor(x), 1)[1].numpy()
    t = bf.Tally()
    gx = np.empty((3, 5))
    for i in range(3):
        acc = [t.num(0.0) for _ in range(5)]
        for j in range(5):
            acc[idx[i, j]] = acc[idx[i, j]] + g[i, j]
        gx[i] = [a.v for a in acc]
    np.testing.assert_allclose(gx, grads(lambda a: torch.cummax(a, 1)[0], [x], g)[0])
    assert backward(aten.cummax, (True,), ((3, 5), (3, 5)), (3, 5), 1) == t.as_tuple() == (0, 15, 0)


def test_glu_backward():
    """σ(b) again (1 add, exp, division); grad a = g·σ; grad b = g·a·σ·(1 − σ)."""
    x, g = RNG.normal(size=(2, 6)), RNG.normal(size=(2, 3))
    t = bf.Tally()
    gx = np.empty((2, 6))
    for i, j in np.ndindex(2, 3):
        s = 1.0 / (1.0 + (-t.num(x[i, j + 3])).exp())
        gx[i, j] = (t.num(g[i, j]) * s).v
        gx[i, j + 3] = (t.num(g[i, j]) * x[i, j] * s * (1.0 - s)).v
    np.testing.assert_allclose(gx, grads(lambda a: F.glu(a, -1), [x], g)[0])
    assert backward(aten.glu, (True,), (2, 3), (2, 6), -1) == t.as_tuple() == (24, 12, 12)


def test_atan2_backward_shares_the_denominator():
    a, b, g = RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=5)
    t = bf.Tally()
    ga, gb = [], []
    for i in range(5):
        inv = 1.0 / (t.num(a[i]) * a[i] + t.num(b[i]) * b[i])
        ga.append((t.num(g[i]) * b[i] * inv).v)
        gb.append((-(t.num(g[i]) * a[i] * inv)).v)
    expected = grads(torch.atan2, [a, b], g)
    np.testing.assert_allclose(ga, expected[0])
    np.testing.assert_allclose(gb, expected[1])
    assert backward(aten.atan2, (True, True), (5,), (5,), (5,)) == t.as_tuple() == (30, 5, 5)


def test_polar_backward():
    """grad r = g_re·cos θ + g_im·sin θ; grad θ = g_im·z_re − g_re·z_im (z saved)."""
    r, th = RNG.random(4), RNG.normal(size=4)
    g = RNG.normal(size=(4, 2))
    z = r * np.exp(1j * th)
    t = bf.Tally()
    gr = [(t.num(g[i, 0]) * cos(t.num(th[i])) + t.num(g[i, 1]) * sin(t.num(th[i]))).v for i in range(4)]
    gth = [(t.num(g[i, 1]) * z[i].real - t.num(g[i, 0]) * z[i].imag).v for i in range(4)]
    expected = grads(lambda a, b: torch.view_as_real(torch.polar(a, b)), [r, th], g)
    np.testing.assert_allclose(gr, expected[0])
    np.testing.assert_allclose(gth, expected[1])
    assert backward(aten.polar, (True, True), (4,), (4,), (4,)) == t.as_tuple() == (16, 8, 8)


def test_im2col_backward_folds_the_block_gradients_back():
    """F.unfold (2×2 blocks, stride 1, of 1×2×3×4): its gradient sums each
    position's block copies: F.fold of g."""
    x = RNG.normal(size=(1, 2, 3, 4))
    g = RNG.normal(size=(1, 8, 6))
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for c, ki, kj, bi, bj in np.ndindex(2, 2, 2, 2, 3):
        v = t.num(g[0, (c * 2 + ki) * 2 + kj, bi * 3 + bj])
        p, q = bi + ki, bj + kj
        gx[0, c, p, q] = v if gx[0, c, p, q] is None else gx[0, c, p, q] + v
    np.testing.assert_allclose(bf.values(gx), grads(lambda a: F.unfold(a, 2), [x], g)[0])
    assert backward(aten.im2col, (True,), (1, 8, 6), (1, 2, 3, 4), [2, 2], [1, 1], [0, 0], [1, 1]) \
        == t.as_tuple()
    assert backward(aten.col2im, (True,), (1, 2, 3, 4), (1, 8, 6), [3, 4], [2, 2], [1, 1], [0, 0], [1, 1]) \
        == (0, 0, 0)


def test_triangular_solve_backward_solves_with_the_transpose_and_forms_the_full_product():
    """X = A⁻¹B, A upper 3×3, B 3×2: G_B = solve(Aᵀ, G) (lower: substitution),
    grad A = −G_B·Xᵀ, all 9 dot products of 2, then its upper triangle kept."""
    a = np.triu(RNG.normal(size=(3, 3))) + 3 * np.eye(3)
    b, g = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    x = np.linalg.solve(a, b)
    t = bf.Tally()
    at = a.T
    gb = np.empty((3, 2), dtype=object)
    for c in range(2):
        for i in range(3):
            acc = t.num(g[i, c])
            for j in range(i):
                acc = acc - t.num(at[i, j]) * gb[j, c]
            gb[i, c] = acc / at[i, i]
    ga = np.array([[-(bf.total([gb[i, c] * x[j, c] for c in range(2)])).v for j in range(3)] for i in range(3)])
    expected = grads(lambda m, n: torch.linalg.solve_triangular(m, n, upper=True), [a, b], g)
    np.testing.assert_allclose(bf.values(gb), expected[1])
    np.testing.assert_allclose(np.triu(ga), expected[0])
    cost = find_op_backward(aten.linalg_solve_triangular)((True, True), (3, 2), (3, 3), (3, 2), upper=True)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple() == (6 + 18, 6 + 9, 6)


@pytest.mark.parametrize("reduction,name", [(0, "none"), (1, "mean"), (2, "sum")])
def test_mse_loss_backward_runs_once_per_operand(reduction, name):
    """mse_loss_backward(g, a, b) = norm·(a − b)·g, norm = 2/n for the mean (a
    constant), called for x and again, operands swapped, for the target."""
    x, y = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    g = RNG.normal(size=(3, 4)) if reduction == 0 else np.full((3, 4), 0.7)
    norm = 2 / 12 if reduction == 1 else 2.0
    t = bf.Tally()
    gx = [[(norm * (t.num(x[i, j]) - y[i, j]) * g[i, j]).v for j in range(4)] for i in range(3)]
    gy = [[(norm * (t.num(y[i, j]) - x[i, j]) * g[i, j]).v for j in range(4)] for i in range(3)]
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    loss = F.mse_loss(xt, yt, reduction=name)
    (loss * torch.tensor(g)).sum().backward() if reduction == 0 else (loss * 0.7).backward()
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gy, yt.grad.numpy(), rtol=1e-12)
    out = (3, 4) if reduction == 0 else ()
    assert backward(aten.mse_loss, (True, True), out, (3, 4), (3, 4), reduction) == t.as_tuple() == (48, 24, 0)
    assert backward(aten.mse_loss, (True, False), out, (3, 4), (3, 4), reduction) == (24, 12, 0)


def test_euclidean_dist_backward_makes_both_gradients_from_the_ratio():
    """ATen's _euclidean_dist_backward on one batch, x1 (3, 4), x2 (5, 4): ratio =
    g/d zeroed where d = 0, grad x1 = x1·Σ_j ratio − ratio·x2, grad x2 = x2·Σ_i
    ratio − ratioᵀ·x1; the values are autograd's of torch.cdist through a matrix
    product."""
    x1, x2, g = RNG.normal(size=(3, 4)), RNG.normal(size=(5, 4)), RNG.normal(size=(3, 5))
    d = torch.cdist(torch.tensor(x1), torch.tensor(x2), compute_mode="use_mm_for_euclid_dist").numpy()
    t = bf.Tally()
    ratio = [[t.num(g[i, j]) / d[i, j] for j in range(5)] for i in range(3)]
    ratio = [[0.0 if equal(t.num(d[i, j]), 0.0) else r for j, r in enumerate(row)] for i, row in enumerate(ratio)]
    rows = [bf.total(row) for row in ratio]
    cols = [bf.total([ratio[i][j] for i in range(3)]) for j in range(5)]
    g1 = [[(x1[i, k] * rows[i] - bf.total([ratio[i][j] * x2[j, k] for j in range(5)])).v for k in range(4)]
          for i in range(3)]
    g2 = [[(x2[j, k] * cols[j] - bf.total([ratio[i][j] * x1[i, k] for i in range(3)])).v for k in range(4)]
          for j in range(5)]
    a, b = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    (torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist") * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(g1, a.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(g2, b.grad.numpy(), rtol=1e-9)
    assert backward(aten._euclidean_dist, (True, True), (1, 3, 5), (1, 3, 4), (1, 5, 4)) == t.as_tuple()
    cost = find_op_backward(aten._euclidean_dist)((True, False), (1, 3, 5), (1, 3, 4), (1, 5, 4))
    assert cost.macs == 3 * 4 * 5 + 5 * 4 * 3      # both products, whichever gradient is wanted
