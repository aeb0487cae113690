"""What each forward argument of a transformers model gets, by name and modality.

One rule per input name, in the order they are made: ``RULES[name] = Rule(...)``.
``example_inputs`` makes, for a forward:

* every argument it requires (no default) that has a rule;
* the *primary* inputs it takes even where optional (``input_ids``,
  ``pixel_values``, ``input_features``, ``input_values``, ``past_values``, ...);
* the companions of what was made (``image_grid_thw`` of ``pixel_values``,
  ``past_time_features`` of ``past_values``), where the forward takes them.

A required argument with no rule is refused in one line that names it and how to
give it (``--arg NAME=SHAPE[:dtype]``, ``kwargs=``).  Sizes come from the config
(image size, channels, patch and merge sizes, mel bins, sampling rate, frames,
context and prediction lengths) or from the ``image=``, ``frames=`` and
``seconds=`` the caller sets; the defaults are stated per rule.  Each rule reads
only the ``Need`` it is given: the model, its configs, the batch, the sizes, and
the inputs made so far.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.models.hf.make import Maker, get

IMAGE_DEFAULT = 224            # image side where the config names none
PATCH_IMAGE_DEFAULT = 448      # image side for patch-list vision encoders (Qwen2-VL and kin), which name none
SECONDS_DEFAULT = 1.0          # audio length where the model takes any (wav2vec2, HuBERT, speech encoders)
SAMPLING_RATE_DEFAULT = 16000
FRAME_RATE = 100               # feature frames per second (a 10 ms hop, what speech front ends use)
FRAMES_DEFAULT = 16            # video frames where the config names none


@dataclass
class Need:
    """What the rules read: the model, its configs, the batch and the sizes asked
    for, and the inputs made so far (``made``; the caller's own, ``given``, first)."""

    model: Any
    config: Any
    batch: int
    make: Maker
    params: dict
    tokens: int | None = None
    image: int | None = None
    frames: int | None = None
    seconds: float | None = None
    made: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sub(self, *names: str):
        """The first sub-config among ``names`` the config has, else the config."""
        return get(self.config, *names, default=self.config)

    @property
    def vision(self):
        return self.sub("vision_config", "visual_config", "vision_encoder_config", "image_config")

    @property
    def audio(self):
        return self.sub("audio_config", "speech_config", "audio_encoder_config", "encoder_config")

    @property
    def text(self):
        return self.sub("text_config", "decoder_config", "language_config", "llm_config")

    def takes(self, name: str) -> bool:
        return name in self.params


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
    (vision config first), else IMAGE_DEFAULT."""
    if need.image is not None:
        return need.image, need.image
    for config in (need.vision, need.config):
        found = _side(get(config, "image_size", "input_size", "img_size", "crop_size", "size"))
        if found is not None:
            return found
    return IMAGE_DEFAULT, IMAGE_DEFAULT


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
    temporal = int(get(vision, "temporal_patch_size", default=1) or 1)
    side = need.image or _first_side(vision) or PATCH_IMAGE_DEFAULT
    cells = max(merge, round(side / patch / merge) * merge)
    return {"patch": patch, "merge": merge, "temporal": temporal, "h": cells, "w": cells}


def _first_side(config) -> int | None:
    found = _side(get(config, "image_size"))
    return found[0] if found else None


def uses_patch_list(need: Need) -> bool:
    return need.takes("image_grid_thw") or need.takes("grid_thw")


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


# --- the rules -------------------------------------------------------------------------------------------


def pixel_values(need: Need):
    """Images, by the layout the model takes: flattened patches with their grid
    (patch-list encoders: patches x channels·temporal·patch², the image repeated
    over the temporal patch, as the processors do), a clip (video models), crops
    (any-resolution models: batch x crops x C x H x W), else batch x C x H x W."""
    c = channels(need)
    if uses_patch_list(need):
        p = patch_layout(need)
        rows = need.batch * p["h"] * p["w"]
        return need.make.floats((rows, c * p["temporal"] * p["patch"] ** 2))
    h, w = image_hw(need)
    if is_video(need):
        return need.make.floats((need.batch, frame_count(need), c, h, w))
    if need.takes("image_sizes"):
        crops = _crops(need, h, w)
        if crops is not None:
            return need.make.floats((need.batch, crops, c, h, w))
    return need.make.floats((need.batch, c, h, w))


def grid_thw(need: Need):
    """One image per sample: [1, h, w] patches (h and w multiples of the merge size)."""
    p = patch_layout(need)
    return need.make.ints([[1, p["h"], p["w"]]] * need.batch)


def hidden_states_patches(need: Need):
    """A vision tower called on its own (qwen2_5_vl_vision and kin): the
    flattened patches, as ``pixel_values`` of a patch-list encoder."""
    p = patch_layout(need)
    return need.make.floats((need.batch * p["h"] * p["w"], channels(need) * p["temporal"] * p["patch"] ** 2))


def image_sizes(need: Need):
    """[[height, width]] per image, where the images are any-resolution crops
    (LLaVA-NeXT and kin, whose crop count follows from it) or the forward requires it."""
    pixels = need.made.get("pixel_values")
    crops = pixels is not None and pixels.dim() == 5 and not is_video(need)
    if not crops and "image_sizes" not in required(need.params):
        return None
    h, w = image_hw(need)
    return need.make.ints([[h, w]] * need.batch)


def merge_sizes(need: Need):
    return need.make.ints([patch_layout(need)["merge"]] * need.batch)


def pixel_values_videos(need: Need):
    h, w = image_hw(need)
    return need.make.floats((need.batch, frame_count(need), channels(need), h, w))


def _seconds(need: Need) -> float:
    return need.seconds if need.seconds is not None else SECONDS_DEFAULT


def input_values(need: Need):
    """A waveform: batch x samples (seconds × sampling rate, default 1 s at 16 kHz;
    ``tokens`` samples where given to a model without token ids), or batch x
    channels x samples where the config names audio channels (codecs)."""
    rate = int(get(need.audio, "sampling_rate", default=get(need.config, "sampling_rate",
                                                            default=SAMPLING_RATE_DEFAULT)))
    samples = max(1, round(_seconds(need) * rate))
    if need.tokens is not None and not need.takes("input_ids"):
        samples = need.tokens                      # tokens= of a waveform model: its samples
    audio_channels = get(need.audio, "audio_channels", default=get(need.config, "audio_channels"))
    if isinstance(audio_channels, int) and not isinstance(audio_channels, bool):
        return need.make.floats((need.batch, audio_channels, samples))
    return need.make.floats((need.batch, samples))


def input_features(need: Need):
    """Spectrogram features.  Whisper-style encoders (a config with
    ``max_source_positions`` and ``num_mel_bins``): batch x mel bins x
    2·max_source_positions frames (30 s for Whisper, the only length it takes).
    Others: batch x frames x features, FRAME_RATE frames a second (default 1 s)."""
    audio = need.audio
    mels = get(audio, "num_mel_bins", default=get(need.config, "num_mel_bins"))
    positions = get(audio, "max_source_positions", default=get(need.config, "max_source_positions"))
    if mels is not None and positions is not None and need.seconds is None:
        return need.make.floats((need.batch, int(mels), 2 * int(positions)))
    width = get(audio, "feature_size", "input_feat_per_channel", "num_mel_bins", "n_mels", "input_dim",
                default=get(need.config, "feature_size", "input_feat_per_channel", "num_mel_bins", default=80))
    if mels is not None and positions is not None:
        return need.make.floats((need.batch, int(mels), max(1, round(_seconds(need) * FRAME_RATE))))
    return need.make.floats((need.batch, max(1, round(_seconds(need) * FRAME_RATE)), int(width)))


def feature_mask(need: Need):
    """All frames valid: batch x frames of ones (the features' time axis)."""
    features = need.made.get("input_features")
    frames = features.shape[-1] if features is not None and _whisper_like(need) else \
        features.shape[1] if features is not None else FRAME_RATE
    return need.make.full((need.batch, frames), 1)


def _whisper_like(need: Need) -> bool:
    return get(need.audio, "max_source_positions", default=get(need.config, "max_source_positions")) is not None


def _series_length(need: Need) -> int:
    """The history a forecaster reads: context length plus the largest lag."""
    config = need.config
    context = int(get(config, "context_length", "context_len", "input_size_len", default=512) or 512)
    lags = get(config, "lags_sequence")
    return context + (max(lags) if isinstance(lags, (list, tuple)) and lags else 0)


def _series_channels(need: Need) -> tuple[int, ...]:
    """The channel axis: the lagged forecasters (a config with ``lags_sequence``:
    Time Series Transformer, Informer, Autoformer) take none for one variate;
    patch models (PatchTST, PatchTSMixer) always take one."""
    config = need.config
    if get(config, "lags_sequence") is not None:
        width = get(config, "input_size", default=1)
        return (int(width),) if isinstance(width, int) and width > 1 else ()
    width = get(config, "num_input_channels", "num_channels", "enc_in", "input_size", default=1)
    return (int(width),)


def past_values(need: Need):
    """batch x (context + largest lag) [x channels]; a single series (batch x
    context) for forecasters that take a padding mask instead (TimesFM)."""
    length = _series_length(need)
    if need.takes("past_values_padding") or need.takes("freq"):
        return need.make.floats((need.batch, length))
    return need.make.floats((need.batch, length) + _series_channels(need))


def past_observed_mask(need: Need):
    values = need.made["past_values"]
    return need.make.full(tuple(values.shape), 1, dtype=need.make.torch.bool)


def past_time_features(need: Need):
    count = int(get(need.config, "num_time_features", default=1) or 1)
    return need.make.floats((need.batch, _series_length(need), count))


def future_time_features(need: Need):
    count = int(get(need.config, "num_time_features", default=1) or 1)
    return need.make.floats((need.batch, int(get(need.config, "prediction_length", default=24)), count))


def static_categorical_features(need: Need):
    count = int(get(need.config, "num_static_categorical_features", default=0) or 0)
    return need.make.full((need.batch, count), 0) if count else None


def static_real_features(need: Need):
    count = int(get(need.config, "num_static_real_features", default=0) or 0)
    return need.make.floats((need.batch, count)) if count else None


def past_values_padding(need: Need):
    return need.make.full(tuple(need.made["past_values"].shape), 0, dtype=need.make.dtype)


def freq(need: Need):
    return need.make.full((need.batch, 1), 0)


def bbox(need: Need):
    """Layout boxes, one per token: batch x tokens x 4 of zeros (a valid box)."""
    ids = need.made.get("input_ids")
    length = ids.shape[1] if ids is not None else (need.tokens or 128)
    return need.make.full((need.batch, length, 4), 0)


_MODALITY_TYPES = ((1, ("image_token_id", "image_token_index")), (2, ("video_token_id", "video_token_index")),
                   (3, ("audio_token_id", "audio_token_index")))


def mm_token_type_ids(need: Need):
    """Each token's modality, as transformers' processors make it
    (``create_mm_token_type_ids``): 0 text, 1 image, 2 video, 3 audio placeholder."""
    ids = need.made["input_ids"]
    types = need.make.torch.zeros_like(ids)
    for value, names in _MODALITY_TYPES:
        token = next((v for c in (need.config, need.text) for n in names
                      if isinstance(v := getattr(c, n, None), int) and not isinstance(v, bool)), None)
        if token is not None:
            types[ids == token] = value
    return types


def task_inputs(need: Need):
    """A task prompt's token ids (OneFormer): batch x task_seq_len."""
    length = int(get(need.config, "task_seq_len", default=77))
    return need.make.ids((need.batch, length), int(get(need.text, "vocab_size", default=49408)))


def qformer_input_ids(need: Need):
    qformer = need.sub("qformer_config")
    return need.make.ids((need.batch, 32), int(get(qformer, "vocab_size", default=30522)))


@dataclass(frozen=True)
class Rule:
    make: Callable[[Need], Any]
    modality: str
    primary: bool = False            # made whenever the forward takes it
    after: tuple[str, ...] = ()      # a companion: made when one of these was made


RULES: dict[str, Rule] = {
    # images and video
    "pixel_values": Rule(pixel_values, "image", primary=True),
    "hidden_states": Rule(hidden_states_patches, "image"),              # required only: vision towers alone
    "image_grid_thw": Rule(grid_thw, "image", after=("pixel_values",)),
    "grid_thw": Rule(grid_thw, "image", after=("pixel_values", "hidden_states")),
    "merge_sizes": Rule(merge_sizes, "image", after=("pixel_values",)),
    "image_sizes": Rule(image_sizes, "image", after=("pixel_values",)),
    "pixel_values_videos": Rule(pixel_values_videos, "video"),
    # audio
    "input_values": Rule(input_values, "audio", primary=True),
    "input_features": Rule(input_features, "speech", primary=True),
    "input_features_mask": Rule(feature_mask, "speech", after=("input_features",)),
    "feature_attention_mask": Rule(feature_mask, "speech", after=("input_features",)),
    # time series
    "past_values": Rule(past_values, "time series", primary=True),
    "past_time_features": Rule(past_time_features, "time series", after=("past_values",)),
    "past_observed_mask": Rule(past_observed_mask, "time series", after=("past_values",)),
    "future_time_features": Rule(future_time_features, "time series", after=("past_values",)),
    "static_categorical_features": Rule(static_categorical_features, "time series", after=("past_values",)),
    "static_real_features": Rule(static_real_features, "time series", after=("past_values",)),
    "past_values_padding": Rule(past_values_padding, "time series", after=("past_values",)),
    "freq": Rule(freq, "time series", after=("past_values",)),
    # layout and segmentation
    "bbox": Rule(bbox, "layout", after=("input_ids",)),
    "mm_token_type_ids": Rule(mm_token_type_ids, "vision-language", after=("input_ids",)),
    "task_inputs": Rule(task_inputs, "segmentation"),
    "qformer_input_ids": Rule(qformer_input_ids, "vision-language"),
}


def required(params) -> list[str]:
    """The forward's arguments without a default."""
    return [p for p, v in params.items()
            if v.default is inspect.Parameter.empty and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]
