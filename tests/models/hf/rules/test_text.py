"""What goes with the token ids (profiler.models.hf.rules.text): layout boxes and
each token's modality, as the processors make them."""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from profiler.capture.known import run_forward
from profiler.models.hf.make import Maker
from profiler.models.hf.rules.base import Need
from profiler.models.hf.rules.text import bbox, mm_token_type_ids
from hf_tiny import example_inputs

transformers = pytest.importorskip("transformers")


def test_token_types_mark_image_and_video_placeholders():
    config = transformers.Qwen2VLConfig()
    model = nn.Linear(1, 1)
    need = Need(model, config, 1, Maker(model, run_forward), dict(inspect.signature(model.forward).parameters))
    need.made["input_ids"] = torch.tensor([[5, config.image_token_id, config.image_token_id, config.video_token_id]])
    assert mm_token_type_ids(need).tolist() == [[0, 1, 1, 2]]
    assert tuple(bbox(need).shape) == (1, 4, 4) and int(bbox(need).abs().sum()) == 0


def test_a_q_former_alone_gets_its_queries_and_the_image_features_it_attends_to():
    import profiler
    from profiler.models.resolve import resolve
    from hf_tiny import macs_flop_counter
    overrides = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
                 "encoder_hidden_size": 48}
    spec = resolve("hf:blip_2_qformer", overrides)
    meta = spec.build(meta=True)
    _, kwargs, desc = example_inputs(meta, spec.config, 1)
    assert "query_embeds 1x32x64" in desc and "encoder_hidden_states 1x257x48" in desc
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config, 1)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)


def test_language_of_each_sample_where_the_config_sets_no_default():
    """X-MOD refuses token ids without a language: the first language its config
    names, one per sample; none where the config sets a default language."""
    from profiler.models.hf.rules.text import lang_ids
    config = transformers.XmodConfig(languages=["en_XX", "de_DE"])
    model = nn.Linear(1, 1)
    need = Need(model, config, 2, Maker(model, run_forward), dict(inspect.signature(model.forward).parameters))
    assert lang_ids(need).tolist() == [0, 0]
    config.default_language = "de_DE"
    assert lang_ids(need) is None


def test_xmod_counts_as_flop_counter():
    import profiler
    from profiler.models.resolve import resolve
    from hf_tiny import macs_flop_counter
    spec = resolve("hf:xmod", {"num_hidden_layers": 1, "hidden_size": 32, "intermediate_size": 64,
                                "num_attention_heads": 2, "vocab_size": 100})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config)
    torch.manual_seed(0)
    real = spec.build(meta=False).eval()
    _, real_kwargs, _ = example_inputs(real, spec.config)
    assert int(profiler.profile(meta, kwargs=kwargs).total["macs"]) == macs_flop_counter(real, real_kwargs)


def test_a_perceiver_without_preprocessor_reads_embedded_inputs_of_d_model():
    import profiler
    from profiler.models.resolve import resolve
    spec = resolve("hf:perceiver", {"num_blocks": 1, "num_self_attends_per_block": 1})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config)
    assert tuple(kwargs["inputs"].shape) == (1, 128, spec.config.d_model)
    report = profiler.profile(meta, kwargs=kwargs)
    assert len(report.uncounted) == 0 and int(report.total["macs"]) > 0
