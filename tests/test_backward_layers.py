"""Backward counts of RNN/LSTM/GRU layers and cells, Bilinear, EmbeddingBag,
LocalResponseNorm, LPPool and FractionalMaxPool: against naive gradients written
with self-counting scalars (their values checked against autograd's, so the loops
are the layers' gradients), and the MACs of the recurrent layers against
FlopCounterMode around loss.backward()."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
import profiler
from profiler.formulas.backward import linear as BL, norm as BN, pool as BP, recurrent as BR


def _grads(fn, inputs, g):
    """Autograd's gradients (float64) of Σ fn(inputs)·g w.r.t. each input."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    (fn(*ts) * torch.tensor(g)).sum().backward()
    return [t.grad.numpy() for t in ts]


def _counts(cost) -> tuple[int, int, int]:
    return cost.mults, cost.adds, cost.other


def _num(t: bf.Tally, v):
    """v as a tallied scalar (a Num stays as it is)."""
    return v if isinstance(v, bf.Num) else t.num(v)


def _pow(v: bf.Num, e: float) -> bf.Num:
    """v ** e, one ``other`` op (bruteforce.Num has no pow)."""
    v.t.other += 1
    return bf.Num(v.v ** e, v.t)


# --- Bilinear ---------------------------------------------------------------------------

def _naive_bilinear_backward(x1, x2, a, g):
    """grad x1 = Σ_j (Σ_k g_k·A_kij)·x2_j; grad x2 = Σ_k (Σ_i x1_i·A_kij)·g_k; grad A =
    Σ_rows (x1_i·g_k)·x2_j, each outer product x1_i·g_k made once; grad b = Σ_rows g.
    Returns the gradients and a tally for each."""
    rows, (o, i1, i2) = x1.shape[0], a.shape
    tx1, tx2, tw, tb = bf.Tally(), bf.Tally(), bf.Tally(), bf.Tally()
    gx1 = [[bf.total([bf.total([tx1.num(g[r, k]) * a[k, i, j] for k in range(o)]) * x2[r, j]
                      for j in range(i2)]).v for i in range(i1)] for r in range(rows)]
    gx2 = [[bf.total([bf.total([tx2.num(x1[r, i]) * a[k, i, j] for i in range(i1)]) * g[r, k]
                      for k in range(o)]).v for j in range(i2)] for r in range(rows)]
    outer = {(r, k, i): tw.num(x1[r, i]) * g[r, k] for r, k, i in product(range(rows), range(o), range(i1))}
    gw = np.array([[[bf.total([outer[r, k, i] * x2[r, j] for r in range(rows)]).v for j in range(i2)]
                    for i in range(i1)] for k in range(o)])
    gb = [bf.total([tb.num(g[r, k]) for r in range(rows)]).v for k in range(o)]
    return (gx1, gx2, gw, gb), (tx1, tx2, tw, tb)


