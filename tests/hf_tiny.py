"""Tiny transformers configs for the hf: tests (tests/models/hf/): each a config
override of the defaults, built from its config, never downloaded; and
FlopCounterMode's MACs on a real build, the reference the counts are checked against.

FlopCounterMode runs on the real CPU build under ``sdpa_kernel(SDPBackend.MATH)``,
so it sees every attention matmul.  It has no formula for ``torch._grouped_mm``, so
the MoE references are built with ``experts_implementation="eager"`` (a loop of
linear layers over each expert's tokens, the same products); ours runs on
transformers' default (grouped_mm).
"""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import copy
import time
from functools import partial

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from profiler.capture.known import run_forward
from profiler.models import hf
from profiler.models.resolve import resolve

# example inputs as profile() makes them: with the capture's runner for the forwards that make inputs
example_inputs = partial(hf.example_inputs, run=run_forward)

DECODER = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, vocab_size=128)
TINY = {
    "llama": DECODER,                                                   # GQA: 4 query heads, 2 KV heads
    "mistral": {**DECODER, "sliding_window": 8},
    "mixtral": {**DECODER, "num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2_moe": {**DECODER, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 64},
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64),
    "bert": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 vocab_size=128),
    "t5": dict(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16, vocab_size=128),
    "bart": dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                 encoder_ffn_dim=128, decoder_ffn_dim=128, vocab_size=128, pad_token_id=0, bos_token_id=1,
                 eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2),
    "vit": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                image_size=32, patch_size=8),
    "clip": {**{f"text_config.{k}": v for k, v in dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                        num_attention_heads=4, vocab_size=128).items()},
             **{f"vision_config.{k}": v for k, v in dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                          num_attention_heads=4, image_size=32,
                                                          patch_size=8).items()},
             "projection_dim": 32},
    "whisper": dict(d_model=64, encoder_ffn_dim=128, decoder_ffn_dim=128, encoder_layers=2, decoder_layers=2,
                    encoder_attention_heads=4, decoder_attention_heads=4, vocab_size=128, max_source_positions=64,
                    max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                    decoder_start_token_id=3, suppress_tokens=None, begin_suppress_tokens=None),
}
CLASSES = {"llama": ("LlamaForCausalLM", "language"), "mistral": ("MistralForCausalLM", "language"),
           "mixtral": ("MixtralForCausalLM", "language"), "qwen2_moe": ("Qwen2MoeForCausalLM", "language"),
           "gpt2": ("GPT2LMHeadModel", "language"), "bert": ("BertModel", "language"),
           "t5": ("T5ForConditionalGeneration", "language"), "vit": ("ViTModel", "vision"),
           "bart": ("BartForConditionalGeneration", "language"),
           "clip": ("CLIPModel", "vision-language"), "whisper": ("WhisperForConditionalGeneration", "speech")}
GENERATES = {"llama", "mistral", "mixtral", "qwen2_moe", "gpt2", "t5", "bart", "whisper"}
MOE = {"mixtral", "qwen2_moe"}
BATCH, TOKENS, CONTEXT = 2, 5, 12        # CONTEXT > mistral's window of 8


def macs_flop_counter(model, kwargs) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(**copy.deepcopy(kwargs))       # the forward appends to the cache: keep ours intact
    return counter.get_total_flops() // 2


def check_part_and_flop_counter(arch: str, overrides: dict, rows_of: str, shown, frozen: bool = False) -> None:
    """``hf:arch`` with the inputs ``example_inputs`` makes for it: the description
    shows each of ``shown``; on meta nothing is uncounted and the rows under
    ``rows_of`` (a tower, a part) count MACs; the total equals FlopCounterMode's on a
    seeded real build fed the same inputs (``frozen``: with no gradients, where
    FlopCounterMode's module tracker refuses the model otherwise), and the params
    the real build's."""
    import profiler
    spec = resolve(f"hf:{arch}", overrides)
    meta = spec.build(meta=True)
    _, kwargs, desc = example_inputs(meta, spec.config, 1)
    for text in shown:
        assert text in desc, desc
    report = profiler.profile(meta, kwargs=kwargs)
    assert report.execution == "meta" and len(report.uncounted) == 0, report.uncounted
    layers = report.layers
    rows = layers[layers["name"].str.contains(rf"(?:^|\.){rows_of}(?:\.|$)")]
    assert len(rows) and int(rows["macs"].sum()) > 0, f"no {rows_of} rows"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
        if frozen:
            real.requires_grad_(False)
    _, real_kwargs, _ = example_inputs(real, spec.config, 1)
    assert set(real_kwargs) == set(kwargs)
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor) and value.device.type == "cpu":
            assert torch.equal(value, real_kwargs[key]), key       # the same ids, grids and masks
    assert int(report.total["macs"]) == macs_flop_counter(real, real_kwargs), desc
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())


def builder():
    """arch -> (spec, meta model, real model), built once."""
    cache = {}

    def get(arch):
        if arch not in cache:
            spec = resolve(f"hf:{arch}", TINY[arch])
            start = time.perf_counter()
            meta = spec.build(meta=True)
            seconds = time.perf_counter() - start
            reference = resolve(f"hf:{arch}", {**TINY[arch], "experts_implementation": "eager"}) \
                if arch in MOE else spec
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                real = reference.build(meta=False).eval()
            cache[arch] = spec, meta, real, seconds
        return cache[arch]
    return get


def need(arch: str, overrides=None, batch: int = 1, **sizes):
    """The rules' view (profiler.models.hf.rules.base.Need) of ``hf:arch`` built on meta
    from its config with ``overrides``: what the input rules are tested on."""
    import inspect

    from profiler.models.hf.make import Maker
    from profiler.models.hf.rules.base import Need
    spec = resolve(f"hf:{arch}", overrides or {})
    model = spec.build(meta=True)
    return Need(model, spec.config, batch, Maker(model, run_forward), dict(inspect.signature(model.forward).parameters), **sizes)
