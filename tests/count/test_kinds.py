"""Row kinds by what a layer computes (profiler.count.kinds), not by its class name:
transformers layers built from tiny configs on the meta device, hand-written
layers, and the cases that must keep the kind of their ops."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import profiler


def _rows(report, type_name: str):
    layers = report.layers
    rows = layers[layers["type"] == type_name]
    assert len(rows), f"no {type_name} row"
    return rows


def _kinds(report, type_name: str) -> set[str]:
    return set(_rows(report, type_name)["kind"])


def _own(report):
    """The model's own row."""
    layers = report.layers
    return layers[layers["name"] == "(model)"].iloc[0]


# --- hand-written layers -------------------------------------------------------------

class MyLinear(nn.Module):
    def __init__(self, n_in=16, n_out=24):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in))
        self.b = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.w.T + self.b


class MyEinsumLinear(nn.Module):
    def __init__(self, n_in=16, n_out=24):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in))

    def forward(self, x):
        return torch.einsum("bld,ed->ble", x, self.w)


class MyRMSNorm(nn.Module):
    def __init__(self, dim=16, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MyLayerNorm(nn.Module):
    def __init__(self, dim=16, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class MyGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class MyAttention(nn.Module):
    """Projections as child layers; the attention product in its own ops."""

    def __init__(self, dim=16, heads=2, softmax_module=False):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1) if softmax_module else None

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        attn = self.softmax(scores) if self.softmax is not None else scores.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class MySDPAAttention(MyAttention):
    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class MyFusedAttention(nn.Module):
    """The projections as its own parameters: the attention product still names it."""

    def __init__(self, dim=16):
        super().__init__()
        self.w_qkv = nn.Parameter(torch.randn(3 * dim, dim))
        self.w_out = nn.Parameter(torch.randn(dim, dim))

    def forward(self, x):
        q, k, v = (x @ self.w_qkv.T).chunk(3, dim=-1)
        return ((q @ k.transpose(-2, -1)).softmax(-1) @ v) @ self.w_out.T


@pytest.mark.parametrize("module, kind", [
    (MyLinear(), "linear"),
    (MyEinsumLinear(), "linear"),
    (MyRMSNorm(), "norm"),
    (MyLayerNorm(), "norm"),
    (MyGELU(), "activation"),
    (QuickGELU(), "activation"),
    (MyAttention(), "attention"),
    (MyAttention(softmax_module=True), "attention"),
    (MySDPAAttention(), "attention"),
    (MyFusedAttention(), "attention"),
], ids=lambda x: type(x).__name__ if isinstance(x, nn.Module) else x)
def test_hand_written_layers_get_the_kind_of_what_they_compute(module, kind):
    report = profiler.profile(module, inputs=(2, 7, 16))
    own = _own(report)
    assert own["kind"] == kind, own["ops"]
    assert own["status"] == "functional"


def test_attention_projections_stay_linear_rows():
    report = profiler.profile(MyAttention(), inputs=(2, 7, 16))
    kinds = dict(zip(report.layers["name"], report.layers["kind"]))
    assert kinds == {"(model)": "attention", "qkv": "linear", "proj": "linear"}


def test_a_hand_written_linear_counts_as_nn_linear():
    """Only the kind column follows the rule: the counts are those of the ops."""
    mine = profiler.profile(MyLinear(16, 24), inputs=(2, 7, 16))
    theirs = profiler.profile(nn.Linear(16, 24), inputs=(2, 7, 16))
    assert mine.totals == theirs.totals
    assert mine.by_kind.set_index("kind").loc["linear", "params_%"] == 100.0


class Inside(nn.Module):
    """A hand-written layer inside a model: the rule reads that layer's own ops."""

    def __init__(self):
        super().__init__()
        self.norm = MyRMSNorm()
        self.up = MyLinear(16, 32)
        self.act = MyGELU()
        self.down = MyLinear(32, 16)

    def forward(self, x):
        return x + self.down(self.act(self.up(self.norm(x))))


@pytest.mark.parametrize("training", [False, True])
def test_kinds_inside_a_model_in_eval_and_training(training):
    report = profiler.profile(Inside(), inputs=(2, 7, 16), training=training)
    kinds = dict(zip(report.layers["name"], report.layers["kind"]))
    assert kinds == {"(model)": "elementwise", "norm": "norm", "up": "linear", "act": "activation",
                     "down": "linear"}
    linear = 2 * 16 * 32 + 32 + 16    # up and down: weights and biases; the norm holds 16
    assert report.share("linear", "params") == pytest.approx(100 * linear / (linear + 16))


# --- what keeps the kind of its ops ----------------------------------------------------

class TwoInputMatmul(nn.Module):
    def forward(self, x, y):
        return x @ y


class ChildWeight(nn.Module):
    """A matmul against another module's parameter is not this module's linear layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 24)

    def forward(self, x):
        return F.linear(x, self.fc.weight)


class MeanPool(nn.Module):
    def forward(self, x):
        return x.mean(1)


class LayerScale(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x):
        return x * self.gamma


class ClampBoxes(nn.Module):
    def forward(self, x):
        return (x * 2 + 1).clamp(0, 1)


class ReluBetweenChildren(nn.Module):
    """A container's functional relu between its child layers: its own row keeps the ops' kind."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 16)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class ScoresWithoutSoftmax(nn.Module):
    """A correlation volume: matmul of activations, no softmax."""

    def forward(self, x, y):
        return (x @ y.transpose(-2, -1)) / 4.0


@pytest.mark.parametrize("module, inputs, kind", [
    (TwoInputMatmul(), ((2, 7, 16), (2, 16, 5)), "matmul"),
    (ChildWeight(), ((2, 7, 16),), "matmul"),
    (MeanPool(), ((2, 7, 16),), "elementwise"),
    (LayerScale(), ((2, 7, 16),), "elementwise"),
    (ClampBoxes(), ((2, 7, 4),), "elementwise"),
    (ReluBetweenChildren(), ((2, 7, 16),), "elementwise"),
    (ScoresWithoutSoftmax(), ((2, 7, 16), (2, 5, 16)), "matmul"),
], ids=lambda x: type(x).__name__ if isinstance(x, nn.Module) else None)
def test_what_is_not_linear_norm_activation_or_attention(module, inputs, kind):
    report = profiler.profile(module, inputs=inputs)
    assert _own(report)["kind"] == kind


def test_registry_kinds_still_win():
    class MyConv(nn.Conv2d):
        pass

    report = profiler.profile(MyConv(3, 4, 3), inputs=(1, 3, 8, 8))
    assert _own(report)["kind"] == "conv" and _own(report)["status"] == "formula"


def test_torchvision_window_attention_is_attention():
    """Swin's attention calls F.linear with its children's weights: they are not its own."""
    swin = pytest.importorskip("torchvision.models.swin_transformer")
    layer = swin.ShiftedWindowAttention(dim=16, window_size=[4, 4], shift_size=[2, 2], num_heads=2)
    report = profiler.profile(layer, inputs=(1, 8, 8, 16))
    assert _own(report)["kind"] == "attention"


# --- transformers models from tiny configs, on the meta device ----------------------

transformers = pytest.importorskip("transformers")


def _tiny(config_cls, model_cls, **sizes):
    config = config_cls(**sizes)
    with torch.device("meta"):
        return model_cls(config)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_gpt2_conv1d_projections_are_linear(attn):
    model = _tiny(transformers.GPT2Config, transformers.GPT2LMHeadModel, n_embd=64, n_layer=2, n_head=4,
                  vocab_size=100, n_positions=32, bos_token_id=0, eos_token_id=0, attn_implementation=attn)
    report = profiler.profile(model, input_size=(16,))
    layers = report.layers
    conv1d = layers[layers["type"] == "Conv1D"]
    assert sorted({name.rsplit(".", 1)[-1] for name in conv1d["name"]}) == ["c_attn", "c_fc", "c_proj"]
    assert set(conv1d["kind"]) == {"linear"}
    assert _kinds(report, "GPT2Attention") == {"attention"}
    assert _kinds(report, "NewGELUActivation") == {"activation"}
    # the projections hold every weight but the embeddings and the layer norms
    conv1d_params = int(conv1d["params"].sum())
    assert report.share("linear", "params") == pytest.approx(100 * conv1d_params / report.totals["params"])
    assert report.share("linear", "params") > 85
    assert report.share("linear", "mults") > 85
    assert "linear layers: 9" in report.finding()


def test_llama_rmsnorm_silu_and_attention():
    model = _tiny(transformers.LlamaConfig, transformers.LlamaForCausalLM, hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=100)
    report = profiler.profile(model, input_size=(16,))
    assert _kinds(report, "LlamaRMSNorm") == {"norm"}
    assert _kinds(report, "LlamaAttention") == {"attention"}
    act = type(model.model.layers[0].mlp.act_fn).__name__
    assert _kinds(report, act) == {"activation"}
    assert _kinds(report, "Linear") == {"linear"}
    assert report.share("linear", "params") > 85


def test_bert_self_attention_and_gelu():
    model = _tiny(transformers.BertConfig, transformers.BertModel, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=128, vocab_size=100, max_position_embeddings=32)
    report = profiler.profile(model, input_size=(16,))
    assert _kinds(report, "BertSelfAttention") == {"attention"}
    assert _kinds(report, "GELUActivation") == {"activation"}
    assert _kinds(report, "Linear") == {"linear"}


def test_t5_layer_norm_gated_gelu_and_attention():
    model = _tiny(transformers.T5Config, transformers.T5EncoderModel, d_model=64, d_ff=128, num_layers=2,
                  num_heads=4, d_kv=16, vocab_size=100, feed_forward_proj="gated-gelu")
    report = profiler.profile(model, input_size=(16,))
    assert _kinds(report, "T5LayerNorm") == {"norm"}
    assert _kinds(report, "T5Attention") == {"attention"}
    assert _kinds(report, "NewGELUActivation") == {"activation"}
