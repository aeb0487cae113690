"""Backward counts of whole models, across layer kinds: MACs against torch's
FlopCounterMode around loss.backward() (small nets, resnet18, vit_b_16 with the
math attention; where FlopCounterMode misses fused CPU attention or overcounts
grouped convs, by exactly how much), gradients that are not computed (the first
layer on the raw image, frozen layers), and the training profile's plumbing (no
side effects, CLI; its columns and pass totals: tests/count/test_backward.py).
Each group's backward formulas against naive gradients and FlopCounterMode:
tests/formulas/backward/test_<group>.py."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import profiler
from profiler.cli import main


def _flop_counter_backward_macs(model, *inputs, math=True) -> int:
    """MACs of loss.backward() (loss = Σ of every output) by FlopCounterMode, the
    forward run in train mode outside the counter; its flops are 2 × MACs."""
    model.train()
    with sdpa_kernel(SDPBackend.MATH) if math else torch.enable_grad():
        out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(o.sum() for o in outs if isinstance(o, torch.Tensor))
        with FlopCounterMode(display=False) as counter:
            loss.backward()
    return counter.get_total_flops() // 2


def _training(model, *inputs):
    args = inputs[0] if len(inputs) == 1 else tuple(inputs)
    return profiler.profile(model, inputs=args, training=True)


def _bwd_macs(model, *inputs) -> int:
    return int(_training(model, *inputs).layers["bwd_macs"].sum())


class Functional(nn.Module):
    """conv2d, linear and matmul called functionally, charged to the model's own row."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 4, 3, 3))
        self.lw = nn.Parameter(torch.randn(10, 8 * 6 * 6))
        self.lb = nn.Parameter(torch.randn(10))

    def forward(self, x):
        y = F.relu(F.conv2d(x, self.w)).flatten(1)
        z = F.linear(y, self.lw, self.lb)
        return torch.matmul(z.unsqueeze(2), z.unsqueeze(1)).sum(0) @ self.lw[:, :10]


class Attention(nn.Module):
    """A packed qkv projection and F.scaled_dot_product_attention."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x):
        q, k, v = self.qkv(x).view(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)


SMALL_NETS = {
    "conv-bn-pool-linear": lambda: (nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 3 * 3, 10)),
        [torch.randn(2, 3, 16, 16)]),
    "conv1d-dilated-strided": lambda: (nn.Sequential(
        nn.Conv1d(4, 8, 3, dilation=2), nn.ReLU(), nn.Conv1d(8, 8, 5, stride=2, padding=2)),
        [torch.randn(2, 4, 30)]),
    "transposed-conv": lambda: (nn.Sequential(
        nn.Conv2d(4, 8, 3), nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)),
        [torch.randn(2, 4, 8, 8)]),
    "linear-on-3d-gelu-layernorm": lambda: (nn.Sequential(
        nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 8)), [torch.randn(2, 7, 16)]),
    "functional-conv-linear-matmul": lambda: (Functional(), [torch.randn(3, 4, 8, 8)]),
    "multihead-attention-need-weights": lambda: (nn.MultiheadAttention(16, 4), [torch.randn(5, 2, 16)] * 3),
    "multihead-attention-kdim-vdim": lambda: (
        nn.MultiheadAttention(16, 4, batch_first=True, kdim=8, vdim=12),
        [torch.randn(2, 5, 16), torch.randn(2, 7, 8), torch.randn(2, 7, 12)]),
    "sdpa-functional": lambda: (Attention(), [torch.randn(2, 5, 16)]),
}


@pytest.mark.parametrize("name", SMALL_NETS)
def test_backward_macs_equal_flop_counter_on_small_nets(name):
    torch.manual_seed(0)
    model, inputs = SMALL_NETS[name]()
    assert _bwd_macs(model, *inputs) == _flop_counter_backward_macs(model, *inputs)


def test_backward_macs_equal_flop_counter_on_resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    x = torch.randn(1, 3, 112, 112)
    ours = _bwd_macs(model, x)
    assert ours == _flop_counter_backward_macs(model, x) == 941_215_744


def test_backward_macs_equal_flop_counter_on_vit_b_16_with_the_math_attention():
    """FlopCounterMode sees attention's matmuls only when SDPA runs its math path
    (on CPU the fused flash kernel has no flop formula there)."""
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None)
    x = torch.randn(1, 3, 224, 224)
    ours = _bwd_macs(model, x)
    assert ours == _flop_counter_backward_macs(model, x, math=True) == 35_012_050_944


def test_flop_counter_misses_fused_cpu_attention_by_exactly_its_four_matmuls():
    """With the fused CPU kernel, FlopCounterMode counts no attention at all: per
    layer it misses dP = dO·Vᵀ, dV, dQ and dK, 4·N·L²·E MACs."""
    torch.manual_seed(0)
    layers, hidden, tokens = 2, 32, (32 // 8) ** 2 + 1
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=layers,
                                                 num_heads=4, hidden_dim=hidden, mlp_dim=64)
    x = torch.randn(2, 3, 32, 32)
    gap = layers * 4 * 2 * tokens * tokens * hidden
    fused = _flop_counter_backward_macs(model, x, math=False)
    assert _bwd_macs(model, x) == fused + gap == _flop_counter_backward_macs(model, x, math=True)


def test_flop_counter_overcounts_grouped_conv_weight_gradients_by_the_group_count():
    """FlopCounterMode takes the weight gradient of a grouped conv as if every
    input channel met every output channel: groups × the real MACs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=8))  # depthwise second conv
    x = torch.randn(2, 4, 8, 8)
    weight_grad = 8 * 1 * 9 * (2 * 4 * 4)  # numel(W) dot products over N·H_out·W_out
    assert _flop_counter_backward_macs(model, x) - _bwd_macs(model, x) == (8 - 1) * weight_grad


def test_first_layer_on_the_raw_image_computes_no_input_gradient():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3))
    layers = _training(model, torch.randn(1, 3, 10, 10)).layers.set_index("name")
    assert layers.loc["0", "bwd_macs"] == layers.loc["0", "macs"]          # weight gradient only
    assert layers.loc["1", "bwd_macs"] == 2 * layers.loc["1", "macs"]      # input and weight


def test_frozen_layers_compute_no_weight_gradient_and_stop_the_input_gradient():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    for p in model[0].parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 10, 10)
    layers = _training(model, x).layers.set_index("name")
    assert layers.loc["0", "bwd_mults"] == layers.loc["0", "bwd_adds"] == 0
    assert layers.loc["1", "bwd_other"] == 0               # ReLU's input needs no gradient either
    assert layers.loc["2", "bwd_macs"] == layers.loc["2", "macs"]
    assert int(layers["bwd_macs"].sum()) == _flop_counter_backward_macs(model, x)


# --- the training profile --------------------------------------------------------------

def test_training_profile_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).eval()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = profiler.profile(model, input_size=(3, 8, 8), batch=2, training=True)
    assert report.layers.set_index("name").loc["1", "mults"] > 2 * 4 * 36  # batch statistics used
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats, num_batches_tracked
    assert not any(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_training_cli_prints_backward_columns_and_totals(capsys):
    assert main(["profile", "resnet18", "--input", "3x64x64", "--batch", "2", "--training"]) == 0
    out = capsys.readouterr().out
    assert "bwd_macs" in out and "forward and backward:" in out and "forward+backward" in out


def test_training_cli_groups_backward_columns_by_depth(capsys):
    assert main(["profile", "resnet18", "--input", "3x64x64", "--batch", "2", "--training",
                 "--depth", "1"]) == 0
    assert "layer4" in capsys.readouterr().out
