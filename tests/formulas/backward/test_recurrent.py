"""profiler.formulas.backward.recurrent: the backward of RNN/LSTM/GRU layers
(stacked, bidirectional, projected, packed) and cells, against naive gradients
written with self-counting scalars (their values checked against autograd's), and
their MACs against FlopCounterMode around loss.backward(); directly and through
the training profile's row (dropout between layers included)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
import profiler
from profiler.formulas.backward import recurrent as BR
from backward_cases import counts as _counts, training_row as _row


def _num(t: bf.Tally, v):
    """v as a tallied scalar (a Num stays as it is)."""
    return v if isinstance(v, bf.Num) else t.num(v)


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


# --- through the training profile ----------------------------------------------------------

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
