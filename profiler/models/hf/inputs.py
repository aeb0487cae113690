"""Example inputs for one forward of a transformers model: ``example_inputs``."""
from __future__ import annotations

import inspect
import math
from typing import Any

from profiler.arguments import INT64_MAX, check_positive
from profiler.errors import ProfilerError
from profiler.models.hf.decode import (cache_desc, cache_name, decode_enc_dec, decoder_mask, output_cache,
                                       run_prefill)
from profiler.models.hf.make import Maker, describe, get, shape_text, vocab_size

TOKENS_DEFAULT = 128          # prefill length when tokens= is not given (text models)
AUDIO_SAMPLES_DEFAULT = 16000  # one second at 16 kHz for raw-waveform models (wav2vec2, HuBERT)


def _check_scores(name: str, config, itemsize: int, batch: int, tokens: int | None, decode: int | None) -> None:
    """One layer's attention scores, batch × heads × queries × keys at the model's
    element size, fit a tensor (at most 2**63 - 1 bytes): a prefill of tokens (or,
    for decode=, the prefill of the cache: decode × decode) and a decode step of
    tokens × (decode + tokens).  A larger one is refused here, naming tokens= or
    decode= and the largest that fits, instead of failing inside torch ("Storage
    size calculation overflowed").  Skipped where the config names no head count."""
    heads = get(config, "num_attention_heads", "n_head", "num_heads")
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        return
    per = batch * heads * itemsize        # bytes per query-key pair

    def largest(past: int) -> int:        # the most n with per · n · (past + n) ≤ INT64_MAX
        n = (math.isqrt(past * past + 4 * (INT64_MAX // per)) - past) // 2
        while n > 0 and per * n * (past + n) > INT64_MAX:
            n -= 1
        return n

    cases = [("decode", decode, 0), ("tokens", tokens or 1, decode)] if decode is not None else \
        [("tokens", tokens, 0)] if tokens is not None else []
    for argument, queries, past in cases:
        if per * queries * (past + queries) > INT64_MAX:
            raise ProfilerError(f"{name}: {argument}={queries}: one layer's attention scores (batch {batch} × "
                                f"{heads} heads × {queries} queries × {past + queries} keys × {itemsize} bytes) "
                                f"would take more than 2**63 - 1 bytes, the most a tensor holds: lower "
                                f"{argument}= to {largest(past)} or less")


def _image_size(config) -> tuple[int, int, int]:
    vision = get(config, "vision_config", default=config)
    size = get(vision, "image_size", default=224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    return (int(get(vision, "num_channels", default=3)), *map(int, size[-2:]))


def example_inputs(model, config=None, batch: int = 1, tokens: int | None = None,
                   decode: int | None = None) -> tuple[tuple, dict[str, Any], str]:
    """(args, kwargs, description) for one forward of a transformers ``model``: all
    keyword arguments (args is empty), tensors on the model's device (meta for a
    model built by ``ModelSpec.build(meta=True)``; a real model gets seeded random
    inputs, for cross-checks).  ``config`` defaults to ``model.config``.

    By the forward's inputs:

    * text (``input_ids``): ``input_ids`` batch×tokens, int64 (tokens default 128, or
      fewer where a learned position table holds fewer; more than it holds, which a
      real model could not run, is refused);
      encoder-decoder (T5, BART): also ``decoder_input_ids`` batch×tokens (prefill:
      the decoder reads as many tokens as the encoder);
    * vision (``pixel_values``, ViT): batch×channels×image_size², from the config;
    * vision-language (CLIP): ``input_ids`` batch×tokens (default the text model's
      ``max_position_embeddings``, 77) and ``pixel_values``;
    * speech (``input_features``, Whisper): batch×num_mel_bins×(2·max_source_positions)
      = 80×3000 by default (30 s of audio, the only length Whisper takes) and
      ``decoder_input_ids`` batch×tokens;
    * raw audio (``input_values``, wav2vec2): batch×tokens samples (default 16000).

    No ``attention_mask``: see the module docstring.  A meta encoder-decoder whose
    decoder makes a mask of ones when given none (the BART family) gets a 4D
    additive ``decoder_attention_mask`` instead (see ``_decoder_mask``).  Token ids
    are below the input embedding's size; the prefill's logits are computed at every
    position (the forward's default).  Models that place image features at image
    tokens (LLaVA and kin) are refused: that needs real token ids.

    ``decode=N``: one generation step after N tokens.  ``tokens`` is then the new
    tokens per sequence (default 1; more for speculative verification).  The KV
    cache comes from the model's own prefill forward of N tokens (on meta: shapes
    only, no memory), so it is the cache class and layout the model uses (a
    DynamicCache; sliding-window layers keep their window, hybrid models their
    state), with per-layer keys and values of batch×num_key_value_heads×N×head_dim.
    Decoder-only: ``input_ids`` batch×tokens, the cache, and ``position_ids`` N…N+tokens−1
    (``cache_position`` where the forward takes it), so attention sees N+tokens keys.
    Encoder-decoder: the encoder is not run; ``encoder_outputs`` are the prefill's
    (encoder length N; Whisper: the fixed 1500 frames of its 30 s input), the cache
    holds N decoder tokens for self-attention and the encoder's keys and values for
    cross-attention (computed once per sequence in generation, so the step does not
    project them again).  The caller's cache is never mutated: profile() runs on a
    copy.  Models that do not generate (an encoder, ViT, CLIP) refuse ``decode``.
    """
    check_positive("batch", batch, allow_none=False)
    check_positive("tokens", tokens)
    check_positive("decode", decode)
    config = config if config is not None else getattr(model, "config", None)
    if config is None:
        raise ProfilerError(f"{type(model).__name__}: no config: pass the transformers config")
    params = inspect.signature(model.forward).parameters
    make = Maker(model)
    name = type(model).__name__
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    text_config = get(config, "text_config", default=config)
    _check_scores(name, text_config, make.dtype.itemsize, batch, tokens, decode)

    def refuse(what: str):
        raise ProfilerError(f"{name}: {what}")

    def limit(side: str) -> int | None:
        return _position_limit(model, side)

    def check(side: str, positions: int) -> None:
        most = limit(side)
        if most is not None and positions > most:
            what = "tokens" if decode is None else "decode + tokens"
            refuse(f"its learned position embeddings hold {most} positions, and {what} = {positions} needs more "
                   f"(a real model could not run it): profile at most {most}")

    if "input_features" in params:                                     # Whisper and kin
        frames = 2 * int(get(config, "max_source_positions", default=1500))
        features = make.floats((batch, int(get(config, "num_mel_bins", "feature_size", default=80)), frames))
        if decode is None:
            kwargs = {"input_features": features}
            if "decoder_input_ids" in params:
                length = tokens or min(TOKENS_DEFAULT, limit("decoder") or TOKENS_DEFAULT)
                check("decoder", length)
                kwargs["decoder_input_ids"] = make.ids((batch, length), vocab_size(model, config))
                kwargs.update(decoder_mask(model, params, make, {"input_features": features[:1]}, batch, length, 0))
            return (), kwargs, describe(kwargs)
        if not enc_dec:
            refuse("decode applies to models that generate; this one has no decoder")
        check("decoder", decode + (tokens or 1))
        return decode_enc_dec(model, params, make, config, batch, tokens or 1, decode,
                               {"input_features": features}, "1500-frame" if frames == 3000 else f"{frames // 2}-frame")

    if "pixel_values" in params:
        image = make.floats((batch, *_image_size(config)))
        if decode is not None:
            refuse("decode applies to models that generate text; this one does not")
        if "input_ids" in params and any(getattr(c, k, None) is not None for c in (config, text_config)
                                         for k in ("image_token_id", "image_token_index")):
            refuse("the forward puts image features in place of image tokens in input_ids, which needs "
                   "real token ids (a data-dependent op): pass inputs= and kwargs= yourself")
        if "input_ids" in params:                                      # CLIP and kin
            length = tokens or int(get(text_config, "max_position_embeddings", default=TOKENS_DEFAULT))
            check("text", length)
            kwargs = {"input_ids": make.ids((batch, length), vocab_size(model, config)), "pixel_values": image}
        else:
            if tokens is not None:
                refuse("tokens= applies to text inputs; this model takes images (pixel_values)")
            kwargs = {"pixel_values": image}
        return (), kwargs, describe(kwargs)

    if "input_values" in params:
        if decode is not None:
            refuse("decode applies to models that generate text; this one does not")
        kwargs = {"input_values": make.floats((batch, tokens or AUDIO_SAMPLES_DEFAULT))}
        return (), kwargs, describe(kwargs)

    if "input_ids" not in params:
        required = [p for p, v in params.items() if v.default is v.empty and v.kind not in (v.VAR_KEYWORD,
                                                                                          v.VAR_POSITIONAL)]
        refuse(f"cannot make example inputs: the forward takes {', '.join(required) or 'no known input'}; "
               "pass inputs= and kwargs= yourself")
    vocab = vocab_size(model, config)
    if decode is None:
        length = tokens or min(TOKENS_DEFAULT, *(limit(side) or TOKENS_DEFAULT for side in ("encoder", "decoder")))
        check("encoder", length)
        check("decoder", length)
        kwargs = {"input_ids": make.ids((batch, length), vocab)}
        if enc_dec and "decoder_input_ids" in params:
            kwargs["decoder_input_ids"] = make.ids((batch, length), vocab)
            kwargs.update(decoder_mask(model, params, make, {"input_ids": kwargs["input_ids"][:1, :2]},
                                        batch, length, 0))
        return (), kwargs, describe(kwargs)
    check("encoder", decode)
    check("decoder", decode + (tokens or 1))
    if enc_dec:
        encoder_input = {"input_ids": make.ids((batch, decode), vocab)}
        return decode_enc_dec(model, params, make, config, batch, tokens or 1, decode, encoder_input,
                               f"{decode}-token")
    if cache_name(params) not in params:
        refuse("decode applies to models that generate with a KV cache; the forward takes none")
    out = run_prefill(model, {"input_ids": make.ids((batch, decode), vocab), "use_cache": True})
    cache = output_cache(out)
    if cache is None:
        refuse("decode applies to models that generate with a KV cache; the forward returned none "
               "(an encoder)")
    new = tokens or 1
    kwargs = {"input_ids": make.ids((batch, new), vocab), cache_name(params): cache}
    if "position_ids" in params:
        kwargs["position_ids"] = make.positions(decode, new, batch)
    if "cache_position" in params:
        kwargs["cache_position"] = make.positions(decode, new, 1)[0]
    kwargs["use_cache"] = True
    return (), kwargs, f"input_ids {shape_text(kwargs['input_ids'])} after a KV cache of {decode} ({cache_desc(cache)})"


_POSITION_TABLES = ("wpe", "position_embeddings", "position_embedding", "embed_positions")


def _position_limit(model, side: str) -> int | None:
    """The positions a model's learned position table holds, on one side ("text",
    "encoder" or "decoder"; a module named ``*encoder*`` is the encoder's, one named
    ``*vision*`` is skipped): GPT-2's ``wpe``, BERT's ``position_embeddings``,
    BART's and Whisper's ``embed_positions`` (less BART's offset of 2); None where
    there is none (rotary, relative and sinusoidal positions)."""
    from torch import nn
    found = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] not in _POSITION_TABLES or not isinstance(module, nn.Embedding):
            continue
        lowered = name.lower()
        if "vision" in lowered or ("encoder" in lowered) != (side == "encoder"):
            continue
        found.append(module.num_embeddings - int(getattr(module, "offset", 0) or 0))
    return min(found) if found else None
