"""profiler.cli.whatif: `profiler profile --fold-bn / --fully-conv`: the named model built with
seeded weights in eval mode, transformed, profiled, and the summary of what changed; the flags'
output and their one-line errors."""
from __future__ import annotations

import pytest
import torch

from profiler.cli import main, whatif
from profiler.errors import ProfilerError

CONV_BN = ("from torch import nn\n\n\ndef Net():\n"
           "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))\n")
FLAT = ("import torch\nfrom torch import nn\n\n\ndef Net():\n"
        "    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 5))\n")


def test_build_gives_the_same_seeded_weights_each_time_in_eval_mode():
    first, spec = whatif.build("alexnet_homework", native=False)
    second, _ = whatif.build("alexnet_homework", native=False)
    assert spec.name == "alexnet_homework" and not first.training and not second.training
    assert all(p.device.type == "cpu" for p in first.parameters())
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_build_refuses_what_is_not_a_module(tmp_path):
    path = tmp_path / "thing.py"
    path.write_text("def Thing():\n    return 42\n")
    with pytest.raises(ProfilerError, match="did not build an nn.Module"):
        whatif.build(f"{path}:Thing", native=False)


def test_fold_bn_drops_the_batchnorm_rows_and_its_counts(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(CONV_BN)
    report, summary = whatif.fold_bn(f"{path}:Net", (3, 6, 6), 1, False, "raw")
    assert list(report.layers["type"]) == ["Conv2d"] and "1" not in set(report.layers["name"])
    assert report.total["mults"] == 4 * 4 * 4 * 27              # 4×4 outputs × 4 channels × 27 taps
    assert "folded 1 BatchNorm layer(s)" in summary and "left" not in summary
    saved = next(line for line in summary.splitlines() if line.lstrip().startswith("saved")).split()
    assert saved[1:3] == [str(2 * 4), str(4 * 4 * 4)]           # params γ, β; one mult per BN element
    assert "on a random 1x3x6x6 input" in summary


def test_fully_conv_on_an_image_the_size_of_the_window_is_one_window(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(FLAT)
    report, summary = whatif.fully_conv(f"{path}:Net", (3, 6, 6), 1, None, "raw")
    assert report.model.endswith("(fully convolutional)")
    assert "window 3x6x6, image 3x6x6, total stride 1x1: score map 1x1, 1x1 whole windows" in summary
    assert "sliding window (1 windows)" in summary and "ratio sliding / fully convolutional: 1.00x" in summary
    assert report.total["mults"] == 4 * 4 * 2 * 27 + 2 * 4 * 4 * 5   # the conv, then the Linear as a 4×4 conv


def test_fully_conv_takes_the_window_given_and_refuses_an_image_smaller_than_it(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(FLAT)
    with pytest.raises(ProfilerError, match="needs --input CxHxW"):
        whatif.fully_conv(f"{path}:Net", None, 1, None, "raw")
    with pytest.raises(ProfilerError, match="the image 3x5x9 must be at least the window 3x6x6"):
        whatif.fully_conv(f"{path}:Net", (3, 5, 9), 1, "3x6x6", "raw")


def test_fold_bn_cli_shows_counts_before_and_after_and_the_difference(capsys):
    assert main(["profile", "resnet18", "--fold-bn", "--input", "3x64x64"]) == 0
    out = capsys.readouterr().out
    assert "fold-bn: folded 20 BatchNorm layer(s)" in out
    table = out.split("by kind:")[0]
    assert "BatchNorm2d" not in table and "bn1" not in table     # folded rows gone
    for word in ("before", "after", "saved", "max abs output difference"):
        assert word in out


def test_fold_bn_cli_lists_what_it_left(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text("import torch\nfrom torch import nn\n\n\ndef Net():\n"
                    "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))\n")
    assert main(["profile", f"{path}:Net", "--fold-bn", "--input", "3x8x8"]) == 0
    out = capsys.readouterr().out
    assert "folded 0 BatchNorm layer(s)" in out and "left 1:" in out and "follows '1'" in out


def test_fold_bn_cli_refuses_training_mode_in_one_line(capsys):
    assert main(["profile", "resnet18", "--fold-bn", "--training"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("profiler: error: --fold-bn needs an eval-mode model") and err.count("\n") == 1


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
