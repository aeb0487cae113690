"""Backward of the layer classes torchvision defines itself (conventions in
``profiler.formulas.backward``); its ops (roi_align, nms) have no backward formula."""
from __future__ import annotations

from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute

from profiler.formulas.backward.norm import stored_norm_backward_cost
from profiler.formulas.backward.zero import zero_module_backward
from profiler.formulas.cost import ZERO, Cost, numel
from profiler.formulas.registry import CallShapes, module_backward
from profiler.formulas.shapes import need


@module_backward(FrozenBatchNorm2d)
def frozen_batchnorm_module_backward(m, call: CallShapes, needs) -> Cost:
    """Stored statistics and no parameters to train: grad x = g·scale."""
    return stored_norm_backward_cost(numel(call.out), 0, need(needs, 0), False, False)


@module_backward(StochasticDepth, inputs=(0,))
def stochastic_depth_module_backward(m, call: CallShapes, needs) -> Cost:
    """Training: g times the saved, pre-scaled per-sample noise: 1 mult per element."""
    return Cost(mults=numel(call.out)) if m.training and m.p > 0 else ZERO


module_backward(Permute, SwapAxes, WindowPartition, WindowDepartition)(zero_module_backward)
