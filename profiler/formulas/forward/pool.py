"""Pooling: the modules and the aten pooling ops.  Windows are counted whole:
elements that padding or ceil_mode add count like real ones, as products with
padding do in conv.  The window geometry (``pool_dims``, ``adaptive_totals``,
``windows_overlap``, ``adaptive_windows_overlap``) is computed here once and
reused by ``backward/pool.py``."""
from __future__ import annotations

from math import ceil, floor, prod

import torch
from torch import nn

from profiler.formulas.cost import ZERO, Cost, numel
from profiler.formulas.registry import CallShapes, aten_formula, module_formula
from profiler.formulas.shapes import first_output, per_dim

aten = torch.ops.aten


_DIMS = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3,
         nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3,
         nn.LPPool1d: 1, nn.LPPool2d: 2, nn.LPPool3d: 3,
         nn.FractionalMaxPool2d: 2, nn.FractionalMaxPool3d: 3,
         nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveAvgPool3d: 3,
         nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2, nn.AdaptiveMaxPool3d: 3}


def pool_dims(m) -> int:
    """Spatial dimensions of a pooling module, by the class it is (or subclasses)."""
    return next(_DIMS[c] for c in type(m).__mro__ if c in _DIMS)


def kernel_and_stride(m) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A pooling module's kernel and stride, one entry per spatial dimension (the
    stride defaults to the kernel)."""
    d = pool_dims(m)
    kernel = per_dim(m.kernel_size, d)
    return kernel, per_dim(m.stride or m.kernel_size, d)


def _window(m) -> int:
    k = m.kernel_size
    return prod(k) if isinstance(k, (tuple, list)) else k ** pool_dims(m)


def max_pool_cost(n_out: int, window: int) -> Cost:
    """Max over a window of w elements: w−1 comparisons per output."""
    return Cost(other=n_out * (window - 1))


def avg_pool_cost(n_out: int, window: int) -> Cost:
    """Average over a window of w elements: w−1 additions and 1 multiplication by
    1/divisor per output.  count_include_pad and divisor_override change the
    divisor's value, not the count."""
    return Cost(mults=n_out, adds=n_out * (window - 1))


def adaptive_window_total(n_in: tuple[int, ...], n_out: tuple[int, ...]) -> int:
    """Σ over outputs of the window size, for adaptive pooling whose window i along
    a dimension spans [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).  Separable: a product over
    dimensions of the per-dimension sums."""
    return prod(sum(ceil((i + 1) * a / b) - floor(i * a / b) for i in range(b))
                for a, b in zip(n_in, n_out))


def adaptive_totals(x, out, d: int) -> tuple[int, int]:
    """(Σ window sizes, number of outputs) of an adaptive pool over the last d
    dimensions of input ``x`` into ``out``."""
    lead = numel(out[:-d])
    return lead * adaptive_window_total(x[-d:], out[-d:]), numel(out)


def windows_overlap(kernel, stride, dilation) -> bool:
    """Whether neighbouring windows of a (max) pool share inputs along some
    dimension: a stride shorter than the dilated window's extent."""
    return any(s < dl * (k - 1) + 1 for k, s, dl in zip(kernel, stride, dilation))


def adaptive_windows_overlap(n_in, n_out) -> bool:
    """Whether an adaptive pool's windows share inputs: along a dimension whose
    input length is not a multiple of its output length."""
    return any(a % b for a, b in zip(n_in, n_out))


@module_formula(nn.modules.pooling._MaxPoolNd, kind="pool")
def max_pool_module(m, call: CallShapes) -> Cost:
    return max_pool_cost(numel(call.out), _window(m))


@module_formula(nn.modules.pooling._AvgPoolNd, kind="pool")
def avg_pool_module(m, call: CallShapes) -> Cost:
    return avg_pool_cost(numel(call.out), _window(m))


@module_formula(nn.modules.pooling._AdaptiveAvgPoolNd, kind="pool")
def adaptive_avg_pool_module(m, call: CallShapes) -> Cost:
    """Adaptive average: per output, window−1 additions and 1 multiplication, with
    the exact (possibly overlapping, unequal) windows."""
    total, n_out = adaptive_totals(call.x, call.out, pool_dims(m))
    return Cost(mults=n_out, adds=total - n_out)


@module_formula(nn.modules.pooling._AdaptiveMaxPoolNd, kind="pool")
def adaptive_max_pool_module(m, call: CallShapes) -> Cost:
    """Adaptive max: per output, window−1 comparisons, exact windows."""
    total, n_out = adaptive_totals(call.x, call.out, pool_dims(m))
    return Cost(other=total - n_out)


@module_formula(nn.modules.pooling._LPPoolNd, kind="pool")
def lp_pool_module(m, call: CallShapes) -> Cost:
    """Power-average (x^p summed, then ^(1/p)): per output, w pows, w−1 additions,
    1 root."""
    w, n = _window(m), numel(call.out)
    return Cost(adds=n * (w - 1), other=n * (w + 1))


@module_formula(nn.FractionalMaxPool2d, nn.FractionalMaxPool3d, kind="pool")
def fractional_max_pool_module(m, call: CallShapes) -> Cost:
    return max_pool_cost(numel(call.out), _window(m))


@module_formula(nn.modules.pooling._MaxUnpoolNd, kind="pool")
def max_unpool_module(m, call: CallShapes) -> Cost:
    """Max-unpool scatters values back: no arithmetic."""
    return ZERO


@aten_formula(aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
              aten.max_pool3d_with_indices, kind="pool")
def max_pool(out, x, kernel_size, *args) -> Cost:
    d = len(first_output(out)) - 2 if len(kernel_size) == 1 else len(kernel_size)
    k = kernel_size * d if len(kernel_size) == 1 else kernel_size
    return max_pool_cost(numel(first_output(out)), prod(k))


@aten_formula(aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, kind="pool")
def avg_pool(out, x, kernel_size, *args) -> Cost:
    d = len(out) - 2 if len(kernel_size) == 1 else len(kernel_size)
    k = kernel_size * d if len(kernel_size) == 1 else kernel_size
    return avg_pool_cost(numel(out), prod(k))


@aten_formula(aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d,
              kind="pool")
def adaptive_avg_pool(out, x, output_size) -> Cost:
    total, n_out = adaptive_totals(x, out, len(output_size))
    return Cost(mults=n_out, adds=total - n_out)


@aten_formula(aten.adaptive_max_pool2d, aten.adaptive_max_pool3d, kind="pool")
def adaptive_max_pool(out, x, output_size) -> Cost:
    total, n_out = adaptive_totals(x, first_output(out), len(output_size))
    return Cost(other=total - n_out)
