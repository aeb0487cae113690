"""Resampling: Upsample, the interpolation kernels behind F.interpolate,
grid_sample, and col2im (F.fold / nn.Fold, which sums sliding blocks back into
an image; its inverse im2col, F.unfold, copies and is a zero-cost op).  ``interpolation_taps`` and ``INTERPOLATION_OPS`` are reused by
``backward/resample.py``."""
from __future__ import annotations

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel, per_element
from profiler.formulas.registry import CallShapes, aten_formula, module_formula
from profiler.formulas.shapes import per_dim

aten = torch.ops.aten

# taps per output element along each spatial dimension
_TAPS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


def interpolation_taps(mode: str, spatial_dims: int) -> int:
    """Input elements blended into one output element: t^d for the linear modes,
    t = 2 (linear, bilinear, trilinear) or 4 (bicubic); 1 for nearest and
    nearest-exact, which copy."""
    return 1 if mode.startswith("nearest") else _TAPS[mode] ** spatial_dims


def interpolate_cost(out_shape, mode: str, spatial_dims: int) -> Cost:
    """Interpolation with precomputed weights.  Nearest (and nearest-exact) copies:
    0.  Linear modes blend t^d taps per output element, t = 2 (linear, bilinear,
    trilinear) or 4 (bicubic): t^d multiplications and t^d − 1 additions.
    align_corners changes the weights, not the count."""
    if mode.startswith("nearest"):
        return ZERO
    taps = interpolation_taps(mode, spatial_dims)
    return per_element(numel(out_shape), mults=taps, adds=taps - 1)


@module_formula(nn.Upsample, kind="resample")
def upsample_module(m: nn.Upsample, call: CallShapes) -> Cost:
    return interpolate_cost(call.out, m.mode, len(call.out) - 2)


# aten op name: the F.interpolate mode it implements
INTERPOLATION_OPS = {"upsample_nearest1d": "nearest", "upsample_nearest2d": "nearest",
                     "upsample_nearest3d": "nearest", "_upsample_nearest_exact1d": "nearest",
                     "_upsample_nearest_exact2d": "nearest", "_upsample_nearest_exact3d": "nearest",
                     "upsample_linear1d": "linear", "upsample_bilinear2d": "bilinear",
                     "_upsample_bilinear2d_aa": "bilinear", "upsample_trilinear3d": "trilinear",
                     "upsample_bicubic2d": "bicubic", "_upsample_bicubic2d_aa": "bicubic"}


def _interpolation(mode: str):
    def count(out, x, *args, **kwargs) -> Cost:
        return interpolate_cost(out, mode, len(out) - 2)
    count.__doc__ = f"F.interpolate(mode='{mode}'): see resample.interpolate_cost."
    return count


for _op, _mode in INTERPOLATION_OPS.items():
    aten_formula(getattr(aten, _op), kind="resample")(_interpolation(_mode))


@aten_formula(aten.grid_sampler_2d, aten.grid_sampler, kind="resample")
def grid_sample(out, x, grid, mode=0, *args) -> Cost:
    """Per output location (N·H·W): unnormalise the (x, y) coordinate (2 mults,
    2 adds), floor (2); bilinear weights (4 mults, 4 adds).  Per output element
    (·C): 4 mults, 3 adds for bilinear, 0 for nearest (mode 1)."""
    locations = numel(grid[:-1])
    cost = Cost(mults=6 * locations, adds=6 * locations, other=2 * locations)
    return cost + (per_element(numel(out), mults=4, adds=3) if mode == 0 else ZERO)


def _hits(size: int, blocks: int, k: int, d: int, p: int, s: int) -> list[int]:
    """Along one dimension of length ``size``: how many (block, tap) pairs of the
    sliding blocks land on each position (taps in the padding land nowhere)."""
    hits = [0] * size
    for b in range(blocks):
        for j in range(k):
            pos = b * s + j * d - p
            if 0 <= pos < size:
                hits[pos] += 1
    return hits


def fold_additions(image, kernel, dilation, padding, stride) -> int:
    """The additions that sum the sliding blocks of F.fold into ``image`` (N, C,
    H, W) or (C, H, W): a position reached by c block elements takes c − 1 (the
    first lands on the zeros: a write); block elements in the padding are dropped.
    The same sum is im2col's (F.unfold's) backward."""
    spatial = image[-2:]
    k, d, p, s = (per_dim(v, 2) for v in (kernel, dilation, padding, stride))
    blocks = [(n + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, n in enumerate(spatial)]
    rows, cols = (_hits(spatial[i], blocks[i], k[i], d[i], p[i], s[i]) for i in range(2))
    per_channel = sum(max(r * c - 1, 0) for r in rows for c in cols)
    return numel(image[:-2]) * per_channel


@aten_formula(aten.col2im, kind="resample")
def col2im(out, x, output_size, kernel_size, dilation, padding, stride) -> Cost:
    """F.fold: every block element added into its image position: see
    ``fold_additions``."""
    return Cost(adds=fold_additions(out, kernel_size, dilation, padding, stride))
