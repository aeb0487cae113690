"""profiler.formulas.forward.norm: batch, instance, layer, group, RMS and local
response normalisation, as modules and as aten ops (native_layer_norm,
native_group_norm, rms_norm, the batch norm family).  Literal arithmetic for one
small call of each (naive loops that tally their own arithmetic check the
modules'), and step-by-step counts over many configurations: stored statistics
folded into one mult and one add per element, statistics from the input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import bruteforce as bf
from formula_cases import (M, Case, Op, assert_module_literal_cost, assert_module_literal_equals_tally,
                           assert_op_literal_cost, case_ids, checked, close, np_, op_params, pos, t)
from layer_cases import COMPUTED_STATS, RMS_AFFINE, STORED_STATS
from elementwise_scalars import power

X = (2, 3, 4)


# --- literal cases: independent tallies ---------------------------------------------

def norm_check(group_of, channel_of=None):
    def check(m, args, out):
        weight = getattr(m, "weight", None)
        values, tally = bf.norm_over(np_(args[0]), group_of, m.eps, np_(weight),
                                     np_(getattr(m, "bias", None)), channel_of)
        close(values, out)
        return tally
    return check


def folded_check(m, args, out):
    scale = np_(m.weight) / np.sqrt(np_(m.running_var) + m.eps)
    values, tally = bf.folded_affine(np_(args[0]), scale, np_(m.bias) - np_(m.running_mean) * scale)
    close(values, out)
    return tally


def rms_check(m, args, out):
    """x·1/√(Σx²/n + ε)·γ over the last dim: squares, sum, mean (a division, as in
    bruteforce.normalize), + ε, rsqrt, scale, weight."""
    x, w = np_(args[0]), np_(m.weight)
    tally = bf.Tally()
    values = np.empty(x.shape)
    for row in np.ndindex(*x.shape[:-1]):
        v = [tally.num(a) for a in x[row]]
        r = (bf.total([a * a for a in v]) / len(v) + m.eps).rsqrt()
        values[row] = [(a * r * w[i]).v for i, a in enumerate(v)]
    close(values, out)
    return tally


def lrn_check(m, args, out):
    """b_c = a_c / (k + α/n·Σ_{window around c} a²)^β: each a² once, the window of
    ``size`` channels zero-padded at the edges summed whole."""
    x = np_(args[0])
    tally = bf.Tally()
    sq = np.empty(x.shape, dtype=object)
    for i in np.ndindex(*x.shape):
        v = tally.num(x[i])
        sq[i] = (v, v * v)
    half_lo, channels = m.size // 2, x.shape[1]
    values = np.empty(x.shape)
    for n, c, *s in np.ndindex(*x.shape):
        terms = [sq[(n, j, *s)][1] if 0 <= j < channels else tally.num(0.0)
                 for j in range(c - half_lo, c - half_lo + m.size)]
        denom = power(bf.total(terms) * (m.alpha / m.size) + m.k, m.beta)
        values[(n, c, *s)] = (sq[(n, c, *s)][0] / denom).v
    close(values, out)
    return tally


# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

CASES: list[Case] = [
    # --- normalisation
    Case("BatchNorm2d-eval", lambda: nn.BatchNorm2d(3).eval(), lambda: (t(2, 3, 2, 2),),
         (24, 24, 0, 0), folded_check),   # folded x·scale + shift on 24 elements
    Case("BatchNorm1d-train", lambda: nn.BatchNorm1d(3).train(), lambda: (t(4, 3),),
         # 3 channel groups of 4: per group 2·4 mults, 3·4 − 1 adds, 3 other; affine +1, +1 each
         (3 * 2 * 4 + 12, 3 * (3 * 4 - 1) + 12, 3 * 3, 0),
         norm_check(lambda i: i[1], lambda i: i[1])),
    Case("InstanceNorm2d", lambda: nn.InstanceNorm2d(2), lambda: (t(2, 2, 3, 3),),
         # 4 (sample, channel) groups of 9, no affine
         (4 * 2 * 9, 4 * (3 * 9 - 1), 4 * 3, 0), norm_check(lambda i: i[:2])),
    Case("LayerNorm", lambda: nn.LayerNorm(4), lambda: (t(2, 3, 4),),
         # 6 groups of 4, with γ and β: +24 mults, +24 adds
         (6 * 2 * 4 + 24, 6 * (3 * 4 - 1) + 24, 6 * 3, 0),
         norm_check(lambda i: i[:2], lambda i: i[2])),
    Case("LayerNorm-nobias", lambda: nn.LayerNorm(4, bias=False), lambda: (t(2, 3, 4),),
         (6 * 2 * 4 + 24, 6 * (3 * 4 - 1), 6 * 3, 0),   # γ only: +24 mults
         norm_check(lambda i: i[:2], lambda i: i[2])),
    Case("GroupNorm", lambda: nn.GroupNorm(2, 4), lambda: (t(2, 4, 3),),
         # 2 samples × 2 groups = 4 groups of 2·3 = 6, affine
         (4 * 2 * 6 + 24, 4 * (3 * 6 - 1) + 24, 4 * 3, 0),
         norm_check(lambda i: (i[0], i[1] // 2), lambda i: i[1])),
    Case("RMSNorm", lambda: nn.RMSNorm(4, eps=1e-6), lambda: (t(2, 4),),
         # 2 groups of 4: squares 4 + scale 4 + weight 4 mults; 3 + 1 (ε) adds;
         # the mean's division and the rsqrt
         (2 * (4 + 4 + 4), 2 * (3 + 1), 2 * 2, 0), rms_check),
    Case("LocalResponseNorm", lambda: nn.LocalResponseNorm(3), lambda: (pos(1, 4, 2, 2),),
         # 16 elements × (square + α/n, size − 1 = 2 window adds + k, pow + division)
         (16 * 2, 16 * 3, 16 * 2, 0), lrn_check),
    Case("CrossMapLRN2d", lambda: nn.CrossMapLRN2d(3), lambda: (pos(1, 4, 2, 2),),
         # the same count as LocalResponseNorm (its legacy kernel slides the window
         # and places it differently at the edges, so the loop above is not its value)
         (16 * 2, 16 * 3, 16 * 2, 0)),
]


OPS: list[Op] = [
    # --- norms: statistics from the input over g groups of s: 2·g·s mults, g·(3s − 1) adds,
    # 3·g other, then γ and β: 1 mult and 1 add per element
    Op(["native_layer_norm"], lambda: (M(*X), [4], M(4), M(4), 1e-5),
       (6 * 2 * 4 + 24, 6 * (3 * 4 - 1) + 24, 6 * 3, 0)),
    Op(["native_group_norm"], lambda: (M(2, 4, 3), M(4), M(4), 2, 4, 3, 2, 1e-5),
       (4 * 2 * 6 + 24, 4 * (3 * 6 - 1) + 24, 4 * 3, 0)),   # 2 samples × 2 groups of 6
    # RMS over 2 rows of 4: squares 4, scale 4, γ 4 mults; sum 3 and + ε 1 adds; mean, rsqrt
    Op(["_fused_rms_norm"], lambda: (M(2, 4), [4], M(4), 1e-5), (2 * 12, 2 * 4, 2 * 2, 0)),
    Op(["rms_norm"], lambda: (M(2, 4), [4], M(4), 1e-5), (2 * 12, 2 * 4, 2 * 2, 0)),
    Op(["rms_norm"], lambda: (M(2, 4), [4]), (2 * 8, 2 * 4, 2 * 2, 0), id="no-weight"),
    # batch norm on (2,3,2,2): stored statistics fold to 1 mult + 1 add on 24 elements;
    # batch statistics are 3 channel groups of 8
    Op(["native_batch_norm", "_native_batch_norm_legit"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), False, 0.1, 1e-5), (24, 24, 0, 0)),
    Op(["native_batch_norm", "_native_batch_norm_legit"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), True, 0.1, 1e-5),
       (3 * 2 * 8 + 24, 3 * (3 * 8 - 1) + 24, 3 * 3, 0), id="train"),
    # the no_stats overload (weight, bias, training, momentum, eps): batch statistics always
    Op(["_native_batch_norm_legit"], lambda: (M(2, 3, 2, 2), M(3), M(3), True, 0.1, 1e-5),
       (3 * 2 * 8 + 24, 3 * (3 * 8 - 1) + 24, 3 * 3, 0), id="no-stats"),
    Op(["_native_batch_norm_legit_no_training"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), 0.1, 1e-5), (24, 24, 0, 0)),
    Op(["batch_norm"], lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), False, 0.1, 1e-5, False),
       (24, 24, 0, 0)),
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


# --- step-by-step counts over many configurations ----------------------------------------

def _randomize(module: nn.Module) -> nn.Module:
    """Non-trivial parameters and running statistics, so that a wrong value shows."""
    torch.manual_seed(1)
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)
    return module.double().eval()


def _folded(norm: nn.modules.batchnorm._NormBase):
    """Per-channel scale and shift that stored statistics fold into (not counted)."""
    scale = np.ones(norm.num_features) if norm.weight is None else bf.numpy_of(norm.weight)
    scale = scale / np.sqrt(bf.numpy_of(norm.running_var) + norm.eps)
    shift = (0 if norm.bias is None else bf.numpy_of(norm.bias)) - bf.numpy_of(norm.running_mean) * scale
    return scale, shift


@pytest.mark.parametrize("norm,shape", STORED_STATS)
def test_stored_statistics_cost_one_mult_and_one_add_per_element(layer_cost, norm, shape):
    norm = _randomize(norm)
    x = torch.randn(shape, dtype=torch.float64)
    out, tally = bf.folded_affine(bf.numpy_of(x), *_folded(norm))
    bf.assert_same(out, norm(x))
    bf.assert_counts(layer_cost(norm.train(), x), tally)  # profiling runs it in eval


@pytest.mark.parametrize("norm,shape,group_of,channel_of", COMPUTED_STATS)
def test_statistics_from_the_input_follow_the_step_by_step_count(layer_cost, norm, shape, group_of,
                                                                 channel_of):
    norm = _randomize(norm)
    x = torch.randn(shape, dtype=torch.float64)
    weight = bias = None
    if channel_of is not None:
        weight = bf.numpy_of(norm.weight)
        bias = bf.numpy_of(norm.bias) if norm.bias is not None else None
    out, tally = bf.norm_over(bf.numpy_of(x), group_of, norm.eps, weight, bias, channel_of)
    bf.assert_same(out, norm(x))
    bf.assert_counts(layer_cost(norm, x), tally)


@pytest.mark.parametrize("affine", RMS_AFFINE)
def test_rms_norm_follows_the_step_by_step_count(layer_cost, affine):
    norm = _randomize(nn.RMSNorm((2, 3), eps=1e-5, elementwise_affine=affine))
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    t = bf.Tally()
    out = np.empty(x.shape)
    for b in range(4):
        group = [t.num(v) for v in bf.numpy_of(x[b]).ravel()]
        rstd = (bf.total([v * v for v in group]) / len(group) + norm.eps).rsqrt()
        scaled = [v * rstd for v in group]
        if affine:
            scaled = [v * w for v, w in zip(scaled, bf.numpy_of(norm.weight).ravel())]
        out[b] = np.reshape([v.v for v in scaled], (2, 3))
    bf.assert_same(out, norm(x))
    bf.assert_counts(layer_cost(norm, x), t)
