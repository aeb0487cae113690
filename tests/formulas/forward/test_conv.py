"""profiler.formulas.forward.conv: convolution and transposed convolution, as
modules (Conv1d/2d/3d, ConvTranspose1d/2d/3d) and as aten.convolution/_convolution.
Literal arithmetic for one small call of each (a naive loop that tallies its own
arithmetic checks the modules' literals), naive loops over many configurations
(tests/bruteforce.py, values checked against torch), and generated configurations
against FlopCounterMode and fvcore."""
from __future__ import annotations

from math import prod

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import bruteforce as bf
from formula_cases import (M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_module_macs_equal_flop_counter_half, assert_op_literal_cost,
                           assert_op_macs_equal_flop_counter_half, case_ids, checked, close, flop_counted_params, np_,
                           op_params, t)
from peers import flop_counter_macs, fvcore_macs
from layer_cases import BIASES, CONV, CONV_CASES, CONV_T, CONV_T_CASES
from profiler.formulas.cost import Cost
from profiler.formulas.forward.conv import conv_cost, conv_transpose_cost


# --- literal cases: independent tallies ---------------------------------------------

def conv_check(m, args, out):
    values, tally = bf.conv(np_(args[0]), np_(m.weight), np_(m.bias), m.stride, m.padding,
                            m.dilation, m.groups)
    close(values, out)
    return tally


def conv_transpose_check(m, args, out):
    values, tally = bf.conv_transpose(np_(args[0]), np_(m.weight), np_(m.bias), m.stride, m.padding,
                                      m.output_padding, m.dilation, m.groups)
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- convolution: K = C_in/groups·∏k terms per output element
    Case("Conv1d", lambda: nn.Conv1d(2, 3, 3), lambda: (t(1, 2, 5),),
         # out (1,3,3): 9 outputs × K = 2·3 = 6; adds 9·(6−1) + 9 bias
         (9 * 6, 9 * 5 + 9, 0, 9 * 6), conv_check),
    Case("Conv2d-groups-pad", lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False),
         lambda: (t(1, 4, 5, 5),),
         # out (1,6,5,5) = 150 outputs × K = 4/2·3·3 = 18; no bias
         (150 * 18, 150 * 17, 0, 150 * 18), conv_check),
    Case("Conv3d", lambda: nn.Conv3d(2, 2, 2), lambda: (t(1, 2, 3, 3, 3),),
         # out (1,2,2,2,2) = 16 × K = 2·2·2·2 = 16; adds 16·15 + 16 bias
         (16 * 16, 16 * 15 + 16, 0, 16 * 16), conv_check),
    Case("ConvTranspose1d", lambda: nn.ConvTranspose1d(2, 3, 3, stride=2), lambda: (t(1, 2, 4),),
         # out (1,3,9); products: 8 inputs × 3 out channels × 3 taps = 72; positions i·2+j
         # (i<4, j<3) all land, 9 distinct: landed 3·2·12 = 72, reached 3·9 = 27;
         # adds 72 − 27 + 27 bias
         (72, 72 - 27 + 27, 0, 72), conv_transpose_check),
    Case("ConvTranspose2d-pad", lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1),
         lambda: (t(1, 2, 2, 2),),
         # out (1,2,3,3); products 8·2·9 = 144; per dim i·2+j−1 (i<2, j<3) is
         # {−1,0,1,1,2,3}: 4 land in [0,3), 3 distinct; landed 2·2·4·4 = 64,
         # reached 2·3·3 = 18; adds 64 − 18 + 18 bias
         (144, 64 - 18 + 18, 0, 144), conv_transpose_check),
    Case("ConvTranspose3d", lambda: nn.ConvTranspose3d(1, 1, 2, bias=False), lambda: (t(1, 1, 2, 2, 2),),
         # out (1,1,3,3,3); products 8·1·8 = 64; per dim i+j (i,j<2): 4 land, 3 distinct;
         # adds 4³ − 3³
         (64, 4 ** 3 - 3 ** 3, 0, 64), conv_transpose_check),
]


