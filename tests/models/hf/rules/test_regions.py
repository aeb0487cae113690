"""Region features (profiler.models.hf.rules.regions): one vector per box, at the
config's widths; LXMERT and VisualBERT run on them, counted as FlopCounterMode counts."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

import profiler
from profiler.models.resolve import resolve
from hf_tiny import example_inputs, macs_flop_counter

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


@pytest.mark.parametrize("arch, overrides, shown", [
    ("lxmert", {"l_layers": 1, "x_layers": 1, "r_layers": 1, "hidden_size": 64, "num_attention_heads": 4,
                "intermediate_size": 128, "visual_feat_dim": 32, "vocab_size": 100},
     ["visual_feats 1x36x32", "visual_pos 1x36x4"]),
    ("visual_bert", {"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
                     "visual_embedding_dim": 24, "vocab_size": 100}, ["visual_embeds 1x36x24"]),
])
def test_region_features_at_the_config_widths(arch, overrides, shown):
    spec = resolve(f"hf:{arch}", overrides)
    meta = spec.build(meta=True)
    _, kwargs, desc = example_inputs(meta, spec.config, 1, tokens=8)
    assert all(text in desc for text in shown), desc
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config, 1, tokens=8)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)
