"""Image and video inputs (profiler.models.hf.rules.image): sizes from the config or
image=, the layout the model takes."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import inspect

import pytest

from profiler.models.hf.make import Maker
from profiler.models.hf.rules.base import Need
from profiler.models.hf.rules.image import grid_thw, image_hw, pixel_values
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")


def _need(arch: str, overrides=None, **sizes) -> Need:
    spec = resolve(f"hf:{arch}", overrides or {})
    model = spec.build(meta=True)
    return Need(model, spec.config, 2, Maker(model), dict(inspect.signature(model.forward).parameters), **sizes)


def test_sizes_come_from_the_config_or_image():
    assert image_hw(_need("vit", {"num_hidden_layers": 1})) == (224, 224)
    assert image_hw(_need("vit", {"num_hidden_layers": 1, "image_size": 96})) == (96, 96)
    assert image_hw(_need("vit", {"num_hidden_layers": 1}, image=64)) == (64, 64)


def test_layouts_plain_clip_and_patch_list():
    assert tuple(pixel_values(_need("vit", {"num_hidden_layers": 1})).shape) == (2, 3, 224, 224)
    video = _need("videomae", {"num_hidden_layers": 1, "num_frames": 4})
    assert tuple(pixel_values(video).shape) == (2, 4, 3, 224, 224)
    patches = _need("qwen2_vl", {"text_config.num_hidden_layers": 1, "vision_config.depth": 1}, image=112)
    # 112 px at patch 14 is 8 x 8 patches (a multiple of the merge size, 2); a patch holds 3 x 2 x 14 x 14 values
    assert tuple(pixel_values(patches).shape) == (2 * 8 * 8, 3 * 2 * 14 * 14)
    assert grid_thw(patches).tolist() == [[1, 8, 8], [1, 8, 8]]
