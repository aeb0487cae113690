"""Independent counts by the peers, for tests that check our MACs against them:
torch's FlopCounterMode (2 flops per MAC) and fvcore, each on one call of a module."""
from __future__ import annotations

import logging

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

logging.getLogger("fvcore").setLevel(logging.ERROR)


def flop_counter_macs(module: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


def fvcore_macs(module: nn.Module, x: torch.Tensor) -> int:
    analysis = FlopCountAnalysis(module, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())
