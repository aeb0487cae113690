"""Example inputs for one forward of a transformers model: ``example_inputs``."""
from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable

from profiler.arguments import INT64_MAX, check_positive
from profiler.defaults import TOKENS_DEFAULT
from profiler.errors import ProfilerError
from profiler.models.hf.decode import cache_desc, cache_name, decode_enc_dec, output_cache
from profiler.models.hf.make import Maker, describe, get, shape_text, vocab_size
from profiler.models.hf.rules import RULES, Need, required
from profiler.models.hf.rules.audio import input_features

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


def example_inputs(model, config=None, batch: int = 1, tokens: int | None = None,
                   decode: int | None = None, *, image: int | None = None, frames: int | None = None,
                   seconds: float | None = None, given: dict[str, Any] | None = None,
                   run: Callable[..., Any]) -> tuple[tuple, dict[str, Any], str]:
    """(args, kwargs, description) for one forward of a transformers ``model``: all
    keyword arguments (args is empty), tensors on the model's device (meta for a
    model built by ``ModelSpec.build(meta=True)``; a real model gets seeded random
    inputs, for cross-checks).  ``config`` defaults to ``model.config``.

    A prefill's inputs follow the forward's arguments, one rule per name
    (``profiler.models.hf.rules``): every required argument, the primary inputs
    (token ids, images, audio, features, series), and their companions (grid
    sizes, image sizes, time features).  Sizes come from the config, or from
    ``image`` (side in pixels), ``frames`` (video) and ``seconds`` (audio) where
    the caller sets them.  ``given``: inputs by name (tensors, or shapes:
    ``(1, 3, 336, 336)`` or ``((1, 600), torch.int64)``), used as they are and
    merged over the made ones.  ``run(model, kwargs, fn=None)``: how to run the
    model's forward where an input is made from its outputs (the caller's:
    ``profiler.capture.known.run_forward``, see ``make.Maker``).

    * text (``input_ids``): batch×tokens, int64 (tokens default 128, or fewer where a
      learned position table holds fewer; more than it holds, which a real model
      could not run, is refused); encoder-decoder (T5, BART): also
      ``decoder_input_ids`` batch×tokens (the decoder reads as many tokens as the
      encoder);
    * images with text and no image token (CLIP): ``input_ids`` of the text model's
      ``max_position_embeddings`` (77) unless tokens= is given;
    * models that put image (audio, video) features in place of placeholder tokens
      (LLaVA, Qwen2-VL, Voxtral): the placeholders in ``input_ids``, as many per
      sample as the model's own ``get_image_features`` (``get_audio_features``)
      returns on the made media, between the start and end tokens the config
      names, then tokens of text; ids avoid every special token of the config;
    * speech (``input_features``, Whisper): batch×num_mel_bins×(2·max_source_positions)
      = 80×3000 by default (30 s of audio, the only length Whisper takes);
    * raw audio (``input_values``): batch×samples, ``tokens`` samples when given,
      else seconds × the sampling rate (default 1 s at 16 kHz).

    Integer inputs hold seeded values (on a meta model, as CPU tensors the meta
    forward carries: profiler.capture.known); floating ones are uninitialised on
    meta.  No ``attention_mask``: every sequence is full length, which is what the
    counts assume (a model that makes a mask of ones itself, the BART family's
    decoder, reads it on meta through the carried values).  The prefill's logits
    are computed at every position (the forward's default).  A required argument no rule makes is refused, naming it
    and how to give it.

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
    copy.  Models that do not generate (an encoder, ViT, CLIP) refuse ``decode``;
    a vision-language model's step is a text step (its cache holds the image).
    """
    check_positive("batch", batch, allow_none=False)
    check_positive("tokens", tokens)
    check_positive("decode", decode)
    config = config if config is not None else getattr(model, "config", None)
    if config is None:
        raise ProfilerError(f"{type(model).__name__}: no config: pass the transformers config")
    from torch import nn
    if type(model).forward is nn.Module.forward:
        # transformers leaves forward unimplemented (Bark and Qwen2.5-Omni generate; the VQ image
        # tokenizers encode and decode): nothing to run, whatever the inputs
        raise ProfilerError(f"{type(model).__name__}: transformers defines no forward for this class (only "
                            "methods such as generate, encode or decode): profile one of its parts instead")
    params = _passed_on(model, inspect.signature(model.forward).parameters)
    make = Maker(model, run)
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

    if decode is None:
        need = Need(model, config, batch, make, dict(params), tokens, image, frames, seconds)
        kwargs = _prefill(need, given or {}, refuse, limit, check)
        return (), kwargs, describe(kwargs) + "".join(f"; {n}" for n in need.notes)
    if "input_features" in params:                                     # Whisper and kin
        features = input_features(Need(model, config, batch, make, dict(params)))
        if not enc_dec:
            refuse("decode applies to models that generate; this one has no decoder")
        check("decoder", decode + (tokens or 1))
        frames = features.shape[-1]
        return decode_enc_dec(model, params, make, config, batch, tokens or 1, decode,
                              {"input_features": features}, "1500-frame" if frames == 3000 else f"{frames // 2}-frame")
    if "input_ids" not in params or (not _media_tokens(config) and any(
            p in params for p in ("pixel_values", "input_values", "past_values"))):
        refuse("decode applies to models that generate text; this one does not")
    vocab = vocab_size(model, config)
    check("encoder", decode)
    check("decoder", decode + (tokens or 1))
    if enc_dec:
        encoder_input = {"input_ids": make.ids((batch, decode), vocab)}
        return decode_enc_dec(model, params, make, config, batch, tokens or 1, decode, encoder_input,
                               f"{decode}-token")
    if cache_name(params) not in params:
        refuse("decode applies to models that generate with a KV cache; the forward takes none")
    out = make.run(model, {"input_ids": make.ids((batch, decode), vocab), "use_cache": True})
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


