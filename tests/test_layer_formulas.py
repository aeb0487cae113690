"""Pooling, normalisation, softmax, attention and recurrent formulas against
independent counts: naive layers that tally their own arithmetic
(tests/bruteforce.py), explicit step-by-step counts, and FlopCounterMode."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf


def _numpy(t):
    return None if t is None else t.detach().double().numpy()


def _assert_same(out: np.ndarray, expected: torch.Tensor):
    np.testing.assert_allclose(out, _numpy(expected), rtol=1e-7, atol=1e-9)


def _assert_counts(got: dict, tally: bf.Tally, macs: int = 0):
    assert (got["mults"], got["adds"], got["other"], got["macs"]) == (*tally.as_tuple(), macs)


def _randomize(module: nn.Module) -> nn.Module:
    """Non-trivial parameters and running statistics, so that a wrong value shows."""
    torch.manual_seed(1)
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)
    return module.double().eval()


# --- pooling ---------------------------------------------------------------------------

MAX_POOLS = [
    (nn.MaxPool1d, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    (nn.MaxPool1d, (1, 2, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),  # last window overhangs
    (nn.MaxPool2d, (1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    (nn.MaxPool2d, (2, 7, 7), dict(kernel_size=3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True)),
    (nn.MaxPool3d, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1, ceil_mode=True)),
]


@pytest.mark.parametrize("cls,shape,kwargs", MAX_POOLS)
def test_max_pool_counts_window_minus_one_comparisons_over_whole_windows(layer_cost, cls, shape, kwargs):
    pool = cls(**kwargs)
    x = torch.randn(shape, dtype=torch.float64)
    batched = x if x.dim() == int(cls.__name__[-2]) + 2 else x[None]  # the loop wants a batch dim
    out, tally = bf.max_pool(_numpy(batched), pool.kernel_size, pool.stride, pool.padding, pool.dilation,
                             pool.ceil_mode)
    _assert_same(out, pool(batched))
    _assert_counts(layer_cost(pool, x), tally)


AVG_POOLS = [
    (nn.AvgPool1d, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1)),
    (nn.AvgPool1d, (1, 2, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    (nn.AvgPool2d, (1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    (nn.AvgPool2d, (1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (nn.AvgPool2d, (1, 2, 6, 5), dict(kernel_size=2, padding=1, count_include_pad=False, divisor_override=3)),
    (nn.AvgPool3d, (1, 2, 5, 4, 5), dict(kernel_size=2, stride=(1, 2, 2), padding=1,
                                         count_include_pad=False, ceil_mode=True)),
]


@pytest.mark.parametrize("cls,shape,kwargs", AVG_POOLS)
def test_avg_pool_counts_window_minus_one_adds_and_one_mult_per_output(layer_cost, cls, shape, kwargs):
    pool = cls(**kwargs)
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.avg_pool(_numpy(x), pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode,
                             pool.count_include_pad, getattr(pool, "divisor_override", None))
    _assert_same(out, pool(x))
    _assert_counts(layer_cost(pool, x), tally)


ADAPTIVE = [
    (nn.AdaptiveAvgPool1d, (2, 3, 10), 4),
    (nn.AdaptiveMaxPool1d, (2, 3, 10), 4),
    (nn.AdaptiveAvgPool1d, (2, 5), 7),              # more outputs than inputs: windows overlap
    (nn.AdaptiveAvgPool2d, (1, 2, 7, 5), (3, 2)),
    (nn.AdaptiveMaxPool2d, (1, 2, 7, 5), (3, 4)),
    (nn.AdaptiveAvgPool2d, (2, 11, 6), (5, None)),  # unbatched; None keeps the size
    (nn.AdaptiveAvgPool3d, (1, 2, 5, 3, 7), (2, 2, 3)),
    (nn.AdaptiveMaxPool3d, (1, 1, 4, 5, 6), (3, 2, 4)),
]


@pytest.mark.parametrize("cls,shape,size", ADAPTIVE)
def test_adaptive_pool_counts_pytorchs_exact_uneven_windows(layer_cost, cls, shape, size):
    pool = cls(size)
    x = torch.randn(shape, dtype=torch.float64)
    expected = pool(x)
    d = int(cls.__name__[-2])
    out_size = tuple(expected.shape[-d:])
    out, tally = bf.adaptive_pool(_numpy(x), out_size, "max" if "Max" in cls.__name__ else "avg")
    _assert_same(out, expected[0] if isinstance(expected, tuple) else expected)
    _assert_counts(layer_cost(pool, x), tally)


# --- normalisation ---------------------------------------------------------------------

def _folded(norm: nn.modules.batchnorm._NormBase):
    """Per-channel scale and shift that stored statistics fold into (not counted)."""
    scale = np.ones(norm.num_features) if norm.weight is None else _numpy(norm.weight)
    scale = scale / np.sqrt(_numpy(norm.running_var) + norm.eps)
    shift = (0 if norm.bias is None else _numpy(norm.bias)) - _numpy(norm.running_mean) * scale
    return scale, shift


STORED_STATS = [
    (nn.BatchNorm1d(3), (4, 3)),
    (nn.BatchNorm1d(3, affine=False), (2, 3, 5)),
    (nn.BatchNorm2d(4), (2, 4, 3, 3)),
    (nn.BatchNorm3d(2), (1, 2, 3, 2, 3)),
    (nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
]


@pytest.mark.parametrize("norm,shape", STORED_STATS)
def test_stored_statistics_cost_one_mult_and_one_add_per_element(layer_cost, norm, shape):
    norm = _randomize(norm)
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.folded_affine(_numpy(x), *_folded(norm))
    _assert_same(out, norm(x))
    _assert_counts(layer_cost(norm.train(), x), tally)  # profiling runs it in eval


def _channel(idx):
    return idx[1]


COMPUTED_STATS = [
    # module, input shape, group of an element index, channel of the affine
    (nn.LayerNorm(6), (2, 3, 6), lambda i: i[:-1], lambda i: i[-1]),
    (nn.LayerNorm((3, 4), elementwise_affine=False), (2, 3, 4), lambda i: i[0], None),
    (nn.LayerNorm((3, 4), bias=False), (2, 3, 4), lambda i: i[0], lambda i: i[1:]),
    (nn.GroupNorm(2, 4), (2, 4, 3, 2), lambda i: (i[0], i[1] // 2), _channel),
    (nn.GroupNorm(3, 3, affine=False), (1, 3, 5), lambda i: (i[0], i[1]), None),
    (nn.InstanceNorm1d(3), (2, 3, 5), lambda i: i[:2], None),
    (nn.InstanceNorm2d(2, affine=True), (2, 2, 3, 3), lambda i: i[:2], _channel),
    (nn.InstanceNorm3d(2), (1, 2, 2, 3, 2), lambda i: i[:2], None),
    (nn.BatchNorm2d(3, track_running_stats=False), (2, 3, 2, 3), _channel, _channel),
]


@pytest.mark.parametrize("norm,shape,group_of,channel_of", COMPUTED_STATS)
def test_statistics_from_the_input_follow_the_step_by_step_count(layer_cost, norm, shape, group_of,
                                                                 channel_of):
    norm = _randomize(norm)
    x = torch.randn(shape, dtype=torch.float64)
    weight = bias = None
    if channel_of is not None:
        weight = _numpy(norm.weight)
        bias = _numpy(norm.bias) if norm.bias is not None else None
    out, tally = bf.norm_over(_numpy(x), group_of, norm.eps, weight, bias, channel_of)
    _assert_same(out, norm(x))
    _assert_counts(layer_cost(norm, x), tally)


@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm_follows_the_step_by_step_count(layer_cost, affine):
    norm = _randomize(nn.RMSNorm((2, 3), eps=1e-5, elementwise_affine=affine))
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    t = bf.Tally()
    out = np.empty(x.shape)
    for b in range(4):
        group = [t.num(v) for v in _numpy(x[b]).ravel()]
        rstd = (bf.total([v * v for v in group]) / len(group) + norm.eps).rsqrt()
        scaled = [v * rstd for v in group]
        if affine:
            scaled = [v * w for v, w in zip(scaled, _numpy(norm.weight).ravel())]
        out[b] = np.reshape([v.v for v in scaled], (2, 3))
    _assert_same(out, norm(x))
    _assert_counts(layer_cost(norm, x), t)


# --- softmax ---------------------------------------------------------------------------

@pytest.mark.parametrize("module,shape,dim,log,negate", [
    (nn.Softmax(dim=1), (2, 5, 3), 1, False, False),
    (nn.Softmax(dim=-1), (4, 6), -1, False, False),
    (nn.Softmax2d(), (2, 3, 2, 2), 1, False, False),
    (nn.Softmin(dim=0), (3, 4), 0, False, True),   # softmax(−x): the negation is free
    (nn.LogSoftmax(dim=1), (2, 5, 3), 1, True, False),
    (nn.LogSoftmax(dim=-1), (7,), -1, True, False),
])
def test_softmax_and_log_softmax_follow_the_step_by_step_count(layer_cost, module, shape, dim, log, negate):
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.softmax(-_numpy(x) if negate else _numpy(x), dim, log)
    _assert_same(out, module(x))
    _assert_counts(layer_cost(module, x), tally)


# --- multi-head attention --------------------------------------------------------------

def _dots(count: int, length: int, bias: bool = False) -> tuple[int, int]:
    """(mults, adds) of ``count`` dot products of ``length`` terms, + bias."""
    return count * length, count * (length - 1 + bias)


def mha_explicit(m: nn.MultiheadAttention, tgt: int, src: int, batch: int, masks: int,
                 need_weights: bool, average: bool) -> tuple[int, int, int, int]:
    """(mults, adds, other, macs) of nn.MultiheadAttention's composite forward, step by step."""
    e, h = m.embed_dim, m.num_heads
    d = e // h
    bias = m.in_proj_bias is not None
    keys = src + (m.bias_k is not None) + m.add_zero_attn   # rows appended after projecting
    steps = [
        _dots(batch * tgt * e, e, bias),                      # q = x·W_qᵀ + b_q
        _dots(batch * src * e, m.kdim, bias),                 # k
        _dots(batch * src * e, m.vdim, bias),                 # v
        _dots(batch * h * tgt * keys, d),                     # scores q·kᵀ
        _dots(batch * tgt * e, keys),                         # weights·v
        _dots(batch * tgt * e, e, m.out_proj.bias is not None),  # out projection
    ]
    macs = sum(mults for mults, _ in steps)
    mults = macs + batch * tgt * e                            # q scaled by 1/√d
    adds = sum(a for _, a in steps) + masks * batch * h * tgt * keys
    rows = batch * h * tgt
    adds += rows * (keys - 1)                                 # softmax sums
    other = 2 * rows * keys                                   # softmax exps and divisions
    if need_weights and average:                              # mean over heads
        mults += batch * tgt * keys
        adds += batch * tgt * keys * (h - 1)
    return mults, adds, other, macs


