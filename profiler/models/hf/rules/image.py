"""Images and video: ``pixel_values`` in the layout the model takes, its grids and
sizes, and ``pixel_values_videos``."""
from __future__ import annotations

import inspect
import math
import sys

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule, required

IMAGE_DEFAULT = 224            # image side where the config names none
PATCH_IMAGE_DEFAULT = 448      # image side for patch-list vision encoders (Qwen2-VL and kin), which name none
FRAMES_DEFAULT = 16            # video frames where the config names none


def _side(value) -> tuple[int, int] | None:
    """(height, width) of an ``image_size``-like config value: an int, a pair, or a
    dict with height/width or shortest_edge."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) >= 2 and all(isinstance(v, int) for v in value[-2:]):
        return int(value[-2]), int(value[-1])
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        for key in ("shortest_edge", "longest_edge"):
            if isinstance(value.get(key), int):
                return value[key], value[key]
    return None


def image_hw(need: Need) -> tuple[int, int]:
    """The image's height and width: ``image=``, else the config's image size
    (vision config first; TVP's ``max_img_size``, the side its frame prompter pads
    to), else its image encoder's (``backbone_config``, ``sam_config``: SAM 2's
    1024 px, which its mask decoder's fixed sizes need), else a VQ tokenizer's
    (``_vq_side``), else IMAGE_DEFAULT."""
    if need.image is not None:
        return need.image, need.image
    found = None
    for config in (need.vision, need.config, *_image_encoders(need)):
        found = _side(get(config, "image_size", "input_size", "img_size", "crop_size", "size", "max_img_size"))
        if found is not None:
            break
    found = _projected(need) or found or _vq_side(need) or timm_input_size(need.model) \
        or (IMAGE_DEFAULT, IMAGE_DEFAULT)
    return _windowed(need, _shuffled(need, found))


def _vq_side(need: Need) -> tuple[int, int] | None:
    """The image side of a VQ image tokenizer that names its tokens a side
    (``num_patches``) and its encoder's stages (``channel_multiplier``, each after
    the first halving the side): tokens x 2^(stages - 1) (Janus's: 32 x 16 = 512;
    its decoder takes exactly num_patches² tokens)."""
    tokens, stages = get(need.config, "num_patches", default=None), get(need.config, "channel_multiplier", default=None)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not isinstance(stages, (list, tuple)) or not stages:
        return None
    side = tokens * 2 ** (len(stages) - 1)
    return side, side


def _windowed(need: Need, hw: tuple[int, int]) -> tuple[int, int]:
    """``hw`` rounded down to whole windows of patches where the image encoder cuts
    the patch grid into ``num_windows`` windows a side (RF-DETR's DINOv2 backbone:
    4; its 518-pixel default, 37 patches of 14, is refused, 504 = 36 patches taken);
    at least one window of patches."""
    for config in _image_encoders(need):
        windows, patch = get(config, "num_windows", default=None), get(config, "patch_size", default=None)
        if isinstance(windows, int) and not isinstance(windows, bool) and windows > 1 \
                and isinstance(patch, int) and not isinstance(patch, bool) and patch > 0:
            block = patch * windows
            return tuple(max(block, side // block * block) for side in hw)
    return hw


# sub-configs of the image encoder that state the image size where the model's own config does not
# (SAM 2's Hiera backbone, DeepSeek-OCR2's SAM encoder, RF-DETR's DINOv2 backbone)
_ENCODER_CONFIGS = ("backbone_config", "sam_config")


def _image_encoders(need: Need) -> list:
    return [sub for config in (need.vision, need.config) for name in _ENCODER_CONFIGS
            if (sub := get(config, name, default=None)) is not None and hasattr(sub, "to_dict")]


def _projected(need: Need) -> tuple[int, int] | None:
    """The image side whose patch count the projector maps to queries (Aria's
    ``projector_patch_to_query_dict``, {1225: 128, 4900: 256}: it takes no other
    count): the square root of the least count, in patches of the vision patch
    size (35 x 14 = 490 px for Aria's checkpoints, whose processor resizes to 490)."""
    table = get(need.config, "projector_patch_to_query_dict", default=None)
    patch = get(need.vision, "patch_size", default=None)
    if not isinstance(table, dict) or isinstance(patch, bool) or not isinstance(patch, int):
        return None
    counts = [int(k) for k in table if str(k).isdigit() and math.isqrt(int(k)) ** 2 == int(k)]
    if not counts:
        return None
    side = math.isqrt(min(counts)) * patch
    return side, side


_SHUFFLE_FACTORS = ("scale_factor", "pixel_shuffle_factor")


def _shuffled(need: Need, hw: tuple[int, int]) -> tuple[int, int]:
    """``hw`` rounded down to whole blocks of a pixel shuffle (Idefics3, SmolVLM:
    the connector folds each factor x factor block of patches into one token, so
    the patches per side must divide by it; their processors resize to such
    sizes): a side of a multiple of patch size x factor, where the config names
    an integer factor (``scale_factor``, ``pixel_shuffle_factor``) and the vision
    config a patch size; at least one block."""
    factor = get(need.config, *_SHUFFLE_FACTORS, default=None)
    patch = get(need.vision, "patch_size", default=None) if need.vision is not need.config else None
    patch = patch[0] if isinstance(patch, (list, tuple)) and patch else patch
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2 or isinstance(patch, bool) \
            or not isinstance(patch, int) or patch < 1:
        return hw
    block = patch * factor
    return tuple(max(block, side // block * block) for side in hw)


def timm_input_size(model) -> tuple[int, int] | None:
    """(height, width) a timm model inside ``model`` was made for (its
    ``pretrained_cfg["input_size"]``, C x H x W), where the config names no image
    size: a TimmWrapper tower (PE-Video's ``vit_pe_core_large_patch14_336``)."""
    for module in model.modules():
        cfg = getattr(module, "pretrained_cfg", None)
        if isinstance(cfg, dict):
            found = _side(cfg.get("input_size"))
            if found is not None:
                return found
    return None


def channels(need: Need) -> int:
    return int(get(need.vision, "num_channels", "in_channels", "in_chans", "num_channels_in",
                   default=get(need.config, "num_channels", default=3)))


def patch_layout(need: Need) -> dict[str, int]:
    """A patch-list encoder's sizes (Qwen2-VL and kin: the processor cuts the image
    into patches and the forward takes them flattened, with their grid)."""
    vision = need.vision
    patch = get(vision, "patch_size", "spatial_patch_size", default=14)
    patch = patch[0] if isinstance(patch, (list, tuple)) else int(patch)
    merge = int(get(vision, "spatial_merge_size", "merge_size", "downsample_ratio_int", default=2) or 1)
    temporal = int(get(vision, "temporal_patch_size", "patch_temporal", default=1) or 1)
    side = need.image or _first_side(vision) or PATCH_IMAGE_DEFAULT
    cells = max(merge, round(side / patch / merge) * merge)
    return {"patch": patch, "merge": merge, "temporal": temporal, "h": cells, "w": cells}


def _first_side(config) -> int | None:
    found = _side(get(config, "image_size"))
    return found[0] if found else None


def no_vision_tower(need: Need) -> bool:
    """The config has a vision sub-config slot left empty (``vision_config=None``:
    Gemma 4 and EmbeddingGemma2 by default), so the model was built without a
    vision tower and takes no images, though its forward names pixel_values."""
    return any(hasattr(need.config, n) and getattr(need.config, n) is None
               for n in ("vision_config", "visual_config", "vision_encoder_config"))


def uses_patch_list(need: Need) -> bool:
    return need.takes("image_grid_thw") or need.takes("grid_thw")


_PATCH_POSITIONS = ("pixel_position_ids", "image_position_ids")


def uses_padded_patches(need: Need) -> bool:
    """pixel_values is a padded patch list per image (batch x patches x C·patch²)
    with its patch grid (SigLIP2 and the models built on it, LFM2-VL: the forward
    takes ``spatial_shapes``) or its patch coordinates (Gemma 4: it takes
    ``pixel_position_ids`` or ``image_position_ids``)."""
    return need.takes("spatial_shapes") or any(need.takes(n) for n in _PATCH_POSITIONS)


def uses_image_lists(need: Need) -> bool:
    """pixel_values holds a list of images per sample (batch x images x C x H x W)
    with a pixel mask (Idefics2, Idefics3, SmolVLM, Granite-Docling): the forward
    takes ``pixel_attention_mask`` and no ``spatial_shapes``; or, in place of the
    images, their encodings per sample (Idefics: ``image_encoder_embeddings``)."""
    return (need.takes("pixel_attention_mask") and not uses_padded_patches(need)) \
        or need.takes("image_encoder_embeddings")


def feature_requires(need: Need, name: str) -> bool:
    """Whether the model's own image path requires ``name`` (no default): its
    ``get_image_features``, or the method that embeds images into the prefix
    (PI0's ``embed_prefix``, which reads the cameras' mask): an input the forward
    takes as optional but the image path needs."""
    for method in _IMAGE_PATHS:
        fn = getattr(need.model, method, None)
        try:
            if fn is not None and name in required(inspect.signature(fn).parameters):
                return True
        except (TypeError, ValueError):
            continue
    return False


_IMAGE_PATHS = ("get_image_features", "embed_prefix")
_TRIAL_TOKENS = 8       # token ids beside the images in a trial of a method that requires them


def _image_path(need: Need):
    """(method, the inputs it requires beside the images, made for a trial): the
    model's ``get_image_features`` (or its base model's), else ``embed_prefix``
    (PI0's, which also requires token ids: a few, below the vocabulary)."""
    fn = image_features_method(need.model)
    if fn is not None:
        return fn, {}
    fn = getattr(need.model, "embed_prefix", None)
    if fn is None:
        return None, {}
    from profiler.models.hf.make import vocab_size
    extra = {n: need.make.ids((need.batch, _TRIAL_TOKENS), vocab_size(need.model, need.config))
             for n in required(inspect.signature(fn).parameters) if n.endswith("input_ids")}
    return fn, extra


def padded_patch_grid(need: Need) -> tuple[int, int]:
    """(rows, columns) of patches for a padded patch list: the image side over the
    patch size where image= is given, else the square of the config's
    ``num_patches`` (the most patches an image may have), else the image side
    (image_hw) over the patch size; multiples of the config's downsample factor
    (``downsample_factor``, or the vision ``pooling_kernel_size``)."""
    vision = need.vision
    patch = get(vision, "patch_size", default=16)
    patch = patch[0] if isinstance(patch, (list, tuple)) else int(patch)
    factor = int(get(need.config, "downsample_factor", default=None)
                 or get(vision, "pooling_kernel_size", default=1) or 1)
    most = get(vision, "num_patches", "max_num_patches")
    if need.image is None and isinstance(most, int) and not isinstance(most, bool):
        side = math.isqrt(most)
    else:
        side = image_hw(need)[0] // patch
    side = max(factor, side // factor * factor)
    return side, side


def is_video(need: Need) -> bool:
    """pixel_values is a clip (batch x frames x channels x height x width): the
    config names frames (VideoMAE, ViViT, TimeSformer, X-CLIP)."""
    return any(get(c, "num_frames") is not None for c in (need.vision, need.config)) and not uses_patch_list(need)


def frame_count(need: Need) -> int:
    if need.frames is not None:
        return need.frames
    return int(get(need.vision, "num_frames", default=get(need.config, "num_frames", default=FRAMES_DEFAULT)))


def _crops(need: Need, h: int, w: int) -> int | None:
    """The crops of an any-resolution model (LLaVA-NeXT and kin) for an h x w image:
    its own ``image_size_to_num_patches``, where its modeling module has one."""
    module = sys.modules.get(type(need.model).__module__)
    count = getattr(module, "image_size_to_num_patches", None)
    pinpoints = get(need.config, "image_grid_pinpoints")
    if count is None or pinpoints is None:
        return None
    try:
        return int(count(image_size=(h, w), grid_pinpoints=pinpoints, patch_size=image_hw(need)[0]))
    except Exception:
        return None


def pixel_values(need: Need):
    """Images, by the layout the model takes: flattened patches with their grid
    (patch-list encoders: patches x channels·temporal·patch², the image repeated
    over the temporal patch, as the processors do), a clip (video models), crops
    (any-resolution models: batch x crops x C x H x W), else batch x C x H x W, or
    image pairs (batch x 2 x C x H x W: keypoint matchers, LightGlue and
    EfficientLoFTR) where a model without text refuses single images before its
    first layer and runs on pairs; else another size (``other_sides``), or the image
    as rows of flattened patches, batch x patches x C·patch² (Fuyu, whose patch
    embedding is a linear layer over them; Molmo2's vision tower), or as temporal
    patches, channels last, patches x temporal x patch x patch x C (Inkling's
    vision tower, where the config names a temporal patch), the first that
    the image path (the forward, or ``get_image_features`` beside text) takes up to
    its first layer."""
    if no_vision_tower(need):
        return None
    c = channels(need)
    if uses_padded_patches(need):
        rows, cols = padded_patch_grid(need)
        patch = patch_layout(need)["patch"]
        return need.make.floats((need.batch, rows * cols, c * patch ** 2))
    if uses_patch_list(need):
        return patch_list(need, "pixel_values")
    flat = flat_patch_width(need)
    if flat is not None:
        rows, cols = (side // patch_layout(need)["patch"] for side in image_hw(need))
        patches = need.make.floats((need.batch * rows * cols, flat))
        # a vision tower alone that names patch_dim but embeds whole images (RADIO: patch_dim is its
        # patch projection's width) refuses the rows before its first layer: images, below
        if need.takes("input_ids") or _first_layer_runs(need, need.model.forward, {"pixel_values": patches}):
            return patches
    h, w = image_hw(need)
    if need.takes("prompt_pixel_values"):
        # an in-context segmenter (SegGPT) stacks its prompt image over the image: the config's
        # image size (896 x 448) is the pair, each image half its height
        h = h // 2
    if need.takes("aspect_ratio_ids"):              # tiled images (Mllama): batch x images x tiles x C x H x W
        return need.make.floats((need.batch, 1, max_tiles(need), c, h, w))
    if is_video(need):
        clip = need.make.floats((need.batch, frame_count(need), c, h, w))
        if need.takes("input_ids") or _first_layer_runs(need, need.model.forward, {"pixel_values": clip}):
            return clip
        # a video model's image tower alone (X-CLIP's vision model): the frames as a batch of images
        frames = need.make.floats((need.batch * frame_count(need), c, h, w))
        return frames if _first_layer_runs(need, need.model.forward, {"pixel_values": frames}) else clip
    if uses_image_lists(need):
        return need.make.floats((need.batch, 1, c, h, w))
    if need.takes("image_sizes"):
        crops = _crops(need, h, w)
        if crops is not None:
            return need.make.floats((need.batch, crops, c, h, w))
    pixels = need.make.floats((need.batch, c, h, w))
    # the images' own path: the forward of a model without text, else its get_image_features
    fn = need.model.forward if not need.takes("input_ids") else image_features_method(need.model)
    if fn is not None and not _first_layer_runs(need, fn, {"pixel_values": pixels}):
        patch = patch_layout(need)["patch"]
        shapes = ([(need.batch, 2, c, h, w)] if not need.takes("input_ids") else []) \
            + [(need.batch, c, *hw) for hw in other_sides(need) if hw != (h, w)] \
            + [(need.batch, (h // patch) * (w // patch), c * patch * patch)]
        temporal = patch_layout(need)["temporal"]
        if temporal > 1:
            # temporal patches, channels last, one per row (Inkling's vision tower folds them itself)
            shapes.append((need.batch * (h // patch) * (w // patch), temporal, patch, patch, c))
        for shape in shapes:
            candidate = need.make.floats(shape)
            if _first_layer_runs(need, fn, {"pixel_values": candidate}):
                return candidate
    return pixels


def image_features_method(model):
    """The model's ``get_image_features``, or its base model's (a head such as
    FuyuForCausalLM leaves it to ``model.model``); None where neither has one."""
    return getattr(model, "get_image_features", None) \
        or getattr(getattr(model, "model", None), "get_image_features", None)


def other_sides(need: Need) -> list[tuple[int, int]]:
    """Image sizes to try where the first one (``image_hw``) fails before the first
    layer: a backbone's own ``image_size`` (ViTPose: 256 x 192, in its
    ``backbone_config``, which its patch embedding insists on), and the smallest
    image a multi-scale patch encoder cuts into whole patches at every scale
    (DepthPro: ``patch_size`` / the least of ``scaled_images_ratios`` = 384 / 0.25 =
    1536, the size its processor resizes to)."""
    found = []
    if need.image is not None:
        return found
    backbone = get(need.config, "backbone_config", default=None)
    side = _side(get(backbone, "image_size")) if backbone is not None else None
    if side is not None:
        found.append(side)
    ratios = get(need.config, "scaled_images_ratios", default=None)
    patch = get(need.config, "patch_size", default=None)
    if isinstance(ratios, (list, tuple)) and ratios and all(isinstance(r, (int, float)) and r > 0 for r in ratios) \
            and isinstance(patch, int) and not isinstance(patch, bool):
        least = math.ceil(patch / min(ratios))
        found.append((least, least))
    return found


def image(need: Need):
    """An image tower's input named ``image`` (BridgeTower's vision model, required
    there): batch x C x H x W."""
    return need.make.floats((need.batch, channels(need), *image_hw(need)))


def grid_thw(need: Need, pixels=None):
    """One image per sample: [1, h, w] patches (h and w multiples of the merge size);
    in language-model tokens, [1, h / merge, w / merge], where the patches come as
    merged blocks (``_token_blocks``)."""
    p = patch_layout(need)
    pixels = pixels if pixels is not None else need.made.get("pixel_values", need.made.get("hidden_states"))
    merge = p["merge"] if pixels is not None and _token_blocks(need, pixels) else 1
    return need.make.ints([[1, p["h"] // merge, p["w"] // merge]] * need.batch)


def _token_blocks(need: Need, pixels) -> bool:
    """``pixels`` are one merged block of patches per language-model token, channels
    last: tokens x patch·merge x patch·merge x C (Inkling2's)."""
    p = patch_layout(need)
    block = p["patch"] * p["merge"]
    return pixels.dim() == 4 and p["merge"] > 1 and tuple(pixels.shape[1:]) == (block, block, channels(need))


def hidden_states_patches(need: Need):
    """A vision tower called on its own: the patches, as ``pixel_values`` of a
    patch-list encoder, where it takes a grid (qwen2_5_vl_vision and kin); else
    images, batch x C x H x W (a convolutional backbone that names its input
    hidden_states: Florence-2's DaViT, PP-OCRv5's detector)."""
    if uses_patch_list(need):
        return patch_list(need, "hidden_states")
    return need.make.floats((need.batch, channels(need), *image_hw(need)))


def flat_patch_width(need: Need) -> int | None:
    """The width of a flattened patch where the config names it (``patch_dim``,
    NeoMME: C·patch², its patches taken without a grid, one row each)."""
    width = get(need.config, "patch_dim", default=None)
    return width if isinstance(width, int) and not isinstance(width, bool) and width > 0 else None


class _Reached(Exception):
    """Raised by a probe's hook once the first layer with a weight has run."""


def _first_layer_runs(need: Need, fn, kwargs: dict) -> bool:
    """Whether ``fn(**kwargs)`` gets through the first convolution or linear layer
    it calls (the patch embedding); stopped there, so it costs next to nothing."""
    from torch import nn

    def reached(module, args, out):
        raise _Reached

    hooks = [m.register_forward_hook(reached) for m in need.model.modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    try:
        need.make.run(need.model, kwargs, fn)
    except _Reached:
        return True
    except Exception:   # noqa: BLE001 - a layout the model does not take
        return False
    finally:
        for hook in hooks:
            hook.remove()
    return True


def patch_list(need: Need, name: str):
    """A patch-list encoder's patches (``name``: pixel_values, or hidden_states of
    a vision tower called alone), in the first layout its own image path takes:
    flattened rows (patches x C·temporal·patch², the image repeated over the
    temporal patch, as Qwen2-VL's processor makes them); one small image per
    patch (patches x C x patch x patch: Kimi-K2.5, whose patch convolution takes
    them as they are); or those with a batch of one (1 x patches x C x patch x
    patch: PaddleOCR-VL's vision tower); or one merged block of patches per
    language-model token, channels last (tokens x patch·merge x patch·merge x C,
    its grid then counted in tokens: Inkling2, ``_token_blocks``).  The layout is found by running the
    model's ``get_image_features`` (else its forward) on each, with the grid,
    until its first layer with a weight (``_first_layer_runs``); flat rows where
    none runs."""
    p = patch_layout(need)
    c, rows = channels(need), need.batch * p["h"] * p["w"]
    flat = (rows, c * p["temporal"] * p["patch"] ** 2)
    block = p["patch"] * p["merge"]
    # token blocks before single patches: a reshape can take both, a convolution over single patches
    # refuses blocks (their channels are last)
    layouts = [flat] + ([(rows // p["merge"] ** 2, block, block, c), (rows, c, p["patch"], p["patch"]),
                         (1, rows, c, p["patch"], p["patch"])] if p["temporal"] == 1 and p["merge"] > 1
                        else [(rows, c, p["patch"], p["patch"]), (1, rows, c, p["patch"], p["patch"])]
                        if p["temporal"] == 1 else [])
    fn = getattr(need.model, "get_image_features", None) if name == "pixel_values" else None
    fn = fn or need.model.forward
    try:
        takes = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return need.make.floats(flat)
    if name not in takes or len(layouts) == 1:
        return need.make.floats(flat)
    for shape in layouts:
        pixels = need.make.floats(shape)
        grid = grid_thw(need, pixels)
        extra = {g: grid for g in ("image_grid_thw", "grid_thw") if g in takes}
        if _first_layer_runs(need, fn, {name: pixels, **extra}):
            return pixels
    return need.make.floats(flat)


def image_sizes(need: Need):
    """[[height, width]] per image, where the images are any-resolution crops
    (LLaVA-NeXT and kin, whose crop count follows from it) or the forward requires it."""
    pixels = need.made.get("pixel_values")
    crops = pixels is not None and pixels.dim() == 5 and not is_video(need) and not uses_image_lists(need)
    if not crops and "image_sizes" not in required(need.params) and not feature_requires(need, "image_sizes"):
        return None
    h, w = image_hw(need)
    return need.make.ints([[h, w]] * need.batch)


def patch_rows_cols(need: Need):
    """[[rows, columns]] of patches per image of ``pixel_values`` batch x C x H x W
    (MiniCPM-V's vision tower: its ``target_sizes``, which its position ids and
    windows read; they are the image over the vision patch size).  Made for the
    tower, or where the model's ``get_image_features`` requires them (a full model
    whose config names an image token); not for a full model that leaves its
    image unread (MiniCPM-V's defaults name no image token)."""
    pixels = need.made.get("pixel_values")
    if pixels is None or pixels.dim() != 4 or (need.takes("input_ids") and not need.requires("target_sizes")):
        return None
    patch = patch_layout(need)["patch"]
    return need.make.ints([[pixels.shape[-2] // patch, pixels.shape[-1] // patch]] * pixels.shape[0])


def prompt_like(need: Need):
    """An in-context segmenter's prompt image and its mask (SegGPT's
    ``prompt_pixel_values``, ``prompt_masks``): the shape of ``pixel_values``
    (batch x C x H x W; the mask as an image, as its processor makes it)."""
    pixels = need.made.get("pixel_values")
    return None if pixels is None else need.make.floats(tuple(pixels.shape))


def image_attention_mask(need: Need):
    """Which images each token attends to, batch x tokens x images, all of them
    (Idefics's cross-attention mask, made with its image lists: batch x images x
    C x H x W); none for a mask of another layout (FLAVA's, over patches)."""
    pixels, ids = need.made.get("pixel_values"), need.made.get("input_ids")
    if pixels is None or ids is None or pixels.dim() != 5 or not uses_image_lists(need):
        return None
    return need.make.full((need.batch, ids.shape[1], pixels.shape[1]), 1, dtype=need.make.torch.int64)


def max_tiles(need: Need) -> int:
    """Tiles per image of a tiled-image tower (Mllama's ``max_num_tiles``, 4)."""
    return int(get(need.vision, "max_num_tiles", default=get(need.config, "max_num_tiles", default=4)))


def _tiling(need: Need) -> tuple[int, int] | None:
    """(aspect-ratio id, tiles) of tiled ``pixel_values`` (batch x images x tiles x
    C x H x W): the first of the config's ``supported_aspect_ratios`` that fills
    every tile (Mllama, 4 tiles: [1, 4], id 4; ids count from 1, 0 is padding),
    as its processor gives an image that wide; else [1, 1] (id 1), one tile."""
    pixels = need.made.get("pixel_values")
    if pixels is None or pixels.dim() != 6:
        return None
    tiles = pixels.shape[2]
    ratios = get(need.vision, "supported_aspect_ratios", default=None) or []
    for index, ratio in enumerate(ratios):
        if isinstance(ratio, (list, tuple)) and math.prod(ratio) == tiles:
            return index + 1, tiles
    return 1, 1


def aspect_ratio_ids(need: Need):
    """The aspect-ratio id of each image (batch x images), see ``_tiling``."""
    found = _tiling(need)
    return None if found is None else need.make.ints([[found[0]]] * need.batch)


def aspect_ratio_mask(need: Need):
    """Which tiles of each image hold it (batch x images x tiles), see ``_tiling``."""
    found = _tiling(need)
    if found is None:
        return None
    tiles = need.made["pixel_values"].shape[2]
    return need.make.ints([[[1] * found[1] + [0] * (tiles - found[1])]] * need.batch)


def merge_sizes(need: Need):
    return need.make.ints([patch_layout(need)["merge"]] * need.batch)


def spatial_shapes(need: Need):
    """[[rows, columns]] of patches per image of a padded patch list."""
    return need.make.ints([list(padded_patch_grid(need))] * need.batch)


def patch_positions(need: Need):
    """(x, y) of each patch of a padded patch list, row by row (no padding, which
    would be (-1, -1)): batch x patches x 2."""
    if "pixel_values" not in need.made or not uses_padded_patches(need):
        return None
    rows, cols = padded_patch_grid(need)
    return need.make.ints([[[x, y] for y in range(rows) for x in range(cols)]] * need.batch)


def pixel_attention_mask(need: Need):
    """Every pixel (or patch) real, in the layout of ``pixel_values``: batch x
    patches for a padded patch list, batch x images x H x W for image lists (or
    batch x tiles, a mask of whole tiles, where the model's image path takes that
    and refuses the other: Granite-Docling); made
    where the forward or the model's ``get_image_features`` requires it, or with a
    padded patch list (whose encoder needs it)."""
    pixels = need.made.get("pixel_values")
    if pixels is None:
        return None
    if not (uses_padded_patches(need) or "pixel_attention_mask" in required(need.params)
            or feature_requires(need, "pixel_attention_mask")):
        return None
    bool_ = need.make.torch.bool
    if uses_padded_patches(need):
        return need.make.full(tuple(pixels.shape[:2]), True, dtype=bool_)
    mask = need.make.full((*pixels.shape[:2], *pixels.shape[-2:]), True, dtype=bool_)
    # a mask of whole tiles, batch x tiles (Granite-Docling's), where the image path refuses one of pixels
    # (or of whole cameras, batch x cameras: PI0's)
    fn, extra = _image_path(need)
    if fn is not None and pixels.dim() == 5 and not _first_layer_runs(
            need, fn, {"pixel_values": pixels, "pixel_attention_mask": mask, **extra}):
        tiles = need.make.full(tuple(pixels.shape[:2]), True, dtype=bool_)
        if _first_layer_runs(need, fn, {"pixel_values": pixels, "pixel_attention_mask": tiles, **extra}):
            return tiles
    return mask


def high_res_pixel_values(need: Need):
    """The high-resolution view of a two-tower model (DeepSeek-VL hybrid: a SAM
    encoder beside the low-resolution one): batch x C x side x side at the
    high-resolution tower's image size."""
    if "pixel_values" not in need.made:
        return None
    tower = get(need.config, "high_res_vision_config", default=None)
    side = _side(get(tower, "image_size")) if tower is not None else None
    if side is None:
        return None
    return need.make.floats((need.batch, channels(need), *side))


def pixel_values_videos(need: Need):
    """A clip, batch x frames x C x H x W; none where the model was built without a
    vision tower (``no_vision_tower``: EmbeddingGemma2's default)."""
    if no_vision_tower(need):
        return None
    h, w = image_hw(need)
    return need.make.floats((need.batch, frame_count(need), channels(need), h, w))


FLAT_PATCHES_DEFAULT = 2048   # patches per image: Pix2Struct's processor's max_patches default


def flattened_patches(need: Need):
    """Pix2Struct's and Kosmos-2.5's image: variable-resolution patches, each row
    its row and column index then the patch's pixels, batch x patches x (2 +
    ``patch_embed_hidden_size``).  Patches: (image= / patch)² where image= is
    given (patch = sqrt(patch_embed_hidden_size / channels), 16), else
    FLAT_PATCHES_DEFAULT, at most the config's ``seq_len`` (``max_num_patches``),
    the patches its position tables hold."""
    width = get(need.vision, "patch_embed_hidden_size", default=None)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        return None
    most = get(need.vision, "seq_len", "max_num_patches", default=None)
    count = FLAT_PATCHES_DEFAULT
    if need.image is not None:
        patch = max(1, math.isqrt(width // max(1, channels(need))))
        count = max(1, (need.image // patch) ** 2)
    if isinstance(most, int) and not isinstance(most, bool) and most > 0:
        count = min(count, most)
    patches = need.make.floats((need.batch, count, 2 + width))
    patches[..., :2] = 0      # the index columns: row and column 0, valid on a real build (shapes only on meta)
    return patches


RULES = {
    "pixel_values": Rule(pixel_values, "image", primary=True),
    "flattened_patches": Rule(flattened_patches, "image", primary=True),
    "hidden_states": Rule(hidden_states_patches, "image"),
    "image": Rule(image, "image"),                                      # required only: BridgeTower's tower              # required only: vision towers alone
    "image_grid_thw": Rule(grid_thw, "image", after=("pixel_values",)),
    "grid_thw": Rule(grid_thw, "image", after=("pixel_values", "hidden_states")),
    "prompt_pixel_values": Rule(prompt_like, "image", after=("pixel_values",)),
    "prompt_masks": Rule(prompt_like, "image", after=("pixel_values",)),
    "image_attention_mask": Rule(image_attention_mask, "image", after=("input_ids",)),
    "aspect_ratio_ids": Rule(aspect_ratio_ids, "image", after=("pixel_values",)),
    "aspect_ratio_mask": Rule(aspect_ratio_mask, "image", after=("pixel_values",)),
    "target_sizes": Rule(patch_rows_cols, "image", after=("pixel_values",)),
    "merge_sizes": Rule(merge_sizes, "image", after=("pixel_values",)),
    "image_merge_sizes": Rule(merge_sizes, "image", after=("pixel_values",)),
    "spatial_shapes": Rule(spatial_shapes, "image", after=("pixel_values",)),
    "pixel_position_ids": Rule(patch_positions, "image", after=("pixel_values",)),
    "image_position_ids": Rule(patch_positions, "image", after=("pixel_values",)),
    "pixel_attention_mask": Rule(pixel_attention_mask, "image", after=("pixel_values",)),
    "high_res_pixel_values": Rule(high_res_pixel_values, "image", after=("pixel_values",)),
    "image_sizes": Rule(image_sizes, "image", after=("pixel_values",)),
    "pixel_values_videos": Rule(pixel_values_videos, "video"),
}
