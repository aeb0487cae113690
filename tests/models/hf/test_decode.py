"""A generation step's inputs: the KV cache of the model's own prefill, and the BART
family's decoder mask (profiler.models.hf.decode)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights


import pytest
import torch

import profiler
from profiler.models.resolve import resolve
from hf_tiny import BATCH, CONTEXT, DECODER, TOKENS, example_inputs, macs_flop_counter

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


def _layers(cache):
    return cache.layers if hasattr(cache, "layers") else cache.self_attention_cache.layers

@pytest.mark.parametrize("arch, kv_heads, kept", [("llama", 2, CONTEXT), ("mistral", 2, 7), ("gpt2", 4, CONTEXT)])
def test_decode_cache(arch, kv_heads, kept, built):
    """The cache holds batch x KV heads x N x head_dim per layer (a sliding-window
    layer keeps window - 1), attention then sees the new token too, and the
    caller's cache is not changed by a profile."""
    spec, meta, real, _ = built(arch)
    _, kwargs, desc = example_inputs(meta, spec.config, BATCH, decode=CONTEXT)
    cache = kwargs["cache"] if "cache" in kwargs else kwargs["past_key_values"]
    assert f"KV cache of {CONTEXT}" in desc
    layers = _layers(cache)
    assert len(layers) == 2
    before = [(layer.keys, tuple(layer.keys.shape), tuple(layer.values.shape)) for layer in layers]
    for keys, k_shape, v_shape in before:
        assert k_shape == v_shape == (BATCH, kv_heads, kept, 16)
    if "position_ids" in kwargs:
        assert tuple(kwargs["position_ids"].shape) == (BATCH, 1)
    profiler.profile(meta, kwargs=kwargs)
    assert [(layer.keys, tuple(layer.keys.shape), tuple(layer.values.shape)) for layer in layers] == before

def test_decode_attends_to_cache_and_new_token(built):
    """Decode MACs grow by exactly the attention over one more cached token:
    per layer, batch x heads x head_dim products for Q.K^T and as many for the
    weighted sum."""
    spec, meta, _, _ = built("llama")

    def macs(n):
        args, kwargs, _ = example_inputs(meta, spec.config, BATCH, decode=n)
        return int(profiler.profile(meta, inputs=args, kwargs=kwargs).total["macs"])
    layers, heads, head_dim = 2, 4, 16
    assert macs(CONTEXT + 1) - macs(CONTEXT) == layers * BATCH * heads * head_dim * 2

def test_speculative_decode_and_sliding_window_prefill(built):
    """Several new tokens after a cache, and a prefill longer than the window,
    against FlopCounterMode."""
    spec, meta, real, _ = built("mistral")
    for tokens, decode in ((3, CONTEXT), (CONTEXT + 4, None)):
        args, kwargs, _ = example_inputs(meta, spec.config, BATCH, tokens=tokens, decode=decode)
        _, real_kwargs, _ = example_inputs(real, spec.config, BATCH, tokens=tokens, decode=decode)
        report = profiler.profile(meta, inputs=args, kwargs=kwargs)
        assert len(report.uncounted) == 0
        assert int(report.total["macs"]) == macs_flop_counter(real, real_kwargs)

@pytest.mark.parametrize("decode", [None, CONTEXT], ids=["prefill", "decode"])
def test_sdpa_and_eager_count_the_same_macs(decode):
    totals = {}
    for implementation in ("sdpa", "eager"):
        spec = resolve("hf:llama", {**DECODER, "attn_implementation": implementation})
        meta = spec.build(meta=True)
        assert meta.config._attn_implementation == implementation
        args, kwargs, _ = example_inputs(meta, spec.config, BATCH, tokens=None if decode else TOKENS,
                                             decode=decode)
        report = profiler.profile(meta, inputs=args, kwargs=kwargs)
        assert len(report.uncounted) == 0
        totals[implementation] = int(report.total["macs"])
    assert totals["sdpa"] == totals["eager"]

def test_a_decoder_that_makes_its_own_mask_of_ones_runs_on_meta(built):
    """BART's decoder makes a mask of ones when given none, and transformers reads
    its values (SDPA's mask-skip test): on meta the values ride along
    (profiler.capture.known), so the meta model gets the inputs a real one gets
    and counts what FlopCounterMode counts on it."""
    spec, meta, real, _ = built("bart")
    for decode in (None, 6):
        _, kwargs, _ = example_inputs(meta, spec.config, BATCH, tokens=None if decode else TOKENS, decode=decode)
        _, real_kwargs, _ = example_inputs(real, spec.config, BATCH, tokens=None if decode else TOKENS,
                                              decode=decode)
        assert "decoder_attention_mask" not in kwargs and set(kwargs) == set(real_kwargs)
        report = profiler.profile(meta, kwargs=kwargs)
        assert int(report.total["macs"]) == macs_flop_counter(real, real_kwargs)
