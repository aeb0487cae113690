"""profiler.formulas.cost: the Cost unit (its arithmetic: addition field by field,
times, flops as mults + adds + other with MACs a subset of mults) and the building
blocks formulas are made of: dot products, per-element work, the sum reducing a
broadcast gradient, numel; each against hand arithmetic or a naive tally
(tests/bruteforce.py)."""
from __future__ import annotations

import numpy as np
import pytest

import bruteforce as bf
from profiler.formulas.cost import ZERO, Cost, dot_products, numel, per_element, sum_to_cost


def test_costs_add_field_by_field_and_scale_by_a_count():
    a, b = Cost(1, 2, 3, 1), Cost(10, 20, 30, 5)
    assert a + b == Cost(11, 22, 33, 6)
    assert a.times(4) == Cost(4, 8, 12, 4)
    assert a + ZERO == a and ZERO.times(7) == ZERO == Cost()


def test_flops_count_mults_adds_and_other_but_not_macs_again():
    assert Cost(mults=6, adds=5, other=2, macs=6).flops == 13
    assert ZERO.flops == 0


def test_a_cost_is_immutable():
    with pytest.raises(AttributeError):
        Cost().mults = 1


@pytest.mark.parametrize("count,length,bias", [(1, 1, False), (3, 4, False), (3, 4, True), (2, 7, True)])
def test_dot_products_match_a_naive_tally(count, length, bias):
    rng = np.random.default_rng(0)
    t = bf.Tally()
    for _ in range(count):
        terms = [t.num(a) * b for a, b in rng.normal(size=(length, 2))]
        total = bf.total(terms)
        if bias:
            total = total + 1.0
    assert dot_products(count, length, bias) == Cost(*t.as_tuple(), macs=t.mults)


def test_no_dot_products_cost_nothing():
    assert dot_products(0, 5, True) == ZERO and dot_products(4, 0) == ZERO


def test_per_element_scales_one_elements_work():
    assert per_element(6, mults=1, adds=2, other=3) == Cost(6, 12, 18, 0)
    assert per_element(0, 5, 5, 5) == ZERO


@pytest.mark.parametrize("grad,shape,adds", [
    ((4, 3), (3,), 9),         # a bias: 4 rows summed into 3, 3 adds each
    ((2, 5, 3), (1, 5, 1), 25),
    ((4, 3), (4, 3), 0),       # nothing broadcast
    ((4, 3), (), 11),          # a scalar: all 12 summed
])
def test_sum_to_cost_is_the_naive_sum_onto_the_broadcast_shape(grad, shape, adds):
    t = bf.Tally()
    g = np.arange(numel(grad), dtype=float).reshape(grad)
    sums = {}
    for i in np.ndindex(*grad):
        key = tuple(0 if s == 1 else k for k, s in zip(i[len(grad) - len(shape):], shape))
        sums[key] = t.num(g[i]) if key not in sums else sums[key] + g[i]
    assert len(sums) == numel(shape) and np.broadcast_shapes(shape, grad) == grad
    assert sum_to_cost(numel(grad), shape) == Cost(adds=t.adds) == Cost(adds=adds)


def test_numel_multiplies_the_dimensions():
    assert numel((2, 3, 4)) == 24 and numel(()) == 1 and numel((5, 0)) == 0
