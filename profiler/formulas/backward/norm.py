"""Backward of normalisation layers: the modules and the aten ops they run as
(conventions in ``profiler.formulas.backward``).  As in the forward, two cases:
statistics from the input (``normalize_backward_cost``, ``rms_norm_backward_cost``)
and stored statistics (``stored_norm_backward_cost``)."""
from __future__ import annotations

from math import prod

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.forward.norm import (batch_statistics, batchnorm_group, groupnorm_group, norm_channels,
                                            stored_statistics)
from profiler.formulas.registry import CallShapes, module_backward, op_backward
from profiler.formulas.shapes import module_params_need, need

aten = torch.ops.aten


def normalize_backward_cost(n: int, group: int, params: int, need_x: bool, need_w: bool,
                            need_b: bool) -> Cost:
    """Statistics from the input (LayerNorm, GroupNorm, InstanceNorm, training
    BatchNorm) over G = n/group groups, affine parameters of ``params`` elements
    (gradients summed over n/params positions each), mean μ and rstd saved:
    x̂ = (x − μ)·rstd: n adds, n mults (when any gradient is wanted);
    grad x: ĝ = g·γ (n mults, with a weight), then
        rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)): the two sums (2(n−G) adds), ĝ·x̂ (n
        mults), the two means (2G mults), x̂·(…) (n mults), two subtractions (2n
        adds), ·rstd (n mults);
    grad γ = Σ g·x̂: n mults, n − params adds; grad β = Σ g: n − params adds."""
    groups = n // group if group else 0
    cost = Cost(mults=n, adds=n) if (need_x or need_w) else ZERO
    if need_x:
        cost += Cost(mults=3 * n + 2 * groups + n * (params > 0), adds=4 * n - 2 * groups)
    if need_w:
        cost += Cost(mults=n, adds=n - params)
    if need_b:
        cost += Cost(adds=n - params)
    return cost


def stored_norm_backward_cost(n: int, params: int, need_x: bool, need_w: bool,
                              need_b: bool) -> Cost:
    """Stored statistics (eval BatchNorm, FrozenBatchNorm2d): y = x·s + t per
    channel.  grad x = g·s: n mults; grad γ = Σ g·x̂ with x̂ = (x − mean)·rstd
    recomputed: 2n mults, 2n − params adds; grad β = Σ g: n − params adds."""
    cost = Cost(mults=n) if need_x else ZERO
    if need_w:
        cost += Cost(mults=2 * n, adds=2 * n - params)
    if need_b:
        cost += Cost(adds=n - params)
    return cost


def rms_norm_backward_cost(n: int, group: int, params: int, need_x: bool, need_w: bool) -> Cost:
    """RMSNorm y = x·r·w, r = 1/√(mean(x²)+ε) saved, G = n/group groups:
    grad x = r·(ĝ − x·r²·mean(ĝ·x)) with ĝ = g·w (n mults with a weight):
    ĝ·x (n mults), the sum (n − G adds), r²/M·sum (3G mults), x·(…) (n mults),
    the subtraction (n adds), ·r (n mults);
    grad w = Σ g·x·r: 2n mults, n − params adds."""
    groups = n // group if group else 0
    cost = Cost(mults=3 * n + 3 * groups + n * (params > 0), adds=2 * n - groups) if need_x else ZERO
    if need_w:
        cost += Cost(mults=2 * n, adds=n - params)
    return cost


@module_backward(nn.modules.batchnorm._NormBase)
def batchnorm_module_backward(m, call: CallShapes, needs) -> Cost:
    n, need_x = numel(call.out), need(needs, 0)
    need_w, need_b = module_params_need(m, "weight", "bias")
    params = norm_channels(call.x) if m.affine else 0
    if stored_statistics(m):
        return stored_norm_backward_cost(n, params, need_x, need_w, need_b)
    return normalize_backward_cost(n, batchnorm_group(m, call.x, n), params, need_x, need_w, need_b)


@module_backward(nn.LayerNorm)
def layernorm_module_backward(m, call: CallShapes, needs) -> Cost:
    group = prod(m.normalized_shape)
    return normalize_backward_cost(numel(call.out), group, group if m.elementwise_affine else 0,
                                   need(needs, 0), *module_params_need(m, "weight", "bias"))


@module_backward(nn.GroupNorm)
def groupnorm_module_backward(m, call: CallShapes, needs) -> Cost:
    n = numel(call.out)
    return normalize_backward_cost(n, groupnorm_group(call.x, n, m.num_groups), m.num_channels if m.affine else 0,
                                   need(needs, 0), *module_params_need(m, "weight", "bias"))


@module_backward(nn.RMSNorm)
def rmsnorm_module_backward(m, call: CallShapes, needs) -> Cost:
    group = prod(m.normalized_shape)
    return rms_norm_backward_cost(numel(call.out), group, group if m.elementwise_affine else 0,
                                  need(needs, 0), *module_params_need(m, "weight"))


@op_backward(aten.native_layer_norm)
def layer_norm_backward(needs, out, x, normalized_shape, weight, bias, eps) -> Cost:
    group = prod(normalized_shape)
    return normalize_backward_cost(numel(x), group, group if weight is not None else 0,
                                   need(needs, 0), need(needs, 2), need(needs, 3))


@op_backward(aten.native_group_norm)
def group_norm_backward(needs, out, x, weight, bias, n, c, hw, groups, eps) -> Cost:
    return normalize_backward_cost(numel(x), groupnorm_group(x, numel(x), groups), c if weight is not None else 0,
                                   need(needs, 0), need(needs, 1), need(needs, 2))


@op_backward(aten.native_batch_norm, aten._native_batch_norm_legit, aten._native_batch_norm_legit_no_training,
             aten.batch_norm)
def batch_norm_backward(needs, out, x, weight, bias, *args) -> Cost:
    channels = norm_channels(x)
    params = channels if weight is not None else 0
    if batch_statistics(args):
        return normalize_backward_cost(numel(x), numel(x) // channels, params, need(needs, 0),
                                       need(needs, 1), need(needs, 2))
    return stored_norm_backward_cost(numel(x), params, need(needs, 0), need(needs, 1), need(needs, 2))


@op_backward(aten._fused_rms_norm, aten.rms_norm)
def rms_norm_backward(needs, out, x, normalized_shape, weight=None, eps=None) -> Cost:
    group = prod(normalized_shape)
    return rms_norm_backward_cost(numel(x), group, group if weight is not None else 0,
                                  need(needs, 0), need(needs, 2))


def lrn_backward_cost(n: int, size: int) -> Cost:
    """b = a / d, d = s^β, s = k + α/n·Σ_window a² (channel windows of ``size``),
    with a, s and d saved (the operands of the forward's division and power):
    ∂b_c/∂a_j = δ_cj/d_c − 2αβ/n·a_j·b_c/s_c for j in c's window, so
        grad a_j = q_j − (2αβ/n)·a_j·Σ_{c ∋ j} q_c·a_c/s_c,   q = g/d.
    Per element: q (1 division), q·a (1 mult), /s (1 division), the window sum
    over ``size`` channels (size−1 additions; windows padded with zeros at the
    channel edges count as full, as in the forward), ×(2αβ/n) and ×a_j (2 mults),
    + q_j (1 addition):  mults 3, adds size, other 2."""
    return per_element(n, mults=3, adds=size, other=2)


@module_backward(nn.LocalResponseNorm, nn.CrossMapLRN2d, inputs=(0,))
def lrn_module_backward(m, call: CallShapes, needs) -> Cost:
    return lrn_backward_cost(numel(call.out), m.size)
