"""profiler.formulas.backward.torchvision_layers: the backward of the layers
torchvision defines itself.  FrozenBatchNorm2d's grad x = g·scale and training
StochasticDepth's g times its pre-scaled noise against naive gradients written
with self-counting scalars, their values checked against autograd's; nothing to
train and nothing in eval; Permute, SwapAxes and the window partitions route g."""
from __future__ import annotations

import numpy as np
import torch
from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute

import bruteforce as bf
from formula_access import CallShapes, find_module_backward


def _counts(m, shape, needs=(True,)):
    cost = find_module_backward(m)(m, CallShapes(inputs=(shape,), outputs=(shape,)), needs)
    return cost.mults, cost.adds, cost.other


def _grad(m, x, g):
    xt = torch.tensor(x, requires_grad=True)
    (m(xt) * torch.tensor(g)).sum().backward()
    return xt.grad.numpy()


def test_frozen_batch_norm_backward_is_one_mult_by_the_folded_scale_per_element():
    torch.manual_seed(0)
    m = FrozenBatchNorm2d(3).double()
    for name in ("weight", "bias", "running_mean"):
        getattr(m, name).copy_(torch.randn(3))
    m.running_var.copy_(torch.rand(3) + 0.5)
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(2, 3, 2, 2)), rng.normal(size=(2, 3, 2, 2))
    scale = (m.weight / torch.sqrt(m.running_var + m.eps)).numpy()
    t = bf.Tally()
    gx = np.array([(t.num(g[i]) * scale[i[1]]).v for i in np.ndindex(x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(gx, _grad(m, x, g), rtol=1e-12)
    assert _counts(m, x.shape) == t.as_tuple() == (24, 0, 0)
    assert _counts(m, x.shape, (False,)) == (0, 0, 0)   # its buffers are not trained


def test_stochastic_depth_backward_scales_by_the_saved_noise_in_training_only():
    torch.manual_seed(1)
    m = StochasticDepth(0.5, "row").train()
    rng = np.random.default_rng(1)
    x, g = rng.uniform(0.5, 1.5, size=(4, 3)), rng.normal(size=(4, 3))
    xt = torch.tensor(x, requires_grad=True)
    out = m(xt)
    noise = (out / xt).detach().numpy()           # 0 or 1/(1 − p) per row, x ≠ 0
    (out * torch.tensor(g)).sum().backward()
    t = bf.Tally()
    gx = np.array([(t.num(g[i]) * noise[i]).v for i in np.ndindex(x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12)
    assert _counts(m, x.shape) == t.as_tuple() == (12, 0, 0)
    assert _counts(m.eval(), x.shape) == (0, 0, 0)


def test_permutes_and_window_partitions_route_the_gradient_for_free():
    for m in (Permute([0, 2, 1]), SwapAxes(1, 2), WindowPartition(), WindowDepartition()):
        assert _counts(m, (1, 4, 4, 2)) == (0, 0, 0), m