# arguments a forward hands on through its **kwargs to a part that requires them, made as its own
# required arguments (PI0.5's base model passes the timestep embedding its head computes to the
# action expert); only these names, so no other forward's inputs change
_PASSED_ON = ("timestep_embeds",)


def _passed_on(model, params):
    """``params``, plus each _PASSED_ON name a direct child's forward requires that
    the forward does not name but takes through ``**kwargs``, as a required
    keyword argument."""
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return params
    extra = {}
    for child in model.children():
        try:
            takes = inspect.signature(child.forward).parameters
        except (TypeError, ValueError):
            continue
        for name in required(takes):
            if name in _PASSED_ON and name not in params:
                extra[name] = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY)
    return {**params, **extra} if extra else params


_POSITION_TABLES = ("wpe", "position_embeddings", "position_embedding", "embed_positions")
_MEDIA_TOWERS = ("vision", "visual", "image", "video", "audio", "speech")   # their tables count patches, not tokens


def _position_limit(model, side: str) -> int | None:
    """The positions a model's learned position table holds, on one side ("text",
    "encoder" or "decoder"; a module named ``*encoder*`` is the encoder's, one of a
    media tower, ``*vision*``, ``*image*``, ``*video*``, ``*audio*``, is skipped): GPT-2's ``wpe``, BERT's ``position_embeddings``,
    BART's and Whisper's ``embed_positions`` (less BART's offset of 2; less the
    padding index and one where the table has one, as RoBERTa's, whose positions
    start after it); None where there is none (rotary, relative and sinusoidal
    positions)."""
    from torch import nn
    found = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] not in _POSITION_TABLES or not isinstance(module, nn.Embedding):
            continue
        lowered = name.lower()
        if any(m in lowered for m in _MEDIA_TOWERS) or ("encoder" in lowered) != (side == "encoder"):
            continue
        skipped = module.padding_idx + 1 if module.padding_idx is not None and module.padding_idx >= 0 else 0
        found.append(module.num_embeddings - int(getattr(module, "offset", 0) or 0) - skipped)
    return min(found) if found else None


_TEXT_PRIMARY = ("input_ids",)