def test_bilinear_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(0)
    rows, i1, i2, o = 3, 4, 2, 5
    x1, x2 = rng.normal(size=(rows, i1)), rng.normal(size=(rows, i2))
    a, b, g = rng.normal(size=(o, i1, i2)), rng.normal(size=o), rng.normal(size=(rows, o))
    grads, tallies = _naive_bilinear_backward(x1, x2, a, g)
    want = _grads(lambda p, q, w, c: F.bilinear(p, q, w, c), [x1, x2, a, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    for need, tally in zip(np.eye(4, dtype=bool), tallies):
        assert _counts(BL.bilinear_backward_cost(rows, i1, i2, o, *need)) == tally.as_tuple()


# --- EmbeddingBag ------------------------------------------------------------------------

def _naive_embedding_bag_backward(table, bags, mode, g, weights=None):
    """The table's gradient: each bag's gradient (times 1/size once per bag for
    mean, times the row's weight when weighted) lands on its rows, at the argmax
    for max; sums of rows looked up twice are plain floats (not counted, the
    convention).  The weights' gradient: a dot product of g with the row."""
    tw, tp = bf.Tally(), bf.Tally()
    gt, gp = np.zeros(table.shape), []
    for b, rows in enumerate(bags):
        share = [tw.num(v) * (1 / len(rows)) for v in g[b]] if mode == "mean" else list(g[b])
        for pos, r in enumerate(rows):
            for d in range(table.shape[1]):
                if mode == "max" and table[r, d] < max(table[q, d] for q in rows):
                    continue  # only the argmax receives the gradient (ties: none in random data)
                v = tw.num(share[d]) * weights[b][pos] if weights is not None else share[d]
                gt[r, d] += bf._v(v)
            if weights is not None:
                gp.append(bf.total([tp.num(g[b, d]) * table[r, d] for d in range(table.shape[1])]).v)
    return gt, gp, tw, tp


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_backward_counts_equal_a_naive_gradient(mode):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(7, 3))
    flat, offsets = [1, 4, 3, 0, 6, 2, 4, 5], [0, 3, 4]          # bags of 3, 1 and 4 rows, index 4 in two
    bags = [flat[0:3], flat[3:4], flat[4:]]
    g = rng.normal(size=(3, 3))
    gt, _, tw, _ = _naive_embedding_bag_backward(table, bags, mode, g)
    want = _grads(lambda w: F.embedding_bag(torch.tensor(flat), w, torch.tensor(offsets), mode=mode),
                  [table], g)[0]
    np.testing.assert_allclose(gt, want, rtol=1e-12)
    cost = BL.embedding_bag_backward_cost(len(flat), 3, 3, mode, False, True, False)
    assert _counts(cost) == tw.as_tuple()


def test_weighted_embedding_bag_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(2)
    table, weights = rng.normal(size=(6, 4)), rng.normal(size=(2, 3))
    idx = np.array([[0, 5, 5], [2, 3, 1]])
    g = rng.normal(size=(2, 4))
    gt, gp, tw, tp = _naive_embedding_bag_backward(table, idx.tolist(), "sum", g, weights)
    want = _grads(lambda w, p: F.embedding_bag(torch.tensor(idx), w, per_sample_weights=p, mode="sum"),
                  [table, weights], g)
    np.testing.assert_allclose(gt, want[0], rtol=1e-12)
    np.testing.assert_allclose(np.reshape(gp, (2, 3)), want[1], rtol=1e-12)
    assert _counts(BL.embedding_bag_backward_cost(6, 2, 4, "sum", True, True, False)) == tw.as_tuple()
    assert _counts(BL.embedding_bag_backward_cost(6, 2, 4, "sum", True, False, True)) == tp.as_tuple()


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
    assert _counts(BN.lrn_backward_cost(x.size, size, True)) == t.as_tuple()


# --- LPPool ------------------------------------------------------------------------------

def _naive_lp_pool_backward(x, g, p, kernel, stride):
    """t = g·y/S per output, x^(p−1)·t per window element, scattered back: the
    first gradient landing on an input is free, each further one an addition."""
    y = F.lp_pool2d(torch.tensor(x), p, kernel, stride).numpy()
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for n, c, i, j in np.ndindex(y.shape):
        cells = [(stride[0] * i + a, stride[1] * j + b) for a, b in product(*map(range, kernel))]
        total_p = sum(x[n, c, r, q] ** p for r, q in cells)
        share = t.num(g[n, c, i, j]) * y[n, c, i, j] / total_p
        for r, q in cells:
            v = _pow(t.num(x[n, c, r, q]), p - 1) * share
            gx[n, c, r, q] = v if gx[n, c, r, q] is None else gx[n, c, r, q] + v
    return bf.values(gx), t


@pytest.mark.parametrize("p,kernel,stride", [(2, (2, 2), (2, 2)), (3, (3, 2), (2, 1)), (1.5, (2, 3), (1, 2))])
def test_lp_pool_backward_counts_equal_a_naive_gradient(p, kernel, stride):
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, size=(1, 2, 5, 6))
    y = F.lp_pool2d(torch.tensor(x), p, kernel, stride)
    g = rng.normal(size=tuple(y.shape))
    gx, t = _naive_lp_pool_backward(x, g, p, kernel, stride)
    want = _grads(lambda a: F.lp_pool2d(a, p, kernel, stride), [x], g)[0]
    np.testing.assert_allclose(gx, want, rtol=1e-9, atol=1e-12)
    assert _counts(BP.lp_pool_backward_cost(x.shape, tuple(y.shape), kernel, stride)) == t.as_tuple()


# --- FractionalMaxPool ---------------------------------------------------------------------

def _fractional_starts(n_in, n_out, k, u):
    """The window starts torch's fractional max pool uses along one dimension for
    sample u, read off its argmax on an increasing input (the window's last cell)."""
    x = torch.arange(float(n_in)).reshape(1, 1, 1, n_in)
    _, idx = F.fractional_max_pool2d(x, (1, k), output_size=(1, n_out), return_indices=True,
                                     _random_samples=torch.tensor([[[u, 0.0]]], dtype=torch.float32))
    return [int(i) - (k - 1) for i in idx.flatten()]


@pytest.mark.parametrize("n_in,n_out,k", [(8, 4, 2), (9, 4, 3), (10, 4, 3), (13, 4, 3), (13, 4, 4),
                                          (12, 4, 3), (7, 7, 1), (6, 1, 4), (11, 3, 4), (16, 5, 3)])
def test_fractional_windows_may_overlap_exactly_when_some_sample_gives_overlapping_windows(n_in, n_out, k):
    steps = [b - a for u in np.linspace(0, 0.999, 200)
             for a, b in zip(*(lambda s: (s, s[1:]))(_fractional_starts(n_in, n_out, k, float(u))))]
    seen = bool(steps) and min(steps) < k
    assert BP.fractional_windows_overlap((n_in,), (n_out,), (k,)) == seen


@pytest.mark.parametrize("kernel,out,overlap", [(2, (4, 5), False), (3, (4, 4), True)])
def test_fractional_max_pool_backward_routes_the_gradient_and_bounds_the_shared_argmax_sums(kernel, out, overlap):
    """Routing costs nothing; inputs that are the argmax of several windows sum
    their gradients (first free, then 1 add each), at most 1 per output: counted
    at that bound where windows may overlap, 0 where they cannot."""
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(2, 3, 8, 10)))
    cost = BP.fractional_max_pool_backward_cost(tuple(x.shape), (2, 3, *out), (kernel, kernel))
    assert _counts(cost) == (0, 2 * 3 * out[0] * out[1] if overlap else 0, 0)
    most = 0
    for seed in range(20):
        samples = torch.tensor(np.random.default_rng(seed).uniform(size=(2, 3, 2)))
        xr = x.clone().requires_grad_()
        y, idx = F.fractional_max_pool2d(xr, kernel, output_size=out, return_indices=True, _random_samples=samples)
        g = torch.tensor(rng.normal(size=y.shape))
        t = bf.Tally()
        gx = np.full(x.numel(), None, dtype=object)
        for (n, c, i, j), where in zip(np.ndindex(*y.shape), idx.flatten().tolist()):
            cell = (n * 3 + c) * x.shape[2] * x.shape[3] + where
            v = g[n, c, i, j].item()
            gx[cell] = t.num(v) if gx[cell] is None else gx[cell] + v
        (y * g).sum().backward()
        np.testing.assert_allclose(bf.values(gx), xr.grad.flatten().numpy(), rtol=1e-12)
        assert t.mults == t.other == 0 and t.adds <= cost.adds
        most = max(most, t.adds)
    assert (most > 0) == overlap


