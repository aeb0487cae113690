"""hf: names read from transformers' sources without importing torch (profiler.models.hf.names)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import subprocess
import sys

import pytest

from profiler.models import hf

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


_LIST = """
import sys
{block}
from profiler.cli.list import run
run(None)
assert "torch" not in sys.modules, "profiler list imported torch"
"""

def test_list_names_without_torch():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _LIST.format(block="")], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert {"alexnet", "hf:llama", "hf:t5", "hf:whisper", "hf:clip", "hf:vit", "timm:resnet18"} <= set(out)
    names = [n[3:] for n in out if n.startswith("hf:")]
    assert set(names) == set(hf.names.listed_types())
    timm = pytest.importorskip("timm")
    assert [n[5:] for n in out if n.startswith("timm:")] == sorted(timm.list_models())
    # without the packages: no hf:/timm: names, still no torch
    block = "sys.modules['transformers'] = None\nsys.modules['timm'] = None"
    out = subprocess.run([sys.executable, "-c", _LIST.format(block=block)], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert "alexnet" in out and not any(n.startswith(("hf:", "timm:")) for n in out)
