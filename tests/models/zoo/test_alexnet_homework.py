"""profiler.models.zoo.alexnet_homework: the homework's AlexNet of the hand count, single tower:
torchvision's layer sizes (the 2014 "one weird trick" widths 64/192/384/256/256) with conv1
unpadded, its 227x227 arithmetic (55 → 27 → 13 → 6), its parameter count, and its place among
the built-ins."""
from __future__ import annotations

import torch
from torch import nn

from profiler.models.zoo import BUILTIN, AlexNetHomework, alexnet_homework


def test_layers_are_torchvisions_with_conv1_unpadded():
    model = alexnet_homework()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [
        (3, 64, 11, 4, 0), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in linears] == [(9216, 4096), (4096, 4096), (4096, 1000)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2


def test_the_layout_is_torchvisions_but_for_conv1s_padding():
    import torchvision
    with torch.device("meta"):
        theirs = torchvision.models.get_model("alexnet", weights=None)

    def layout(model):
        return [(type(m).__name__, getattr(m, "weight", torch.empty(0)).shape, getattr(m, "padding", None))
                for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ours, tv = layout(alexnet_homework()), layout(theirs)
    assert tv[0][2] == (2, 2) and ours[0][2] == (0, 0)           # torchvision pads conv1 by 2: 56x56, not 55x55
    assert [row[:2] for row in ours] == [row[:2] for row in tv] and ours[1:] == tv[1:]


def test_the_feature_maps_of_a_227_input_are_55_27_13_and_6():
    model = alexnet_homework().eval()
    sizes = []
    x = torch.zeros(1, 3, 227, 227)
    for name, layer in model.features.named_children():
        x = layer(x)
        if name.startswith(("conv", "pool")):
            sizes.append(x.shape[-1])
    # (227 − 11)/4 + 1 = 55, (55 − 3)/2 + 1 = 27, 27, 13, 13, 13, 13, (13 − 3)/2 + 1 = 6
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert model(torch.zeros(2, 3, 227, 227)).shape == (2, 1000)


def test_parameters_counted_by_hand():
    weights = 11 * 11 * 3 * 64 + 5 * 5 * 64 * 192 + 3 * 3 * 192 * 384 + 3 * 3 * 384 * 256 + 3 * 3 * 256 * 256 \
        + 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    biases = 64 + 192 + 384 + 256 + 256 + 4096 + 4096 + 1000
    assert sum(p.numel() for p in alexnet_homework().parameters()) == weights + biases == 61_100_840


def test_num_classes_and_the_builtin_entry():
    assert alexnet_homework(num_classes=10).classifier.fc3.out_features == 10
    assert BUILTIN["alexnet_homework"] is alexnet_homework and isinstance(BUILTIN["alexnet_homework"](), AlexNetHomework)