# --- recurrent -----------------------------------------------------------------------------

_G = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _sig(v: float) -> float:
    return 1 / (1 + np.exp(-v))


def _step_backward(mode, t, x, h, c, p, g_h, g_c, need_x, need_h, need_c):
    """One step's backward for one sequence: the forward recomputed in floats (the
    values autograd saves), then the gradients with tallied scalars.  Returns the
    gates' gradients on the input side and on the hidden side (for the weights),
    grad x, grad h, grad c (None where not wanted)."""
    w_ih, w_hh, b_ih, b_hh = p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]
    hid = w_hh.shape[0] // _G[mode]
    a_x = w_ih @ x + (b_ih if b_ih is not None else 0)
    a_h = w_hh @ h + (b_hh if b_hh is not None else 0)
    part = lambda a, k: a[k * hid:(k + 1) * hid]
    gh = [_num(t, v) for v in g_h]
    gc_prev = None
    if mode in ("RNN_TANH", "RNN_RELU"):
        pre = a_x + a_h
        if mode == "RNN_TANH":
            y = np.tanh(pre)
            d = [gh[u] * (1 - t.num(y[u]) * y[u]) for u in range(hid)]
        else:
            t.other += hid  # g where the pre-activation is positive: one comparison each
            d = [bf.Num(gh[u].v if pre[u] > 0 else 0.0, t) for u in range(hid)]
        d_in = d_hid = d
    elif mode == "LSTM":
        pre = a_x + a_h
        i, f, gg, o = _sig(part(pre, 0)), _sig(part(pre, 1)), np.tanh(part(pre, 2)), _sig(part(pre, 3))
        tc = np.tanh(f * c + i * gg)
        d_o = [gh[u] * tc[u] * o[u] * (1 - t.num(o[u])) for u in range(hid)]
        gct = [_num(t, g_c[u]) + gh[u] * o[u] * (1 - t.num(tc[u]) * tc[u]) for u in range(hid)]
        d_i = [gct[u] * gg[u] * i[u] * (1 - t.num(i[u])) for u in range(hid)]
        d_f = [gct[u] * c[u] * f[u] * (1 - t.num(f[u])) for u in range(hid)]
        d_g = [gct[u] * i[u] * (1 - t.num(gg[u]) * gg[u]) for u in range(hid)]
        d_in = d_hid = d_i + d_f + d_g + d_o
        if need_c:
            gc_prev = [gct[u] * f[u] for u in range(hid)]
    else:  # GRU: h' = (1 − z)·n + z·h
        r, z = _sig(part(a_x, 0) + part(a_h, 0)), _sig(part(a_x, 1) + part(a_h, 1))
        hn = part(a_h, 2)
        n = np.tanh(part(a_x, 2) + r * hn)
        omz = 1 - z
        d_n = [gh[u] * omz[u] * (1 - t.num(n[u]) * n[u]) for u in range(hid)]
        g_hn = [d_n[u] * r[u] for u in range(hid)]
        d_r = [d_n[u] * hn[u] * r[u] * (1 - t.num(r[u])) for u in range(hid)]
        d_z = [gh[u] * (t.num(h[u]) - n[u]) * z[u] * (1 - t.num(z[u])) for u in range(hid)]
        d_in, d_hid = d_r + d_z + d_n, d_r + d_z + g_hn
    gx = [bf.total([d_in[k] * w_ih[k, j] for k in range(len(d_in))]) for j in range(len(x))] if need_x else None
    gh_prev = None
    if need_h:
        gh_prev = [bf.total([d_hid[k] * w_hh[k, j] for k in range(len(d_hid))]) for j in range(len(h))]
        if mode == "GRU":
            gh_prev = [v + gh[u] * z[u] for u, v in enumerate(gh_prev)]
    return d_in, d_hid, gx, gh_prev, gc_prev


def _weight_grads(t, pairs, p, want_w_hr=False):
    """Each weight's gradient as one dot product over all (step, sequence) pairs:
    ``pairs`` holds (d_in, d_hid, x, h) per pair (and (g_h, m) for W_hr)."""
    out = {"w_ih": [[bf.total([q[0][k] * q[2][j] for q in pairs]).v for j in range(p["w_ih"].shape[1])]
                    for k in range(p["w_ih"].shape[0])],
           "w_hh": [[bf.total([q[1][k] * q[3][j] for q in pairs]).v for j in range(p["w_hh"].shape[1])]
                    for k in range(p["w_hh"].shape[0])]}
    if p["b_ih"] is not None:
        out["b_ih"] = [bf.total([q[0][k] for q in pairs]).v for k in range(p["w_ih"].shape[0])]
        out["b_hh"] = [bf.total([q[1][k] for q in pairs]).v for k in range(p["w_hh"].shape[0])]
    if want_w_hr:
        out["w_hr"] = [[bf.total([q[4][a] * q[5][j] for q in pairs]).v for j in range(p["w_hr"].shape[1])]
                       for a in range(p["w_hr"].shape[0])]
    return out


