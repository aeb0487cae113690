"""profiler.formulas.forward.activation: activation modules (their per-element
rows from the elementwise table), GELU, softmax, softmin, log-softmax and GLU, and
the aten ops with their own arguments (elu with scale/input_scale, gelu, the
softmax family).  Literal arithmetic for one small call of each (naive loops that
tally their own arithmetic check softmax and GLU), and step-by-step softmax counts
over several shapes and dims."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import bruteforce as bf
from formula_cases import (M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_op_literal_cost, case_ids, checked, close, np_, op_params, t, unary)
from layer_cases import SOFTMAXES

X = (2, 3, 4)


# --- literal cases: independent tallies ---------------------------------------------

def softmax_check(dim, log=False):
    def check(m, args, out):
        values, tally = bf.softmax(np_(args[0]), dim, log)
        close(values, out)
        return tally
    return check


def glu_check(m, args, out):
    """a·σ(b), σ(b) = 1/(1 + exp(−b)), the halves split along the last dim."""
    x = np_(args[0])
    half = x.shape[-1] // 2
    tally = bf.Tally()
    values = np.empty(out.shape)
    for i in np.ndindex(*out.shape):
        a, b = tally.num(x[(*i[:-1], i[-1])]), tally.num(x[(*i[:-1], i[-1] + half)])
        values[i] = (a * bf.sigmoid(b)).v
    close(values, out)
    return tally


def act(cls, row: tuple[int, int, int], *ctor, n=6):
    """An elementwise activation on a (2, 3) input: n = 6 elements × the row's
    per-element (mults, adds, other), independently tallied in forward/test_elementwise.py."""
    m, a, o = row
    return Case(cls.__name__, lambda: cls(*ctor), lambda: (t(2, 3),), (n * m, n * a, n * o, 0))


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- activations: n = 6 elements × the per-element row
    act(nn.ReLU, (0, 0, 1)), act(nn.ReLU6, (0, 0, 2)), act(nn.Hardtanh, (0, 0, 2)),
    act(nn.Threshold, (0, 0, 1), 0.1, 0.0), act(nn.LeakyReLU, (1, 0, 1)), act(nn.PReLU, (1, 0, 1)),
    act(nn.RReLU, (1, 0, 1)), act(nn.ELU, (1, 1, 2)), act(nn.CELU, (2, 1, 2)), act(nn.SELU, (1, 1, 2)),
    act(nn.Sigmoid, (0, 1, 2)), act(nn.LogSigmoid, (0, 1, 3)), act(nn.Tanh, (0, 0, 1)),
    act(nn.SiLU, (1, 1, 2)), act(nn.Mish, (1, 1, 3)), act(nn.Softplus, (2, 1, 3)),
    act(nn.Hardswish, (2, 1, 2)), act(nn.Hardsigmoid, (1, 1, 2)), act(nn.Hardshrink, (0, 0, 2)),
    act(nn.Softshrink, (0, 1, 2)), act(nn.Tanhshrink, (0, 1, 1)), act(nn.Softsign, (0, 1, 2)),
    act(nn.GELU, (3, 1, 1)),
    Case("GELU-tanh", lambda: nn.GELU(approximate="tanh"), lambda: (t(2, 3),), (6 * 6, 6 * 2, 6 * 1, 0)),
    Case("Softmax", lambda: nn.Softmax(dim=1), lambda: (t(2, 3),),
         (0, 2 * (3 - 1), 2 * 3 * 2, 0), softmax_check(1)),   # 2 rows of 3: exps, sum, divisions
    Case("Softmin", lambda: nn.Softmin(dim=1), lambda: (t(2, 3),),
         (0, 2 * (3 - 1), 2 * 3 * 2, 0)),                     # softmax of −x: the negation is free
    Case("Softmax2d", lambda: nn.Softmax2d(), lambda: (t(1, 3, 2, 2),),
         (0, 4 * (3 - 1), 12 * 2, 0), softmax_check(1)),      # 4 rows over the 3 channels
    Case("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), lambda: (t(2, 3),),
         # per row of 3: 3 exps, 2 adds, 1 log, 3 subtractions
         (0, 2 * (2 + 3), 2 * (3 + 1), 0), softmax_check(-1, log=True)),
    Case("GLU", lambda: nn.GLU(), lambda: (t(2, 4),),
         (4 * 1, 4 * 1, 4 * 2, 0), glu_check),   # 4 outputs: sigmoid (1 add, 2 other) + 1 mult
]


OPS: list[Op] = [
    unary(["elu", "elu_"], (1, 1, 2)),
    # SELU as torch runs it, elu with scale ≠ 1: scale·x on one branch, (scale·α)·(exp(x) − 1)
    # on the other, scale·α one precomputed constant: still 1 mult per element
    Op(["elu", "elu_"], lambda: (M(2, 3), 1.67, 1.05), (6 * 1, 6 * 1, 6 * 2, 0), id="selu-scale"),
    # CELU as torch runs it, elu with input_scale = 1/α: x·(1/α) is a multiplication
    Op(["elu", "elu_"], lambda: (M(2, 3), 1.3, 1.0, 1 / 1.3), (6 * 2, 6 * 1, 6 * 2, 0),
       id="celu-input-scale"),
    unary(["gelu", "gelu_"], (3, 1, 1)),
    unary(["gelu", "gelu_"], (6, 2, 1), kwargs={"approximate": "tanh"}, id="tanh"),
    # --- softmax: 6 rows of 4, each 4 exps, 3 adds, 4 divisions
    # F.glu over the last dim of (2, 6): 6 outputs a·σ(b), each a sigmoid and a mult
    Op(["glu"], lambda: (M(2, 6), -1), (6 * 1, 6 * 1, 6 * 2, 0)),
    Op(["_softmax"], lambda: (M(*X), 2, False), (0, 6 * 3, 24 * 2, 0)),
    Op(["_safe_softmax", "softmax"], lambda: (M(*X), 2), (0, 6 * 3, 24 * 2, 0)),
    # log-softmax: 4 exps, 3 adds, 1 log, 4 subtractions a row
    Op(["_log_softmax"], lambda: (M(*X), 2, False), (0, 6 * (3 + 4), 6 * (4 + 1), 0)),
    Op(["log_softmax"], lambda: (M(*X), 2), (0, 6 * (3 + 4), 6 * (4 + 1), 0)),
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


# --- the op cases' tests ------------------------------------------------------------

@pytest.mark.parametrize("op,name", list(op_params(OPS)))
def test_op_literal_cost(op: Op, name: str):
    assert_op_literal_cost(op, name)


# --- step-by-step softmax counts ------------------------------------------------------------

@pytest.mark.parametrize("module,shape,dim,log,negate", SOFTMAXES)
def test_softmax_and_log_softmax_follow_the_step_by_step_count(layer_cost, module, shape, dim, log, negate):
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.softmax(-bf.numpy_of(x) if negate else bf.numpy_of(x), dim, log)
    bf.assert_same(out, module(x))
    bf.assert_counts(layer_cost(module, x), tally)
