"""What goes with the token ids (profiler.models.hf.rules.text): layout boxes and
each token's modality, as the processors make them."""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from profiler.models.hf.make import Maker
from profiler.models.hf.rules.base import Need
from profiler.models.hf.rules.text import bbox, mm_token_type_ids

transformers = pytest.importorskip("transformers")


def test_token_types_mark_image_and_video_placeholders():
    config = transformers.Qwen2VLConfig()
    model = nn.Linear(1, 1)
    need = Need(model, config, 1, Maker(model), dict(inspect.signature(model.forward).parameters))
    need.made["input_ids"] = torch.tensor([[5, config.image_token_id, config.image_token_id, config.video_token_id]])
    assert mm_token_type_ids(need).tolist() == [[0, 1, 1, 2]]
    assert tuple(bbox(need).shape) == (1, 4, 4) and int(bbox(need).abs().sum()) == 0
