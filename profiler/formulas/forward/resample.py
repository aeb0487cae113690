"""Resampling: Upsample and the interpolation kernels behind F.interpolate."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.registry import Call, module_formula

# taps per output element along each spatial dimension
_TAPS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


def interpolate_cost(out_shape, mode: str, spatial_dims: int) -> Cost:
    """Interpolation with precomputed weights.  Nearest (and nearest-exact) copies:
    0.  Linear modes blend t^d taps per output element, t = 2 (linear, bilinear,
    trilinear) or 4 (bicubic): t^d multiplications and t^d − 1 additions.
    align_corners changes the weights, not the count."""
    if mode.startswith("nearest"):
        return ZERO
    taps = _TAPS[mode] ** spatial_dims
    return per_element(numel(out_shape), mults=taps, adds=taps - 1)


@module_formula(nn.Upsample, kind="resample")
def upsample_module(m: nn.Upsample, call: Call) -> Cost:
    return interpolate_cost(call.out, m.mode, len(call.out) - 2)
