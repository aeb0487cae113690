"""Image and video inputs (profiler.models.hf.rules.image): sizes from the config or
image=, the layout the model takes."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"


import pytest
from hf_tiny import need

from profiler.models.hf.rules.image import grid_thw, image_hw, pixel_values, pixel_values_videos

transformers = pytest.importorskip("transformers")




def _need(arch: str, overrides=None, **sizes):
    return need(arch, overrides, 2, **sizes)


def test_sizes_come_from_the_config_or_image():
    assert image_hw(_need("vit", {"num_hidden_layers": 1})) == (224, 224)
    assert image_hw(_need("vit", {"num_hidden_layers": 1, "image_size": 96})) == (96, 96)
    assert image_hw(_need("vit", {"num_hidden_layers": 1}, image=64)) == (64, 64)


def test_layouts_plain_clip_and_patch_list():
    assert tuple(pixel_values(_need("vit", {"num_hidden_layers": 1})).shape) == (2, 3, 224, 224)
    video = _need("videomae", {"num_hidden_layers": 1, "num_frames": 4})
    assert tuple(pixel_values(video).shape) == (2, 4, 3, 224, 224)
    patches = _need("qwen2_vl", {"text_config.num_hidden_layers": 1, "vision_config.depth": 1}, image=112)
    # 112 px at patch 14 is 8 x 8 patches (a multiple of the merge size, 2); a patch holds 3 x 2 x 14 x 14 values
    assert tuple(pixel_values(patches).shape) == (2 * 8 * 8, 3 * 2 * 14 * 14)
    assert grid_thw(patches).tolist() == [[1, 8, 8], [1, 8, 8]]


def test_padded_patch_list_with_its_grid_and_mask():
    from profiler.models.hf.rules.image import pixel_attention_mask, spatial_shapes
    need = _need("siglip2_vision_model", {"num_hidden_layers": 1})
    config = need.config
    side = int(config.num_patches ** 0.5)                 # the most patches an image has, as a square
    pixels = pixel_values(need)
    assert tuple(pixels.shape) == (2, side * side, config.num_channels * config.patch_size ** 2)
    need.made["pixel_values"] = pixels
    assert spatial_shapes(need).tolist() == [[side, side]] * 2
    assert tuple(pixel_attention_mask(need).shape) == (2, side * side) and bool(pixel_attention_mask(need).all())


def test_padded_patch_grid_is_a_multiple_of_the_downsample_factor():
    from profiler.models.hf.rules.image import padded_patch_grid
    need = _need("lfm2_vl", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1}, image=200)
    factor, patch = need.config.downsample_factor, need.config.vision_config.patch_size
    rows, cols = padded_patch_grid(need)
    assert rows == cols == (200 // patch) // factor * factor


def test_image_lists_are_batch_by_images():
    need = _need("idefics3", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1}, image=64)
    assert tuple(pixel_values(need).shape) == (2, 1, need.config.vision_config.num_channels, 64, 64)


def test_companions_the_image_features_require():
    from profiler.models.hf.rules.image import (
        high_res_pixel_values,
        image_sizes,
        merge_sizes,
    )
    hybrid = _need("deepseek_vl_hybrid", {"text_config.num_hidden_layers": 1})
    hybrid.made["pixel_values"] = pixel_values(hybrid)
    side = hybrid.config.high_res_vision_config.image_size
    assert tuple(high_res_pixel_values(hybrid).shape) == (2, 3, side, side)
    apertus = _need("apertus1p5", {"text_config.num_hidden_layers": 1}, image=64)
    apertus.made["pixel_values"] = pixel_values(apertus)
    assert image_sizes(apertus).tolist() == [[64, 64]] * 2    # get_image_features requires it
    from profiler.models.hf.rules.image import RULES
    assert RULES["image_merge_sizes"].make is merge_sizes                # VideoLLaMA3's name for the merge sizes


def test_patch_coordinates_over_a_grid_of_the_pooling_kernel():
    from profiler.models.hf.rules.image import patch_positions
    need = _need("gemma4_vision", {"num_hidden_layers": 1}, image=160)
    config = need.config
    side = (160 // config.patch_size) // config.pooling_kernel_size * config.pooling_kernel_size
    pixels = pixel_values(need)
    assert tuple(pixels.shape) == (2, side * side, 3 * config.patch_size ** 2)
    need.made["pixel_values"] = pixels
    positions = patch_positions(need)
    assert tuple(positions.shape) == (2, side * side, 2)
    assert positions[0, 1].tolist() == [1, 0] and positions[0, side].tolist() == [0, 1]   # (x, y), row by row


def test_no_images_where_the_vision_config_is_empty():
    from transformers import Gemma4Config
    if Gemma4Config().vision_config is not None:
        pytest.skip("Gemma4Config has a vision config by default here")
    need = _need("gemma4", {"text_config.num_hidden_layers": 1})
    assert pixel_values(need) is None and pixel_values_videos(need) is None       # neither images nor clips


def test_patch_list_layout_is_the_one_the_patch_embedding_takes():
    # Kimi-K2.5's patch convolution takes one small image per patch; PaddleOCR-VL's vision tower takes
    # them with a batch of one; Qwen2-VL views flat rows itself
    kimi = _need("kimi_k25_vision", {"num_hidden_layers": 1}, image=112)
    p = kimi.config.patch_size
    rows = 2 * (112 // p) ** 2
    assert tuple(pixel_values(kimi).shape) == (rows, 3, p, p)
    paddle = _need("paddleocr_vl_vision", {"num_hidden_layers": 1}, image=112)
    p = paddle.config.patch_size
    assert tuple(pixel_values(paddle).shape) == (1, 2 * (112 // p) ** 2, paddle.config.num_channels, p, p)
    qwen = _need("qwen2_vl", {"text_config.num_hidden_layers": 1, "vision_config.depth": 1}, image=112)
    assert pixel_values(qwen).dim() == 2


def test_temporal_patch_named_patch_temporal():
    from profiler.models.hf.rules.image import patch_layout
    need = _need("muse_glimmer_vision", {"num_hidden_layers": 1}, image=112)
    config = need.config
    assert patch_layout(need)["temporal"] == config.patch_temporal
    assert pixel_values(need).shape[-1] == 3 * config.patch_temporal * config.patch_size ** 2


def test_hidden_states_of_a_backbone_without_a_grid_are_images():
    from profiler.models.hf.rules.image import hidden_states_patches
    need = _need("pp_ocrv5_mobile_det", image=64)
    assert tuple(hidden_states_patches(need).shape) == (2, 3, 64, 64)


def test_flat_patches_of_the_config_patch_dim():
    need = _need("neomme", {"num_hidden_layers": 1}, image=128)
    config = need.config
    assert tuple(pixel_values(need).shape) == (2 * (128 // config.patch_size) ** 2, config.patch_dim)


def test_image_side_whole_blocks_of_the_pixel_shuffle():
    """Idefics3 folds each scale_factor x scale_factor block of patches into one token:
    its default tower (224 px, patch 32: 7 patches per side) cannot take 224, so the
    side is rounded down to whole blocks of patch x factor; image= is kept as given."""
    need = _need("idefics3", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1})
    block = need.config.vision_config.patch_size * need.config.scale_factor
    side = need.config.vision_config.image_size // block * block
    assert image_hw(need) == (side, side) and side % block == 0 and side < need.config.vision_config.image_size
    assert image_hw(_need("idefics3", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1},
                          image=224)) == (224, 224)
    assert image_hw(_need("vit", {"num_hidden_layers": 1})) == (224, 224)   # no pixel shuffle: as the config says


def test_image_size_the_patch_embedding_insists_on():
    """ViTPose's backbone takes only its own image size (256 x 192, in backbone_config);
    DepthPro cuts the image into 384-px patches at a quarter of its size, so the
    smallest image it takes is 384 / 0.25 = 1536 px a side."""
    pose = _need("vitpose", {"backbone_config.num_hidden_layers": 1, "backbone_config.out_indices": [1]})
    assert tuple(pixel_values(pose).shape) == (2, 3, *pose.config.backbone_config.image_size)
    depth = _need("depth_pro", {"image_model_config.num_hidden_layers": 1, "patch_model_config.num_hidden_layers": 1,
                                "fov_model_config.num_hidden_layers": 1})
    least = int(depth.config.patch_size / min(depth.config.scaled_images_ratios))
    assert tuple(pixel_values(depth).shape) == (2, 3, least, least) == (2, 3, 1536, 1536)


def test_frames_of_a_video_model_s_image_tower_are_a_batch_of_images():
    """X-CLIP's vision model names num_frames (8) but embeds images: the frames of
    each clip come as one batch of images, batch·frames x C x H x W."""
    need = _need("xclip_vision_model", {"num_hidden_layers": 1})
    assert tuple(pixel_values(need).shape) == (2 * need.config.num_frames, 3, 224, 224)


def test_image_side_whose_patch_count_the_projector_maps():
    """Aria's projector takes only the patch counts of projector_patch_to_query_dict
    ({1225: 128, 4900: 256}): the side is sqrt(1225) = 35 patches of the vision patch size."""
    need = _need("aria", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1})
    side = 35 * need.config.vision_config.patch_size
    assert image_hw(need) == (side, side)


def test_image_lists_with_their_cross_attention_mask():
    """Idefics takes per-sample image lists (it names image_encoder_embeddings, the
    images' encodings per sample, in their place) and a mask of the images each
    token attends to, batch x tokens x images."""
    from profiler.models.hf.rules.image import image_attention_mask
    need = _need("idefics", {"num_hidden_layers": 1, "vision_config.num_hidden_layers": 1}, image=56)
    need.made["pixel_values"] = pixel_values(need)
    assert tuple(need.made["pixel_values"].shape) == (2, 1, 3, 56, 56)
    need.made["input_ids"] = need.make.ids((2, 7), 100)
    mask = image_attention_mask(need)
    assert tuple(mask.shape) == (2, 7, 1) and bool((mask == 1).all())
    flava = _need("flava", {"image_config.num_hidden_layers": 1, "text_config.num_hidden_layers": 1,
                            "multimodal_config.num_hidden_layers": 1})
    flava.made["pixel_values"] = pixel_values(flava)
    flava.made["input_ids"] = flava.make.ids((2, 7), 100)
    assert flava.made["pixel_values"].dim() == 4 and image_attention_mask(flava) is None   # FLAVA's is over patches


def test_flattened_patches_where_the_patch_embedding_is_linear():
    """Fuyu embeds patches with a linear layer over 3 x 30 x 30 values: its image path
    refuses a 4-D image, and takes batch x patches x C·patch², (300 / 30)² = 100 patches.
    RADIO names patch_dim but embeds whole images: it gets them."""
    fuyu = _need("fuyu", {"text_config.num_hidden_layers": 1})
    assert tuple(pixel_values(fuyu).shape) == (2, 100, 3 * 30 * 30)
    radio = _need("radio", {"num_hidden_layers": 1})
    assert tuple(pixel_values(radio).shape) == (2, 3, 224, 224)


def test_a_mask_of_whole_tiles_where_the_image_path_takes_one():
    """Granite-Docling's pixel_attention_mask marks real tiles, batch x tiles (its
    get_image_features indexes the tiles with it, and refuses a mask of pixels)."""
    from profiler.models.hf.rules.image import pixel_attention_mask
    docling = _need("granite_docling", {"text_config.num_hidden_layers": 1, "vision_config.num_hidden_layers": 1},
                    image=64)
    docling.made["pixel_values"] = pixel_values(docling)
    assert tuple(pixel_attention_mask(docling).shape) == (2, 1)


def test_image_side_of_the_frame_prompter_or_the_image_encoder():
    # TVP pads its frames to max_img_size; SAM 2 names its size only in its Hiera backbone's config
    assert image_hw(_need("tvp", {"num_hidden_layers": 1})) == (448, 448)
    sam2 = _need("sam2_vision_model", {"backbone_config.image_size": [512, 512]})
    assert image_hw(sam2) == (512, 512)


def test_image_side_whole_windows_of_patches():
    # RF-DETR's backbone cuts the patch grid into 4 windows a side: 518 px (37 patches of 14) is
    # refused, 504 (36) taken; image= is the caller's, taken as it is
    rf = _need("rf_detr", {})
    assert image_hw(rf) == (504, 504)
    assert image_hw(_need("rf_detr", {}, image=560)) == (560, 560)


def test_image_side_of_a_vq_tokenizer_is_its_tokens_times_its_downsampling():
    # Janus's VQ model: 32 tokens a side, 5 stages (4 halvings): 512 px; its decoder takes 32² tokens
    assert image_hw(_need("janus_vqgan")) == (512, 512)
    assert image_hw(_need("janus_vqgan", {"num_patches": 8, "channel_multiplier": [1, 2]})) == (16, 16)