def _cell_params(cell: nn.Module) -> dict:
    return {k: getattr(cell, f"{k}").detach().numpy() if getattr(cell, k, None) is not None else None
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def _cell_mode(cell: nn.Module) -> str:
    if isinstance(cell, nn.LSTMCell):
        return "LSTM"
    if isinstance(cell, nn.GRUCell):
        return "GRU"
    return "RNN_RELU" if cell.nonlinearity == "relu" else "RNN_TANH"


def _naive_cell_backward(cell, x, h, c, g_h, g_c, need_x, need_h):
    """A cell's backward, row by row (``_step_backward``), each weight's gradient a
    dot product over the rows.  Returns per row (grad x, grad h, grad c), the
    weights' gradients and the tally."""
    mode = _cell_mode(cell)
    get = lambda name: getattr(cell, name).detach().double().numpy() if getattr(cell, name) is not None else None
    p = {"w_ih": get("weight_ih"), "w_hh": get("weight_hh"), "b_ih": get("bias_ih"), "b_hh": get("bias_hh")}
    t = bf.Tally()
    steps = [_step_backward(mode, t, x[r], h[r], c[r], p, g_h[r], g_c[r], need_x, need_h, need_h)
             for r in range(x.shape[0])]
    grads = _weight_grads(t, [(s[0], s[1], x[r], h[r]) for r, s in enumerate(steps)], p)
    return [s[2:] for s in steps], grads, t


@pytest.mark.parametrize("cls,kw", [(nn.RNNCell, {}), (nn.RNNCell, {"nonlinearity": "relu"}),
                                     (nn.LSTMCell, {}), (nn.GRUCell, {}), (nn.GRUCell, {"bias": False})])
@pytest.mark.parametrize("need_x,need_h", [(True, True), (False, False), (True, False)])
def test_cell_backward_counts_equal_a_naive_gradient(cls, kw, need_x, need_h):
    torch.manual_seed(0)
    rows, i_w, hid = 3, 4, 3
    cell = cls(i_w, hid, **kw).double()
    mode = _cell_mode(cell)
    rng = np.random.default_rng(6)
    x, h, c = rng.normal(size=(rows, i_w)), rng.normal(size=(rows, hid)), rng.normal(size=(rows, hid))
    g_h, g_c = rng.normal(size=(rows, hid)), rng.normal(size=(rows, hid))
    states, grads, t = _naive_cell_backward(cell, x, h, c, g_h, g_c, need_x, need_h)
    xt, ht, ct = (torch.tensor(a, requires_grad=need) for a, need in ((x, need_x), (h, need_h), (c, need_h)))
    out = cell(xt, (ht, ct)) if mode == "LSTM" else cell(xt, ht)
    outs = out if mode == "LSTM" else (out,)
    sum((o * torch.tensor(gr)).sum() for o, gr in zip(outs, (g_h, g_c))).backward()
    for name, key in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"), ("bias_hh", "b_hh")):
        if getattr(cell, name, None) is not None:
            np.testing.assert_allclose(grads[key], getattr(cell, name).grad.numpy(), rtol=1e-9, atol=1e-12)
    for which, (tensor, wanted) in enumerate(((xt, need_x), (ht, need_h), (ct, need_h and mode == "LSTM"))):
        if wanted:
            np.testing.assert_allclose([[v.v for v in s[which]] for s in states], tensor.grad.numpy(),
                                       rtol=1e-9, atol=1e-12)
    bias = cell.bias
    cost = BR.cell_backward_cost(mode, rows, i_w, hid, need_x, need_h, need_h and mode == "LSTM", True, True,
                                 bias, bias)
    assert _counts(cost) == t.as_tuple()


def _layer_params(m: nn.RNNBase, layer: int, k: int) -> dict:
    sfx = f"_l{layer}" + ("_reverse" if k else "")
    get = lambda name: getattr(m, name + sfx).detach().numpy() if hasattr(m, name + sfx) else None
    return {"w_ih": get("weight_ih"), "w_hh": get("weight_hh"), "b_ih": get("bias_ih"),
            "b_hh": get("bias_hh"), "w_hr": get("weight_hr")}


def _forward_direction(mode, p, xin, h0, c0, order, hid, proj):
    """One layer and direction in floats: its output (T, N, S) and the states
    (h, c) each step read, by (step, sequence)."""
    T, N = xin.shape[:2]
    h, c, out, read = h0.copy(), c0.copy(), np.empty((T, N, proj or hid)), {}
    for s in order:
        for n in range(N):
            read[s, n] = h[n].copy(), c[n].copy()
            ax, hh = p["w_ih"] @ xin[s, n] + p["b_ih"], p["w_hh"] @ h[n] + p["b_hh"]
            part = lambda a, j: a[j * hid:(j + 1) * hid]
            if mode == "LSTM":
                a = ax + hh
                c[n] = _sig(part(a, 1)) * c[n] + _sig(part(a, 0)) * np.tanh(part(a, 2))
                mvec = _sig(part(a, 3)) * np.tanh(c[n])
                h[n] = p["w_hr"] @ mvec if proj else mvec
            elif mode == "GRU":
                r, z = _sig(part(ax, 0) + part(hh, 0)), _sig(part(ax, 1) + part(hh, 1))
                h[n] = (1 - z) * np.tanh(part(ax, 2) + r * part(hh, 2)) + z * h[n]
            else:
                h[n] = np.tanh(ax + hh)
            out[s, n] = h[n]
    return out, read


def _lstm_m(p, x, h, c, hid):
    """LSTM's h before the projection, o·tanh(c'), recomputed from the step's inputs."""
    a = p["w_ih"] @ x + p["b_ih"] + p["w_hh"] @ h + p["b_hh"]
    cn = _sig(a[hid:2 * hid]) * c + _sig(a[:hid]) * np.tanh(a[2 * hid:3 * hid])
    return _sig(a[3 * hid:]) * np.tanh(cn)


def _naive_rnn_backward(mode, m, x, h0, c0, g_out, g_hn, g_cn, need_x, need_h0):
    """A stacked (bi)directional layer's backward from its steps (``_step_backward``)
    over x (T, N, I), top layer first: h_t's gradient is the output's plus the next
    step's (h_n's for the last step), one tallied addition; a bidirectional layer's
    input gradient sums the two directions'; each weight's gradient is one dot
    product over all T·N pairs.  Returns the gradients (x, h0, c0, per-parameter
    name) and the tally."""
    t = bf.Tally()
    dirs, T, N = 1 + m.bidirectional, x.shape[0], x.shape[1]
    proj = getattr(m, "proj_size", 0)
    state, hid = proj or m.hidden_size, m.hidden_size
    orders = [list(range(T)), list(range(T - 1, -1, -1))]
    inputs, reads, seq = [], {}, x
    for layer in range(m.num_layers):
        inputs.append(seq)
        outs = []
        for k in range(dirs):
            i = layer * dirs + k
            out, reads[i] = _forward_direction(mode, _layer_params(m, layer, k), seq, h0[i], c0[i],
                                               orders[k], hid, proj)
            outs.append(out)
        seq = np.concatenate(outs, axis=-1)
    grads, g_above = {}, [[list(g_out[s, n]) for n in range(N)] for s in range(T)]
    gh0, gc0 = np.zeros(h0.shape), np.zeros(c0.shape)
    for layer in range(m.num_layers - 1, -1, -1):
        xin, need_in = inputs[layer], need_x or layer > 0
        g_in = [[None] * N for _ in range(T)]
        for k in range(dirs):
            p, i = _layer_params(m, layer, k), layer * dirs + k
            pairs = []
            for n in range(N):
                g_h_next, g_c_next = list(g_hn[i, n]), list(g_cn[i, n])
                for pos, s in enumerate(reversed(orders[k])):
                    first = pos == T - 1
                    h, c = reads[i][s, n]
                    g_h = [_num(t, g_above[s][n][k * state + j]) + g_h_next[j] for j in range(state)]
                    g_m, mvec = g_h, None
                    if proj:
                        mvec = _lstm_m(p, xin[s, n], h, c, hid)
                        g_m = [bf.total([g_h[q] * p["w_hr"][q, j] for q in range(state)]) for j in range(hid)]
                    d_in, d_hid, gx, gh, gc = _step_backward(
                        mode, t, xin[s, n], h, c, p, g_m, g_c_next, need_in,
                        not first or need_h0, not first or need_h0)
                    pairs.append((d_in, d_hid, xin[s, n], h, g_h, mvec))
                    if need_in:
                        g_in[s][n] = gx if g_in[s][n] is None else [a + b for a, b in zip(g_in[s][n], gx)]
                    g_h_next, g_c_next = gh, gc
                    if first and need_h0:
                        gh0[i, n] = [v.v for v in gh]
                        if mode == "LSTM":
                            gc0[i, n] = [v.v for v in gc]
            for key, v in _weight_grads(t, pairs, p, bool(proj)).items():
                grads[key + f"_l{layer}" + ("_reverse" if k else "")] = v
        g_above = g_in
    gx = np.array([[[v.v for v in g_above[s][n]] for n in range(N)] for s in range(T)]) if need_x else None
    return gx, gh0, gc0, grads, t


_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh", "w_hr": "weight_hr"}


@pytest.mark.parametrize("cls,mode,kw", [
    (nn.RNN, "RNN_TANH", {"num_layers": 2, "bidirectional": True}),
    (nn.LSTM, "LSTM", {"num_layers": 2, "bidirectional": True}),
    (nn.GRU, "GRU", {"num_layers": 2, "bidirectional": True}),
    (nn.LSTM, "LSTM", {"num_layers": 2, "proj_size": 2}),
    (nn.GRU, "GRU", {"num_layers": 1}),
])
@pytest.mark.parametrize("need_x,need_h0", [(True, True), (False, False)])
def test_recurrent_layer_backward_counts_equal_a_naive_gradient(cls, mode, kw, need_x, need_h0):
    torch.manual_seed(1)
    T, N, I, H = 3, 2, 3, 3
    m = cls(I, H, **kw).double()
    dirs, layers, proj = 1 + m.bidirectional, m.num_layers, getattr(m, "proj_size", 0)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(T, N, I))
    h0 = rng.normal(size=(layers * dirs, N, proj or H)) if need_h0 else np.zeros((layers * dirs, N, proj or H))
    c0 = rng.normal(size=(layers * dirs, N, H)) if need_h0 else np.zeros((layers * dirs, N, H))
    g_out = rng.normal(size=(T, N, dirs * (proj or H)))
    g_hn, g_cn = rng.normal(size=h0.shape), rng.normal(size=c0.shape)
    gx, gh0, gc0, grads, tally = _naive_rnn_backward(mode, m, x, h0, c0, g_out, g_hn, g_cn, need_x, need_h0)
    xt, ht, ct = (torch.tensor(a, requires_grad=need) for a, need in ((x, need_x), (h0, need_h0), (c0, need_h0)))
    out, state = m(xt, (ht, ct)) if mode == "LSTM" else m(xt, ht)
    states = state if mode == "LSTM" else (state,)
    loss = (out * torch.tensor(g_out)).sum() + sum((s * torch.tensor(g)).sum() for s, g in zip(states, (g_hn, g_cn)))
    loss.backward()
    for key, v in grads.items():
        name = _NAMES[key.split("_l")[0]] + "_l" + key.split("_l")[1]
        np.testing.assert_allclose(v, getattr(m, name).grad.numpy(), rtol=1e-8, atol=1e-12)
    if need_x:
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    if need_h0:
        np.testing.assert_allclose(gh0, ht.grad.numpy(), rtol=1e-8, atol=1e-12)
        if mode == "LSTM":
            np.testing.assert_allclose(gc0, ct.grad.numpy(), rtol=1e-8, atol=1e-12)
    params = [[(True,) * 5] * dirs] * layers
    cost = BR.rnn_backward_cost(mode, T * N, N, I, H, proj, layers, dirs, need_x, need_h0,
                               need_h0 and mode == "LSTM", params)
    assert _counts(cost) == tally.as_tuple()


