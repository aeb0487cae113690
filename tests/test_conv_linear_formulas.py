"""Convolution and linear formulas against independent counts: naive loops that
tally their own arithmetic (tests/bruteforce.py), FlopCounterMode and fvcore."""
from __future__ import annotations

import logging
from math import prod

import numpy as np
import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import bruteforce as bf
from profiler.formulas.cost import Cost
from profiler.formulas.forward.conv import conv_cost, conv_transpose_cost

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _numpy(t: torch.Tensor | None):
    return None if t is None else t.detach().double().numpy()


def _seeded(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.uniform_(p, -1, 1)
    return module.double()


def _as_cost(tally: bf.Tally) -> Cost:
    """A brute-force tally as a Cost; every product in a conv or linear is a MAC."""
    return Cost(tally.mults, tally.adds, tally.other, macs=tally.mults)


def _padded_for_mode(x: torch.Tensor, conv: nn.Module) -> tuple[np.ndarray, int]:
    """The input padded as a non-zero padding_mode pads it, and the padding left for
    the brute force (0 then: the module pads before a padding-free conv)."""
    if conv.padding_mode == "zeros":
        return _numpy(x), conv.padding
    pad = [(0, 0), (0, 0)] + [(p, p) for p in conv.padding]
    return np.pad(_numpy(x), pad, mode=NUMPY_PAD[conv.padding_mode]), 0


# --- brute force: direct convolution ---------------------------------------------------

CONV_CASES = [
    # dims, batch, c_in, c_out, size, kwargs
    (1, 2, 4, 6, (9,), dict(kernel_size=3, stride=2, padding=1, dilation=2, groups=2)),
    (1, 1, 3, 2, (5,), dict(kernel_size=5, padding=2, padding_mode="circular")),
    (2, 1, 4, 4, (7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    (2, 2, 3, 3, (5, 5), dict(kernel_size=3, padding=1, groups=3)),  # depthwise
    (2, 1, 2, 3, (5, 4), dict(kernel_size=3, padding=1, padding_mode="reflect")),
    (2, 1, 2, 2, (6, 6), dict(kernel_size=2, stride=3)),  # stride skips input pixels
    (3, 1, 2, 2, (4, 5, 4), dict(kernel_size=2, stride=(1, 2, 1), padding=1)),
    (3, 1, 4, 2, (3, 4, 5), dict(kernel_size=(1, 2, 3), dilation=(1, 2, 1), groups=2, padding=(0, 1, 1),
                                 padding_mode="replicate")),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dims,batch,c_in,c_out,size,kwargs", CONV_CASES)
def test_conv_matches_a_naive_loop_that_counts_its_products_and_sums(
        layer_cost, dims, batch, c_in, c_out, size, kwargs, bias):
    conv = _seeded(CONV[dims](c_in, c_out, bias=bias, **kwargs))
    x = torch.randn(batch, c_in, *size, dtype=torch.float64)
    xp, padding = _padded_for_mode(x, conv)
    out, tally = bf.conv(xp, _numpy(conv.weight), _numpy(conv.bias), conv.stride, padding,
                         conv.dilation, conv.groups)
    np.testing.assert_allclose(out, _numpy(conv(x)), rtol=1e-9, atol=1e-9)  # the loop is this conv

    got = layer_cost(conv, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults
    assert conv_cost(out.shape, c_in, conv.groups, conv.kernel_size, bias) == \
        _as_cost(tally)


# --- brute force: transposed convolution -----------------------------------------------

CONV_T_CASES = [
    # stride 3 > kernel 2 leaves gaps that only output_padding's border and bias touch
    (1, 2, 4, 6, (5,), dict(kernel_size=2, stride=3, padding=2, output_padding=2, groups=2)),
    (1, 1, 2, 3, (4,), dict(kernel_size=3, stride=1, padding=3, dilation=2)),  # padding crops products
    (2, 1, 2, 4, (3, 4), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                              dilation=(1, 2), groups=2)),
    (2, 1, 3, 3, (3, 3), dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=3)),
    (3, 1, 2, 2, (2, 3, 2), dict(kernel_size=2, stride=2, padding=1, output_padding=1)),
    (3, 1, 2, 4, (2, 2, 3), dict(kernel_size=(2, 1, 3), stride=(1, 3, 2), dilation=(2, 1, 1),
                                 output_padding=(1, 2, 0), groups=2)),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dims,batch,c_in,c_out,size,kwargs", CONV_T_CASES)
def test_transposed_conv_matches_a_naive_scatter_that_counts_its_products_and_sums(
        layer_cost, dims, batch, c_in, c_out, size, kwargs, bias):
    conv = _seeded(CONV_T[dims](c_in, c_out, bias=bias, **kwargs))
    x = torch.randn(batch, c_in, *size, dtype=torch.float64)
    out, tally = bf.conv_transpose(_numpy(x), _numpy(conv.weight), _numpy(conv.bias), conv.stride,
                                   conv.padding, conv.output_padding, conv.dilation, conv.groups)
    np.testing.assert_allclose(out, _numpy(conv(x)), rtol=1e-9, atol=1e-9)

    got = layer_cost(conv, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults == x.numel() * (c_out // conv.groups) * prod(conv.kernel_size)
    assert conv_transpose_cost(tuple(x.shape), out.shape, c_in, c_out, conv.groups, conv.kernel_size,
                               conv.stride, conv.padding, conv.dilation, bias) == _as_cost(tally)


# --- brute force: linear ---------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5), (2, 1, 2, 5)])
def test_linear_matches_a_naive_loop_over_all_leading_dimensions(layer_cost, shape, bias):
    fc = _seeded(nn.Linear(5, 4, bias=bias))
    x = torch.randn(*shape, dtype=torch.float64)
    out, tally = bf.linear(_numpy(x), _numpy(fc.weight), _numpy(fc.bias))
    np.testing.assert_allclose(out, _numpy(fc(x)), rtol=1e-9, atol=1e-9)
    got = layer_cost(fc, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults == prod(shape) // 5 * 4 * 5


# --- generated configurations against FlopCounterMode and fvcore ---------------------------

logging.getLogger("fvcore").setLevel(logging.ERROR)


def flop_counter_macs(module: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


def fvcore_macs(module: nn.Module, x: torch.Tensor) -> int:
    analysis = FlopCountAnalysis(module, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


@st.composite
def conv_configs(draw, transposed: bool):
    dims = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    per_dim = lambda strategy: tuple(draw(strategy) for _ in range(dims))
    kernel, stride = per_dim(st.integers(1, 3)), per_dim(st.integers(1, 3))
    dilation, padding = per_dim(st.integers(1, 2)), per_dim(st.integers(0, 2))
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                  bias=draw(st.booleans()))
    if transposed:
        # output_padding must be smaller than the stride or the dilation
        kwargs["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        # big enough for at least one output: (n−1)·s + d·(k−1) + op − 2p ≥ 0
        size = tuple(max(1, -(-(2 * p - d * (k - 1) - op) // s) + 1) + draw(st.integers(0, 2))
                     for k, s, p, d, op in zip(kernel, stride, padding, dilation, kwargs["output_padding"]))
        module = CONV_T[dims](c_in, c_out, **kwargs)
    else:
        # big enough for at least one output: n + 2p ≥ d·(k−1) + 1
        size = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
                     for k, p, d in zip(kernel, padding, dilation))
        module = CONV[dims](c_in, c_out, **kwargs)
    batch = draw(st.integers(1, 2))
    return module, torch.randn(batch, c_in, *size)


GENERATED = settings(max_examples=60, deadline=None)


def _check_against_counters(layer_cost, module: nn.Module, x: torch.Tensor) -> dict:
    got = layer_cost(module, x)
    assert got["macs"] == got["mults"]
    assert got["macs"] == flop_counter_macs(module, x)
    assert got["macs"] == fvcore_macs(module, x)
    return got


@GENERATED
@given(config=conv_configs(transposed=False))
def test_generated_conv_macs_equal_flop_counter_and_fvcore(layer_cost, config):
    module, x = config
    got = _check_against_counters(layer_cost, module, x)
    n_out = module(x).numel()
    assert got["adds"] == got["macs"] - n_out + n_out * (module.bias is not None)


@GENERATED
@given(config=conv_configs(transposed=True))
def test_generated_transposed_conv_macs_equal_flop_counter_and_fvcore(layer_cost, config):
    module, x = config
    got = _check_against_counters(layer_cost, module, x)
    _, tally = bf.conv_transpose(_numpy(x), _numpy(module.weight), _numpy(module.bias), module.stride,
                                 module.padding, module.output_padding, module.dilation, module.groups)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()


@GENERATED
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=3), n_in=st.integers(1, 6),
       n_out=st.integers(1, 6), bias=st.booleans())
def test_generated_linear_macs_equal_flop_counter_and_fvcore(layer_cost, lead, n_in, n_out, bias):
    module, x = nn.Linear(n_in, n_out, bias=bias), torch.randn(*lead, n_in)
    got = _check_against_counters(layer_cost, module, x)
    outputs = prod(lead) * n_out
    assert got["macs"] == outputs * n_in
    assert got["adds"] == got["macs"] - outputs + outputs * bias