def _prefill(need: Need, given: dict, refuse, limit, check) -> dict[str, Any]:
    """The prefill's keyword inputs: the caller's ``given`` first, then the rules
    (profiler.models.hf.rules), then the text."""
    model, config, make, params = need.model, need.config, need.make, need.params
    made = need.made
    for name, value in given.items():
        made[name] = _given(need, name, value)
    needed = set(required(params))
    text_later = [n for n, r in RULES.items() if "input_ids" in r.after]   # in RULES order
    for name, rule in RULES.items():
        if name in made or name not in params or name in text_later:
            continue
        if name in needed or rule.primary or any(a in made for a in rule.after):
            value = rule.make(need)
            if value is not None:
                made[name] = value
    if not made:             # no primary input: the forward's optional ones a rule knows (a video tower alone)
        for name, rule in RULES.items():
            if name in params and not rule.after and name not in text_later:
                value = rule.make(need)
                if value is not None:
                    made[name] = value
    if need.tokens is not None and not {"input_ids", "decoder_input_ids"} & set(params) and "input_values" not in made:
        refuse(f"tokens= applies to text inputs; this model takes {', '.join(made) or 'no token ids'}")
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    # an encoder-decoder whose encoder reads the features made, with no placeholder for them in the
    # text (Pop2Piano: the features are its encoder's embeddings, and ids beside them are refused)
    features_encode = enc_dec and "input_features" in made and not _media_tokens(config)
    if "input_ids" in params and "input_ids" not in made and not features_encode:
        made["input_ids"] = _text_ids(need, check)
    if "decoder_input_ids" in params and "decoder_input_ids" not in made and (enc_dec or "input_features" in made):
        if need.tokens is not None:
            length = need.tokens
        elif "input_ids" in made and not any("tokens per sample" in n for n in need.notes):
            length = made["input_ids"].shape[1]          # the decoder reads as many tokens as the encoder
        else:
            length = min(TOKENS_DEFAULT, limit("decoder") or TOKENS_DEFAULT)
        check("decoder", length)
        rows, last = _codebooks(need, "decoder_input_ids")
        made["decoder_input_ids"] = make.ids((need.batch * rows, length) + ((last,) if last else ()),
                                             vocab_size(model, config))
    for name in text_later:
        if name in params and name not in made and (name in needed or any(a in made for a in RULES[name].after)):
            value = RULES[name].make(need)
            if value is not None:
                made[name] = value
    for name in required(params):
        if name not in made and _admits_none(params[name]):
            made[name] = None      # required, typed to admit None (Phi-4's audio mask: Tensor | None): given None
    missing = [p for p in required(params) if p not in made]
    if missing:
        refuse("cannot make " + ", ".join(missing) + " (no rule for "
               + ("it" if len(missing) == 1 else "them") + "): give "
               + ("it" if len(missing) == 1 else "each") + " by name, e.g. --arg "
               + f"{missing[0]}=SHAPE[:dtype] (from Python: the named argument of profile)")
    if not made:
        refuse("cannot make example inputs: the forward takes no input a rule knows; give them by name "
               "(--arg NAME=SHAPE[:dtype], from Python: the named argument of profile)")
    return dict(made)


def _admits_none(param) -> bool:
    """Whether a forward argument's annotation admits None (``Tensor | None``,
    ``Optional[Tensor]``), read as written."""
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        return False
    text = annotation if isinstance(annotation, str) else str(annotation)
    return bool(re.search(r"\bNone\b|Optional\[", text))


def _given(need: Need, name: str, value):
    """A given input: a tensor as it is, or a shape (with a dtype) made here:
    floats uninitialised on meta, token ids (a name ending in ids) below the
    vocabulary, other integers zeros, booleans true."""
    torch = need.make.torch
    if isinstance(value, torch.Tensor):
        return value
    pair = (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (tuple, list))
            and (value[1] is None or isinstance(value[1], torch.dtype)))
    shape, dtype = value if pair else (tuple(value), None)
    if dtype is None or dtype.is_floating_point:
        return need.make.floats(tuple(shape), dtype)
    if name.endswith("ids"):
        return need.make.ids(tuple(shape), vocab_size(need.model, need.config)).to(dtype)
    return need.make.full(tuple(shape), True if dtype == torch.bool else 0, dtype=dtype)