def _fcm_backward_macs(module, *inputs) -> int:
    """MACs FlopCounterMode sees in loss.backward(), loss = Σ of every output
    tensor; oneDNN off, whose fused CPU LSTM kernel it cannot see into."""
    with torch.backends.mkldnn.flags(enabled=False):
        out = module(*inputs)
        loss = sum(o.sum() for o in torch.utils._pytree.tree_leaves(out) if isinstance(o, torch.Tensor))
        with FlopCounterMode(display=False) as counter:
            loss.backward()
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("cls,mode,kw", [
    (nn.RNN, "RNN_TANH", {"num_layers": 3, "bidirectional": True}),
    (nn.RNN, "RNN_RELU", {"nonlinearity": "relu", "bias": False}),
    (nn.LSTM, "LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    (nn.LSTM, "LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 3}),
    (nn.GRU, "GRU", {"num_layers": 2, "bidirectional": True}),
])
@pytest.mark.parametrize("need_x,need_h0", [(True, True), (False, False), (False, True)])
def test_recurrent_layer_backward_macs_equal_flop_counter(cls, mode, kw, need_x, need_h0):
    torch.manual_seed(2)
    T, N, I, H = 5, 3, 4, 6
    m = cls(I, H, **kw)
    dirs, layers, proj = 1 + m.bidirectional, m.num_layers, getattr(m, "proj_size", 0)
    x = torch.randn((N, T, I) if m.batch_first else (T, N, I), requires_grad=need_x)
    h0 = torch.randn(layers * dirs, N, proj or H, requires_grad=need_h0)
    c0 = torch.randn(layers * dirs, N, H, requires_grad=need_h0)
    want = _fcm_backward_macs(m, x, (h0, c0) if mode == "LSTM" else h0)
    params = [[(True,) * 5] * dirs] * layers
    cost = BR.rnn_backward_cost(mode, T * N, N, I, H, proj, layers, dirs, need_x, need_h0,
                               need_h0 and mode == "LSTM", params)
    assert cost.macs == want


