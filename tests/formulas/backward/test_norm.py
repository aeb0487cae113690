"""profiler.formulas.backward.norm: the backward of normalisation with statistics
from the input (layer norm, training batch norm) and of local response norm
(LocalResponseNorm, CrossMapLRN2d), against naive gradients written with
self-counting scalars whose values are checked against autograd's, directly and
through the training profile's row."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bruteforce as bf
import profiler
from profiler.formulas.backward import norm as BN
from profiler.formulas.backward.norm import normalize_backward_cost
from backward_cases import counts as _counts, grads as _grads, training_row as _row


def _training(model, *inputs):
    args = inputs[0] if len(inputs) == 1 else tuple(inputs)
    return profiler.profile(model, inputs=args, training=True)


# --- statistics from the input ----------------------------------------------------------------

def _naive_norm_backward(x, g, gamma, group_of, channel_of, eps=1e-5):
    """Gradients of (x − μ)·rstd·γ + β with μ and rstd saved (plain floats, not
    tallied): x̂ = (x − μ)·rstd; grad x = rstd·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), ĝ = g·γ;
    grad γ = Σ g·x̂, grad β = Σ g."""
    t = bf.Tally()
    groups: dict = {}
    for idx in np.ndindex(x.shape):
        groups.setdefault(group_of(idx), []).append(idx)
    gx, xhat = np.empty(x.shape), {}
    for members in groups.values():
        vals = np.array([x[i] for i in members])
        mu, rstd = vals.mean(), 1 / np.sqrt(vals.var() + eps)
        xh = [(t.num(x[i]) - mu) * rstd for i in members]
        xhat.update(zip(members, xh))
        gh = [t.num(g[i]) * gamma[channel_of(i)] for i in members]
        m1 = bf.total(gh) * (1 / len(members))
        m2 = bf.total([a * b for a, b in zip(gh, xh)]) * (1 / len(members))
        for i, a, b in zip(members, gh, xh):
            gx[i] = ((a - m1 - b * m2) * rstd).v
    channels: dict = {}
    for idx in np.ndindex(x.shape):
        channels.setdefault(channel_of(idx), []).append(idx)
    ggamma = np.array([bf.total([t.num(g[i]) * xhat[i] for i in channels[c]]).v for c in sorted(channels)])
    gbeta = np.array([bf.total([t.num(g[i]) for i in channels[c]]).v for c in sorted(channels)])
    return (gx, ggamma, gbeta), t


def test_layer_norm_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(3)
    x, g, w, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=6)
    grads, tally = _naive_norm_backward(x, g, w, lambda i: i[0], lambda i: i[1])
    want = _grads(lambda x_, w_, b_: F.layer_norm(x_, (6,), w_, b_), [x, w, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    cost = normalize_backward_cost(24, 6, 6, True, True, True)
    assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()


def test_training_batch_norm_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(4)
    x, g, w, b = rng.normal(size=(2, 3, 2, 2)), rng.normal(size=(2, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    grads, tally = _naive_norm_backward(x, g, w, lambda i: i[1], lambda i: i[1])
    want = _grads(lambda x_, w_, b_: F.batch_norm(x_, None, None, w_, b_, training=True), [x, w, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    row = _training(nn.BatchNorm2d(3), torch.randn(2, 3, 2, 2, requires_grad=True)).layers.iloc[0]
    assert (row["bwd_mults"], row["bwd_adds"], row["bwd_other"]) == tally.as_tuple()


# --- LocalResponseNorm -------------------------------------------------------------------

def _naive_lrn_backward(x, g, size, alpha, beta, k):
    """grad a_j = q_j − (2αβ/n)·a_j·Σ_{c ∋ j} q_c·a_c/s_c with q = g/d, s and d
    saved (plain floats); every channel lies in ``size`` windows, those of
    channels past the edges holding zeros."""
    channels, front, back = x.shape[1], size // 2, (size - 1) // 2
    s = np.empty_like(x)
    for c in range(channels):
        window = range(max(c - front, 0), min(c + back, channels - 1) + 1)
        s[:, c] = k + alpha / size * sum(x[:, q] ** 2 for q in window)
    d = s ** beta
    t = bf.Tally()
    gx = np.empty(x.shape)
    for n, *pos in np.ndindex(x.shape[0], *x.shape[2:]):
        at = lambda c: (n, c, *pos)
        q = [t.num(g[at(c)]) / d[at(c)] for c in range(channels)]
        u = [q[c] * x[at(c)] / s[at(c)] for c in range(channels)]
        for j in range(channels):
            terms = [u[c] if 0 <= c < channels else t.num(0.0) for c in range(j - back, j + front + 1)]
            gx[at(j)] = (q[j] - bf.total(terms) * (2 * alpha * beta / size) * x[at(j)]).v
    return gx, t


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm_backward_counts_equal_a_naive_gradient(size):
    rng = np.random.default_rng(3)
    alpha, beta, k = 0.3, 0.75, 1.5
    x, g = rng.normal(size=(2, 5, 2, 3)), rng.normal(size=(2, 5, 2, 3))
    gx, t = _naive_lrn_backward(x, g, size, alpha, beta, k)
    want = _grads(lambda a: F.local_response_norm(a, size, alpha, beta, k), [x], g)[0]
    np.testing.assert_allclose(gx, want, rtol=1e-9, atol=1e-12)
    assert _counts(BN.lrn_backward_cost(x.size, size)) == t.as_tuple()


@pytest.mark.parametrize("cls", [nn.LocalResponseNorm, nn.CrossMapLRN2d])
def test_training_profile_counts_local_response_norm_as_a_naive_gradient(cls):
    torch.manual_seed(10)
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    counts, _ = _row(cls(3, alpha=1e-3, beta=0.75, k=2.0), x)
    g = np.random.default_rng(13).normal(size=x.shape)
    _, t = _naive_lrn_backward(x.detach().double().numpy(), g, 3, 1e-3, 0.75, 2.0)
    assert counts == t.as_tuple()
