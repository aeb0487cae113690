"""Backward counts: MACs against torch's FlopCounterMode around loss.backward(), the
other counts against naive gradients that tally their own arithmetic, and the
training profile's plumbing (no side effects, CLI; its columns and pass totals:
tests/count/test_backward.py)."""
from __future__ import annotations

from itertools import product

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
import profiler
from profiler.formulas.backward.activation import log_softmax_backward_cost, softmax_backward_cost
from profiler.formulas.backward.conv import conv_backward_cost
from profiler.formulas.backward.elementwise import pointwise_backward_cost
from profiler.formulas.backward.linear import linear_backward_cost
from profiler.formulas.backward.norm import normalize_backward_cost
from profiler.formulas.backward.pool import avg_pool_backward_cost
from profiler.cli import main


def _flop_counter_backward_macs(model, *inputs, math=True) -> int:
    """MACs of loss.backward() (loss = Σ of every output) by FlopCounterMode, the
    forward run in train mode outside the counter; its flops are 2 × MACs."""
    model.train()
    with sdpa_kernel(SDPBackend.MATH) if math else torch.enable_grad():
        out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.sum() for o in outs if isinstance(o, torch.Tensor))
        with FlopCounterMode(display=False) as counter:
            loss.backward()
    return counter.get_total_flops() // 2


def _training(model, *inputs):
    args = inputs[0] if len(inputs) == 1 else tuple(inputs)
    return profiler.profile(model, inputs=args, training=True)


def _bwd_macs(model, *inputs) -> int:
    return int(_training(model, *inputs).layers["bwd_macs"].sum())


class Functional(nn.Module):
    """conv2d, linear and matmul called functionally, charged to the model's own row."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 4, 3, 3))
        self.lw = nn.Parameter(torch.randn(10, 8 * 6 * 6))
        self.lb = nn.Parameter(torch.randn(10))

    def forward(self, x):
        y = F.relu(F.conv2d(x, self.w)).flatten(1)
        z = F.linear(y, self.lw, self.lb)
        return torch.matmul(z.unsqueeze(2), z.unsqueeze(1)).sum(0) @ self.lw[:, :10]


class Attention(nn.Module):
    """A packed qkv projection and F.scaled_dot_product_attention."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x):
        q, k, v = self.qkv(x).view(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)


SMALL_NETS = {
    "conv-bn-pool-linear": lambda: (nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 3 * 3, 10)),
        [torch.randn(2, 3, 16, 16)]),
    "conv1d-dilated-strided": lambda: (nn.Sequential(
        nn.Conv1d(4, 8, 3, dilation=2), nn.ReLU(), nn.Conv1d(8, 8, 5, stride=2, padding=2)),
        [torch.randn(2, 4, 30)]),
    "transposed-conv": lambda: (nn.Sequential(
        nn.Conv2d(4, 8, 3), nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)),
        [torch.randn(2, 4, 8, 8)]),
    "linear-on-3d-gelu-layernorm": lambda: (nn.Sequential(
        nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 8)), [torch.randn(2, 7, 16)]),
    "functional-conv-linear-matmul": lambda: (Functional(), [torch.randn(3, 4, 8, 8)]),
    "multihead-attention-need-weights": lambda: (nn.MultiheadAttention(16, 4), [torch.randn(5, 2, 16)] * 3),
    "multihead-attention-kdim-vdim": lambda: (
        nn.MultiheadAttention(16, 4, batch_first=True, kdim=8, vdim=12),
        [torch.randn(2, 5, 16), torch.randn(2, 7, 8), torch.randn(2, 7, 12)]),
    "sdpa-functional": lambda: (Attention(), [torch.randn(2, 5, 16)]),
}


@pytest.mark.parametrize("name", SMALL_NETS)
def test_backward_macs_equal_flop_counter_on_small_nets(name):
    torch.manual_seed(0)
    model, inputs = SMALL_NETS[name]()
    assert _bwd_macs(model, *inputs) == _flop_counter_backward_macs(model, *inputs)


def test_backward_macs_equal_flop_counter_on_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    x = torch.randn(1, 3, 112, 112)
    ours = _bwd_macs(model, x)
    assert ours == _flop_counter_backward_macs(model, x) == 941_215_744


def test_backward_macs_equal_flop_counter_on_vit_b_16_with_the_math_attention():
    """FlopCounterMode sees attention's matmuls only when SDPA runs its math path
    (on CPU the fused flash kernel has no flop formula there)."""
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None)
    x = torch.randn(1, 3, 224, 224)
    ours = _bwd_macs(model, x)
    assert ours == _flop_counter_backward_macs(model, x, math=True) == 35_012_050_944


