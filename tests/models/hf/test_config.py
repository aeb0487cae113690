"""Configs by type or from a local file, and their overrides (profiler.models.hf.config)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import json

import pytest
import torch

import profiler
from profiler.arguments import parse_config_overrides
from profiler.errors import ProfilerError
from profiler.models.resolve import resolve
from hf_tiny import DECODER, example_inputs

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


def test_local_config_folder(tmp_path):
    config = transformers.LlamaConfig(**DECODER, architectures=["LlamaForCausalLM"])
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(config.to_json_string())
    for name in (f"hf:{folder}", str(folder), str(folder / "config.json"), f"hf:{folder / 'config.json'}"):
        spec = resolve(name)
        assert spec.name == name and spec.config.num_hidden_layers == 2
        assert "LlamaForCausalLM (the checkpoint's architectures[0])" in spec.notes[0]
    spec = resolve(str(folder), {"num_hidden_layers": 1})
    meta = spec.build(meta=True)
    assert type(meta).__name__ == "LlamaForCausalLM" and len(meta.model.layers) == 1
    args, kwargs, _ = example_inputs(meta, spec.config, 1, tokens=8)
    assert len(profiler.profile(meta, inputs=args, kwargs=kwargs).uncounted) == 0
    # the checkpoint's own head and dtype
    data = json.loads(config.to_json_string())
    data.update(architectures=["LlamaForSequenceClassification"], dtype="bfloat16", num_labels=3)
    (folder / "config.json").write_text(json.dumps(data))
    meta = resolve(str(folder)).build(meta=True)
    assert type(meta).__name__ == "LlamaForSequenceClassification" and meta.score.out_features == 3
    assert meta.model.embed_tokens.weight.dtype == torch.bfloat16
    with pytest.raises(ProfilerError, match="no config.json"):
        resolve(f"hf:{tmp_path / 'missing'}")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text(json.dumps({"model_type": "no-such-type", "auto_map": {}}))
    with pytest.raises(ProfilerError, match="remote code"):
        resolve(str(tmp_path / "odd"))

def test_unknown_names_and_fields():
    with pytest.raises(ProfilerError, match="unknown hf model type 'lama'; did you mean llama"):
        resolve("hf:lama")
    with pytest.raises(ProfilerError, match="LlamaConfig has no field 'num_layers'; did you mean num_hidden_layers"):
        resolve("hf:llama", {"num_layers": 2})
    with pytest.raises(ProfilerError, match="did you mean text_config.num_hidden_layers"):
        resolve("hf:clip", {"num_hidden_layers": 2})
    with pytest.raises(ProfilerError, match="unknown timm model 'resnt18'; did you mean resnet18"):
        resolve("timm:resnt18")
    with pytest.raises(ProfilerError, match="apply to hf: and timm: models only"):
        resolve("alexnet", {"num_classes": 10})
    with pytest.raises(ProfilerError, match="unknown model 'resnet5'"):
        resolve("resnet5")                          # plain names are still torchvision's

def test_config_overrides():
    assert parse_config_overrides(["num_hidden_layers=2", "rope_theta=1e6", "tie_word_embeddings=true",
                                       "pad_token_id=None", "hidden_act=gelu", 'layer_types=["a","b"]',
                                       'rope_parameters={"rope_type": "default"}', "eps=-1.5", "x=1", "x=3"]) == {
        "num_hidden_layers": 2, "rope_theta": 1e6, "tie_word_embeddings": True, "pad_token_id": None,
        "hidden_act": "gelu", "layer_types": ["a", "b"], "rope_parameters": {"rope_type": "default"},
        "eps": -1.5, "x": 3}
    for bad in ("num_hidden_layers", "=2", "a b=1", "x=[1,"):
        with pytest.raises(ProfilerError):
            parse_config_overrides([bad])
    # derived fields follow the overrides; legacy and dotted rope settings land
    spec = resolve("hf:llama", parse_config_overrides(["hidden_size=256", "num_attention_heads=4",
                                                           "rope_theta=1e6"]))
    assert spec.config.head_dim == 64 and spec.config.rope_parameters["rope_theta"] == 1e6
    spec = resolve("hf:llama", {"rope_parameters.rope_theta": 5e5})
    assert spec.config.rope_parameters == {"rope_type": "default", "rope_theta": 5e5}
    assert "rope_parameters.rope_theta=500000.0" in spec.notes[0]
    with pytest.raises(ProfilerError, match="as rope_parameters.rope_type"):
        resolve("hf:llama", {"rope_type": "linear"})     # LlamaConfig would keep it as an attribute no one reads

@pytest.mark.parametrize("overrides,reason", [
    ({"hidden_size": -3}, "ValueError: The hidden size (-3) is not a multiple of the number of attention heads (32)."),
    ({"num_attention_heads": 7}, "ValueError: The hidden size (4096) is not a multiple of the number of attention "
                                 "heads (7)."),
])
def test_a_config_transformers_refuses_is_one_line_with_the_reason_and_the_fix(overrides, reason):
    """transformers' validators wrap the ValueError that says why, over two lines: the
    message is one line, with that reason."""
    with pytest.raises(ProfilerError) as info:
        resolve("hf:llama", overrides)
    assert str(info.value) == f"hf:llama: LlamaConfig refused the config ({reason}): change the config= values"


def _differ(a, b) -> set[str]:
    a, b = a.to_dict(), b.to_dict()
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_a_sub_config_override_changes_that_field_only():
    """LLaVA's vision tower stays its 336-pixel, patch-14, 1024-wide CLIP, not
    CLIPVisionConfig's defaults; derived fields follow the override."""
    default = transformers.LlavaConfig()
    config = resolve("hf:llava", {"text_config.num_hidden_layers": 2}).config
    assert config.vision_config.to_dict() == default.vision_config.to_dict()
    assert (config.vision_config.image_size, config.vision_config.patch_size) == (336, 14)
    assert _differ(config.text_config, default.text_config) == {"num_hidden_layers"}
    config = resolve("hf:llava", {"text_config.hidden_size": 256, "text_config.num_attention_heads": 4}).config
    assert (config.text_config.head_dim, config.text_config.num_key_value_heads) == (64, 4)  # derived, not kept
    default = transformers.Blip2Config()
    config = resolve("hf:blip-2", {"qformer_config.num_hidden_layers": 2}).config
    assert config.vision_config.to_dict() == default.vision_config.to_dict()
    assert config.text_config.to_dict() == default.text_config.to_dict()
    assert _differ(config.qformer_config, default.qformer_config) == {"num_hidden_layers"}
    assert config.qformer_config.encoder_hidden_size == 1408     # set by Blip2Config, kept


