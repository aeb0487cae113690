"""Formulas for layer classes that torchvision defines itself."""
from __future__ import annotations

from torch import nn
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute
from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition

from ..cost import ZERO, Cost, numel
from .norm import folded_affine_cost
from .registry import Call, module_formula


@module_formula(FrozenBatchNorm2d, kind="norm")
def frozen_batchnorm_module(m: nn.Module, call: Call) -> Cost:
    """Frozen statistics, as BatchNorm in eval: 1 mult and 1 add per element."""
    return folded_affine_cost(numel(call.out))


@module_formula(StochasticDepth, Permute, SwapAxes, WindowPartition, WindowDepartition,
                kind="reshape")
def torchvision_zero_cost(m: nn.Module, call: Call) -> Cost:
    """Stochastic depth (identity at inference), axis permutes and MaxViT's window
    partition/departition: data movement only, 0."""
    return ZERO
