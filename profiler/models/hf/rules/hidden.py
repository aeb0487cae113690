"""Hidden states a sub-model reads from the model around it: the inputs of a part
profiled alone (BLT's global transformer, Idefics2's perceiver, PI0's action
expert, SAM 3's DETR decoder), made as batch x positions x width of the
config's own sizes.  One entry per input name (``HIDDEN``), made only where the
forward requires it (a model that takes ``inputs_embeds`` as an option gets
its token ids instead).

Widths and lengths are read from config fields (a dotted name reads a
sub-config: ``dit_config.hidden_size``); a length no field states is
``tokens=``, else SEQUENCE_DEFAULT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from profiler.models.hf.make import get
from profiler.models.hf.rules.base import Need, Rule

SEQUENCE_DEFAULT = 128     # positions where no field states them (as the token ids' default)
PROMPT_DEFAULT = 32        # text prompt positions beside image features (SAM 3's text encoder holds 32)


@dataclass(frozen=True)
class Hidden:
    """batch x positions x width: ``width`` and ``positions`` are config fields,
    the first set one wins; ``times``: a list field whose length multiplies the
    width (features of several layers concatenated); ``positions_of``: the
    length of another input made (a position encoding as long as its features;
    maps by level, as that input's); ``companion``: made with that input, though
    the forward leaves it optional;
    ``prompt``: a text prompt's length (PROMPT_DEFAULT)."""

    width: tuple[str, ...] = ("hidden_size", "d_model")
    positions: tuple[str, ...] = ()
    times: str | None = None
    positions_of: str | None = None
    prompt: bool = False
    companion: bool = False      # made whenever ``positions_of`` was, though optional (a position encoding)


HIDDEN = {
    # BLT's global transformer (patch embeddings), Nemotron 3.5's word-timestamp head (encoder
    # frames), DeepSeek-OCR2's vision encoder (patches then as many queries)
    "inputs_embeds": Hidden(),
    "context": Hidden(),                                                   # Idefics2's perceiver
    "noise_embeds": Hidden(positions=("block_size",)),                     # Muse Glimmer's drafter block
    "context_hidden_states": Hidden(times="target_layer_ids"),             # the target model's layers
    "action_embeds": Hidden(width=("dit_config.hidden_size", "hidden_size"), positions=("chunk_size",)),  # PI0
    "image_features": Hidden(times="vision_feature_layer"),                # Molmo2's adapter: ViT layers joined
    "vision_features": Hidden(),                                           # SAM 3's DETR decoder
    "vision_pos_encoding": Hidden(positions_of="vision_features"),
    "vision_pos_embeds": Hidden(positions_of="vision_features", companion=True),   # SAM 3's DETR encoder
    "text_features": Hidden(prompt=True),
    # the main decoder's last states, one per id, that Moshi's depth decoder projects onto its own
    # (the forward leaves them optional, and reads them regardless)
    "last_hidden_state": Hidden(width=("input_size",), positions_of="input_ids", companion=True),
}


def _field(config, dotted: str):
    value = config
    for part in dotted.split("."):
        value = get(value, part, default=None) if value is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first(config, names) -> int | None:
    return next((v for n in names if (v := _field(config, n)) is not None), None)


def _hidden(name: str):
    spec = HIDDEN[name]

    def make(need: Need):
        other = need.made.get(spec.positions_of) if spec.positions_of else None
        if not (need.requires(name) or (spec.companion and other is not None)):
            return None
        width = _first(need.config, spec.width)
        if width is None:
            return None
        if spec.times is not None:
            width *= max(1, len(get(need.config, spec.times, default=None) or ()))
        if isinstance(other, list) or _takes_maps(need, name):
            # feature maps by level (SAM 3's DETR encoder): one level, batch x width x side x side
            return [need.make.floats((need.batch, width, MAP_SIDE, MAP_SIDE))]
        positions = other.shape[1] if other is not None else \
            PROMPT_DEFAULT if spec.prompt else \
            _first(need.config, spec.positions) or need.tokens or SEQUENCE_DEFAULT
        return need.make.floats((need.batch, positions, width))
    make.__doc__ = f"``{name}``, required: see HIDDEN."
    return make


MAP_SIDE = 16      # one feature map's side where a part takes maps by level (SAM 3's DETR encoder)


def _takes_maps(need: Need, name: str) -> bool:
    """The forward annotates ``name`` as a list of tensors: feature maps by level,
    each batch x width x height x width."""
    param = need.params.get(name)
    return param is not None and "list" in str(param.annotation)


POOL = 4     # patches pooled into one token where a part takes their indices (Molmo2's adapter: 2 x 2)


def pooled_patches_idx(need: Need):
    """Which patches each token pools (Molmo2's adapter): tokens x POOL indices
    into the flattened patches of ``image_features``, each patch pooled once, in
    order (no padding, which would be -1)."""
    features = need.made.get("image_features")
    if features is None or not need.requires("pooled_patches_idx"):
        return None
    patches = features.shape[0] * features.shape[1]
    tokens = patches // POOL
    return need.make.ints([[t * POOL + k for k in range(POOL)] for t in range(tokens)])


QUERIES_DEFAULT = 200    # object queries a mask decoder reads where its config names none (SAM 3's DETR decoder: 200)


def decoder_queries(need: Need):
    """A mask decoder's object queries, made by the DETR decoder before it (SAM 3's):
    batch x ``num_queries`` (QUERIES_DEFAULT) x ``hidden_size``."""
    width = _first(need.config, ("hidden_size",))
    if width is None or not need.requires("decoder_queries"):
        return None
    return need.make.floats((need.batch, _first(need.config, ("num_queries",)) or QUERIES_DEFAULT, width))


def backbone_features(need: Need):
    """A mask decoder's backbone feature maps (SAM 3's pixel decoder, an FPN):
    ``num_upsampling_stages`` levels, finest first, each batch x ``hidden_size`` x
    side x side, the coarsest MAP_SIDE a side and each finer one twice the last."""
    width, stages = _first(need.config, ("hidden_size",)), _first(need.config, ("num_upsampling_stages",))
    if width is None or not need.requires("backbone_features"):
        return None
    levels = stages or 1
    return [need.make.floats((need.batch, width, MAP_SIDE * 2 ** k, MAP_SIDE * 2 ** k))
            for k in reversed(range(levels))]


def timestep_embeds(need: Need):
    """A diffusion step's embedding an action expert is conditioned on (PI0.5's,
    handed on by the model around it): batch x the expert's width
    (``dit_config.hidden_size``, else ``hidden_size``)."""
    width = _first(need.config, ("dit_config.hidden_size", "hidden_size"))
    if width is None or not need.requires("timestep_embeds"):
        return None
    return need.make.floats((need.batch, width))


CODES_DEFAULT = 48     # codec codes a code-to-mel DiT is given (x ``repeats`` 2: 96 mel frames, 4 blocks of 24)


def _dit(need: Need) -> tuple[int, int, int, int] | None:
    """A code-to-mel DiT (Qwen2.5-Omni's token2wav DiT, alone or inside the token2wav
    model, whose ``dit_config`` it reads): its codes, mel frames (codes x
    ``repeats``), mel bins (``mel_dim``) and code vocabulary (``num_embeds``), where
    the forward requires ``quantized_code`` (``code``)."""
    repeats, mels, vocab = (_first(need.config, (f, f"dit_config.{f}")) for f in ("repeats", "mel_dim", "num_embeds"))
    if None in (repeats, mels, vocab) or not (need.requires("quantized_code") or need.requires("code")):
        return None
    codes = need.tokens or CODES_DEFAULT
    return codes, codes * repeats, mels, vocab


def dit_mel(need: Need):
    """The noisy mel spectrogram a code-to-mel DiT denoises (its ``hidden_states``):
    batch x frames x ``mel_dim``; None for any other model."""
    dit = _dit(need)
    return None if dit is None else need.make.floats((need.batch, dit[1], dit[2]))


def _dit_input(name: str):
    def make(need: Need):
        dit = _dit(need)
        if dit is None or not need.requires(name):
            return None
        codes, frames, mels, vocab = dit
        speaker = _first(need.config, ("enc_emb_dim", "dit_config.enc_emb_dim")) or 1
        if name in ("quantized_code", "code"):
            return need.make.ids((need.batch, codes), vocab)
        if name in ("condition_vector", "reference_mel"):  # the reference speech's mel, as long
            return need.make.floats((need.batch, frames, mels))
        if name == "speaker_embedding":                  # one speaker vector per frame, concatenated
            return need.make.floats((need.batch, frames, speaker))
        if name == "conditioning":                       # the speaker vector, which the sampler repeats per frame
            return need.make.floats((need.batch, speaker))
        return need.make.floats((need.batch,))           # time_step: one diffusion time per sample
    make.__doc__ = f"``{name}`` of a code-to-mel DiT: see DIT_INPUTS."
    return make


# A code-to-mel DiT's conditions (Qwen2.5-Omni's token2wav DiT), each made where required:
# quantized_code: batch x codes, ids below num_embeds; condition_vector: the reference mel, batch x
# frames x mel_dim; speaker_embedding: batch x frames x enc_emb_dim; time_step: batch floats.  The
# token2wav model around it (DiT sampler, then vocoder) takes code, reference_mel (as those) and
# conditioning: batch x enc_emb_dim.
DIT_INPUTS = ("quantized_code", "condition_vector", "speaker_embedding", "time_step",
              "code", "reference_mel", "conditioning")


def sequence(need: Need):
    """A transformer over states another model made, called alone with its input
    named ``hidden_states`` and no patch embedding of its own (FLAVA's multimodal
    encoder, over the image's and the text's states): batch x positions (tokens=,
    else SEQUENCE_DEFAULT) x ``hidden_size``."""
    width = _first(need.config, ("hidden_size", "d_model"))
    return None if width is None else need.make.floats((need.batch, need.tokens or SEQUENCE_DEFAULT, width))


def has_convolution(model) -> bool:
    """Whether the model has a convolution: a backbone or patch embedding that reads images."""
    from torch import nn
    return any(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) for m in model.modules())


