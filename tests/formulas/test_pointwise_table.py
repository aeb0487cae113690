"""Every row of the per-element table (``POINTWISE``) against an independent count.

Each row's function is written out below with tests/bruteforce.py's self-counting
scalars (+ and − are adds, × a mult; ÷, comparisons and transcendentals other),
as the row's comment describes it and under the table's own conventions: a
negation is free, constants (1/6, 1/√2, 1/β, a slope from fixed bounds) are
precomputed, so scaling by one is a multiplication.  The scalar function is run
on sample points chosen to take every branch; its value must equal torch's own
function there (so the scalar code is that function), and the costliest branch's
tally must equal the row, with no branch costing more in any class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
import torch.nn.functional as F

import bruteforce as bf
from formula_access import pointwise_table
from pointwise_scalars import (absolute, ceil, cos, erf, floor, greater, less, maximum, minimum,
                               power, round_half_even, sin, sqrt, value)

POINTWISE = pointwise_table()


@dataclass
class Row:
    row: str                        # the POINTWISE key
    scalar: Callable                # the function on Num scalars (one per operand)
    torch_fn: Callable              # torch's function on float64 tensors
    points: list[tuple[float, ...]]  # operand values, one tuple per sample; every branch taken
    id: str = ""                    # tells apart several cases of one row
    xfail: str = ""                 # why an honest count disagrees with the row


def one(*xs):
    """Sample points of a one-operand function."""
    return [(x,) for x in xs]


C_GELU = 1 / math.sqrt(2)                  # precomputed
C_TANH = math.sqrt(2 / math.pi)            # precomputed
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
RRELU_SLOPE = (1 / 8 + 1 / 3) / 2          # eval-mode slope, fixed from the bounds


def softplus_scalar(x, beta, threshold):
    """log(1 + exp(βx))·(1/β), returning x itself past the threshold on βx."""
    bx = beta * x
    if greater(bx, threshold):
        return x
    return (1.0 + bx.exp()).log() * (1 / beta)


ROWS: list[Row] = [
    Row("relu", lambda x: maximum(x, 0.0), torch.relu, one(-1.5, 0.7)),
    Row("threshold", lambda x: x if greater(x, 0.5) else -2.0,
        lambda x: F.threshold(x, 0.5, -2.0), one(0.1, 0.9)),
    Row("relu6", lambda x: minimum(maximum(x, 0.0), 6.0), F.relu6, one(-1.0, 3.0, 7.0)),
    Row("hardtanh", lambda x: minimum(maximum(x, -0.5), 0.8),
        lambda x: F.hardtanh(x, -0.5, 0.8), one(-1.0, 0.3, 2.0)),
    Row("clamp", lambda x: minimum(maximum(x, -0.5), 0.8),
        lambda x: torch.clamp(x, -0.5, 0.8), one(-1.0, 0.3, 2.0)),
    Row("leaky_relu", lambda x: 0.1 * x if less(x, 0.0) else x,
        lambda x: F.leaky_relu(x, 0.1), one(-1.2, 0.5)),
    # the learned slope is a second operand: a scalar of its own
    Row("prelu", lambda x, a: a * x if less(x, 0.0) else x,
        lambda x, a: F.prelu(x, a), [(-1.2, 0.25), (0.5, 0.25)]),
    Row("rrelu", lambda x: RRELU_SLOPE * x if less(x, 0.0) else x,
        lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=False), one(-1.2, 0.5)),
    Row("elu", lambda x: x if greater(x, 0.0) else 1.3 * (x.exp() - 1.0),
        lambda x: F.elu(x, 1.3), one(-0.8, 0.6)),
    # x/α with α a constant is x·(1/α), 1/α precomputed: a multiplication, as the
    # docstring's convention (and torch's kernel, which runs celu as elu with
    # input_scale = 1/α and multiplies) has it
    Row("celu", lambda x: x if greater(x, 0.0) else 1.3 * ((x * (1 / 1.3)).exp() - 1.0),
        lambda x: F.celu(x, 1.3), one(-0.8, 0.6)),
    # scale·elu(x) on the negative branch is (scale·α)·(exp(x) − 1): scale·α is one
    # precomputed constant (torch's elu kernel folds it too: negcoef = α·scale)
    Row("selu", lambda x: SELU_SCALE * x if greater(x, 0.0)
        else (SELU_SCALE * SELU_ALPHA) * (x.exp() - 1.0), F.selu, one(-0.8, 0.6)),
    Row("sigmoid", lambda x: 1.0 / (1.0 + (-x).exp()), torch.sigmoid, one(0.3)),
    # -log(1 + exp(-x)), made stable by one comparison: past the threshold (-x > 20)
    # log(1 + exp(-x)) is -x to float precision, the softplus convention
    Row("logsigmoid", lambda x: x if greater(-x, 20.0) else -(1.0 + (-x).exp()).log(),
        F.logsigmoid, one(0.8, -1.5, -30.0)),
    Row("tanh", lambda x: x.tanh(), torch.tanh, one(0.4)),
    Row("silu", lambda x: x * (1.0 / (1.0 + (-x).exp())), F.silu, one(0.4)),
    Row("mish", lambda x: x * (1.0 + x.exp()).log().tanh(), F.mish, one(0.4)),
    Row("softplus", lambda x: softplus_scalar(x, 2.0, 3.0),
        lambda x: F.softplus(x, beta=2.0, threshold=3.0), one(0.4, 2.0)),
    Row("gelu", lambda x: 0.5 * x * (1.0 + erf(x * C_GELU)), F.gelu, one(0.4, -1.1)),
    Row("gelu_tanh", lambda x: 0.5 * x * (1.0 + (C_TANH * (x + 0.044715 * (x * x * x))).tanh()),
        lambda x: F.gelu(x, approximate="tanh"), one(0.4, -1.1)),
    Row("hardswish", lambda x: x * minimum(maximum(x + 3.0, 0.0), 6.0) * (1 / 6),
        F.hardswish, one(-4.0, 1.0, 4.0)),
    Row("hardsigmoid", lambda x: minimum(maximum(x + 3.0, 0.0), 6.0) * (1 / 6),
        F.hardsigmoid, one(-4.0, 1.0, 4.0)),
    Row("hardshrink", lambda x: x if greater(absolute(x), 0.5) else 0.0,
        lambda x: F.hardshrink(x, 0.5), one(-0.8, 0.2, 0.9)),
    Row("softshrink", lambda x: x - 0.5 if greater(x, 0.5) else (x + 0.5 if less(x, -0.5) else 0.0),
        lambda x: F.softshrink(x, 0.5), one(0.9, -0.9, 0.1)),
    Row("tanhshrink", lambda x: x - x.tanh(), F.tanhshrink, one(0.7)),
    Row("softsign", lambda x: x / (1.0 + absolute(x)), F.softsign, one(-0.7, 0.7)),
    Row("exp", lambda x: x.exp(), torch.exp, one(0.7)),
    Row("log", lambda x: x.log(), torch.log, one(0.7)),
    Row("sqrt", sqrt, torch.sqrt, one(0.7)),
    Row("rsqrt", lambda x: x.rsqrt(), torch.rsqrt, one(0.7)),
    Row("erf", erf, torch.erf, one(0.7)),
    Row("abs", absolute, torch.abs, one(-0.7)),
    Row("sin", sin, torch.sin, one(0.7)),
    Row("cos", cos, torch.cos, one(0.7)),
    Row("pow", power, torch.pow, [(0.7, 2.5)]),
    Row("reciprocal", lambda x: 1.0 / x, torch.reciprocal, one(0.7)),
    Row("div", lambda a, b: a / b, torch.div, [(0.7, 1.9)]),
    Row("floor", floor, torch.floor, one(-0.7)),
    Row("ceil", ceil, torch.ceil, one(-0.7)),
    Row("round", round_half_even, torch.round, one(2.5, -0.7)),
    # a three-way result: x > 0 settles only the positive case, the others need x < 0
    Row("sign", lambda x: 1.0 if greater(x, 0.0) else (-1.0 if less(x, 0.0) else 0.0),
        torch.sign, one(0.7, -0.7, 0.0)),
    Row("compare", lambda a, b: maximum(a, b), torch.maximum, [(0.7, 1.9)], id="maximum"),
    Row("compare", lambda a, b: minimum(a, b), torch.minimum, [(0.7, 1.9)], id="minimum"),
    Row("compare", less, torch.lt, [(0.7, 1.9)], id="lt"),
    Row("compare", greater, torch.gt, [(0.7, 1.9)], id="gt"),
    Row("add", lambda a, b: a + b, torch.add, [(0.7, 1.9)]),
    Row("mul", lambda a, b: a * b, torch.mul, [(0.7, 1.9)]),
    Row("square", lambda x: x * x, torch.square, one(0.7)),
    Row("addcmul", lambda a, b, c: a + 0.5 * b * c,
        lambda a, b, c: torch.addcmul(a, b, c, value=0.5), [(0.7, 1.9, -0.4)]),
    Row("addcdiv", lambda a, b, c: a + 0.5 * b / c,
        lambda a, b, c: torch.addcdiv(a, b, c, value=0.5), [(0.7, 1.9, -0.4)]),
    Row("lerp", lambda a, b, w: a + w * (b - a), torch.lerp, [(0.7, 1.9, 0.3)]),
    Row("neg", lambda x: -x, torch.neg, one(0.7)),
]


def _case_id(r: Row) -> str:
    return f"{r.row}[{r.id}]" if r.id else r.row


def _params(with_xfail: bool):
    for r in ROWS:
        marks = [pytest.mark.xfail(strict=True, reason=r.xfail)] if r.xfail and with_xfail else []
        yield pytest.param(r, id=_case_id(r), marks=marks)


def _run(r: Row, point: tuple[float, ...]) -> tuple[float, tuple[int, int, int]]:
    t = bf.Tally()
    result = r.scalar(*(t.num(v) for v in point))
    return value(result), t.as_tuple()


@pytest.mark.parametrize("r", list(_params(with_xfail=False)))
def test_scalar_code_computes_torchs_function(r: Row):
    """The scalar function is the row's function: same value as torch's on every
    sample point (so a tally of it is a tally of that function)."""
    for point in r.points:
        got, _ = _run(r, point)
        expected = r.torch_fn(*(torch.tensor([v], dtype=torch.float64) for v in point))
        assert got == pytest.approx(float(expected.double().item()), rel=1e-9, abs=1e-12), point


@pytest.mark.parametrize("r", list(_params(with_xfail=True)))
def test_costliest_branch_tally_equals_the_row(r: Row):
    tallies = [_run(r, point)[1] for point in r.points]
    costliest = max(tallies, key=sum)
    row = tuple(POINTWISE[r.row])
    assert costliest == row, f"{r.row}: scalar code tallies {tallies}, table says {row}"
    # no branch costs more than the counted one in any class
    assert all(a <= b for tally in tallies for a, b in zip(tally, costliest)), tallies


def test_every_row_has_an_independent_count():
    covered = {r.row for r in ROWS}
    missing = sorted(set(POINTWISE) - covered)
    assert not missing, f"POINTWISE rows without an independent per-element count: {missing}"
    stale = sorted(covered - set(POINTWISE))
    assert not stale, f"cases for rows the table no longer has: {stale}"
