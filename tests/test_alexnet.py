"""AlexNet reproduces the hand count exactly; totals are the sums of the rows;
every parameter is counted once."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import profiler
from profiler.models.zoo.alexnet_homework import alexnet_homework

# name: (multiplications = additions, worked out by hand from the layer shapes)
HAND_COUNT = {
    "features.conv1": 70_276_800,    # 55·55 outputs × 64 channels × 3·11·11 products
    "features.conv2": 223_948_800,   # 27·27 × 192 × 64·5·5
    "features.conv3": 112_140_288,   # 13·13 × 384 × 192·3·3
    "features.conv4": 149_520_384,   # 13·13 × 256 × 384·3·3
    "features.conv5": 99_680_256,    # 13·13 × 256 × 256·3·3
    "classifier.fc1": 37_748_736,    # 4096 × 9216
    "classifier.fc2": 16_777_216,    # 4096 × 4096
    "classifier.fc3": 4_096_000,     # 1000 × 4096
}


@pytest.fixture(scope="module")
def homework():
    return profiler.profile("alexnet_homework", input_size=(3, 227, 227))


def test_hand_count_is_derived_from_the_layer_shapes():
    shapes = {"conv1": (55 * 55, 64, 3 * 11 * 11), "conv2": (27 * 27, 192, 64 * 5 * 5),
              "conv3": (13 * 13, 384, 192 * 9), "conv4": (13 * 13, 256, 384 * 9),
              "conv5": (13 * 13, 256, 256 * 9), "fc1": (1, 4096, 9216), "fc2": (1, 4096, 4096),
              "fc3": (1, 1000, 4096)}
    for name, (positions, channels, k) in shapes.items():
        full = next(n for n in HAND_COUNT if n.endswith(name))
        assert positions * channels * k == HAND_COUNT[full]


@pytest.mark.parametrize("name", HAND_COUNT)
def test_alexnet_homework_reproduces_the_hand_count_row_by_row(homework, name):
    row = homework.layers.set_index("name").loc[name]
    # K products and K−1 sums plus the bias: as many additions as multiplications
    assert row["mults"] == row["adds"] == row["macs"] == HAND_COUNT[name]
    assert row["other"] == 0


def test_alexnet_homework_totals_match_the_hand_count(homework):
    kinds = homework.by_kind.set_index("kind")
    assert kinds.loc["conv", "mults"] == kinds.loc["conv", "adds"] == 655_566_528
    assert kinds.loc["linear", "mults"] == kinds.loc["linear", "adds"] == 58_621_952
    assert homework.total["mults"] == homework.total["adds"] == 714_188_480
    assert sum(HAND_COUNT.values()) == 714_188_480
    assert homework.total["params"] == 61_100_840 == sum(p.numel() for p in alexnet_homework().parameters())
    assert round(homework.share("linear", "params"), 2) == 95.96
    assert round(homework.share("linear", "mults"), 2) == 8.21
    assert round(100 * 655_566_528 / 714_188_480, 2) == round(homework.share("conv", "mults"), 2) == 91.79


def test_totals_and_kind_sums_are_the_sums_of_the_rows(homework):
    layers = homework.layers
    for column in ("params", "mults", "adds", "other", "macs", "flops", "act_bytes"):
        assert homework.total[column] == layers[column].sum()
        assert homework.by_kind[column].sum() == layers[column].sum()
    assert (layers["flops"] == layers["mults"] + layers["adds"] + layers["other"]).all()


def test_torchvision_alexnet_first_conv_pads_to_56x56():
    report = profiler.profile("alexnet", input_size=(3, 227, 227))
    conv1 = report.layers.set_index("name").loc["features.0"]
    assert conv1["output_shape"] == "1x64x56x56"
    assert conv1["mults"] == conv1["adds"] == 72_855_552  # 56·56 × 64 × 363
    with torch.device("meta"):  # shapes are enough to count parameters
        model = torchvision.models.get_model("alexnet", weights=None)
    assert report.total["params"] == sum(p.numel() for p in model.parameters())
    assert report.total["mults"] == report.layers["mults"].sum()


class Tied(nn.Module):
    """Two layers sharing one weight, one layer called twice, one never called."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.b.weight = self.a.weight
        self.unused = nn.Linear(6, 2)

    def forward(self, x):
        return self.b(self.a(self.a(x)))


def test_shared_weights_are_counted_once_and_a_module_called_twice_gives_two_rows():
    model = Tied()
    report = profiler.profile(model, inputs=(2, 6))
    layers = report.layers
    assert report.total["params"] == sum(p.numel() for p in model.parameters()) == 36 + 6 + 6 + 14
    a_rows = layers[layers["name"] == "a"]
    assert len(a_rows) == 2
    assert list(a_rows["mults"]) == [2 * 6 * 6, 2 * 6 * 6]
    assert list(a_rows["params"]) == [42, 0]  # owned by the first call
    b_row = layers[layers["name"] == "b"].iloc[0]
    assert b_row["params"] == 6  # its weight is a's; only its bias is new
    unused = layers[layers["name"] == "unused"].iloc[0]
    assert unused["status"] == "not called" and unused["params"] == 14 and unused["mults"] == 0
    assert report.total["mults"] == 3 * 2 * 6 * 6
