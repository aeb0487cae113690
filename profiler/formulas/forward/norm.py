"""Normalisation layers.

Two conventions, by where the statistics come from:
* stored statistics (BatchNorm in eval, FrozenBatchNorm2d, InstanceNorm with
  track_running_stats in eval): the per-channel scale γ/√(var+ε) and shift
  β − mean·scale are constants folded ahead of time, so each element costs
  1 multiplication and 1 addition;
* statistics computed from the input (LayerNorm, GroupNorm, InstanceNorm,
  RMSNorm, BatchNorm without running stats): see ``normalize_cost``.
The modules, and the aten ops they run as when called functionally.  Backward:
``backward/norm.py``.
"""
from __future__ import annotations

from math import prod

import torch
from torch import nn

from profiler.formulas.cost import Cost, Shape, numel, per_element
from profiler.formulas.registry import CallShapes, aten_formula, module_formula

aten = torch.ops.aten


def folded_affine_cost(n: int) -> Cost:
    """Stored statistics: y = x·scale + shift, 1 mult and 1 add per element."""
    return per_element(n, mults=1, adds=1)


def normalize_cost(n_total: int, group: int, scale: bool, shift: bool | None = None) -> Cost:
    """Statistics from the input, over groups of ``group`` elements each:
    mean (group−1 adds, 1 division), centre x−μ (group adds), variance
    (group squares, group−1 adds, 1 division), rstd = 1/√(var+ε) (1 add, 1 rsqrt),
    normalise (group mults); an affine weight γ adds 1 mult and a bias β 1 add per
    element (``shift`` defaults to ``scale``; LayerNorm(bias=False) has γ only).
        per group: mults = 2·group, adds = 3·group − 1, other = 3
    """
    groups = n_total // group if group else 0
    cost = Cost(mults=2 * n_total, adds=3 * n_total - groups, other=3 * groups)
    shift = scale if shift is None else shift
    return cost + per_element(n_total, mults=int(scale), adds=int(shift))


def rms_normalize_cost(n_total: int, group: int, affine: bool) -> Cost:
    """RMSNorm over groups of ``group``: squares (group mults), sum (group−1 adds),
    mean (1 division), +ε (1 add), rsqrt (1), scale (group mults); the weight adds
    1 mult per element."""
    groups = n_total // group if group else 0
    cost = Cost(mults=2 * n_total, adds=n_total, other=2 * groups)
    return cost + per_element(n_total, mults=1) if affine else cost


# --- the shared quantities (the backward reads them too) ---------------------------

def stored_statistics(m: nn.modules.batchnorm._NormBase) -> bool:
    """Whether a BatchNorm or InstanceNorm normalises with its stored statistics.  The
    formulas run with each module in the mode its forward ran in: eval for an inference
    profile (stored statistics whenever the module has them), train for a training
    profile (batch statistics)."""
    return m.track_running_stats and m.running_mean is not None and not m.training


def norm_channels(x: Shape) -> int:
    """The channels of an (N, C, ...) input, or of an unbatched (C,) one."""
    return x[1] if len(x) > 1 else x[0]


def batchnorm_group(m: nn.modules.batchnorm._NormBase, x: Shape, n: int) -> int:
    """The elements each statistic is taken over, of ``n`` in all: those of one
    channel (BatchNorm), of one channel of one sample (InstanceNorm)."""
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        return prod(x[(1 if len(x) > 1 else 0) + 1:])
    return n // norm_channels(x)


def groupnorm_group(x: Shape, n: int, groups: int) -> int:
    """The elements of one group of one sample, of ``n`` in all (an input of one
    dimension is one sample)."""
    batch = x[0] if len(x) > 1 else 1
    return n // (batch * groups)


def batch_statistics(args: tuple) -> bool:
    """Whether a batch_norm op (its arguments after input, weight and bias) normalises
    with the batch's statistics: when training or when there are no running
    statistics.  The overloads: (…, running_mean, running_var, training, momentum,
    eps[, cudnn]) for native_batch_norm, _native_batch_norm_legit and batch_norm;
    (…, running_mean, running_var, momentum, eps) for _no_training (stored);
    (…, training, momentum, eps) for _native_batch_norm_legit.no_stats, which has
    no running statistics, so always uses the batch's (torch has no eval path there)."""
    if args and isinstance(args[0], bool):  # no_stats: the bool is training, not running_mean
        return True
    running_mean = args[0] if args else None
    rest = args[2:]
    training = rest[0] if rest and isinstance(rest[0], bool) else False
    return training or running_mean is None


# --- the formulas --------------------------------------------------------------------

@module_formula(nn.modules.batchnorm._NormBase, kind="norm")
def batchnorm_module(m: nn.modules.batchnorm._NormBase, call: CallShapes) -> Cost:
    n = numel(call.out)
    if stored_statistics(m):
        return folded_affine_cost(n)
    return normalize_cost(n, batchnorm_group(m, call.x, n), m.affine)


@module_formula(nn.LayerNorm, kind="norm")
def layernorm_module(m: nn.LayerNorm, call: CallShapes) -> Cost:
    return normalize_cost(numel(call.out), prod(m.normalized_shape), m.elementwise_affine,
                          getattr(m, "bias", None) is not None)


@module_formula(nn.RMSNorm, kind="norm")
def rmsnorm_module(m: nn.RMSNorm, call: CallShapes) -> Cost:
    return rms_normalize_cost(numel(call.out), prod(m.normalized_shape), m.elementwise_affine)


@module_formula(nn.GroupNorm, kind="norm")
def groupnorm_module(m: nn.GroupNorm, call: CallShapes) -> Cost:
    n = numel(call.out)
    return normalize_cost(n, groupnorm_group(call.x, n, m.num_groups), m.affine)


@module_formula(nn.LocalResponseNorm, nn.CrossMapLRN2d, kind="norm")
def lrn_module(m: nn.Module, call: CallShapes) -> Cost:
    """b = a / (k + α/n·Σ_window a²)^β per element: 1 square, size−1 window adds,
    1 mult by α/n, 1 add of k, 1 pow and 1 division (windows padded with zeros
    at the channel edges count as full)."""
    return per_element(numel(call.out), mults=2, adds=m.size, other=2)


@aten_formula(aten.native_layer_norm, kind="norm")
def layer_norm(out, x, normalized_shape, weight, bias, eps) -> Cost:
    return normalize_cost(numel(x), prod(normalized_shape), weight is not None, bias is not None)


@aten_formula(aten.native_group_norm, kind="norm")
def group_norm(out, x, weight, bias, n, c, hw, groups, eps) -> Cost:
    return normalize_cost(numel(x), groupnorm_group(x, numel(x), groups), weight is not None, bias is not None)


@aten_formula(aten._fused_rms_norm, aten.rms_norm, kind="norm")
def rms_norm(out, x, normalized_shape, weight=None, eps=None) -> Cost:
    return rms_normalize_cost(numel(x), prod(normalized_shape), weight is not None)


@aten_formula(aten.native_batch_norm, aten._native_batch_norm_legit,
              aten._native_batch_norm_legit_no_training, aten.batch_norm, kind="norm")
def batch_norm(out, x, weight, bias, *args) -> Cost:
    """Batch statistics (``normalize_cost`` over each channel, ``batch_statistics``),
    else stored ones (``folded_affine_cost``)."""
    if batch_statistics(args):
        return normalize_cost(numel(x), numel(x) // norm_channels(x), weight is not None, bias is not None)
    return folded_affine_cost(numel(x))