MHA_CASES = [
    # constructor kwargs, batched?, masks given, call kwargs
    (dict(), True, (), dict()),
    (dict(batch_first=True), True, (), dict(need_weights=False)),
    (dict(batch_first=True, kdim=5, vdim=3), True, ("attn",), dict()),
    (dict(), True, ("key_padding",), dict(average_attn_weights=False)),
    (dict(batch_first=True), True, ("attn", "key_padding"), dict(need_weights=False)),
    (dict(add_bias_kv=True, add_zero_attn=True), True, ("attn",), dict()),
    (dict(bias=False, kdim=6, vdim=6), False, (), dict()),
    (dict(batch_first=True), False, ("key_padding",), dict(average_attn_weights=False)),
]


def _mha_inputs(m, batched: bool, masks, tgt=3, src=5, batch=2):
    def seq(length, width):
        shape = ((batch, length, width) if m.batch_first else (length, batch, width)) if batched \
            else (length, width)
        return torch.randn(shape)
    q, k, v = seq(tgt, m.embed_dim), seq(src, m.kdim), seq(src, m.vdim)
    kwargs = {}
    if "attn" in masks:
        kwargs["attn_mask"] = torch.randn(tgt, src)
    if "key_padding" in masks:
        pad = torch.zeros((batch, src) if batched else (src,), dtype=torch.bool)
        pad[..., -1] = True
        kwargs["key_padding_mask"] = pad
    return (q, k, v), kwargs


