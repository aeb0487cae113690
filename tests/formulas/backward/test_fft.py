"""The FFT backwards (profiler.formulas.backward.fft) against a naive radix-2
transform written with self-counting scalars (tests/bruteforce.py), its values
checked against autograd's."""
from __future__ import annotations

import bruteforce as bf
import numpy as np
import torch
from formula_access import find_op_backward

aten = torch.ops.aten
RNG = np.random.default_rng(191)


def backward(op, needs, out, *args, **kwargs):
    cost = find_op_backward(op)(needs, out, *args, **kwargs)
    return cost.mults, cost.adds, cost.other


def test_c2c_backward_is_the_adjoint_transform():
    """fft's gradient: the unnormalised transform of g with conjugate twiddles."""
    x = RNG.normal(size=(2, 8)) + 1j * RNG.normal(size=(2, 8))
    g = RNG.normal(size=(2, 8, 2))
    t = bf.Tally()
    got = [[complex(c.re.v, c.im.v) for c in bf.radix2([bf.Cx(t.num(v[0]), t.num(v[1])) for v in row], 1)]
           for row in g]
    xt = torch.tensor(x, requires_grad=True)
    (torch.view_as_real(torch.fft.fft(xt)) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(got, xt.grad.numpy(), atol=1e-12)
    assert backward(aten._fft_c2c, (True,), (2, 8), (2, 8), [1], 0, True) == t.as_tuple() == (96, 144, 0)
