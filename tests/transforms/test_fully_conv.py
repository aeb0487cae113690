"""profiler.transforms.fully_conv: making a Flatten → Linear classifier convolutional: the
converted layers, the total stride, the inferred window, the models that cannot be converted
(the score map against every window: tests/transforms/test_window.py; the --fully-conv flag:
tests/cli/test_whatif.py)."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import profiler
from profiler.errors import ProfilerError
from profiler.transforms.fully_conv import infer_window, to_fully_convolutional
from profiler.transforms.window import sliding_window_check


class CifarNet(nn.Module):
    """Five stride-1 convolutions without padding (32 → 18), then a two-layer classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5), nn.ReLU(), nn.Conv2d(16, 32, 5), nn.ReLU(), nn.Conv2d(32, 64, 3),
            nn.ReLU(), nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Conv2d(128, 256, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Linear(256 * 18 * 18, 32), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def test_window_of_a_classifier_without_adaptive_pooling_is_inferred():
    assert infer_window(CifarNet(), 3) == (3, 32, 32)
    with pytest.raises(ProfilerError, match=r"window=\(C, H, W\)"):
        infer_window(torchvision.models.alexnet(weights=None), 3)


def test_alexnet_becomes_convolutional_with_a_six_by_six_first_layer():
    torch.manual_seed(0)
    model = torchvision.models.alexnet(weights=None).eval()
    fc = to_fully_convolutional(model, (3, 224, 224))
    convs = [m for m in fc.model.classifier if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (256, 4096, (6, 6)), (4096, 4096, (1, 1)), (4096, 1000, (1, 1))]
    assert fc.stride == (32, 32)
    assert not any(isinstance(m, nn.AdaptiveAvgPool2d) for m in fc.model.modules())  # 6 → 6 dropped
    check = sliding_window_check(model, fc, (3, 320, 320))
    assert check.map_size == check.windows == (4, 4)
    assert check.max_diff_window <= 1e-5          # one window: the same network
    assert fc.padded[:2] == ["features.0", "features.3"]  # the original's layers that pad: why windows differ
    per_window = profiler.profile("alexnet", input_size=(3, 224, 224)).total["mults"]
    assert check.sliding_mults == 16 * per_window
    assert 4.5 < check.ratio < 5.5


def test_global_average_pool_slides_with_stride_one():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    fc = to_fully_convolutional(model, (3, 64, 64))
    pools = [m for m in fc.model.modules() if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 1 and pools[0].kernel_size == (2, 2) and pools[0].stride == (1, 1)
    assert fc.stride == (32, 32)
    assert isinstance(fc.model.classifier[0], nn.Conv2d) and fc.model.classifier[0].kernel_size == (1, 1)
    check = sliding_window_check(model, fc, (3, 128, 96))
    assert check.map_size == check.windows == (3, 2)
    assert check.max_diff_window <= 1e-5


def test_conversion_leaves_the_input_model_untouched():
    model = torchvision.models.alexnet(weights=None).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    types = [type(m) for m in model.modules()]
    to_fully_convolutional(model, (3, 224, 224))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [type(m) for m in model.modules()] == types and not model.training


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 4)

    def forward(self, x):
        f = self.conv(x)
        return self.fc(torch.flatten(f, 1)) + f.mean()


@pytest.mark.parametrize("model,reason", [
    (lambda: torchvision.models.squeezenet1_0(weights=None), "has no Linear layer"),
    (lambda: torchvision.models.vit_b_16(weights=None), "no flatten before a Linear"),
    (lambda: TwoInputs(), "also reads"),
])
def test_models_without_a_flatten_linear_tail_are_refused_with_the_reason(model, reason):
    with pytest.raises(ProfilerError, match=reason):
        to_fully_convolutional(model().eval(), (3, 224, 224) if reason != "also reads" else (3, 8, 8))


def test_window_that_does_not_fit_the_classifier_is_refused():
    with pytest.raises(ProfilerError, match="does not run on a 3x30x30 window"):
        to_fully_convolutional(CifarNet().eval(), (3, 30, 30))
