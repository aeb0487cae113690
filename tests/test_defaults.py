"""The default inputs (profiler.defaults): plain values that import nothing, and what a
profile gets when the caller gives no input."""
from __future__ import annotations

import subprocess
import sys

from torch import nn

import profiler
from profiler.capture.inputs import default_input_size
from profiler.defaults import DEFAULT_IMAGE, FAMILY_DEFAULTS, NATIVE_DETECTION, TOKENS_DEFAULT
from profiler.models.resolve import resolve


def test_importing_the_defaults_imports_nothing_else():
    code = ("import sys; before = set(sys.modules); import profiler.defaults; "
            "print(sorted(set(sys.modules) - before - {'profiler', 'profiler.defaults'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_model_given_no_input_gets_the_defaults():
    image = profiler.profile(nn.Conv2d(3, 4, 3))
    assert image.input_size == DEFAULT_IMAGE
    tokens = profiler.profile(nn.Sequential(nn.Embedding(50, 4), nn.Linear(4, 2)))
    assert tokens.input_size == (TOKENS_DEFAULT,)
    assert default_input_size(resolve("fcn_resnet50")) == FAMILY_DEFAULTS["segmentation"]
    assert default_input_size(resolve("fasterrcnn_resnet50_fpn")) == FAMILY_DEFAULTS["detection"]
    assert default_input_size(resolve("fasterrcnn_resnet50_fpn"), native=True) == NATIVE_DETECTION