def sequence_mask(need: Need):
    """A required mask over a made sequence (Idefics2's perceiver's ``attention_mask``
    over its context): batch x positions of ones, every position valid."""
    seq = next((need.made[n] for n in ("context", "inputs_embeds") if n in need.made), None)
    if seq is None or not need.requires("attention_mask"):
        return None
    return need.make.full(tuple(seq.shape[:2]), 1)


def num_patches(need: Need):
    """Image patches at the start of ``inputs_embeds`` (DeepSeek-OCR2's vision encoder:
    bidirectional over them, causal over the learned queries after them): half the
    positions, as its vision model gives it (144 patches of a 768-pixel image, then
    144 queries).  A Python int, as the forward takes it."""
    embeds = need.made.get("inputs_embeds")
    if embeds is None or not need.requires("num_patches"):
        return None
    return embeds.shape[1] // 2


def patch_embeds(need: Need):
    """A vision encoder's patch embeddings, made by the model around it
    (Unlimited-OCR's): batch x ``hidden_size`` x grid x grid, the grid the image
    over the patch size (image=, else the config's ``image_size``)."""
    if not need.requires("patch_embeds"):
        return None
    width, patch = _first(need.config, ("hidden_size",)), _first(need.config, ("patch_size",))
    side = need.image or _first(need.config, ("image_size",))
    if width is None or patch is None or side is None:
        return None
    grid = max(1, math.floor(side / patch))
    return need.make.floats((need.batch, width, grid, grid))


RULES = {name: Rule(_hidden(name), "hidden states", after=(spec.positions_of,) if spec.companion else ())
         for name, spec in HIDDEN.items()}
RULES.update({
    "attention_mask": Rule(sequence_mask, "hidden states", after=("context",)),
    "num_patches": Rule(num_patches, "hidden states", after=("inputs_embeds",)),
    "patch_embeds": Rule(patch_embeds, "hidden states"),
    "decoder_queries": Rule(decoder_queries, "hidden states"),
    "timestep_embeds": Rule(timestep_embeds, "hidden states"),
    "pooled_patches_idx": Rule(pooled_patches_idx, "hidden states", after=("image_features",)),
    "backbone_features": Rule(backbone_features, "hidden states"),
    **{name: Rule(_dit_input(name), "audio") for name in DIT_INPUTS},
})
