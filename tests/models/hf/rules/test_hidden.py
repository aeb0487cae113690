"""Inputs of parts profiled alone (profiler.models.hf.rules.hidden) and the inputs
rules added with them (Pix2Struct's flattened patches, Voxtral Realtime's frames
per token, MOSS Transcribe-Diarize's waveform mask beside its features,
Kosmos-2's image positions, PI0's cameras' mask, Inkling's temporal patches, Inkling2's token blocks): each tiny model, built from its config, gets the inputs its forward
requires, its layers are counted, and the total equals FlopCounterMode's on a
real build fed the same inputs."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"       # never fetch a config or weights

import pytest
from hf_tiny import check_part_and_flop_counter, example_inputs, need

from profiler.models.resolve import resolve

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

TEXT = {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16}


def _sub(prefix: str, fields: dict) -> dict:
    return {f"{prefix}.{k}": v for k, v in fields.items()}


# type -> (overrides, the rows that must be counted, what the inputs must be)
CASES = {
    # patch embeddings of the config's width, 128 positions
    "blt_global_transformer": (TEXT, "layers", ["inputs_embeds 1x128x64"]),
    # the context the perceiver resamples, and its required mask (all valid)
    "idefics2_perceiver": ({"hidden_size": 64, "resampler_depth": 1, "resampler_n_heads": 4,
                            "resampler_head_dim": 16, "num_key_value_heads": 2, "resampler_n_latents": 8},
                           "layers", ["context 1x128x64", "attention_mask 1x128"]),
    # image features, their position encoding (as long) and a 32-token text prompt
    "sam3_detr_decoder": ({"num_layers": 1, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
                           "num_queries": 10}, "layers",
                          ["vision_features 1x128x32", "vision_pos_encoding 1x128x32", "text_features 1x32x32"]),
    # patch embeddings on the image's grid: 32 / 8 = 4 x 4
    "unlimited_ocr_vision_encoder": ({"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128,
                                      "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
                                     "encoder", ["patch_embeds 1x64x4x4"]),
    # patches with their row and column: 2 + 48 wide (patch 4: 3 x 4 x 4), as many as the table holds (64 < 2048)
    "pix2struct_vision_model": ({"num_hidden_layers": 1, "hidden_size": 64, "d_ff": 128, "num_attention_heads": 4,
                                 "d_kv": 16, "patch_embed_hidden_size": 48, "seq_len": 64},
                                "encoder", ["flattened_patches 1x64x50"]),
    # one audio embedding added to each of 128 tokens: 8 mel frames each
    "voxtral_realtime": ({**_sub("audio_config", {**TEXT, "intermediate_size": 256, "num_key_value_heads": 4}),
                          **_sub("text_config", {**TEXT, "vocab_size": 256})},
                         "audio_tower", ["input_features 1x128x1024", "input_ids 1x128"]),
    # features, and the waveform mask its base model's get_audio_features maps chunks from: 3000 frames
    # x the 160-sample hop; 375 audio tokens (1500 encoder frames folded by 4)
    "moss_transcribe_diarize": ({**_sub("audio_config", {"num_hidden_layers": 1, "hidden_size": 64,
                                                          "intermediate_size": 128, "num_attention_heads": 4}),
                                 **_sub("text_config", {**TEXT, "vocab_size": 151936})},
                                "audio_tower", ["input_features 1x80x3000", "padding_mask 1x480000",
                                                "375 audio tokens"]),
    # where the image's 8 query features go: the positions after <s><image>
    "kosmos-2": ({"text_config.embed_dim": 64, "text_config.layers": 1, "text_config.attention_heads": 4,
                  "text_config.ffn_dim": 128, "text_config.vocab_size": 256, "text_config.max_position_embeddings": 64,
                  **_sub("vision_config", {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                                           "num_attention_heads": 4, "image_size": 32, "patch_size": 8}),
                  "latent_query_num": 8}, "vision_model",
                 ["pixel_values 1x3x32x32", "input_ids 1x64", "image_embeds_position_mask 1x64"]),
    # a transformer over the image's and the text's states, named hidden_states, no convolution
    "flava_multimodal_model": ({"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128,
                                "num_attention_heads": 4}, "encoder", ["hidden_states 1x128x64"]),
    # the action expert's suffix (chunk_size 50 x its width), and the cameras' mask its embed_prefix reads:
    # batch x cameras, the image-list mask (batch x cameras x H x W) being refused
    "pi0": ({"vlm_config": {"model_type": "paligemma", "image_token_id": 299, "projection_dim": 64,
                            "text_config": {**TEXT, "num_key_value_heads": 1, "model_type": "gemma", "vocab_size": 300},
                            "vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 1,
                                              "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                                              "image_size": 32, "patch_size": 8, "projection_dim": 64}},
             **_sub("dit_config", {**TEXT, "num_key_value_heads": 1})},
            "vision_tower", ["pixel_values 1x1x3x32x32", "pixel_attention_mask 1x1", "action_embeds 1x50x64",
                             "16 image tokens"]),
    # as PI0, and the timestep embedding its base model hands on to the action expert through **kwargs
    "pi05": ({"vlm_config": {"model_type": "paligemma", "image_token_id": 299, "projection_dim": 64,
                             "text_config": {**TEXT, "num_key_value_heads": 1, "model_type": "gemma", "vocab_size": 300},
                             "vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 1,
                                               "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                                               "image_size": 32, "patch_size": 8, "projection_dim": 64}},
              **_sub("dit_config", {**TEXT, "num_key_value_heads": 1})},
             "dit", ["action_embeds 1x50x64", "timestep_embeds 1x64", "16 image tokens"]),
    # temporal patches, channels last: (224 / 56)² = 16 patches of 2 frames x 56 x 56 x 3
    "inkling_vision": ({"n_layers": 2, "hidden_size": 64, "text_hidden_size": 64, "num_attention_heads": 4,
                        "patch_size": 56}, "encoder_layers", ["pixel_values 16x2x56x56x3"]),
    # one merged block of 2 x 2 patches of 8 per language-model token, channels last, and the grid in tokens:
    # 448 px = 56 patches = 28 tokens a side
    "inkling2_vision": ({"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128,
                         "num_attention_heads": 4, "patch_size": 8, "text_hidden_size": 64,
                         "projection_hidden_dim": 64, "posemb_grid_size": 8}, "layers",
                        ["pixel_values 784x16x16x3", "image_grid_thw 1x3"]),
    # feature maps by level (one 16 x 16 level) with their position maps, beside the prompt
    "sam3_detr_encoder": ({"num_layers": 1, "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64},
                          "layers", ["vision_features [1x32x16x16]", "vision_pos_embeds [1x32x16x16]",
                                     "text_features 1x32x32"]),
    # object queries, three FPN levels (finest first, the coarsest 16 a side) and the encoder's states over
    # the coarsest, 16 x 16
    "sam3_mask_decoder": ({"hidden_size": 32, "num_attention_heads": 4}, "pixel_decoder",
                          ["decoder_queries 1x200x32", "backbone_features [1x32x64x64, 1x32x32x32, 1x32x16x16]",
                           "encoder_hidden_states 1x256x32"]),
    # two ViT layers' features joined (2 x 32 wide), and 2 x 2 patches pooled per token: 128 / 4 = 32 tokens
    "molmo2_adapter": ({"hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 8,
                        "intermediate_size": 64, "text_hidden_size": 48, "vision_feature_layer": [-1, -2]},
                       "image_projector", ["image_features 1x128x64", "pooled_patches_idx 32x4"]),
    # Moshi's depth decoder: one id per table (the text token's, then 2 codebooks'), each below the
    # smallest table (17 audio codes, not the 100-token text vocabulary), and the main decoder's states
    "moshi_depth": ({"num_hidden_layers": 1, "hidden_size": 64, "ffn_dim": 128, "num_attention_heads": 4,
                     "num_key_value_heads": 4, "head_dim": 16, "input_size": 32, "num_codebooks": 3,
                     "vocab_size": 100, "audio_vocab_size": 16}, "layers",
                    ["input_ids 1x3", "last_hidden_state 1x3x32"]),
    # Pop2Piano: its features are the encoder's embeddings (d_model wide), and no token ids beside them
    "pop2piano": ({"num_layers": 1, "num_decoder_layers": 1, "d_model": 32, "d_kv": 8, "num_heads": 4, "d_ff": 64},
                  "encoder", ["input_features 1x100x32, decoder_input_ids 1x128"]),
    # Qwen2.5-Omni's code-to-mel DiT: 48 codes below 20, 96 noisy mel frames (x repeats 2), the reference
    # mel as long, a speaker vector per frame, one diffusion time
    "qwen2_5_omni_dit": ({"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 4, "head_dim": 16,
                          "emb_dim": 32, "num_embeds": 20, "mel_dim": 8, "enc_emb_dim": 16, "enc_dim": 16,
                          "enc_channels": [32, 32, 32, 32, 96], "enc_attention_channels": 16,
                          "enc_se_channels": 16, "look_ahead_layers": [0], "look_backward_layers": [0]},
                         "transformer_blocks",
                         ["hidden_states 1x96x8, quantized_code 1x48, condition_vector 1x96x8, "
                          "speaker_embedding 1x96x16, time_step 1"]),
    # OmDet-Turbo: 4 class prompts and one task prompt, 77 positions each (CLIP's context), all valid
    "omdet-turbo": ({"decoder_num_layers": 1, "encoder_layers": 1, "text_config.num_hidden_layers": 1},
                    "decoder",
                    ["classes_input_ids 4x77, classes_attention_mask 4x77, tasks_input_ids 1x77, "
                     "tasks_attention_mask 1x77, classes_structure 1"]),
    # one question scored at the prompt's last token (mark 128), of the first type, with 2 options
    "jev": ({**_sub("text_config", {**TEXT, "vocab_size": 256}), "hidden_size": 64}, "layers",
            ["input_ids 1x128, marks 1x1, num_options 1x1, question_type_ids 1x1"]),
}


@pytest.mark.parametrize("arch", sorted(CASES))
def test_a_part_gets_its_hidden_inputs_and_equals_flop_counter(arch):
    overrides, rows_of, shown = CASES[arch]
    # no gradients: FlopCounterMode's module tracker refuses Idefics2's perceiver otherwise
    check_part_and_flop_counter(arch, overrides, rows_of, shown, frozen=True)


def test_hidden_inputs_are_made_only_where_the_forward_requires_them():
    from profiler.models.hf.rules import RULES
    llama = need("llama", {"num_hidden_layers": 1, "hidden_size": 64, "intermediate_size": 128,
                           "num_attention_heads": 4, "num_key_value_heads": 2})
    assert "inputs_embeds" in llama.params and RULES["inputs_embeds"].make(llama) is None
    _, kwargs, _ = example_inputs(llama.model, llama.config, 1)
    assert set(kwargs) == {"input_ids"}


def test_num_patches_is_half_the_sequence_as_the_vision_model_gives_it():
    from profiler.models.hf.rules import RULES
    part = need("deepseek_ocr2_encoder", {k: v for k, v in TEXT.items() if k != "head_dim"})
    part.made["inputs_embeds"] = RULES["inputs_embeds"].make(part)
    assert tuple(part.made["inputs_embeds"].shape) == (1, 128, 64)
    assert RULES["num_patches"].make(part) == 64


def test_flattened_patches_follow_image_and_the_table_bounds_them():
    from profiler.models.hf.rules.image import flattened_patches
    overrides = CASES["pix2struct_vision_model"][0]
    assert tuple(flattened_patches(need("pix2struct_vision_model", overrides, image=16)).shape) == (1, 16, 50)
    assert tuple(flattened_patches(need("pix2struct_vision_model", overrides, image=4096)).shape) == (1, 64, 50)


def test_feature_layout_is_taken_where_only_the_meta_values_stop_the_tower():
    from profiler.models.hf.rules.audio import input_features
    encoder = need("qwen3_asr_encoder", {"num_hidden_layers": 1})
    # mel bins first: 100 frames, a multiple of its 2 x n_window = 100 (frames first reads 128 as frames)
    assert tuple(input_features(encoder).shape) == (1, 128, 100)


def test_image_positions_follow_bos_and_the_image_tag():
    spec = resolve("hf:kosmos-2", CASES["kosmos-2"][0])
    _, kwargs, _ = example_inputs(spec.build(meta=True), spec.config, 1)
    mask = kwargs["image_embeds_position_mask"]
    assert mask[0, 2:10].tolist() == [1] * 8 and int(mask.sum()) == 8


def test_the_grid_of_token_blocks_counts_tokens():
    from profiler.models.hf.rules.image import grid_thw
    part = need("inkling2_vision", CASES["inkling2_vision"][0])
    part.made["pixel_values"] = part.make.floats((784, 16, 16, 3))
    assert grid_thw(part).tolist() == [[1, 28, 28]]
    part.made["pixel_values"] = part.make.floats((3136, 192))          # flat patches: the grid in patches
    assert grid_thw(part).tolist() == [[1, 56, 56]]


def test_quantised_mel_frames_are_ids_below_the_levels_and_equal_flop_counter():
    # Inkling's audio embedder: 100 frames (1 s) x 8 bins of ids below 16 levels; it only embeds and
    # normalises, so its MACs are FlopCounterMode's (none), and its other ops are counted
    import profiler
    from hf_tiny import macs_flop_counter
    spec = resolve("hf:inkling_audio", {"n_mel_bins": 8, "mel_vocab_size": 16, "text_hidden_size": 32})
    meta = spec.build(meta=True)
    _, kwargs, desc = example_inputs(meta, spec.config, 1)
    assert "audio_input_ids 1x100x8" in desc
    ids = kwargs["audio_input_ids"]
    assert int(ids.min()) >= 0 and int(ids.max()) < 16
    report = profiler.profile(meta, kwargs=kwargs)
    assert len(report.uncounted) == 0 and int(report.total["other"]) > 0
    real = spec.build(meta=False).eval()
    assert int(report.total["macs"]) == macs_flop_counter(real, kwargs) == 0
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())


def test_only_the_named_pass_on_arguments_are_added_to_a_forward():
    # PI0.5's base model takes **kwargs and its action expert requires timestep_embeds: added; its
    # expert also requires inputs_embeds, which the forward names (left as it is), and a decoder
    # layer's hidden_states is never added (only _PASSED_ON names)
    import inspect

    from profiler.models.hf.inputs import _passed_on
    spec = resolve("hf:pi05", CASES["pi05"][0])
    model = spec.build(meta=True)
    params = inspect.signature(model.forward).parameters
    added = _passed_on(model, params)
    assert set(added) - set(params) == {"timestep_embeds"}
    assert added["timestep_embeds"].default is inspect.Parameter.empty
    layers = spec.build(meta=True).dit
    assert set(_passed_on(layers, inspect.signature(layers.forward).parameters)) == \
        set(inspect.signature(layers.forward).parameters)


def test_ids_of_a_table_per_position_are_valid_in_every_table():
    spec = resolve("hf:moshi_depth", CASES["moshi_depth"][0])
    _, kwargs, _ = example_inputs(spec.build(meta=True), spec.config, 1)
    assert int(kwargs["input_ids"].max()) < 17


TOKEN2WAV = {"dit_config": {"num_hidden_layers": 1, "hidden_size": 64, "num_attention_heads": 4, "head_dim": 16,
                             "emb_dim": 32, "num_embeds": 20, "mel_dim": 8, "enc_emb_dim": 16, "enc_dim": 16,
                             "enc_channels": [32, 32, 32, 32, 96], "enc_attention_channels": 16, "enc_se_channels": 16,
                             "look_ahead_layers": [0], "look_backward_layers": [0]},
             "bigvgan_config": {"mel_dim": 8, "upsample_initial_channel": 32, "upsample_rates": [2, 2],
                                "upsample_kernel_sizes": [4, 4], "resblock_kernel_sizes": [3],
                                "resblock_dilation_sizes": [[1, 3, 5]]}}


@pytest.mark.slow          # the sampler's 10 DiT steps run on real tensors, twice (ours, FlopCounterMode)
def test_the_token2wav_model_gets_codes_reference_mel_and_speaker_and_equals_flop_counter():
    # Qwen2.5-Omni's token2wav: codes, the reference mel and one speaker vector; its DiT sampler reads
    # values (ODE steps) and its vocoder copies tensors out, so it is profiled on a real build, whose
    # total equals FlopCounterMode's and whose DiT rows count
    import profiler
    from hf_tiny import macs_flop_counter
    import torch
    spec = resolve("hf:qwen2_5_omni_token2wav", TOKEN2WAV)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        real = spec.build(meta=False).eval()
    _, kwargs, desc = example_inputs(real, spec.config, 1)
    assert "code 1x48, reference_mel 1x96x8, conditioning 1x16" in desc
    report = profiler.profile(real, kwargs=kwargs)
    assert len(report.uncounted) == 0
    layers = report.layers
    assert int(layers[layers["name"].str.contains("code2wav_dit_model")]["macs"].sum()) > 0
    assert int(report.total["macs"]) == macs_flop_counter(real, kwargs)
    assert int(report.total["params"]) == sum(p.numel() for p in real.parameters())