# (media, the inputs that carry it, the model's method that makes its features, its placeholder token's names,
#  start token names, end token names)
_MEDIA = (
    ("image", ("pixel_values",), "get_image_features", ("image_token_id", "image_token_index"),
     ("vision_start_token_id", "image_start_token_id", "boi_token_id", "boi_token_index"),
     ("vision_end_token_id", "image_end_token_id", "eoi_token_id", "eoi_token_index")),
    ("audio", ("input_features", "input_values"), "get_audio_features", ("audio_token_id", "audio_token_index"),
     ("audio_start_token_id", "audio_bos_token_id", "boa_token_id", "boa_token_index"),
     ("audio_end_token_id", "audio_eos_token_id", "eoa_token_id", "eoa_token_index")),
    ("video", ("pixel_values_videos",), "get_video_features", ("video_token_id", "video_token_index"),
     ("vision_start_token_id", "video_start_token_id"), ("vision_end_token_id", "video_end_token_id")),
)
# config fields that give the placeholder count per image where the model has no get_image_features
_COUNT_FIELDS = ("image_seq_length", "num_image_tokens", "mm_tokens_per_image", "image_seq_len", "num_query_tokens")


def _config_tree(config) -> list:
    """The config, then its sub-configs (a wrapper's ``vlm_config`` and its
    ``text_config``), breadth first: where token ids may be set."""
    found, queue = [], [config]
    while queue and len(found) < 16:
        current = queue.pop(0)
        if current is None or any(current is c for c in found):
            continue
        found.append(current)
        queue += [v for v in vars(current).values() if hasattr(v, "to_dict") and hasattr(v, "model_type")]
    return found