@pytest.mark.parametrize("cls,mode", [(nn.RNNCell, "RNN_TANH"), (nn.LSTMCell, "LSTM"), (nn.GRUCell, "GRU")])
@pytest.mark.parametrize("need_x,need_h", [(True, True), (False, False)])
def test_cell_backward_macs_equal_flop_counter(cls, mode, need_x, need_h):
    torch.manual_seed(3)
    m = cls(5, 4)
    x, h, c = torch.randn(3, 5, requires_grad=need_x), torch.randn(3, 4, requires_grad=need_h), torch.randn(3, 4)
    want = _fcm_backward_macs(m, x, (h, c) if mode == "LSTM" else h)
    cost = BR.cell_backward_cost(mode, 3, 5, 4, need_x, need_h, False, True, True, True, True)
    assert cost.macs == want


# --- the training profile: each layer's row counted, and equal to the naive tallies ----------

def _row(model, *inputs):
    """The training profile's single row of ``model``."""
    report = profiler.profile(model, inputs=inputs[0] if len(inputs) == 1 else tuple(inputs), training=True)
    assert len(report.layers) == 1 and report.layers.iloc[0]["bwd_status"] == "formula", report.layers
    row = report.layers.iloc[0]
    return tuple(int(row[c]) for c in ("bwd_mults", "bwd_adds", "bwd_other")), int(row["bwd_macs"])


def _sum(*tallies) -> tuple[int, int, int]:
    return tuple(sum(t.as_tuple()[i] for t in tallies) for i in range(3))


_RECURRENT = {
    "lstm-2-layer-bidirectional": (lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True), True, False),
    "lstm-projected-h0": (lambda: nn.LSTM(3, 4, proj_size=2), False, True),
    "gru-h0": (lambda: nn.GRU(3, 4), True, True),
    "rnn-3-layer-bidirectional": (lambda: nn.RNN(3, 4, num_layers=3, bidirectional=True), False, False),
}


@pytest.mark.parametrize("name", _RECURRENT)
def test_training_profile_counts_recurrent_layers_as_a_naive_gradient(name):
    make, need_x, need_h0 = _RECURRENT[name]
    torch.manual_seed(4)
    m = make()
    mode, dirs, proj = m.mode, 1 + m.bidirectional, getattr(m, "proj_size", 0)
    T, N, layers = 4, 2, m.num_layers
    x = torch.randn(T, N, 3, requires_grad=need_x)
    h0 = torch.randn(layers * dirs, N, proj or 4, requires_grad=need_h0)
    c0 = torch.randn(layers * dirs, N, 4, requires_grad=need_h0)
    hx = (h0, c0) if mode == "LSTM" else h0
    counts, macs = _row(m, x, hx) if need_h0 else _row(m, x)
    rng = np.random.default_rng(8)
    h0n = h0.detach().double().numpy() if need_h0 else np.zeros(h0.shape)
    c0n = c0.detach().double().numpy() if need_h0 else np.zeros(c0.shape)
    g = [rng.normal(size=s) for s in ((T, N, dirs * (proj or 4)), h0.shape, c0.shape)]
    *_, tally = _naive_rnn_backward(mode, m.double(), x.detach().double().numpy(), h0n, c0n, *g, need_x, need_h0)
    assert counts == tally.as_tuple()
    m.float()
    assert macs == _fcm_backward_macs(m, x, hx) if need_h0 else macs == _fcm_backward_macs(m, x)


