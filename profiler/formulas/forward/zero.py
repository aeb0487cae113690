"""Layers that move or select data but do no arithmetic: counted as zero on purpose."""
from __future__ import annotations

from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub

from profiler.formulas.cost import ZERO, Cost
from profiler.formulas.registry import Call, module_formula

ZERO_COST_MODULES: tuple[type, ...] = (
    nn.Identity, nn.Flatten, nn.Unflatten,
    nn.modules.dropout._DropoutNd,   # identity in eval mode, where profiling runs
    nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle, nn.Unfold,
    nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
    nn.modules.padding._ReplicationPadNd, nn.modules.padding._CircularPadNd,
    QuantStub, DeQuantStub,  # identity in a float (not yet converted) model
)


@module_formula(*ZERO_COST_MODULES, kind="reshape")
def zero_cost_module(m: nn.Module, call: Call) -> Cost:
    """Identity, reshapes, copies, padding and dropout (identity at inference): 0."""
    return ZERO
