"""The class a config is built as, the spec, meta builds (profiler.models.hf.classes)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import time

import pytest

import profiler
from profiler.models import hf
from profiler.models.resolve import resolve
from hf_tiny import CLASSES, MOE, TINY

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("arch", sorted(TINY))
def test_spec_builds_on_meta(arch, built):
    spec, meta, real, seconds = built(arch)
    cls, family = CLASSES[arch]
    assert type(meta).__name__ == cls and spec.family == family
    assert spec.config is not None and cls in spec.notes[0]
    assert seconds < 5, f"{arch}: meta build took {seconds:.1f} s"
    assert all(t.device.type == "meta" for t in (*meta.parameters(), *meta.buffers()))
    assert meta.config._attn_implementation == "sdpa"
    if arch in MOE:
        assert meta.config._experts_implementation == "grouped_mm"

def test_tied_weights_counted_once(built):
    spec, meta, real, _ = built("gpt2")
    assert meta.lm_head.weight is meta.transformer.wte.weight
    args, kwargs, _ = hf.example_inputs(meta, spec.config, 1, tokens=4)
    report = profiler.profile(meta, inputs=args, kwargs=kwargs)
    assert int(report.total["params"]) == sum(p.numel() for p in meta.parameters()) \
        == sum(p.numel() for n, p in meta.named_parameters() if n != "lm_head.weight")

def test_big_configs_build_fast():
    start = time.perf_counter()
    spec = resolve("hf:llama", dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                    num_attention_heads=64, num_key_value_heads=8, vocab_size=128256))
    model = spec.build(meta=True)
    assert time.perf_counter() - start < 10
    assert sum(p.numel() for p in model.parameters()) == 70_553_706_496
    default = resolve("hf:llama")
    assert default.config.num_hidden_layers == 32      # LlamaConfig() is the 7B model
