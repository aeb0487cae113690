"""Backward of resampling: Upsample and the interpolation ops behind
F.interpolate (conventions in ``profiler.formulas.backward``), with the forward's
taps (``forward/resample.py``); col2im (F.fold) and im2col (F.unfold).
grid_sample has no backward formula yet."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, Shape, numel
from profiler.formulas.forward.resample import INTERPOLATION_OPS, fold_additions, interpolation_taps
from profiler.formulas.registry import CallShapes, OpBackward, module_backward, op_backward


def interpolate_backward_cost(x: Shape, out: Shape, taps: int) -> Cost:
    """Linear modes, ``taps`` = t^d weights per output: every output gradient is
    multiplied by its taps weights and added into the inputs: taps·N_out mults,
    taps·N_out − numel(x) additions (every input assumed reached).  Nearest
    (taps = 1, no weights): numel(out) − numel(x) additions."""
    products = taps * numel(out)
    return Cost(mults=products if taps > 1 else 0, adds=max(products - numel(x), 0))


@module_backward(nn.Upsample, inputs=(0,))
def upsample_module_backward(m, call: CallShapes, needs) -> Cost:
    return interpolate_backward_cost(call.x, call.out, interpolation_taps(m.mode, len(call.out) - 2))


def _interpolation(mode: str) -> OpBackward:
    def count(needs, out, x, *args, **kwargs) -> Cost:
        return interpolate_backward_cost(x, out, interpolation_taps(mode, len(out) - 2))
    count.__doc__ = f"F.interpolate(mode='{mode}'): see interpolate_backward_cost."
    return count


for _op, _mode in INTERPOLATION_OPS.items():
    op_backward(getattr(torch.ops.aten, _op), inputs=(0,))(_interpolation(_mode))


@op_backward(torch.ops.aten.col2im)
def col2im_backward(needs, out, x, *args, **kwargs) -> Cost:
    """F.fold's gradient is im2col of g: a gather, no arithmetic."""
    return ZERO


@op_backward(torch.ops.aten.im2col, inputs=(0,))
def im2col_backward(needs, out, x, kernel_size, dilation, padding, stride) -> Cost:
    """F.unfold copies (a zero-cost op forward); its gradient is col2im of g, the
    blocks' gradients summed back into the image: ``fold_additions``."""
    return Cost(adds=fold_additions(x, kernel_size, dilation, padding, stride))