@pytest.mark.parametrize("ctor,batched,masks,call", MHA_CASES)
def test_multihead_attention_matches_its_explicit_steps_and_flop_counter(layer_cost, ctor, batched, masks, call):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(6, 2, **ctor)
    (q, k, v), mask_kwargs = _mha_inputs(m, batched, masks)
    kwargs = {**mask_kwargs, **call}
    got = layer_cost(m, q, k, v, **kwargs)
    expected = mha_explicit(m, 3, 5, 2 if batched else 1, len(masks), call.get("need_weights", True),
                            call.get("average_attn_weights", True))
    assert (got["mults"], got["adds"], got["other"], got["macs"]) == expected

    # FlopCounterMode counts the matmuls of the composite (math) path, with or without grad
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        for grad in (True, False):
            with torch.set_grad_enabled(grad), sdpa_kernel(SDPBackend.MATH), \
                    FlopCounterMode(display=False) as counter:
                m(q, k, v, **kwargs)
            assert counter.get_total_flops() == 2 * got["macs"]
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


# --- recurrent -------------------------------------------------------------------------

def _layer_params(m: nn.RNNBase) -> list[list[dict]]:
    layers = []
    for layer in range(m.num_layers):
        directions = []
        for suffix in ["", "_reverse"][:1 + m.bidirectional]:
            get = lambda name: _numpy(getattr(m, f"{name}_l{layer}{suffix}", None))
            directions.append(dict(w_ih=get("weight_ih"), w_hh=get("weight_hh"), b_ih=get("bias_ih"),
                                   b_hh=get("bias_hh"), w_hr=get("weight_hr")))
        layers.append(directions)
    return layers


