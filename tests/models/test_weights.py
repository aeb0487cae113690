"""profiler.models.weights: what the published DEFAULT weights of a torchvision model say, read
offline (crop size, clip length, num_params), the constructor arguments they imply, and the
FrozenBatchNorm2d backbone of the detection builders that put one in when given weights."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from profiler.errors import ProfilerError
from profiler.models.resolve import resolve
from profiler.models.weights import (freeze_backbone_batchnorm, frozen_batchnorm_when_trained,
                                     native_build_kwargs, weights_meta)


def test_weights_meta_reads_crop_size_clip_length_and_the_published_figures():
    resnet50 = weights_meta("resnet50")
    assert resnet50["crop_size"] == (224, 224) and resnet50["num_params"] == 25_557_032
    assert resnet50["num_params"] == sum(p.numel() for p in torchvision.models.resnet50().parameters())
    assert weights_meta("vit_h_14")["crop_size"] == (518, 518)      # the SWAG weights, trained at 518
    video = weights_meta("r3d_18")
    assert video["clip_len"] == 16 and video["crop_size"] == (112, 112)


@pytest.mark.parametrize("name", ["hf:llama", "timm:resnet18", "net.py:Net", "no_such_model"])
def test_weights_meta_is_empty_for_names_without_torchvision_weights(name):
    assert weights_meta(name) == {}


@pytest.mark.parametrize("name,kwargs", [
    ("resnet18", {}),
    ("vit_b_16", {}),                                        # trained at 224: the default size
    ("vit_h_14", {"image_size": 518}),
    ("googlenet", {"transform_input": True, "aux_logits": False}),
    ("inception_v3", {"transform_input": True}),
    ("fcn_resnet50", {"aux_loss": True}),
    ("deeplabv3_mobilenet_v3_large", {"aux_loss": True}),
    ("fasterrcnn_resnet50_fpn", {"frozen_batchnorm": True}),
    ("ssd300_vgg16", {}),
])
def test_native_build_kwargs(name, kwargs):
    assert native_build_kwargs(name) == kwargs


@pytest.mark.parametrize("name,frozen", [
    ("fasterrcnn_resnet50_fpn", True), ("maskrcnn_resnet50_fpn", True), ("retinanet_resnet50_fpn", True),
    ("fcos_resnet50_fpn", True), ("fasterrcnn_mobilenet_v3_large_fpn", True),
    ("fasterrcnn_resnet50_fpn_v2", False), ("ssd300_vgg16", False), ("ssdlite320_mobilenet_v3_large", False),
    ("resnet50", False), ("hf:llama", False),
])
def test_which_builders_freeze_their_backbone_batchnorm_when_trained(name, frozen):
    assert frozen_batchnorm_when_trained(name) is frozen


def test_a_native_faster_rcnn_has_the_published_number_of_parameters():
    published = weights_meta("fasterrcnn_resnet50_fpn")["num_params"]
    native = resolve("fasterrcnn_resnet50_fpn", native=True).build(meta=True)
    plain = resolve("fasterrcnn_resnet50_fpn").build(meta=True)
    assert sum(p.numel() for p in native.parameters()) == published == 41_755_286
    assert any(isinstance(m, FrozenBatchNorm2d) for m in native.backbone.body.modules())
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in plain.modules())


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                                           nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
        self.head = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.head(self.backbone.body(x))


def test_freezing_keeps_the_values_and_makes_the_body_batchnorms_buffers():
    torch.manual_seed(0)
    model = Detector()
    with torch.no_grad():
        for bn in (model.backbone.body[1], model.backbone.body[2][1]):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    before = model(x)
    params = sum(p.numel() for p in model.parameters())
    assert freeze_backbone_batchnorm(model) is model
    assert type(model.backbone.body[1]) is FrozenBatchNorm2d and type(model.backbone.body[2][1]) is FrozenBatchNorm2d
    assert type(model.head) is nn.BatchNorm2d                           # outside the body: left
    assert sum(p.numel() for p in model.parameters()) == params - 2 * (4 + 4)   # γ and β became buffers
    torch.testing.assert_close(model(x), before)


def test_freezing_on_meta_and_without_a_body():
    with torch.device("meta"):
        model = Detector()
    freeze_backbone_batchnorm(model)
    assert model.backbone.body[1].weight.device.type == "meta"
    with pytest.raises(ProfilerError, match="Sequential has no backbone.body"):
        freeze_backbone_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))
