"""profiler.formulas.forward.linear: Linear, Bilinear, Embedding and EmbeddingBag,
and F.embedding_bag's ops.  Literal arithmetic for one small call of each, checked by naive loops that tally
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
from formula_cases import (LM, M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_module_macs_equal_flop_counter_half, assert_op_literal_cost, case_ids, checked,
                           close, np_, op_params, t)
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


def embedding_bag_check(m, args, out):
    """Each bag: its rows (scaled by their weights, if given) summed, maxed or
    averaged by a multiplication with 1/size.  1-D indices are cut into bags at
    the offsets; 2-D indices are one bag a row (offsets None)."""
    tally = bf.Tally()
    if args[0].dim() == 2:
        rows, width = args[0].shape
        idx, offsets = args[0].flatten().tolist(), list(range(0, rows * width + 1, width))
    else:
        idx, offsets = args[0].tolist(), args[1].tolist() + [len(args[0])]
    weights = args[2].flatten().tolist() if len(args) > 2 and args[2] is not None else None
    table = np_(m.weight)
    values = np.empty(out.shape)
    for bag in range(len(offsets) - 1):
        members = range(offsets[bag], offsets[bag + 1])
        for d in range(table.shape[1]):
            rows = [tally.num(table[idx[i], d]) for i in members]
            if weights is not None:
                rows = [r * weights[i] for r, i in zip(rows, members)]
            if m.mode == "max":
                acc = rows[0]
                for r in rows[1:]:
                    acc = acc.max(r)
            else:
                acc = bf.total(rows)
                if m.mode == "mean":
                    acc = acc * (1.0 / len(rows))
            values[bag, d] = acc.v
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- dense and lookup
    Case("Linear", lambda: nn.Linear(4, 3), lambda: (t(2, 4),),
         # 6 outputs × 4 terms; adds 6·3 + 6 bias
         (6 * 4, 6 * 3 + 6, 0, 6 * 4), linear_check),
    Case("Bilinear", lambda: nn.Bilinear(2, 3, 4), lambda: (t(2, 2), t(2, 3)),
         # 8 outputs, each 3 inner sums of 2 products and one outer of 3:
         # mults 8·(2·3 + 3), adds 8·(3·1 + 2 + 1 bias)
         (8 * (2 * 3 + 3), 8 * (3 * 1 + 2 + 1), 0, 8 * (2 * 3 + 3)), bilinear_check),
    Case("Embedding", lambda: nn.Embedding(10, 3), lambda: (torch.tensor([[1, 2], [3, 4]]),),
         (0, 0, 0, 0)),  # a lookup
    Case("EmbeddingBag-sum", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # 2 bags of 2 and 4 rows, width 3: (6 − 2)·3 adds
         (0, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-mean", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # the sum's (6 − 2)·3 adds and 2·3 mults by 1/size
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-max", lambda: nn.EmbeddingBag(10, 3, mode="max"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         (0, 0, (6 - 2) * 3, 0), embedding_bag_check),   # (6 − 2)·3 comparisons
    Case("EmbeddingBag-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2]),
                  torch.rand(6, dtype=torch.float64)),
         # 6·3 weight mults, then the sum's (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    # 2-D indices take no offsets: the call's tensors are just (indices, weights)
    Case("EmbeddingBag-2d-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]), None, torch.rand(2, 3, dtype=torch.float64)),
         # 2 bags of 3 rows, width 3: 6·3 weight mults, (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-2d", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]),),
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),   # the sum's adds, 2·3 mults by 1/3
]

# F.embedding_bag as an op: 6 indices in 2 bags, width 3, as the module cases above;
# the arguments (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights)
BAG_OPS = ["_embedding_bag", "_embedding_bag_forward_only"]


def bag(mode, *weights):
    return lambda: (M(10, 3), LM(6), LM(2), False, mode, False, *weights)


OPS: list[Op] = [
    Op(BAG_OPS, bag(0), (0, (6 - 2) * 3, 0, 0), id="sum"),
    Op(BAG_OPS, bag(1), (2 * 3, (6 - 2) * 3, 0, 0), id="mean"),        # and 2·3 mults by 1/size
    Op(BAG_OPS, bag(2), (0, 0, (6 - 2) * 3, 0), id="max"),              # (6 − 2)·3 comparisons
    Op(BAG_OPS, bag(0, M(6)), (6 * 3, (6 - 2) * 3, 0, 0), id="weights"),  # and 6·3 weight mults
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


@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)


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
