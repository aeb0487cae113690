"""Inputs by modality (profiler.models.hf.rules, joined): each modality's tiny model, built
from its config, gets the inputs its forward needs; its tower (vision, audio) is
counted, and the total equals FlopCounterMode's on a real build fed the same
inputs (integers equal, floats seeded)."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import pytest
import torch

from profiler.errors import ProfilerError
from profiler.models.resolve import resolve
from hf_tiny import check_part_and_flop_counter, example_inputs

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

TEXT = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
        "num_key_value_heads": 2}
VISION = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4}


def _sub(prefix: str, fields: dict) -> dict:
    return {f"{prefix}.{k}": v for k, v in fields.items()}


# type -> (overrides, the tower whose rows must be counted, what the inputs must hold)
CASES = {
    "llava": ({**_sub("text_config", TEXT), **_sub("vision_config", VISION), "text_config.vocab_size": 32064},
              "vision_tower", ["pixel_values 1x3x336x336", "576 image tokens"]),
    "qwen2_vl": ({**_sub("text_config", TEXT), "vision_config.depth": 1, "vision_config.embed_dim": 32,
                  "vision_config.num_heads": 2, "vision_config.hidden_size": 64,
                  "text_config.rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3],
                                                  "rope_theta": 1e6}},
                 "visual", ["image_grid_thw 1x3", "mm_token_type_ids", "256 image tokens"]),
    "qwen2_audio": ({**_sub("text_config", TEXT), "audio_config.encoder_layers": 1, "audio_config.d_model": 64,
                     "audio_config.encoder_attention_heads": 4, "audio_config.encoder_ffn_dim": 128},
                    "audio_tower", ["input_features 1x128x3000", "feature_attention_mask 1x3000",
                                    "750 audio tokens"]),
    # a pixel shuffle of 2: the side is whole blocks of 2 patches (64 px at patch 32), 4 x 4 patches, 4 tokens
    "idefics3": ({**_sub("text_config", TEXT), **_sub("vision_config", VISION), "vision_config.image_size": 160,
                  "text_config.vocab_size": 1000, "image_token_id": 999, "text_config.pad_token_id": 0},
                 "vision_model", ["pixel_values 1x1x3x128x128", "4 image tokens"]),
    # the backbone's own image size, 256 x 192
    "vitpose": ({**_sub("backbone_config", {"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 4,
                                             "out_indices": [1]})}, "backbone", ["pixel_values 1x3x256x192"]),
    # X-CLIP's image tower names 8 frames: they come as a batch of 8 images
    "xclip_vision_model": ({**VISION, "image_size": 32, "patch_size": 8}, "encoder", ["pixel_values 8x3x32x32"]),
    # the patches per side of each image, MiniCPM-V's target_sizes: 32 / 8 = 4
    "minicpmv4_7_vision": ({**VISION, "image_size": 32, "patch_size": 8}, "encoder",
                           ["pixel_values 1x3x32x32", "target_sizes 1x2"]),
    # tiled images: 1 image of 4 tiles, its aspect ratio id and tile mask
    "mllama_vision_model": ({**VISION, "num_global_layers": 1, "intermediate_layers_indices": [0], "image_size": 28,
                             "patch_size": 14, "vision_output_dim": 128},
                            "transformer", ["pixel_values 1x1x4x3x28x28", "aspect_ratio_ids 1x1",
                                            "aspect_ratio_mask 1x1x4"]),
    # an image under its prompt: each half of the 64 x 32 pair
    "seggpt": ({**{k: v for k, v in VISION.items() if k != "intermediate_size"}, "image_size": [64, 32],
                "patch_size": 8, "mlp_dim": 128, "num_hidden_layers": 2, "merge_index": 0, "intermediate_hidden_state_indices": [1],
                "decoder_hidden_size": 16}, "encoder",
               ["pixel_values 1x3x32x32", "prompt_pixel_values 1x3x32x32", "prompt_masks 1x3x32x32"]),
    # a patch embedding that is a linear layer over flattened patches: 32 / 8 = 4 x 4 rows of 3 x 8 x 8
    "molmo2_vision": ({**VISION, "num_key_value_heads": 4, "image_size": [32, 32], "patch_size": 8}, "layers", ["pixel_values 1x16x192"]),
    # a vision tower whose input is named image
    "bridgetower_vision_model": ({"num_hidden_layers": 1, "hidden_size": 64, "image_size": 32, "patch_size": 8},
                                 "visual", ["image 1x3x32x32"]),
    "videomae": ({**VISION, "image_size": 32, "patch_size": 8, "num_frames": 4}, "encoder",
                 ["pixel_values 1x4x3x32x32"]),
    "patchtst": ({"num_hidden_layers": 1, "d_model": 16, "num_attention_heads": 2, "ffn_dim": 32,
                  "num_input_channels": 3}, "encoder", ["past_values 1x32x3", "past_observed_mask 1x32x3"]),
    "layoutlmv3": ({**VISION, "input_size": 32, "vocab_size": 100, "coordinate_size": 12, "shape_size": 8}, "encoder",
                   ["pixel_values 1x3x32x32", "input_ids 1x510", "bbox 1x510x4"]),
}


@pytest.mark.parametrize("arch", sorted(CASES))
def test_each_modality_counts_its_tower_and_equals_flop_counter(arch):
    overrides, tower, shown = CASES[arch]
    check_part_and_flop_counter(arch, overrides, tower, shown)


def test_sizes_from_image_frames_and_seconds():
    spec = resolve("hf:videomae", {**VISION, "image_size": 32, "patch_size": 8, "num_frames": 4})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config, 2, image=64, frames=8)
    assert tuple(kwargs["pixel_values"].shape) == (2, 8, 3, 64, 64)
    spec = resolve("hf:wav2vec2", {"num_hidden_layers": 1})
    meta = spec.build(meta=True)
    _, kwargs, _ = example_inputs(meta, spec.config, 1, seconds=2.5)
    assert tuple(kwargs["input_values"].shape) == (1, 40000)           # 2.5 s at 16 kHz


def test_given_inputs_are_merged_over_the_made_ones():
    overrides, _, _ = CASES["llava"]
    spec = resolve("hf:llava", overrides)
    meta = spec.build(meta=True)
    _, kwargs, desc = example_inputs(meta, spec.config, 1, given={"input_ids": ((1, 600), torch.int64)})
    assert tuple(kwargs["input_ids"].shape) == (1, 600) and "pixel_values" in kwargs
    assert "image tokens" not in desc                                  # given ids are taken as they are


def test_a_required_input_no_rule_makes_is_named_with_how_to_give_it():
    spec = resolve("hf:sam2_video", {})
    meta = spec.build(meta=True)
    with pytest.raises(ProfilerError, match=r"cannot make inference_session \(no rule for it\): give it by name, "
                                            r"e\.g\. --arg inference_session=SHAPE\[:dtype\]"):
        example_inputs(meta, spec.config, 1)
