"""profiler.models.zoo.alexnet2012: AlexNet as in Krizhevsky, Sutskever and Hinton (2012), two
GPUs' groups and LRN: its layers, its 227x227 arithmetic (55 → 27 → 13 → 6), its parameters
against the paper's "60 million", and every count of its profile worked out by hand from the
layer shapes and the formulas' stated conventions, then cross-checked against FlopCounterMode
and fvcore on a real forward."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import profiler
from profiler.models.zoo import BUILTIN, AlexNet2012, alexnet2012
from peers import flop_counter_macs

# name: (C_in, C_out, k, stride, padding, groups, output H = W)
CONVS = {
    "features.conv1": (3, 96, 11, 4, 0, 1, 55),      # (227 − 11)/4 + 1 = 55
    "features.conv2": (96, 256, 5, 1, 2, 2, 27),     # the two GPUs: 48 input channels per kernel
    "features.conv3": (256, 384, 3, 1, 1, 1, 13),    # connects across the GPUs
    "features.conv4": (384, 384, 3, 1, 1, 2, 13),
    "features.conv5": (384, 256, 3, 1, 1, 2, 13),
}
LINEARS = {"classifier.fc1": (9216, 4096), "classifier.fc2": (4096, 4096), "classifier.fc3": (4096, 1000)}
# name: (channels, input H = W, output H = W); max-pool 3/2, overlapping: (n − 3)/2 + 1
POOLS = {"features.pool1": (96, 55, 27), "features.pool2": (256, 27, 13), "features.pool3": (256, 13, 6)}
LRNS = {"features.lrn1": (96, 55), "features.lrn2": (256, 27)}   # name: (channels, H = W)
RELUS = {"features.relu1": 96 * 55 * 55, "features.relu2": 256 * 27 * 27, "features.relu3": 384 * 13 * 13,
         "features.relu4": 384 * 13 * 13, "features.relu5": 256 * 13 * 13, "classifier.relu6": 4096,
         "classifier.relu7": 4096}

# parameters: C_out·(C_in/groups)·k·k weights + C_out biases; in·out + out for a linear layer
PARAMS = {name: c_out * (c_in // g) * k * k + c_out for name, (c_in, c_out, k, _, _, g, _) in CONVS.items()}
PARAMS |= {name: n_in * n_out + n_out for name, (n_in, n_out) in LINEARS.items()}

# multiplications: each output element is a dot product of K = (C_in/groups)·k·k terms (in_features
# for a linear layer), K multiplications; H·W·C_out outputs.  Additions: conv.py's and linear.py's
# convention, K − 1 to sum the products plus 1 for the bias, so K per output: adds = mults.
MULTS = {name: h * h * c_out * (c_in // g) * k * k for name, (c_in, c_out, k, _, _, g, h) in CONVS.items()}
MULTS |= {name: n_in * n_out for name, (n_in, n_out) in LINEARS.items()}


@pytest.fixture(scope="module")
def report():
    return profiler.profile("alexnet2012")


def _rows(report):
    return report.layers.set_index("name")


def test_layers_are_the_papers():
    model = alexnet2012()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0], c.groups)
            for c in convs] == [shape[:-1] for shape in CONVS.values()]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in linears] == list(LINEARS.values())
    lrns = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    # the paper's k = 2, n = 5, α = 1e-4, β = 0.75; PyTorch divides alpha by size, so alpha = 5·1e-4
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrns] == [(5, 5e-4, 0.75, 2.0)] * 2
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(m.kernel_size, m.stride) for m in pools] == [(3, 2)] * 3
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2


def test_the_rows_read_as_the_paper_describes_the_network(report):
    assert list(report.layers["name"]) == [
        *(f"features.{n}" for n in ("conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2",
                                    "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool3")),
        "flatten", "classifier.drop6", "classifier.fc1", "classifier.relu6", "classifier.drop7", "classifier.fc2",
        "classifier.relu7", "classifier.fc3"]


def test_the_feature_maps_of_a_227_input_are_55_27_13_and_6():
    model = alexnet2012().eval()
    sizes = []
    x = torch.zeros(1, 3, 227, 227)
    for name, layer in model.features.named_children():
        x = layer(x)
        if name.startswith(("conv", "pool")):
            sizes.append(x.shape[-1])
    assert sizes == [55, 27, 27, 13, 13, 13, 13, 6]
    assert x.shape == (1, 256, 6, 6) and model(torch.zeros(2, 3, 227, 227)).shape == (2, 1000)


def test_parameters_by_hand_and_the_papers_60_million(report):
    assert PARAMS == {"features.conv1": 34_944, "features.conv2": 307_456, "features.conv3": 885_120,
                      "features.conv4": 663_936, "features.conv5": 442_624, "classifier.fc1": 37_752_832,
                      "classifier.fc2": 16_781_312, "classifier.fc3": 4_097_000}
    total = sum(PARAMS.values())
    assert total == 60_965_224 == sum(p.numel() for p in alexnet2012().parameters())
    assert abs(total - 60_000_000) / 60_000_000 < 0.02          # "60 million parameters": 1.6 % off
    rows = _rows(report)
    assert {name: rows.loc[name, "params"] for name in PARAMS} == PARAMS
    assert report.total["params"] == total


@pytest.mark.parametrize("name", [*CONVS, *LINEARS])
def test_conv_and_linear_rows_are_the_hand_count(report, name):
    row = _rows(report).loc[name]
    assert row["mults"] == row["adds"] == row["macs"] == MULTS[name]
    assert row["other"] == 0


def test_the_hand_count_of_the_conv_and_linear_layers():
    assert MULTS == {"features.conv1": 105_415_200,   # 55·55 × 96 × 3·11·11
                     "features.conv2": 223_948_800,   # 27·27 × 256 × 48·5·5
                     "features.conv3": 149_520_384,   # 13·13 × 384 × 256·3·3
                     "features.conv4": 112_140_288,   # 13·13 × 384 × 192·3·3
                     "features.conv5": 74_760_192,    # 13·13 × 256 × 192·3·3
                     "classifier.fc1": 37_748_736,    # 4096 × 9216
                     "classifier.fc2": 16_777_216,    # 4096 × 4096
                     "classifier.fc3": 4_096_000}     # 1000 × 4096


@pytest.mark.parametrize("name", LRNS)
def test_lrn_rows_by_hand(report, name):
    # norm.py: b = a / (k + α/n·Σ_window a²)^β per element: 1 square and 1 mult by α/n, size − 1
    # window adds and 1 add of k, 1 pow and 1 division (other); the edge windows count as full
    channels, h = LRNS[name]
    n, size = channels * h * h, 5
    row = _rows(report).loc[name]
    assert (row["mults"], row["adds"], row["other"], row["params"]) == (2 * n, size * n, 2 * n, 0)
    assert row["kind"] == "norm"


@pytest.mark.parametrize("name", POOLS)
def test_max_pool_rows_by_hand(report, name):
    # pool.py: the max over a window of w = 3·3 elements is w − 1 = 8 comparisons per output
    channels, _, out = POOLS[name]
    row = _rows(report).loc[name]
    assert (row["mults"], row["adds"], row["other"]) == (0, 0, 8 * channels * out * out)


def test_totals_by_hand(report):
    lrn = {name: c * h * h for name, (c, h) in LRNS.items()}            # 290,400 and 186,624 elements
    pooled = {name: c * out * out for name, (c, _, out) in POOLS.items()}
    dots = sum(MULTS.values())
    assert dots == 724_406_816
    assert report.total["mults"] == dots + 2 * sum(lrn.values()) == 725_360_864
    assert report.total["adds"] == dots + 5 * sum(lrn.values()) == 726_791_936
    # ReLU: one comparison per element (elementwise.py); LRN: pow and division; max-pool: 8 per output
    assert report.total["other"] == sum(RELUS.values()) + 2 * sum(lrn.values()) + 8 * sum(pooled.values()) \
        == 658_272 + 954_048 + 979_712 == 2_592_032
    assert report.total["macs"] == dots


def test_linear_layers_hold_the_parameters_and_do_little_of_the_multiplying(report):
    linear_params = sum(PARAMS[name] for name in LINEARS)
    linear_mults = sum(MULTS[name] for name in LINEARS)
    conv_mults = sum(MULTS[name] for name in CONVS)
    assert (linear_params, linear_mults, conv_mults) == (58_631_144, 58_621_952, 665_784_864)
    # of all 60,965,224 parameters and all 725,360,864 multiplications (LRN's 954,048 included)
    assert round(100 * linear_params / 60_965_224, 2) == round(report.share("linear", "params"), 2) == 96.17
    assert round(100 * linear_mults / 725_360_864, 2) == round(report.share("linear", "mults"), 2) == 8.08
    assert round(100 * conv_mults / 725_360_864, 2) == round(report.share("conv", "mults"), 2) == 91.79
    assert round(100 * 954_048 / 725_360_864, 2) == round(report.share("norm", "mults"), 2) == 0.13   # LRN
    assert report.share("linear", "params") > 90 and report.share("linear", "mults") < 10


def test_flop_counter_mode_agrees_on_a_real_forward():
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate of conv and linear (tests/peers.py halves them)
    model = alexnet2012().eval()
    with torch.no_grad():
        assert flop_counter_macs(model, torch.zeros(1, 3, 227, 227)) == sum(MULTS.values())
        for name, (c_in, *_) in CONVS.items():
            size = {"features.conv1": 227, "features.conv2": 27}.get(name, 13)    # each conv's input
            assert flop_counter_macs(model.get_submodule(name), torch.zeros(1, c_in, size, size)) == MULTS[name]
        for name, (n_in, _) in LINEARS.items():
            assert flop_counter_macs(model.get_submodule(name), torch.zeros(1, n_in)) == MULTS[name], name


def test_profiler_check_matches_fvcore_and_flop_counter_on_every_row():
    from profiler.check import check
    result = check("alexnet2012")
    assert result.ok and (result.table["status"] == "match").all()
    assert result.totals == {"ours": 724_406_816, "fvcore": 724_406_816, "flop_counter": 724_406_816}


def test_num_classes_and_the_builtin_entry():
    assert alexnet2012(num_classes=10).classifier.fc3.out_features == 10
    assert BUILTIN["alexnet2012"] is alexnet2012 and isinstance(BUILTIN["alexnet2012"](), AlexNet2012)
    assert profiler.profile("alexnet2012").input_size == (3, 227, 227)    # the classification default
