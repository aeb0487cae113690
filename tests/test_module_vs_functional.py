"""Two independent routes to one count: a layer's module formula, and the aten-op
formulas that count the same computation written functionally."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import profiler

SHAPE = (2, 6, 9, 11)


class Functional(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


CASES = [
    (nn.ReLU(), F.relu), (nn.ReLU6(), F.relu6), (nn.Hardtanh(), F.hardtanh),
    (nn.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)), (nn.ELU(), F.elu), (nn.CELU(), F.celu),
    (nn.SELU(), F.selu), (nn.CELU(0.5), lambda x: F.celu(x, 0.5)), (nn.Sigmoid(), torch.sigmoid), (nn.Tanh(), torch.tanh), (nn.SiLU(), F.silu),
    (nn.Mish(), F.mish), (nn.Softplus(), F.softplus), (nn.GELU(), F.gelu),
    (nn.GELU(approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid), (nn.Hardshrink(), F.hardshrink),
    (nn.Softshrink(), F.softshrink), (nn.LogSigmoid(), F.logsigmoid),
    (nn.Softmax(dim=1), lambda x: F.softmax(x, dim=1)), (nn.LogSoftmax(dim=-1), lambda x: F.log_softmax(x, -1)),
    (nn.MaxPool2d(3, 2), lambda x: F.max_pool2d(x, 3, 2)), (nn.AvgPool2d(2), lambda x: F.avg_pool2d(x, 2)),
    (nn.AdaptiveAvgPool2d((4, 5)), lambda x: F.adaptive_avg_pool2d(x, (4, 5))),
    (nn.AdaptiveMaxPool2d((4, 5)), lambda x: F.adaptive_max_pool2d(x, (4, 5))),
    (nn.LayerNorm(11), lambda x: F.layer_norm(x, (11,), torch.ones(11), torch.zeros(11))),
    (nn.GroupNorm(3, 6), lambda x: F.group_norm(x, 3, torch.ones(6), torch.zeros(6))),
    (nn.BatchNorm2d(6).eval(), lambda x: F.batch_norm(x, torch.zeros(6), torch.ones(6), torch.ones(6),
                                                      torch.zeros(6), training=False)),
    (nn.Upsample(scale_factor=2, mode="bilinear"), lambda x: F.interpolate(x, scale_factor=2, mode="bilinear")),
    (nn.Upsample(scale_factor=2, mode="nearest"), lambda x: F.interpolate(x, scale_factor=2)),
    (nn.Upsample(scale_factor=2, mode="bicubic"), lambda x: F.interpolate(x, scale_factor=2, mode="bicubic")),
    (nn.Conv2d(6, 4, 3, padding=1, groups=2), None),
    (nn.ConvTranspose2d(6, 4, 3, stride=2, output_padding=1), None),
]


@pytest.mark.parametrize("module,fn", CASES, ids=[f"{type(m).__name__}{i}" for i, (m, _) in enumerate(CASES)])
def test_module_formula_equals_functional_ops(module, fn):
    if fn is None:  # conv: the functional call uses the module's own weights
        fn = module._conv_forward if isinstance(module, nn.Conv2d) else module.forward
        functional = Functional(lambda x: fn(x, module.weight, module.bias)) \
            if isinstance(module, nn.Conv2d) else None
        if functional is None:
            functional = Functional(lambda x: F.conv_transpose2d(
                x, module.weight, module.bias, module.stride, module.padding, module.output_padding))
    else:
        functional = Functional(fn)
    by_module = profiler.profile(module, inputs=SHAPE).total
    by_ops = profiler.profile(functional, inputs=SHAPE)
    assert by_ops.uncounted.empty
    for col in ("mults", "adds", "other", "macs"):
        assert by_module[col] == by_ops.total[col], col


def test_bilinear_upsample_matches_a_hand_count():
    # 2×2 → 4×4, one channel: every output blends 4 taps with precomputed weights
    report = profiler.profile(nn.Upsample(scale_factor=2, mode="bilinear"), inputs=(1, 1, 2, 2))
    assert (report.total["mults"], report.total["adds"]) == (16 * 4, 16 * 3)


def test_zero_cost_layers_are_zero_on_purpose():
    for layer in (nn.Dropout(), nn.Flatten(), nn.Identity(), nn.PixelShuffle(2), nn.ZeroPad2d(1),
                  nn.Embedding(10, 4)):
        inputs = torch.zeros(2, 3, dtype=torch.long) if isinstance(layer, nn.Embedding) else SHAPE[:1] + (8, 4, 4)
        report = profiler.profile(layer, inputs=inputs)
        assert report.total["flops"] == 0
        assert report.uncounted.empty


def test_local_response_norm_per_element():
    report = profiler.profile(nn.LocalResponseNorm(5), inputs=SHAPE)
    n = 2 * 6 * 9 * 11
    assert (report.total["mults"], report.total["adds"], report.total["other"]) == (2 * n, 5 * n, 2 * n)