OPS: list[Op] = [
    # --- convolution: out (1,3,3,3) = 27 outputs × K = 2·3·3 = 18, + bias
    Op(["convolution"], lambda: (M(1, 2, 5, 5), M(3, 2, 3, 3), M(3), [1, 1], [0, 0], [1, 1], False,
                                 [0, 0], 1), (27 * 18, 27 * 17 + 27, 0, 27 * 18)),
    Op(["_convolution"], lambda: (M(1, 2, 5, 5), M(3, 2, 3, 3), M(3), [1, 1], [0, 0], [1, 1], False,
                                  [0, 0], 1, False, False, True, True), (27 * 18, 27 * 17 + 27, 0, 27 * 18)),
    # transposed 1d, stride 2, k 3, 2 → 3 channels, length 4 → 9: 8·3·3 = 72 products,
    # all landing, on 3·9 = 27 positions: 72 − 27 adds + 27 bias
    Op(["convolution"], lambda: (M(1, 2, 4), M(2, 3, 3), M(3), [2], [0], [1], True, [0], 1),
       (72, 72 - 27 + 27, 0, 72), id="transposed"),
]


# --- the module cases' tests --------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_module_literal_cost(case: Case):
    assert_module_literal_cost(case)


@pytest.mark.parametrize("case", checked(CASES), ids=case_ids(checked(CASES)))
def test_module_literal_cost_equals_an_independent_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    assert_module_literal_equals_tally(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("Conv2d-groups-pad", "Conv1d", "ConvTranspose2d-pad")],
                         ids=lambda c: c.id)
def test_module_macs_equal_flop_counter_half(case: Case):
    assert_module_macs_equal_flop_counter_half(case)


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)


FLOP_COUNTED = ["convolution"]


@pytest.mark.parametrize("op,name", flop_counted_params(OPS, FLOP_COUNTED), ids=lambda v: getattr(v, "id", v))
def test_op_macs_equal_flop_counter_half(op: Op, name: str):
    """torch's FlopCounterMode on the same call: 2 flops per MAC."""
    assert_op_macs_equal_flop_counter_half(op, name)


# --- naive loops over many configurations ---------------------------------------------

NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


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
        return bf.numpy_of(x), conv.padding
    pad = [(0, 0), (0, 0)] + [(p, p) for p in conv.padding]
    return np.pad(bf.numpy_of(x), pad, mode=NUMPY_PAD[conv.padding_mode]), 0


# --- brute force: direct convolution ---------------------------------------------------

@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("dims,batch,c_in,c_out,size,kwargs", CONV_CASES)
def test_conv_matches_a_naive_loop_that_counts_its_products_and_sums(
        layer_cost, dims, batch, c_in, c_out, size, kwargs, bias):
    conv = _seeded(CONV[dims](c_in, c_out, bias=bias, **kwargs))
    x = torch.randn(batch, c_in, *size, dtype=torch.float64)
    xp, padding = _padded_for_mode(x, conv)
    out, tally = bf.conv(xp, bf.numpy_of(conv.weight), bf.numpy_of(conv.bias), conv.stride, padding,
                         conv.dilation, conv.groups)
    np.testing.assert_allclose(out, bf.numpy_of(conv(x)), rtol=1e-9, atol=1e-9)  # the loop is this conv

    got = layer_cost(conv, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults
    assert conv_cost(out.shape, c_in, conv.groups, conv.kernel_size, bias) == \
        _as_cost(tally)


# --- brute force: transposed convolution -----------------------------------------------

@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("dims,batch,c_in,c_out,size,kwargs", CONV_T_CASES)
def test_transposed_conv_matches_a_naive_scatter_that_counts_its_products_and_sums(
        layer_cost, dims, batch, c_in, c_out, size, kwargs, bias):
    conv = _seeded(CONV_T[dims](c_in, c_out, bias=bias, **kwargs))
    x = torch.randn(batch, c_in, *size, dtype=torch.float64)
    out, tally = bf.conv_transpose(bf.numpy_of(x), bf.numpy_of(conv.weight), bf.numpy_of(conv.bias), conv.stride,
                                   conv.padding, conv.output_padding, conv.dilation, conv.groups)
    np.testing.assert_allclose(out, bf.numpy_of(conv(x)), rtol=1e-9, atol=1e-9)

    got = layer_cost(conv, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults == x.numel() * (c_out // conv.groups) * prod(conv.kernel_size)
    assert conv_transpose_cost(tuple(x.shape), out.shape, c_in, c_out, conv.groups, conv.kernel_size,
                               conv.stride, conv.padding, conv.dilation, bias) == _as_cost(tally)


# --- generated configurations against FlopCounterMode and fvcore ---------------------------

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
    _, tally = bf.conv_transpose(bf.numpy_of(x), bf.numpy_of(module.weight), bf.numpy_of(module.bias), module.stride,
                                 module.padding, module.output_padding, module.dilation, module.groups)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
