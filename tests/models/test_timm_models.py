"""timm: models (profiler.models.timm_models): meta builds, overrides, counts against FlopCounterMode."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights


import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import profiler
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny"])
def test_timm(name):
    timm = pytest.importorskip("timm")
    spec = resolve(f"timm:{name}")
    assert spec.family == "classification" and spec.input_size == (3, 224, 224)
    meta = spec.build(meta=True)
    assert all(p.device.type == "meta" for p in meta.parameters())
    report = profiler.profile(meta, inputs=((1, *spec.input_size),))
    assert len(report.uncounted) == 0
    small = (2, 3, 64, 64)
    report = profiler.profile(meta, inputs=(small,))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = timm.create_model(name, pretrained=False).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        real(torch.randn(small))
    assert int(report.total["macs"]) == counter.get_total_flops() // 2
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())

def test_timm_overrides():
    pytest.importorskip("timm")
    spec = resolve("timm:resnet18", {"num_classes": 10})
    assert spec.build(meta=True).fc.out_features == 10
    assert resolve("timm:vit_tiny_patch16_224", {"img_size": 160}).input_size == (3, 160, 160)
