"""Fast Fourier transforms called as aten ops: _fft_c2c (torch.fft.fft, ifft,
fftn, ...), _fft_r2c (rfft, rfftn, and fft of a real tensor) and _fft_c2r
(irfft, irfftn, hfft).  Their kind is "elementwise".  torch's FlopCounterMode
has no formula for them; the convention here is the radix-2 Cooley-Tukey count,
the usual 5·N·log₂N real flops of a complex transform of length N, split into
its multiplications and additions.  Backward: ``backward/fft.py``."""
from __future__ import annotations

from math import ceil, log2

import torch

from profiler.formulas.cost import ZERO, Cost, Shape, numel
from profiler.formulas.registry import aten_formula

aten = torch.ops.aten


def fft_line_cost(n: int) -> Cost:
    """A complex transform of one line of length n: ⌈log₂ n⌉ radix-2 stages of n/2
    butterflies, each a complex product by its twiddle factor (4 mults, 2 adds)
    and a complex sum and difference (4 adds): 2·n·⌈log₂ n⌉ mults and
    3·n·⌈log₂ n⌉ adds, 5·n·log₂ n flops for n a power of two.  Twiddles are
    precomputed constants and every one is multiplied (those equal to 1 too); a
    length that is not a power of two is counted as the next stage count up."""
    if n < 2:
        return ZERO
    stages = ceil(log2(n))
    return Cost(mults=2 * n * stages, adds=3 * n * stages)


def fft_cost(full: Shape, dims, normalization: int, scaled: int) -> Cost:
    """Transforms of ``full`` (the signal's shape at its full, two-sided lengths)
    along each of ``dims`` in turn: numel(full)/n lines of length n each.  A real
    signal (r2c) or a real result (c2r) is counted as the complex transform of the
    same lengths (the real parts, zero imaginary parts included, run through the
    same butterflies; onesided results drop half the outputs, not the work).
    normalization 1 (by 1/√n) or 2 (by 1/n) scales each of the ``scaled`` real
    numbers of the output: 1 mult each (the factor precomputed)."""
    cost = ZERO
    for d in dims:
        n = full[d]
        if n:
            cost += fft_line_cost(n).times(numel(full) // n)
    return cost + Cost(mults=scaled) if normalization else cost


@aten_formula(aten._fft_c2c, kind="elementwise")
def fft_c2c(out, x, dim, normalization, forward=True) -> Cost:
    """Complex to complex: the output's every complex element (2 reals) scaled."""
    return fft_cost(x, dim, normalization, 2 * numel(out))


@aten_formula(aten._fft_r2c, kind="elementwise")
def fft_r2c(out, x, dim, normalization, onesided=True) -> Cost:
    """Real to complex, over the real input's lengths."""
    return fft_cost(x, dim, normalization, 2 * numel(out))


@aten_formula(aten._fft_c2r, kind="elementwise")
def fft_c2r(out, x, dim, normalization, last_dim_size) -> Cost:
    """Complex (onesided) to real, over the real output's lengths; its real
    elements scaled."""
    return fft_cost(out, dim, normalization, numel(out))