def test_a_backbone_override_keeps_the_backbone_type():
    """A backbone config is looked up by its model_type: without it transformers
    fails with KeyError: None."""
    config = resolve("hf:mask2former", {"backbone_config.depths": [1, 1, 1, 1]}).config
    assert type(config.backbone_config).__name__ == "SwinConfig"
    assert _differ(config.backbone_config, transformers.Mask2FormerConfig().backbone_config) == {"depths"}


def test_a_dict_field_keyed_by_layer_index():
    """Aria's config has a dict keyed by ints: the names are never sorted int against str."""
    assert resolve("hf:aria").config.model_type == "aria"
    with pytest.raises(ProfilerError, match="AriaConfig has no field 'no_such_field'"):
        resolve("hf:aria", {"no_such_field": 1})


def test_unset_head_dim_and_kv_heads_are_filled_so_the_meta_build_runs():
    """HunYuan's and Nemotron's default configs leave them None, which their modeling
    code raises to a power or divides by."""
    spec = resolve("hf:hunyuan_v1_dense", {"num_hidden_layers": 1})
    assert spec.config.head_dim == spec.config.hidden_size // spec.config.num_attention_heads
    assert "unset head_dim=128 filled as transformers derives them" in spec.notes[0]
    assert type(spec.build(meta=True)).__name__ == "HunYuanDenseV1ForCausalLM"
    spec = resolve("hf:nemotron", {"num_hidden_layers": 1})
    assert spec.config.num_key_value_heads == spec.config.num_attention_heads
    assert type(spec.build(meta=True)).__name__ == "NemotronForCausalLM"
    spec = resolve("hf:hunyuan_v1_dense", {"num_hidden_layers": 1, "head_dim": 64})
    assert spec.config.head_dim == 64 and "filled" not in spec.notes[0]


def test_a_field_the_config_class_cannot_default_is_set_and_said():
    """Informer's config refuses to build without prediction_length (no default):
    the profiler sets 24 and says so; a given one is kept."""
    spec = resolve("hf:informer")
    assert spec.config.prediction_length == 24
    assert any("prediction_length=24" in note for note in spec.notes)
    assert resolve("hf:informer", {"prediction_length": 7}).config.prediction_length == 7
    assert resolve("hf:patchtst").config.prediction_length == transformers.PatchTSTConfig().prediction_length
