"""The class a config is built as, the spec, meta builds (profiler.models.hf.classes)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import time

import pytest

import profiler
from profiler.errors import ProfilerError
from profiler.models import hf
from profiler.models.resolve import resolve
from hf_tiny import CLASSES, MOE, TINY, example_inputs

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
    args, kwargs, _ = example_inputs(meta, spec.config, 1, tokens=4)
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


@pytest.mark.parametrize("model_type,cls,kind,overrides", [
    ("owlv2_vision_model", "Owlv2VisionModel", "base model", {"num_hidden_layers": 1}),
    ("siglip_text_model", "SiglipTextModel", "base model", {"num_hidden_layers": 1}),
    ("kosmos_2_text_model", "Kosmos2TextModel", "base model", {"layers": 1}),     # not exported by transformers
    ("zoedepth", "ZoeDepthForDepthEstimation", "head", {}),                       # its only class
])
def test_a_model_type_no_auto_class_maps_builds_as_the_class_of_its_config(model_type, cls, kind, overrides):
    spec = resolve(f"hf:{model_type}", overrides)
    config_class = type(spec.config).__name__
    assert f"{cls} (the {kind} whose config_class is {config_class}, as no auto class maps '{model_type}'" \
        in spec.notes[0]
    model = spec.build(meta=True)
    assert type(model).__name__ == cls and type(model).config_class is type(spec.config)


def test_the_base_model_is_chosen_over_heads_and_the_others_are_named():
    name, head = hf.choose_class(transformers.Kosmos2TextConfig())
    assert name.endswith(":Kosmos2TextModel")
    assert head.endswith("passed over Kosmos2TextTransformer, Kosmos2TextForCausalLM")


def test_a_part_built_only_inside_its_parent_is_refused_naming_the_parent():
    with pytest.raises(ProfilerError) as info:
        resolve("hf:sam_mask_decoder")
    assert str(info.value) == (
        "hf:sam_mask_decoder: transformers has no model class for model type 'sam_mask_decoder': no auto class "
        "maps it, and no PreTrainedModel of its model folder takes SamMaskDecoderConfig (it is built only inside "
        "a larger model): profile hf:sam or hf:sam_vision_model instead")


def test_a_class_the_auto_map_names_but_transformers_does_not_export_is_found_in_its_folder():
    spec = resolve("hf:voxtral_realtime_text", {"num_hidden_layers": 1})
    assert type(spec.build(meta=True)).__name__ == "VoxtralRealtimeTextModel"


def test_a_config_that_reuses_another_model_s_class_builds_it():
    # PP-Chart2Table: no causal-LM or base model map names it, image-text-to-text maps GotOcr2's
    spec = resolve("hf:pp_chart2table", {"text_config.num_hidden_layers": 1})
    assert "GotOcr2ForConditionalGeneration (image-text-to-text)" in spec.notes[0]
    assert type(spec.build(meta=True)).__name__ == "GotOcr2ForConditionalGeneration"


def test_a_class_without_a_forward_is_refused_in_one_line():
    spec = resolve("hf:chameleon_vqgan", {})
    with pytest.raises(ProfilerError, match=r"^ChameleonVQVAE: transformers defines no forward for this class"):
        example_inputs(spec.build(meta=True), spec.config, 1)
