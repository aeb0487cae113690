"""profiler.transforms.window: the sliding-window check of a fully convolutional net, its score
map on an image against the original network run on every window (values, window count at the
total stride, multiplications both ways), and the images it refuses."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
from profiler.errors import ProfilerError
from profiler.transforms.fully_conv import infer_window, to_fully_convolutional
from profiler.transforms.window import SlidingCheck, sliding_window_check


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


class Strided(nn.Module):
    """Stride 2 conv, stride 2 max-pool, a stride 1 conv, no padding: total stride 4."""

    def __init__(self):
        super().__init__()
        self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 8, 5, stride=2), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3)
        self.fc1, self.fc2 = nn.Linear(8 * 4 * 3, 16), nn.Linear(16, 5)

    def forward(self, x):
        x = self.conv2(self.pool(torch.relu(self.conv1(x))))
        return torch.softmax(self.fc2(torch.relu(self.fc1(x.view(x.size(0), -1)))), dim=1)


def test_cifar_net_score_map_equals_every_window_in_float64():
    torch.manual_seed(0)
    model = CifarNet().double().eval()
    fc = to_fully_convolutional(model, (3, 32, 32))
    assert fc.stride == (1, 1) and fc.padded == []
    first = fc.model.classifier[0]
    assert isinstance(first, nn.Conv2d) and first.kernel_size == (18, 18) and first.in_channels == 256
    check = sliding_window_check(model, fc, (3, 36, 38))
    assert check.map_size == check.windows == (5, 7)
    assert check.max_diff <= 1e-10 and check.max_diff_window <= 1e-10
    per_window = profiler.profile(model, input_size=(3, 32, 32), dtype=torch.float64).total["mults"]
    assert check.sliding_mults == 35 * per_window
    assert check.fully_conv_mults == profiler.profile(fc.model, input_size=(3, 36, 38),
                                                      dtype=torch.float64).total["mults"]
    assert check.ratio == check.sliding_mults / check.fully_conv_mults > 5


def test_cifar_net_score_map_equals_every_window_in_float32():
    torch.manual_seed(0)
    model = CifarNet().eval()
    check = sliding_window_check(model, to_fully_convolutional(model, (3, 32, 32)), (3, 36, 38), batch=2)
    assert check.max_diff <= 1e-5


def test_strided_net_slides_at_its_total_stride():
    torch.manual_seed(0)
    model = Strided().double().eval()
    with pytest.raises(ProfilerError, match="no square input"):  # its features are 4×3
        infer_window(model, 3)
    fc = to_fully_convolutional(model, (3, 29, 25))
    assert fc.stride == (4, 4)
    check = sliding_window_check(model, fc, (3, 29 + 4 * 3 + 2, 25 + 4 * 2))  # 2 rows left over
    # a window reads only 27 of its 29 rows (the pool drops conv1's 13th row): one more
    # position fits the image, whose window would reach past it
    assert check.windows == (4, 3) and check.map_size == (5, 3)
    assert check.max_diff <= 1e-10


def test_tiny_net_counts_both_ways_by_hand():
    """conv 1→1 k3 then Linear(2·2 → 1) on a 1x4x4 window, slid over a 1x6x5 image."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 1)).double().eval()
    fc = to_fully_convolutional(model, (1, 4, 4))
    check = sliding_window_check(model, fc, (1, 6, 5))
    assert check.windows == check.map_size == (3, 2)            # (6−4)+1 rows, (5−4)+1 columns
    per_window = 2 * 2 * 9 + 4                                  # conv 2×2 outputs × 9 taps, linear 4
    assert check.sliding_mults == 6 * per_window
    assert check.fully_conv_mults == 4 * 3 * 9 + 3 * 2 * 4     # conv on 6×5 → 4×3, then a 2×2 conv → 3×2
    assert check.ratio == check.sliding_mults / check.fully_conv_mults
    assert check.max_diff <= 1e-12 and check.max_diff_window <= 1e-12
    assert check.image == (1, 6, 5)


@pytest.mark.parametrize("image", [(3, 31, 40), (3, 40, 31), (1, 40, 40), (3, 40)])
def test_an_image_smaller_than_the_window_or_with_other_channels_is_refused(image):
    model = CifarNet().eval()
    fc = to_fully_convolutional(model, (3, 32, 32))
    with pytest.raises(ProfilerError, match="must have 3 channels and be at least the window 32x32"):
        sliding_window_check(model, fc, image)


def test_the_check_leaves_the_models_modes_as_they_were():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    fc = to_fully_convolutional(model.eval(), (1, 4, 4))
    model.train(), fc.model.train()
    check = sliding_window_check(model, fc, (1, 5, 5))
    assert model.training and fc.model.training                 # run in eval mode, then restored
    assert check.max_diff <= 1e-5                                # dropout was off while it ran


def test_ratio_of_a_net_without_multiplications_is_infinite():
    check = SlidingCheck((3, 8, 8), (1, 1), (1, 1), 0.0, 0.0, sliding_mults=0, fully_conv_mults=0)
    assert check.ratio == float("inf")
