"""profiler.transforms.fold_bn: folding BatchNorm into the conv or linear layer before it:
exactness on random running statistics, what is left unfolded and why, no change to the input
model, and the counts it saves (the --fold-bn flag: tests/cli/test_whatif.py)."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

import profiler
from profiler.errors import ProfilerError
from profiler.transforms.fold_bn import fold_batchnorm, fold_difference


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine parameters: fresh ones (mean 0, var 1,
    γ 1, β 0) would hide a wrong fold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, FrozenBatchNorm2d)) and m.running_mean is not None:
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model


class CifarNet(nn.Module):
    """conv-BN-ReLU ×2, then linear-BN1d-ReLU, then linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def _cifar() -> CifarNet:
    torch.manual_seed(0)
    return randomize_bn(CifarNet()).eval()


def test_small_net_with_random_statistics_folds_every_batchnorm_exactly():
    model = _cifar()
    result = fold_batchnorm(model)
    assert result.folded == [("features.1", "features.0"), ("features.5", "features.4"),
                             ("classifier.2", "classifier.1")]
    assert result.unfoldable == [] and result.method == "fx"
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in result.model.modules())
    assert isinstance(result.model.features[1], nn.Identity)
    assert fold_difference(result, model, (3, 32, 32), batch=4) <= 1e-6


def test_folding_leaves_the_input_model_untouched():
    model = _cifar()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    types = [type(m) for m in model.modules()]
    fold_batchnorm(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [type(m) for m in model.modules()] == types


def test_model_in_training_mode_is_refused_and_left_as_it_was():
    model = _cifar().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ProfilerError, match="training mode"):
        fold_batchnorm(model)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_conv_without_bias_gets_one_and_the_saved_counts_are_the_batchnorms():
    model = _cifar()
    result = fold_batchnorm(model)
    before = profiler.profile(model, input_size=(3, 32, 32)).total
    after = profiler.profile(result.model, input_size=(3, 32, 32)).total
    elements = 16 * 32 * 32 + 32 * 16 * 16 + 64       # one mult and one add per BatchNorm element
    assert before["mults"] - after["mults"] == elements
    assert before["adds"] - after["adds"] == elements  # these layers already had a bias
    assert before["params"] - after["params"] == 2 * (16 + 32 + 64)

    net = randomize_bn(nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4))).eval()
    folded = fold_batchnorm(net)
    assert folded.model[0].bias is not None
    assert profiler.profile(folded.model, input_size=(3, 6, 6)).total["adds"] == \
        profiler.profile(net, input_size=(3, 6, 6)).total["adds"]  # the bias add replaces BN's


def test_resnet50_folds_all_53_batchnorms_to_float64_precision():
    torch.manual_seed(0)
    model = randomize_bn(torchvision.models.resnet50(weights=None)).double().eval()
    result = fold_batchnorm(model)
    assert len(result.folded) == 53 and result.unfoldable == []
    assert fold_difference(result, model, (3, 64, 64), batch=2) <= 1e-10


@pytest.mark.parametrize("name,count", [("mobilenet_v2", 52), ("efficientnet_b0", 49)])
def test_mobile_nets_fold_every_batchnorm_in_float32(name, count):
    torch.manual_seed(0)
    model = randomize_bn(torchvision.models.get_model(name, weights=None)).eval()
    result = fold_batchnorm(model)
    assert len(result.folded) == count and result.unfoldable == []
    assert fold_difference(result, model, (3, 64, 64), batch=2) <= 1e-5


@pytest.mark.parametrize("layer,norm,size", [
    (nn.Conv1d(3, 6, 3), nn.BatchNorm1d(6), (3, 10)),
    (nn.Conv3d(2, 4, 3, groups=2), nn.BatchNorm3d(4), (2, 5, 5, 5)),
    (nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), nn.BatchNorm2d(6), (4, 5, 5)),
    (nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False), (3, 6, 6)),
    (nn.Conv2d(3, 4, 3), FrozenBatchNorm2d(4), (3, 6, 6)),
])
def test_every_conv_kind_and_batchnorm_kind_folds_exactly(layer, norm, size):
    torch.manual_seed(0)
    model = randomize_bn(nn.Sequential(layer, norm)).double().eval()
    result = fold_batchnorm(model)
    assert len(result.folded) == 1
    assert fold_difference(result, model, size, batch=2) <= 1e-12


class Unfoldable(nn.Module):
    """One foldable pair and four BatchNorms that are not."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)    # conv output read twice
        self.conv2, self.bn_cat = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(8)  # after a cat
        self.conv3, self.bn_free = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=False)
        self.conv4, self.bn4 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv5, self.bn5 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)    # left in training mode

    def forward(self, x):
        a = self.conv1(x)
        c = self.bn_cat(torch.cat([self.bn1(a) + a, self.conv2(x)], 1))
        return c[:, :4] + self.bn_free(self.conv3(x)) + self.bn4(self.conv4(x)) + self.bn5(self.conv5(x))


def test_batchnorms_that_cannot_fold_are_left_and_reported_with_a_reason():
    torch.manual_seed(0)
    model = randomize_bn(Unfoldable()).eval()
    model.bn5.train()
    result = fold_batchnorm(model)
    assert result.folded == [("bn4", "conv4")]
    reasons = dict(result.unfoldable)
    assert "also read by add" in reasons["bn1"]
    assert "follows cat" in reasons["bn_cat"]
    assert "no running statistics" in reasons["bn_free"]
    assert "training mode" in reasons["bn5"]
    assert isinstance(result.model.bn1, nn.BatchNorm2d) and isinstance(result.model.bn4, nn.Identity)
    model.bn5.eval(), result.model.bn5.eval()  # compare like with like: both on stored statistics
    assert fold_difference(result, model, (3, 5, 5)) <= 1e-6


class Untraceable(nn.Module):
    """Data-dependent control flow, which torch.fx cannot trace: its Sequential still can."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.block(x)
        return self.bn(y) if y.sum() > 0 else -y


def test_untraceable_model_is_searched_part_by_part():
    torch.manual_seed(0)
    model = randomize_bn(Untraceable()).eval()
    result = fold_batchnorm(model)
    assert result.method == "fx by submodule"
    assert result.folded == [("block.1", "block.0")]
    assert [name for name, _ in result.unfoldable] == ["bn"]
    assert "the model: TraceError" in result.unfoldable[0][1]
    assert fold_difference(result, model, (3, 6, 6)) <= 1e-6


def test_detection_model_folds_its_traceable_backbone():
    torch.manual_seed(0)
    model = torchvision.models.get_model("fcos_resnet50_fpn", weights=None, weights_backbone=None).eval()
    result = fold_batchnorm(model)
    assert result.method == "fx by submodule"
    assert len(result.folded) == 53 and result.unfoldable == []