def test_flop_counter_misses_fused_cpu_attention_by_exactly_its_four_matmuls():
    """With the fused CPU kernel, FlopCounterMode counts no attention at all: per
    layer it misses dP = dO·Vᵀ, dV, dQ and dK, 4·N·L²·E MACs."""
    torch.manual_seed(0)
    layers, hidden, tokens = 2, 32, (32 // 8) ** 2 + 1
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=layers,
                                                 num_heads=4, hidden_dim=hidden, mlp_dim=64)
    x = torch.randn(2, 3, 32, 32)
    gap = layers * 4 * 2 * tokens * tokens * hidden
    fused = _flop_counter_backward_macs(model, x, math=False)
    assert _bwd_macs(model, x) == fused + gap == _flop_counter_backward_macs(model, x, math=True)


def test_flop_counter_overcounts_grouped_conv_weight_gradients_by_the_group_count():
    """FlopCounterMode takes the weight gradient of a grouped conv as if every
    input channel met every output channel: groups × the real MACs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=8))  # depthwise second conv
    x = torch.randn(2, 4, 8, 8)
    weight_grad = 8 * 1 * 9 * (2 * 4 * 4)  # numel(W) dot products over N·H_out·W_out
    assert _flop_counter_backward_macs(model, x) - _bwd_macs(model, x) == (8 - 1) * weight_grad


def test_first_layer_on_the_raw_image_computes_no_input_gradient():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))
    layers = _training(model, torch.randn(1, 3, 10, 10)).layers.set_index("name")
    assert layers.loc["0", "bwd_macs"] == layers.loc["0", "macs"]          # weight gradient only
    assert layers.loc["1", "bwd_macs"] == 2 * layers.loc["1", "macs"]      # input and weight


def test_frozen_layers_compute_no_weight_gradient_and_stop_the_input_gradient():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    for p in model[0].parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 10, 10)
    layers = _training(model, x).layers.set_index("name")
    assert layers.loc["0", "bwd_mults"] == layers.loc["0", "bwd_adds"] == 0
    assert layers.loc["1", "bwd_other"] == 0               # ReLU's input needs no gradient either
    assert layers.loc["2", "bwd_macs"] == layers.loc["2", "macs"]
    assert int(layers["bwd_macs"].sum()) == _flop_counter_backward_macs(model, x)


# --- non-MAC counts against naive gradients ------------------------------------------

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


def test_linear_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(3, 2, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    g = rng.normal(size=(3, 2, 4))
    rows_x, rows_g = x.reshape(-1, 5), g.reshape(-1, 4)
    gx, tx = bf.linear(rows_g, w.T, None)                 # g·W: a dot product per input element
    gw, tw = bf.linear(rows_g.T, rows_x.T, None)          # gᵀ·x: a dot product per weight
    tb = bf.Tally()
    gb = [bf.total([tb.num(v) for v in rows_g[:, o]]).v for o in range(4)]
    want = _grad(lambda x_, w_, b_: F.linear(x_, w_, b_), [x, w, b], g)
    for got, ref in zip((gx.reshape(x.shape), gw, gb), want):
        np.testing.assert_allclose(got, ref, rtol=1e-9)
    for need, tally in zip([(True, False, False), (False, True, False), (False, False, True)], (tx, tw, tb)):
        cost = linear_backward_cost(x.shape, g.shape, 5, 4, *need)
        assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()


def test_softmax_and_log_softmax_backward_counts_equal_naive_gradients():
    rng = np.random.default_rng(2)
    x, g = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    y, ly = torch.softmax(torch.tensor(x), -1).numpy(), torch.log_softmax(torch.tensor(x), -1).numpy()
    ts, tl = bf.Tally(), bf.Tally()
    gs, gl = np.empty_like(x), np.empty_like(x)
    for r in range(3):
        dot = bf.total([ts.num(y[r, j]) * g[r, j] for j in range(6)])            # Σ y·g
        gs[r] = [(ts.num(y[r, j]) * (g[r, j] - dot)).v for j in range(6)]          # y·(g − Σ)
        total_g = bf.total([tl.num(v) for v in g[r]])                              # Σ g
        gl[r] = [(g[r, j] - tl.num(ly[r, j]).exp() * total_g).v for j in range(6)]  # g − exp(y)·Σ
    np.testing.assert_allclose(gs, _grad(lambda t: torch.softmax(t, -1), [x], g)[0], rtol=1e-9)
    np.testing.assert_allclose(gl, _grad(lambda t: torch.log_softmax(t, -1), [x], g)[0], rtol=1e-9)
    for cost, tally in ((softmax_backward_cost(18, 6), ts), (log_softmax_backward_cost(18, 6), tl)):
        assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()


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
    want = _grad(lambda x_, w_, b_: F.layer_norm(x_, (6,), w_, b_), [x, w, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    cost = normalize_backward_cost(24, 6, 6, True, True, True)
    assert (cost.mults, cost.adds, cost.other) == tally.as_tuple()


def test_training_batch_norm_backward_counts_equal_a_naive_gradient():
    rng = np.random.default_rng(4)
    x, g, w, b = rng.normal(size=(2, 3, 2, 2)), rng.normal(size=(2, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    grads, tally = _naive_norm_backward(x, g, w, lambda i: i[1], lambda i: i[1])
    want = _grad(lambda x_, w_, b_: F.batch_norm(x_, None, None, w_, b_, training=True), [x, w, b], g)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=1e-9)
    row = _training(nn.BatchNorm2d(3), torch.randn(2, 3, 2, 2, requires_grad=True)).layers.iloc[0]
    assert (row["bwd_mults"], row["bwd_adds"], row["bwd_other"]) == tally.as_tuple()


def test_avg_pool_backward_counts_equal_a_naive_scatter():
    """Each output gradient times 1/9, scattered over its (padded) 3×3 window; the
    first gradient landing on an input is free, each further one an addition."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 6, 5))
    out = F.avg_pool2d(torch.tensor(x), 3, 2, 1)
    g = rng.normal(size=tuple(out.shape))
    t = bf.Tally()
    gx = np.full(x.shape, None, dtype=object)
    for n, c, i, j in np.ndindex(g.shape):
        share = t.num(g[n, c, i, j]) * (1 / 9)
        for a, b in product(range(3), range(3)):
            r, s = 2 * i + a - 1, 2 * j + b - 1
            if 0 <= r < 6 and 0 <= s < 5:
                gx[n, c, r, s] = share if gx[n, c, r, s] is None else gx[n, c, r, s] + share
    np.testing.assert_allclose(bf.values(gx), _grad(lambda t_: F.avg_pool2d(t_, 3, 2, 1), [x], g)[0], rtol=1e-9)
    cost = avg_pool_backward_cost(x.shape, tuple(out.shape), (3, 3), (2, 2), (1, 1))
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple()


