"""profiler.formulas.backward.resample: the backward of Upsample and the
interpolation ops, against naive scatters of the output gradient written with
self-counting scalars (the first gradient landing on an input is free, each
further one an addition; linear modes weigh each tap, a mult), their values
checked against autograd's."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import bruteforce as bf
from formula_access import CallShapes, find_module_backward, find_op_backward

aten = torch.ops.aten


def _scatter(n_in: int, contributions) -> list:
    """Σ of the (input index, tallied value) contributions per input; None where none lands."""
    gx = [None] * n_in
    for i, v in contributions:
        gx[i] = v if gx[i] is None else gx[i] + v
    return gx


def _autograd(fn, x, g):
    xt = torch.tensor(x, requires_grad=True)
    (fn(xt) * torch.tensor(g)).sum().backward()
    return xt.grad.numpy()


def test_nearest_backward_sums_each_inputs_copies():
    """Scale 2 in 2-D on (1, 1, 3, 2): every input is copied to 4 outputs, its
    gradient the sum of their 4: 24 − 6 additions, no mults."""
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(1, 1, 3, 2)), rng.normal(size=(1, 1, 6, 4))
    t = bf.Tally()
    gx = _scatter(6, [((i // 2) * 2 + j // 2, t.num(g[0, 0, i, j])) for i in range(6) for j in range(4)])
    want = _autograd(lambda a: F.interpolate(a, scale_factor=2, mode="nearest"), x, g)
    np.testing.assert_allclose(bf.values(np.array(gx, dtype=object)).reshape(x.shape), want, rtol=1e-12)
    cost = find_op_backward(aten.upsample_nearest2d)((True,), (1, 1, 6, 4), (1, 1, 3, 2), [6, 4])
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple() == (0, 18, 0)


def test_linear_backward_weighs_each_tap_and_sums_into_the_inputs():
    """1-D linear, length 4 → 8 (align_corners=False): each output reads two inputs
    with weights λ0, λ1 (source (o + 0.5)/2 − 0.5 clamped at 0, the second index
    clamped at the end): 2 mults per output, and 16 contributions onto 4 inputs,
    16 − 4 additions."""
    rng = np.random.default_rng(1)
    n_in, n_out = 4, 8
    x, g = rng.normal(size=(1, 1, n_in)), rng.normal(size=(1, 1, n_out))
    t = bf.Tally()
    contributions = []
    for o in range(n_out):
        src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = math.floor(src)
        i1, l1 = min(i0 + 1, n_in - 1), src - i0
        contributions += [(i0, t.num(g[0, 0, o]) * (1 - l1)), (i1, t.num(g[0, 0, o]) * l1)]
    gx = _scatter(n_in, contributions)
    want = _autograd(lambda a: F.interpolate(a, scale_factor=2, mode="linear"), x, g)
    np.testing.assert_allclose([v.v for v in gx], want.ravel(), rtol=1e-12)
    cost = find_op_backward(aten.upsample_linear1d)((True,), (1, 1, n_out), (1, 1, n_in), [n_out], False)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple() == (16, 12, 0)

    # the Upsample module counts the same, and nothing where its input needs no gradient
    m = nn.Upsample(scale_factor=2, mode="linear")
    call = CallShapes(inputs=((1, 1, n_in),), outputs=((1, 1, n_out),))
    got = find_module_backward(m)(m, call, (True,))
    assert (got.mults, got.adds, got.other) == (16, 12, 0)
    assert find_module_backward(m)(m, call, (False,)).flops == 0
