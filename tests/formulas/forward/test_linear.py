"""profiler.formulas.forward.linear: Linear and Bilinear (Embedding, EmbeddingBag:
test_embedding.py).  Literal arithmetic for one small call of each, checked by naive loops that tally
their own arithmetic (tests/bruteforce.py, values checked against torch); Linear
over every leading shape by a naive loop, and generated Linears against
FlopCounterMode and fvcore."""
from __future__ import annotations

from math import prod

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import bruteforce as bf
from formula_cases import (Case, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_module_macs_equal_flop_counter_half, case_ids, checked, close, np_, t)
from peers import flop_counter_macs, fvcore_macs
from layer_cases import BIASES, LINEAR_SHAPES


# --- literal cases: independent tallies ---------------------------------------------

def linear_check(m, args, out):
    values, tally = bf.linear(np_(args[0]), np_(m.weight), np_(m.bias))
    close(values, out)
    return tally


def bilinear_check(m, args, out):
    """y_k = Σ_j (Σ_i x1_i·A_kij)·x2_j + b_k, inner sums first."""
    tally = bf.Tally()
    x1, x2, a, b = np_(args[0]), np_(args[1]), np_(m.weight), np_(m.bias)
    values = np.empty(out.shape)
    for n, k in np.ndindex(*out.shape):
        u = [bf.total([tally.num(x1[n, i]) * a[k, i, j] for i in range(a.shape[1])])
             for j in range(a.shape[2])]
        y = bf.total([u[j] * x2[n, j] for j in range(a.shape[2])])
        values[n, k] = (y + b[k]).v
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- dense
    Case("Linear", lambda: nn.Linear(4, 3), lambda: (t(2, 4),),
         # 6 outputs × 4 terms; adds 6·3 + 6 bias
         (6 * 4, 6 * 3 + 6, 0, 6 * 4), linear_check),
    Case("Bilinear", lambda: nn.Bilinear(2, 3, 4), lambda: (t(2, 2), t(2, 3)),
         # 8 outputs, each 3 inner sums of 2 products and one outer of 3:
         # mults 8·(2·3 + 3), adds 8·(3·1 + 2 + 1 bias)
         (8 * (2 * 3 + 3), 8 * (3 * 1 + 2 + 1), 0, 8 * (2 * 3 + 3)), bilinear_check),
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


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("Linear",)],
                         ids=lambda c: c.id)
def test_module_macs_equal_flop_counter_half(case: Case):
    assert_module_macs_equal_flop_counter_half(case)


# --- a naive loop over all leading dimensions ------------------------------------------

def _seeded(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.uniform_(p, -1, 1)
    return module.double()


@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("shape", LINEAR_SHAPES)
def test_linear_matches_a_naive_loop_over_all_leading_dimensions(layer_cost, shape, bias):
    fc = _seeded(nn.Linear(5, 4, bias=bias))
    x = torch.randn(*shape, dtype=torch.float64)
    out, tally = bf.linear(bf.numpy_of(x), bf.numpy_of(fc.weight), bf.numpy_of(fc.bias))
    np.testing.assert_allclose(out, bf.numpy_of(fc(x)), rtol=1e-9, atol=1e-9)
    got = layer_cost(fc, x)
    assert (got["mults"], got["adds"], got["other"]) == tally.as_tuple()
    assert got["macs"] == tally.mults == prod(shape) // 5 * 4 * 5


# --- generated configurations against FlopCounterMode and fvcore ---------------------------

GENERATED = settings(max_examples=60, deadline=None)


def _check_against_counters(layer_cost, module: nn.Module, x: torch.Tensor) -> dict:
    got = layer_cost(module, x)
    assert got["macs"] == got["mults"]
    assert got["macs"] == flop_counter_macs(module, x)
    assert got["macs"] == fvcore_macs(module, x)
    return got


@GENERATED
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=3), n_in=st.integers(1, 6),
       n_out=st.integers(1, 6), bias=st.booleans())
def test_generated_linear_macs_equal_flop_counter_and_fvcore(layer_cost, lead, n_in, n_out, bias):
    module, x = nn.Linear(n_in, n_out, bias=bias), torch.randn(*lead, n_in)
    got = _check_against_counters(layer_cost, module, x)
    outputs = prod(lead) * n_out
    assert got["macs"] == outputs * n_in
    assert got["adds"] == got["macs"] - outputs + outputs * bias
