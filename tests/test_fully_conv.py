"""Making a Flatten → Linear classifier convolutional: the score map against the
original run on every window, the stride, the counts both ways, the models that
cannot be converted, and the CLI flag."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import profiler
from profiler.cli import main
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


def test_fully_conv_cli_reports_both_counts_ratio_and_differences(tmp_path, capsys):
    path = tmp_path / "cifar.py"
    path.write_text("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                    "    def __init__(self):\n        super().__init__()\n"
                    "        self.f = nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.Conv2d(8, 8, 3))\n"
                    "        self.c = nn.Sequential(nn.Flatten(), nn.Linear(8 * 10 * 10, 10))\n\n"
                    "    def forward(self, x):\n        return self.c(self.f(x))\n")
    assert main(["profile", f"{path}:Net", "--fully-conv", "--input", "3x20x22"]) == 0
    out = capsys.readouterr().out
    assert "window 3x16x16, image 3x20x22, total stride 1x1: score map 5x7" in out
    assert "sliding window (35 windows)" in out and "ratio sliding / fully convolutional" in out
    assert "score map vs the original on every window" in out and "note:" not in out


@pytest.mark.parametrize("argv,message", [
    (["squeezenet1_0", "--fully-conv", "--input", "3x300x300"], "has no Linear layer"),
    (["alexnet", "--fully-conv"], "--fully-conv needs --input"),
    (["alexnet", "--fully-conv", "--input", "3x300x300", "--training"], "drop --training"),
    (["alexnet", "--window", "3x224x224"], "--window goes with --fully-conv"),
])
def test_fully_conv_cli_errors_are_one_line(argv, message, capsys):
    assert main(["profile", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("profiler: error: ") and message in err and err.count("\n") == 1
