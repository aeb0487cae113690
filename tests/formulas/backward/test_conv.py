"""profiler.formulas.backward.conv: the convolution's backward (grad x as a
transposed convolution of g, grad w one dot product per weight over the padded
input, grad b one sum per channel) against a naive gradient written with
self-counting scalars, its values checked against autograd's, over strides,
paddings ('same' included), dilations and groups."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from profiler.formulas.backward.conv import conv_backward_cost


def _grad(fn, inputs, g):
    """Autograd's gradients of Σ fn(inputs)·g with respect to each input (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


def _naive_conv_backward(x, w, g, stride, padding, dilation, groups):
    """grad x as the transposed convolution of g (bf.conv_transpose scatters and
    tallies), grad w as one dot product per weight over the zero-padded input,
    grad b as one sum per channel."""
    d = w.ndim - 2
    s, p, dl = (bf._tuple(v, d) for v in (stride, padding, dilation))
    size = [(n - 1) * s[i] - 2 * p[i] + dl[i] * (w.shape[2 + i] - 1) + 1 for i, n in enumerate(g.shape[2:])]
    extra = [x.shape[2 + i] - size[i] for i in range(d)]
    gx, tx = bf.conv_transpose(g, w, None, stride, padding, extra, dilation, groups)
    tw = bf.Tally()
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    c_out, c_in_g = w.shape[:2]
    gw = np.empty(w.shape)
    for co, ci, *tap in product(range(c_out), range(c_in_g), *map(range, w.shape[2:])):
        grp = co // (c_out // groups)
        terms = [tw.num(g[(n, co, *pos)]) * xp[(n, grp * c_in_g + ci,
                                                 *(pos[i] * s[i] + tap[i] * dl[i] for i in range(d)))]
                 for n, *pos in product(range(g.shape[0]), *map(range, g.shape[2:]))]
        gw[(co, ci, *tap)] = bf.total(terms).v
    tb = bf.Tally()
    gb = np.array([bf.total([tb.num(v) for v in g[:, co].ravel()]).v for co in range(c_out)])
    return (gx, gw, gb), (tx, tw, tb)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), (2, 2, 2, 2), (3, 0, 1, 4), (1, "same", 2, 1)])
def test_conv_backward_counts_equal_a_naive_gradient(stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4, 7, 6)), rng.normal(size=(4, 4 // groups, 3, 2)), rng.normal(size=4)
    out = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding, dilation, groups)
    g = rng.normal(size=tuple(out.shape))
    numeric = (2, 1) if padding == "same" else padding  # d·(k−1)/2 on each side for k = (3, 2), d = 2
    grads, tallies = _naive_conv_backward(x, w, g, stride, numeric, dilation, groups)
    want = _grad(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation, groups), [x, w, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    for need in [(True, False, False), (False, True, False), (False, False, True)]:
        cost = conv_backward_cost(x.shape, out.shape, w.shape, groups, (3, 2), bf._tuple(stride, 2),
                                  padding, bf._tuple(dilation, 2), False, *need)
        tally = tallies[need.index(True)]
        assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()