def _token_id(configs, names) -> int | None:
    for config in configs:
        for name in names:
            value = getattr(config, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _media_tokens(config) -> bool:
    """Whether the model puts media features in place of placeholder tokens."""
    configs = _config_tree(config)
    return any(_token_id(configs, media[3]) is not None for media in _MEDIA)


def _special_ids(configs) -> frozenset[int]:
    found: set[int] = set()
    for config in configs:
        for key, value in (vars(config).items() if config is not None else ()):
            if "token" not in key:
                continue
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    found.add(v)
    return frozenset(found)


def _feature_rows(out) -> int:
    """Feature vectors in a get_*_features result: its ``pooler_output`` (where
    transformers puts the projected features) or the result itself, a tensor or
    a list of them, counted as rows of the last dimension."""
    import torch
    found = getattr(out, "pooler_output", None) if not isinstance(out, (torch.Tensor, list, tuple)) else out
    if found is None and hasattr(out, "last_hidden_state"):
        found = out.last_hidden_state
    if isinstance(found, torch.Tensor):
        found = [found]
    if not isinstance(found, (list, tuple)) or not found or not all(isinstance(t, torch.Tensor) for t in found):
        raise ValueError(f"no features in {type(out).__name__}")
    return sum(t.numel() // t.shape[-1] for t in found)


_TOWERS = {"image": ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder"),
           "audio": ("audio_tower", "audio_encoder", "audio_model", "speech_encoder"),
           "video": ("video_tower", "vision_tower", "visual")}


def _tower(model, names):
    """The first submodule called one of ``names`` (at the top or one level down)."""
    for holder in (model, getattr(model, "model", None)):
        for name in names:
            found = getattr(holder, name, None) if holder is not None else None
            if found is not None and callable(found):
                return found
    return None


def _media_count(need: Need, media: str, carriers, method: str) -> tuple[int, str]:
    """Placeholders per sample for the media in ``carriers``: the rows the model's
    own ``method`` returns on the made inputs (run on meta), over the batch; else
    a count field of the config; else the rows its tower returns."""
    fn = getattr(need.model, method, None) or getattr(getattr(need.model, "model", None), method, None) \
        or next((getattr(m, method) for m in need.model.modules() if hasattr(type(m), method)), None)
    # the last: a wrapper that holds the whole vision-language model deeper (ColQwen2's vlm.model)
    inner = getattr(getattr(need.model, "model", None), method, None)
    if fn is not None and inner is not None and fn is not inner:
        outer = inspect.signature(fn).parameters
        if any(p.kind is p.VAR_KEYWORD for p in outer.values()) \
                and set(required(inspect.signature(inner).parameters)) - set(outer):
            # a head's pass-through that hands its **kwargs on to a base model's method requiring more
            # (MOSS Transcribe-Diarize's padding_mask): the base model's method names what it needs
            fn = inner
    error = None
    if fn is not None:
        takes = inspect.signature(fn).parameters
        for name in required(takes):       # what the method needs that the forward left optional (image_sizes)
            if name not in need.made and name in RULES:
                need.required.add(name)
                value = RULES[name].make(need)
                if value is not None:
                    need.made[name] = value
        kwargs = {k: v for k, v in need.made.items() if k in takes}
        # a method that needs what is not made (the token ids being made: Music Flamingo's) is not
        # run: the tower answers
        unmade = [n for n in required(takes) if n not in kwargs]
        if any(c in kwargs for c in carriers) and not unmade:
            try:
                return _feature_rows(need.make.run(need.model, kwargs, fn)) // need.batch, method
            except Exception as exc:   # noqa: BLE001 - said in the refusal below, or another source answers
                error = exc
    configs = _config_tree(need.config)
    for name in _COUNT_FIELDS if media == "image" else ():
        value = _token_id(configs, (name,))
        if value:
            return value, f"config.{name}"
    tower = _tower(need.model, _TOWERS[media])
    carrier = next((c for c in carriers if c in need.made), None)
    if tower is not None and carrier is not None and error is None:
        try:
            needs = {n: need.made[n] for n in inspect.signature(tower.forward).parameters
                     if n in need.made and n not in carriers}     # its companions made (a mask)
            return _feature_rows(need.make.run(need.model, {carrier: need.made[carrier], **needs}, tower)) \
                // need.batch, f"its {type(tower).__name__}"
        except Exception as exc:   # noqa: BLE001 - said in the refusal below
            error = exc
    from profiler.errors import first_line
    raise ProfilerError(f"{type(need.model).__name__}: cannot count the {media} placeholder tokens of its "
                        f"{carrier}" + (f" ({first_line(error)})" if error else f" (no {method})")
                        + ": give input_ids by name (--arg input_ids=SHAPE:int64; from Python: the named "
                          "argument of profile)")


_CODEBOOK_ROWS = r"(?m)^\s*{} \(`torch\.LongTensor` of shape `\(batch_size \* num_codebooks"
_CODEBOOK_LAST = r"(?m)^\s*{} \(`torch\.LongTensor` of shape `\(batch_size, \w+, num_codebooks\)"
_CODEBOOK_FIELDS = ("num_codebooks", "num_channels")   # Dia's decoder names its codebooks num_channels


def _codebooks(need: Need, name: str = "input_ids") -> tuple[int, int]:
    """(rows per sample, trailing codebook axis) of the token ids ``name``: a
    decoder of audio codes reads one row per codebook where its forward documents
    them as ``(batch_size * num_codebooks, ...)`` (MusicGen's ``input_ids``), or a
    last axis of codebooks where it (for ``decoder_input_ids``: its decoder)
    documents ``(batch_size, sequence_length, num_codebooks)`` (Dia); the
    count is the config's (or its decoder config's) ``num_codebooks``
    (``num_channels``).  (1, 0) elsewhere: one row, no codebook axis."""
    doc = inspect.getdoc(need.model.forward) or ""
    decoder = getattr(need.model, "decoder", None) or getattr(getattr(need.model, "model", None), "decoder", None)
    if name == "decoder_input_ids" and decoder is not None and hasattr(decoder, "forward"):
        # the decoder's own layout, where it documents one: Dia's reads (batch, length, codebooks), and the
        # parent's documented 2-D layout, reshaped and transposed into it, cannot be viewed by its embedding
        inner = inspect.getdoc(decoder.forward) or ""
        if re.search(_CODEBOOK_LAST.format("input_ids"), inner):
            doc, name = inner, "input_ids"
    configs = (need.config, get(need.config, "decoder_config", default=None))
    count = next((v for c in configs if c is not None for f in _CODEBOOK_FIELDS
                  if isinstance(v := get(c, f, default=None), int) and not isinstance(v, bool) and v >= 2), None)
    if count is None:
        return 1, 0
    if re.search(_CODEBOOK_ROWS.format(name), doc):
        return count, 0
    if re.search(_CODEBOOK_LAST.format(name), doc):
        return 1, count
    return 1, 0


# a multi-stream token embedding's offsets, one per stream, into its one table (Kyutai's speech-to-text:
# the text stream and 32 audio codebooks, 33): the ids come batch x length x streams, summed per position
_STREAM_OFFSETS = ("audio_tokens_offsets",)


def _streams(model) -> int:
    """Streams of a multi-stream token embedding (``_STREAM_OFFSETS``), or 0."""
    try:
        embedding = model.get_input_embeddings()
    except Exception:          # noqa: BLE001 - a model without one (or that refuses): a single stream
        return 0
    for name in _STREAM_OFFSETS:
        offsets = getattr(embedding, name, None)
        if offsets is not None and getattr(offsets, "dim", lambda: 0)() == 1 and offsets.shape[0] > 1:
            return int(offsets.shape[0])
    return 0


def _position_tables(model) -> tuple[int, int] | None:
    """Where the model embeds each position's id with a table of its own
    (``embed_tokens``, a list of embeddings: Moshi's depth decoder, the text token
    in its own table, then one audio codebook per position): the smallest table,
    so every id is valid wherever it lands, and the positions there are tables for
    (the list's, after the model's own single tables).  None for a model with one
    table."""
    from torch import nn
    tables = getattr(model, "embed_tokens", None)
    if isinstance(tables, nn.ModuleList) and len(tables) and all(isinstance(t, nn.Embedding) for t in tables):
        single = [t for t in model.children() if isinstance(t, nn.Embedding)]
        return min(t.num_embeddings for t in (*tables, *single)), len(tables) + len(single)
    return None


def _text_ids(need: Need, check) -> Any:
    """``input_ids``: media placeholders first (between their start and end
    tokens), then the text."""
    model, config, make = need.model, need.config, need.make
    configs = _config_tree(config)
    vocab = vocab_size(model, config)
    avoid = _special_ids(configs)
    prefix: list[int] = []
    for media, carriers, method, names, starts, ends in _MEDIA:
        token = _token_id(configs, names)
        if token is None or not any(c in need.made for c in carriers):
            continue
        count, source = _media_count(need, media, carriers, method)
        start, end = _token_id(configs, starts), _token_id(configs, ends)
        prefix += ([start] if start is not None else []) + [token] * count + ([end] if end is not None else [])
        need.notes.append(f"{count} {media} tokens per sample in input_ids (from {source})")
    if prefix:
        # the text after the placeholders, as much of the default as the position table leaves room for
        room = min((_position_limit(model, side) or INT64_MAX for side in ("encoder", "decoder", "text")))
        length = need.tokens or max(1, min(TOKENS_DEFAULT, room - len(prefix)))
    elif "pixel_values" in need.made:            # image and text side by side (CLIP)
        length = need.tokens or min(int(get(need.text, "max_position_embeddings", default=TOKENS_DEFAULT)),
                                    _position_limit(model, "text") or INT64_MAX)
    else:
        # the config's own position limit too, where no nn.Embedding table shows it (TIPSv2's and
        # VideoPrism's text towers keep theirs in a parameter of 64 rows)
        stated = get(need.text, "max_position_embeddings")
        stated = stated if isinstance(stated, int) and not isinstance(stated, bool) and stated > 0 else TOKENS_DEFAULT
        length = need.tokens or min(TOKENS_DEFAULT, stated, *(_position_limit(model, side) or TOKENS_DEFAULT
                                                              for side in ("encoder", "decoder")))
    side = "text" if "pixel_values" in need.made and not prefix else "encoder"
    check(side, length + len(prefix))
    if side == "encoder":
        check("decoder", length + len(prefix))
    rows, last = _codebooks(need)
    streams = _streams(model) if not last else 0
    if streams:
        # every stream's ids below the smallest stream vocabulary (Kyutai's audio codebooks: 2049)
        last = streams
        vocab = min(vocab, int(get(config, "codebook_vocab_size", default=vocab) or vocab))
    tables = _position_tables(model)
    if tables is not None and not prefix:
        vocab, length = min(vocab, tables[0]), min(length, tables[1]) if need.tokens is None else length
    ids = make.ids((need.batch * rows, length + len(prefix)) + ((last,) if last else ()), vocab, avoid)
    if prefix:
        ids[:, :len(prefix)] = make.torch.tensor(prefix, dtype=ids.dtype, device=ids.device)
    return ids
