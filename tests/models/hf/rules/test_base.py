"""What the rules read (profiler.models.hf.rules.base): the sub-configs a Need finds,
and a forward's required arguments."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import inspect

import pytest
from torch import nn

from profiler.capture.known import run_forward
from profiler.models.hf.make import Maker
from profiler.models.hf.rules.base import Need, required

transformers = pytest.importorskip("transformers")


def test_need_finds_the_sub_configs_else_the_config_itself():
    config = transformers.LlavaConfig()
    need = Need(nn.Linear(1, 1), config, 1, Maker(nn.Linear(1, 1), run_forward), {})
    assert need.vision is config.vision_config and need.text is config.text_config
    assert need.audio is config                                       # none: the config itself
    plain = transformers.ViTConfig()
    assert Need(nn.Linear(1, 1), plain, 1, Maker(nn.Linear(1, 1), run_forward), {}).vision is plain


def test_need_finds_the_sub_configs_of_a_wrapped_vision_language_model():
    """ColQwen2 wraps a whole Qwen2-VL config as its vlm_config: the vision and text
    configs are that one's (its patches are 2 frames deep, which the wrapper's own
    fields do not say)."""
    config = transformers.ColQwen2Config()
    need = Need(nn.Linear(1, 1), config, 1, Maker(nn.Linear(1, 1), run_forward), {})
    assert need.vision is config.vlm_config.vision_config and need.text is config.vlm_config.text_config
    assert need.audio is config


def test_required_arguments_are_those_without_a_default():
    def forward(self, a, b=None, *args, c, **kwargs):
        return a
    assert required(inspect.signature(forward).parameters) == ["self", "a", "c"]
