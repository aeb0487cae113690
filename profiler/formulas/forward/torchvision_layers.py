"""Formulas for layer classes and ops that torchvision defines itself (frozen
batch norm, stochastic depth, MaxViT's reshapes, roi_align, nms).  Backward:
``backward/torchvision_layers.py`` (the ops have none)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute
from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition

from profiler.formulas.cost import ZERO, Cost, numel
from profiler.formulas.forward.norm import folded_affine_cost
from profiler.formulas.forward.reduce import sort
from profiler.formulas.registry import CallShapes, aten_formula, module_formula


@module_formula(FrozenBatchNorm2d, kind="norm")
def frozen_batchnorm_module(m: nn.Module, call: CallShapes) -> Cost:
    """Frozen statistics, as BatchNorm in eval: 1 mult and 1 add per element."""
    return folded_affine_cost(numel(call.out))


@module_formula(StochasticDepth, Permute, SwapAxes, WindowPartition, WindowDepartition,
                kind="reshape")
def torchvision_zero_cost(m: nn.Module, call: CallShapes) -> Cost:
    """Stochastic depth (identity at inference), axis permutes and MaxViT's window
    partition/departition: data movement only, 0."""
    return ZERO


@aten_formula(torch.ops.torchvision.roi_align, kind="pool")
def roi_align(out, x, rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned) -> Cost:
    """RoIAlign to K×C×ph×pw bins of s×s samples each (s = sampling_ratio; an
    adaptive ratio (≤ 0) depends on each box's size, and is counted as 2):
    every sample is a bilinear blend of 4 pixels (4 mults, 3 adds) and every bin
    averages its s² samples (s²−1 adds, 1 mult).  Sample coordinates, shared by
    the channels, are not counted."""
    samples = (sampling_ratio if sampling_ratio > 0 else 2) ** 2
    bins = numel(out)
    return Cost(mults=bins * (4 * samples + 1), adds=bins * (3 * samples + samples - 1))


@aten_formula(torch.ops.torchvision.nms, kind="other")
def nms(out, boxes, scores, iou_threshold) -> Cost:
    """Non-maximum suppression over N boxes, counted at its worst case because the
    real work depends on the data: box areas (2 subs, 1 mult each), a sort of the
    scores, and the IoU of every pair, N·(N−1)/2: 4 max/min, 2 subs, 2 clamps,
    1 mult (intersection), 2 adds (union), 1 division, 1 threshold comparison."""
    n = boxes[0]
    pairs = n * (n - 1) // 2
    return (Cost(mults=n + pairs, adds=2 * n + 4 * pairs, other=8 * pairs)
            + sort((n,), scores))