@pytest.mark.parametrize("name,fn,naive", [
    ("sigmoid", torch.sigmoid, lambda t, x, y, g: t.num(g) * y * (1 - t.num(y))),
    ("tanh", torch.tanh, lambda t, x, y, g: t.num(g) * (1 - t.num(y) * y)),
    ("silu", F.silu, lambda t, x, y, g: (lambda s: t.num(g) * (s * (1 + t.num(x) * (1 - s))))(
        1 / (1 + (-t.num(x)).exp()))),
    ("exp", torch.exp, lambda t, x, y, g: t.num(g) * y),
])
def test_pointwise_backward_counts_equal_naive_gradients(name, fn, naive):
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=7), rng.normal(size=7)
    y = fn(torch.tensor(x)).numpy()
    t = bf.Tally()
    got = [naive(t, x[i], y[i], g[i]).v for i in range(7)]
    np.testing.assert_allclose(got, _grad(fn, [x], g)[0], rtol=1e-9)
    cost = pointwise_backward_cost(name, 7)
    assert (cost.mults, cost.adds, cost.other) == t.as_tuple()


# --- the training profile --------------------------------------------------------------

def test_training_profile_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).eval()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = profiler.profile(model, input_size=(3, 8, 8), batch=2, training=True)
    assert report.layers.set_index("name").loc["1", "mults"] > 2 * 4 * 36  # batch statistics used
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats, num_batches_tracked
    assert not any(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_training_cli_prints_backward_columns_and_totals(capsys):
    assert main(["profile", "resnet18", "--input", "3x64x64", "--batch", "2", "--training"]) == 0
    out = capsys.readouterr().out
    assert "bwd_macs" in out and "forward and backward:" in out and "forward+backward" in out


def test_training_cli_groups_backward_columns_by_depth(capsys):
    assert main(["profile", "resnet18", "--input", "3x64x64", "--batch", "2", "--training",
                 "--depth", "1"]) == 0
    assert "layer4" in capsys.readouterr().out
