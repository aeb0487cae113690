"""Audio inputs (profiler.models.hf.rules.audio): waveforms and features at the
config's sizes or seconds=."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import inspect

import pytest

from profiler.models.hf.make import Maker
from profiler.models.hf.rules.audio import input_features, input_values
from profiler.models.hf.rules.base import Need
from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")


def _need(arch: str, overrides=None, **sizes) -> Need:
    spec = resolve(f"hf:{arch}", overrides or {})
    model = spec.build(meta=True)
    return Need(model, spec.config, 1, Maker(model), dict(inspect.signature(model.forward).parameters), **sizes)


def test_waveform_is_seconds_at_the_sampling_rate():
    assert tuple(input_values(_need("wav2vec2", {"num_hidden_layers": 1})).shape) == (1, 16000)
    assert tuple(input_values(_need("wav2vec2", {"num_hidden_layers": 1}, seconds=0.25)).shape) == (1, 4000)


def test_features_whisper_layout_and_frames_first_layout():
    whisper = _need("whisper", {"encoder_layers": 1, "decoder_layers": 1})
    assert tuple(input_features(whisper).shape) == (1, 80, 3000)        # 30 s, the only length Whisper takes
    speech = _need("speech_to_text", {"encoder_layers": 1, "decoder_layers": 1})
    assert tuple(input_features(speech).shape) == (1, 100, 80)          # 1 s at 100 frames a second