def test_training_profile_counts_the_dropout_between_recurrent_layers():
    """In training, dropout between layers scales the kept gradients: 1 mult per
    element of every layer's output but the last."""
    torch.manual_seed(5)
    x = torch.randn(4, 2, 3)
    plain, _ = _row(nn.GRU(3, 4, num_layers=3, bidirectional=True), x)
    dropped, _ = _row(nn.GRU(3, 4, num_layers=3, bidirectional=True, dropout=0.5), x)
    assert dropped[0] - plain[0] == 2 * (4 * 2 * 2 * 4) and dropped[1:] == plain[1:]


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
@pytest.mark.parametrize("need_x,need_h", [(True, True), (False, False)])
def test_training_profile_counts_cells_as_a_naive_gradient(cls, need_x, need_h):
    torch.manual_seed(6)
    cell = cls(3, 4)
    x = torch.randn(2, 3, requires_grad=need_x)
    h, c = torch.randn(2, 4, requires_grad=need_h), torch.randn(2, 4, requires_grad=need_h)
    hx = (h, c) if cls is nn.LSTMCell else h
    counts, macs = _row(cell, x, hx)
    rng = np.random.default_rng(9)
    *_, tally = _naive_cell_backward(cell, *(a.detach().double().numpy() for a in (x, h, c)),
                                     rng.normal(size=(2, 4)), rng.normal(size=(2, 4)), need_x, need_h)
    assert counts == tally.as_tuple()
    assert macs == _fcm_backward_macs(cell, x, hx)


def test_training_profile_counts_bilinear_as_a_naive_gradient():
    torch.manual_seed(7)
    m = nn.Bilinear(3, 4, 5)
    x1, x2 = torch.randn(2, 3, 3), torch.randn(2, 3, 4, requires_grad=True)   # x1 wants no gradient
    counts, macs = _row(m, x1, x2)
    rng = np.random.default_rng(10)
    _, (tx1, tx2, tw, tb) = _naive_bilinear_backward(x1.reshape(6, 3).numpy(), x2.detach().reshape(6, 4).numpy(),
                                                     m.weight.detach().numpy(), rng.normal(size=(6, 5)))
    assert counts == _sum(tx2, tw, tb)
    assert macs == tx2.mults + tw.mults - 6 * 5 * 3   # the outer products x1·g are not dot products


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_training_profile_counts_embedding_bag_as_a_naive_gradient(mode):
    torch.manual_seed(8)
    m = nn.EmbeddingBag(7, 3, mode=mode)
    flat, offsets = [1, 4, 3, 0, 6, 2, 4, 5], [0, 3, 4]
    counts, _ = _row(m, torch.tensor(flat), torch.tensor(offsets))
    table = m.weight.detach().double().numpy()
    bags = [flat[0:3], flat[3:4], flat[4:]]
    *_, tw, _ = _naive_embedding_bag_backward(table, bags, mode, np.random.default_rng(11).normal(size=(3, 3)))
    assert counts == tw.as_tuple()


def test_training_profile_counts_weighted_embedding_bag_as_a_naive_gradient():
    torch.manual_seed(9)
    m = nn.EmbeddingBag(6, 4, mode="sum")
    idx, weights = torch.tensor([[0, 5, 5], [2, 3, 1]]), torch.rand(2, 3, requires_grad=True)
    counts, macs = _row(m, idx, None, weights)
    *_, tw, tp = _naive_embedding_bag_backward(m.weight.detach().double().numpy(), idx.tolist(), "sum",
                                               np.random.default_rng(12).normal(size=(2, 4)),
                                               weights.detach().double().numpy())
    assert counts == _sum(tw, tp) and macs == tp.mults


@pytest.mark.parametrize("cls", [nn.LocalResponseNorm, nn.CrossMapLRN2d])
def test_training_profile_counts_local_response_norm_as_a_naive_gradient(cls):
    torch.manual_seed(10)
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    counts, _ = _row(cls(3, alpha=1e-3, beta=0.75, k=2.0), x)
    g = np.random.default_rng(13).normal(size=x.shape)
    _, t = _naive_lrn_backward(x.detach().double().numpy(), g, 3, 1e-3, 0.75, 2.0)
    assert counts == t.as_tuple()


def test_training_profile_counts_lp_pool_as_a_naive_gradient():
    torch.manual_seed(11)
    x = (torch.rand(2, 3, 7, 8) + 0.5).requires_grad_()
    counts, _ = _row(nn.LPPool2d(3, (3, 2), stride=(2, 1)), x)
    y = F.lp_pool2d(x.detach(), 3, (3, 2), (2, 1))
    g = np.random.default_rng(14).normal(size=tuple(y.shape))
    _, t = _naive_lp_pool_backward(x.detach().double().numpy(), g, 3, (3, 2), (2, 1))
    assert counts == t.as_tuple()


@pytest.mark.parametrize("kernel,out,overlap", [(2, (4, 5), False), (3, (4, 4), True)])
def test_training_profile_counts_fractional_max_pool_as_routing(kernel, out, overlap):
    """Routing is free; shared argmaxes at the bound of 1 addition per output where
    windows may overlap (see the routing test above), none where they cannot."""
    x = torch.randn(2, 3, 8, 10, requires_grad=True)
    counts, _ = _row(nn.FractionalMaxPool2d(kernel, output_size=out), x)
    assert counts == (0, 2 * 3 * out[0] * out[1] if overlap else 0, 0)


