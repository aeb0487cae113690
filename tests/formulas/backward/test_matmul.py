"""profiler.formulas.backward.matmul: the backward of the matrix products called as
aten ops (mm, bmm, addmm, mv, addmv, dot, _grouped_mm): hand-derived literal
arithmetic (grad A = g·Bᵀ, grad B = Aᵀ·g, a bias's gradient a sum over rows), and
the MACs against torch's FlopCounterMode around loss.backward()."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from formula_access import find_op_backward

aten = torch.ops.aten


def _cost(op, needs, out, *args, **kwargs):
    fn = find_op_backward(op)
    assert fn is not None, op
    cost = fn(needs, out, *args, **kwargs)
    return cost.mults, cost.adds, cost.other, cost.macs


def _backward_macs(fn, *tensors) -> int:
    """MACs FlopCounterMode sees in loss.backward(), loss = Σ fn(tensors)."""
    loss = fn(*tensors).sum()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("need_a,need_b", [(True, True), (True, False), (False, True)])
def test_mm_backward_is_one_dot_product_per_gradient_element(need_a, need_b):
    """A (3, 4)·B (4, 5): grad A = g·Bᵀ, 12 dot products of 5 (60 mults, 12·4 adds);
    grad B = Aᵀ·g, 20 dot products of 3 (60 mults, 20·2 adds)."""
    expected = tuple(a * need_a + b * need_b for a, b in zip((60, 48, 0, 60), (60, 40, 0, 60)))
    assert _cost(aten.mm, (need_a, need_b), (3, 5), (3, 4), (4, 5)) == expected
    a, b = torch.randn(3, 4, requires_grad=need_a), torch.randn(4, 5, requires_grad=need_b)
    assert _backward_macs(torch.mm, a, b) == expected[3]


def test_bmm_backward_counts_every_batch():
    """A (2, 3, 4)·B (2, 4, 5): twice mm's 60 + 60 MACs; adds 2·(48 + 40)."""
    assert _cost(aten.bmm, (True, True), (2, 3, 5), (2, 3, 4), (2, 4, 5)) == (240, 176, 0, 240)
    a, b = torch.randn(2, 3, 4, requires_grad=True), torch.randn(2, 4, 5, requires_grad=True)
    assert _backward_macs(torch.bmm, a, b) == 240


def test_addmm_backward_sums_the_bias_gradient_over_the_rows_and_scales_by_alpha_and_beta():
    """bias (5,) + A (3, 4)·B (4, 5): mm's (120, 88) and the bias's gradient, g
    summed over 3 rows: 15 − 5 adds.  alpha ≠ 1: 1 mult per output (15); beta ≠ 1:
    1 mult per bias element (5)."""
    shapes = ((3, 5), (5,), (3, 4), (4, 5))
    assert _cost(aten.addmm, (True, True, True), *shapes) == (120, 88 + 10, 0, 120)
    assert _cost(aten.addmm, (True, True, True), *shapes, beta=0.5, alpha=2.0) == (120 + 15 + 5, 98, 0, 120)
    tensors = [torch.randn(5, requires_grad=True), torch.randn(3, 4, requires_grad=True),
               torch.randn(4, 5, requires_grad=True)]
    assert _backward_macs(torch.addmm, *tensors) == 120


def test_mv_and_dot_backward_are_outer_and_scaled_products():
    """A (3, 4)·v (4,): grad A = g⊗v, 12 single products; grad v = Aᵀ·g, 4 dot
    products of 3 (12 mults, 8 adds).  dot of two (4,) vectors: g times the other
    vector, 4 mults each."""
    assert _cost(aten.mv, (True, True), (3,), (3, 4), (4,)) == (12 + 12, 8, 0, 24)
    assert _cost(aten.dot, (True, True), (), (4,), (4,)) == (8, 0, 0, 8)
    # addmv: the bias (3,) takes g as it is (nothing broadcast)
    assert _cost(aten.addmv, (True, True, True), (3,), (3,), (3, 4), (4,)) == (24, 8, 0, 24)


def test_grouped_mm_backward_of_routed_rows_against_two_experts():
    """a (4, 8) routed rows × b (2, 8, 8) experts, out (4, 8): grad a = g·b[e]ᵀ, 32
    dot products of 8 (256 mults, 32·7 adds); grad b[e] = a_eᵀ·g_e: the 4 rows'
    4·8·8 = 256 products land on 2·8·8 = 128 weights, 256 − 128 adds."""
    assert _cost(aten._grouped_mm, (True, True), (4, 8), (4, 8), (2, 8, 8)) == (512, 224 + 128, 0, 512)
