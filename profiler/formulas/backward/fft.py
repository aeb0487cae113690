"""Backward of the fast Fourier transforms (conventions in
``profiler.formulas.backward``, the count in ``forward/fft.py``): the gradient of
a transform is the adjoint transform of g, over the same lengths with the same
normalization, so c2c and r2c cost their forward's count; c2r's is an r2c."""
from __future__ import annotations

import torch

from profiler.formulas.cost import Cost, numel
from profiler.formulas.forward.fft import fft_c2c, fft_cost, fft_r2c
from profiler.formulas.registry import op_backward

aten = torch.ops.aten


@op_backward(aten._fft_c2c, inputs=(0,))
def fft_c2c_backward(needs, out, x, *args, **kwargs) -> Cost:
    """The inverse-direction transform of g: the forward's count."""
    return fft_c2c(out, x, *args, **kwargs)


@op_backward(aten._fft_r2c, inputs=(0,))
def fft_r2c_backward(needs, out, x, *args, **kwargs) -> Cost:
    """g (onesided) padded with zeros to the full length (free), a c2c transform
    of it, the real part kept: the forward's count."""
    return fft_r2c(out, x, *args, **kwargs)


@op_backward(aten._fft_c2r, inputs=(0,))
def fft_c2r_backward(needs, out, x, dim, normalization, last_dim_size) -> Cost:
    """An r2c transform of g over the output's lengths (its complex, onesided
    results scaled: 2 per element of x), then the entries a onesided input stands
    for twice (the middle ones: last_dim_size − x[last] of each line) doubled, 2
    mults each."""
    last = dim[-1]
    doubled = max(out[last] - x[last], 0) * (numel(x) // x[last] if x[last] else 0)
    return fft_cost(out, dim, normalization, 2 * numel(x)) + Cost(mults=2 * doubled)