class _Packed(nn.Module):
    """An LSTM over a PackedSequence (lengths 5, 3, 2, given sorted or not)."""

    def __init__(self, sorted_lengths: bool):
        super().__init__()
        self.rnn, self.sorted_lengths = nn.LSTM(3, 4, num_layers=2, bidirectional=True), sorted_lengths

    def forward(self, x, hx):
        lengths = torch.tensor([5, 3, 2] if self.sorted_lengths else [2, 5, 3])
        out, state = self.rnn(nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=self.sorted_lengths), hx)
        return out.data, state


@pytest.mark.parametrize("sorted_lengths", [True, False])
def test_training_profile_counts_a_packed_sequence_by_its_lengths(sorted_lengths):
    """P = Σ lengths = 10 pairs, N = 3 sequences; MACs as FlopCounterMode sees them."""
    torch.manual_seed(12)
    model = _Packed(sorted_lengths)
    x = torch.randn(5, 3, 3, requires_grad=True)
    hx = (torch.randn(4, 3, 4, requires_grad=True), torch.randn(4, 3, 4, requires_grad=True))
    row = profiler.profile(model, inputs=(x, hx), training=True).layers.set_index("name").loc["rnn"]
    assert row["bwd_status"] == "formula"
    params = [[(True,) * 5] * 2] * 2
    cost = BR.rnn_backward_cost("LSTM", 10, 3, 3, 4, 0, 2, 2, True, True, True, params)
    assert (row["bwd_mults"], row["bwd_adds"], row["bwd_other"], row["bwd_macs"]) == (
        cost.mults, cost.adds, cost.other, cost.macs)
    assert cost.macs == _fcm_backward_macs(model, x, hx)


# --- nn.MultiheadAttention with bias_k/v and the zero row ----------------------------------

class _Attend(nn.Module):
    """nn.MultiheadAttention called with need_weights as given (a module's own call
    cannot take keyword arguments through profile)."""

    def __init__(self, need_weights: bool, **ctor):
        super().__init__()
        self.mha, self.need_weights = nn.MultiheadAttention(8, 2, **ctor), need_weights

    def forward(self, q, k, v):
        return self.mha(q, k, v, need_weights=self.need_weights)


def _mha_inputs(m: nn.MultiheadAttention, batch=3, tgt=5, src=7):
    def seq(length, width):
        return torch.randn((batch, length, width) if m.batch_first else (length, batch, width))
    return seq(tgt, m.embed_dim), seq(src, m.kdim), seq(src, m.vdim)


_MHA = {
    "bias-kv-zero-attn-weights": (True, dict(add_bias_kv=True, add_zero_attn=True)),
    "bias-kv-sdpa": (False, dict(add_bias_kv=True, batch_first=True)),
    "zero-attn-kdim-vdim-weights": (True, dict(add_zero_attn=True, kdim=4, vdim=10, batch_first=True)),
    "bias-kv-zero-attn-kdim-vdim-sdpa": (False, dict(add_bias_kv=True, add_zero_attn=True, kdim=4, vdim=10)),
}


@pytest.mark.parametrize("name", _MHA)
def test_multihead_attention_backward_macs_equal_flop_counter_with_appended_keys(name):
    """The k and v projections run on the S keys given; bias_k/v and the zero row are
    appended after them, so only the core sees S + 1 or S + 2 keys: FlopCounterMode
    around loss.backward() on the math path (scaled_dot_product_attention's when
    need_weights=False, bmm's otherwise)."""
    need_weights, ctor = _MHA[name]
    torch.manual_seed(13)
    model = _Attend(need_weights, **ctor)
    inputs = [x.requires_grad_() for x in _mha_inputs(model.mha)]
    ours = int(profiler.profile(model, inputs=tuple(inputs), training=True).layers["bwd_macs"].sum())
    with sdpa_kernel(SDPBackend.MATH):
        assert ours == _fcm_backward_macs(model.train(), *inputs)


def test_multihead_attention_bias_kv_gradients_sum_the_batch_copies():
    """bias_k and bias_v are repeated over the N batch elements before joining the
    keys and values: each gradient is the sum of its N copies' gradients, (N − 1)·E
    additions.  The copies' gradients are taken one batch element at a time (the
    elements are independent), summed with counting scalars, checked against the
    batched gradient; the training profile's counts differ by that tally exactly
    between bias_k/v learned and frozen."""
    torch.manual_seed(14)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    q, k, v = _mha_inputs(m)
    m(q, k, v)[0].sum().backward()
    batched = m.bias_k.grad.clone(), m.bias_v.grad.clone()
    copies = []
    for i in range(q.shape[1]):
        m.zero_grad()
        m(q[:, i:i + 1], k[:, i:i + 1], v[:, i:i + 1])[0].sum().backward()
        copies.append((m.bias_k.grad.double().flatten().numpy(), m.bias_v.grad.double().flatten().numpy()))
    tally = bf.Tally()
    for which, want in enumerate(batched):
        got = [bf.total([tally.num(c[which][d]) for c in copies]).v for d in range(m.embed_dim)]
        np.testing.assert_allclose(got, want.flatten().double().numpy(), rtol=1e-5, atol=1e-6)
    learned, _ = _row(m, q, k, v)
    m.bias_k.requires_grad_(False)
    m.bias_v.requires_grad_(False)
    frozen, _ = _row(m, q, k, v)
    assert tuple(a - b for a, b in zip(learned, frozen)) == tally.as_tuple() == (0, 2 * 2 * 8, 0)