def _flop_counter_macs_of_rnn(m: nn.Module, x: torch.Tensor) -> int:
    # oneDNN's fused RNN kernels are invisible to FlopCounterMode; without them the
    # CPU path runs one addmm/mm per gate block and step
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        m(x)
    return counter.get_total_flops() // 2


RNNS = [
    (nn.RNN, dict()),
    (nn.RNN, dict(nonlinearity="relu", num_layers=2, bias=False)),
    (nn.LSTM, dict()),
    (nn.LSTM, dict(num_layers=2, bidirectional=True)),
    (nn.LSTM, dict(proj_size=2, num_layers=2, bidirectional=True)),
    (nn.GRU, dict(num_layers=2)),
    (nn.GRU, dict(bidirectional=True, bias=False)),
]


@pytest.mark.parametrize("cls,kwargs", RNNS)
def test_recurrent_layers_match_a_naive_step_loop_and_flop_counter(layer_cost, cls, kwargs):
    torch.manual_seed(0)
    m = cls(3, 4, **kwargs).double()
    x = torch.randn(3, 2, 3, dtype=torch.float64)  # length 3, batch 2
    out, tally = bf.recurrent(m.mode, _numpy(x), _layer_params(m))
    _assert_same(out, m(x)[0])

    steps = x.shape[0] * x.shape[1]
    weights = sum(p.numel() for name, p in m.named_parameters() if name.startswith("weight"))
    macs = steps * weights  # every weight multiplies once per (step, sequence)
    _assert_counts(layer_cost(m, x), tally, macs)
    assert _flop_counter_macs_of_rnn(m.float(), x.float()) == macs


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
@pytest.mark.parametrize("shape", [(2, 3), (3,)])
def test_recurrent_cells_match_one_naive_step(layer_cost, cls, shape):
    torch.manual_seed(0)
    m = cls(3, 4).double()
    x = torch.randn(shape, dtype=torch.float64)
    mode = {nn.RNNCell: "RNN_TANH", nn.LSTMCell: "LSTM", nn.GRUCell: "GRU"}[cls]
    p = dict(w_ih=_numpy(m.weight_ih), w_hh=_numpy(m.weight_hh), b_ih=_numpy(m.bias_ih), b_hh=_numpy(m.bias_hh))
    rows = x.reshape(-1, 3)
    t = bf.Tally()
    outs = []
    for row in _numpy(rows):
        h, _ = bf.recurrent_step(mode, [t.num(v) for v in row], [t.num(0.0)] * 4, [t.num(0.0)] * 4, p)
        outs.append([v.v for v in h])
    expected = m(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    _assert_same(np.reshape(outs, expected.shape), expected)
    _assert_counts(layer_cost(m, x), t, rows.shape[0] * (m.weight_ih.numel() + m.weight_hh.numel()))


def test_packed_sequence_counts_only_the_real_time_steps(layer_cost):
    torch.manual_seed(0)
    m = nn.LSTM(3, 4).double()
    lengths = [3, 1]
    x = torch.randn(3, 2, 3, dtype=torch.float64)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths)
    tally = bf.Tally()
    for n, length in enumerate(lengths):  # each sequence alone, over its own length
        _, t = bf.recurrent("LSTM", _numpy(x[:length, n:n + 1]), _layer_params(m))
        tally.mults, tally.adds, tally.other = (a + b for a, b in zip(tally.as_tuple(), t.as_tuple()))
    macs = sum(lengths) * (m.weight_ih_l0.numel() + m.weight_hh_l0.numel())
    _assert_counts(layer_cost(m, packed), tally, macs)
