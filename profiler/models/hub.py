"""Models from Hugging Face transformers and timm, built from configs, never downloaded.

Names
-----
``hf:ARCH``
    ARCH is a transformers ``model_type`` (``llama``, ``gpt2``, ``bert``, ``t5``,
    ``mistral``, ``qwen2``, ``mixtral``, ``qwen2_moe``, ``vit``, ``clip``, ``whisper``,
    ... any key of ``CONFIG_MAPPING`` with a model class).  The model is built from
    the config class with its defaults (``LlamaConfig()`` is the 7B Llama), changed
    by the config overrides.  The class, the task head a user expects:

    * an encoder-decoder config (``is_encoder_decoder``: T5, BART, Whisper): the
      sequence-to-sequence LM (``AutoModelForSeq2SeqLM``, else
      ``AutoModelForSpeechSeq2Seq``), because Whisper's and BART's causal-LM class is
      their decoder alone;
    * an encoder (the model type has a masked-LM class and is not encoder-decoder:
      BERT, RoBERTa): the base model (``AutoModel``), because their causal-LM class
      is the encoder run as a decoder;
    * else the causal LM where there is one (``AutoModelForCausalLM``: Llama, GPT-2,
      Mistral, Mixtral, Qwen2), else the base model (ViT, CLIP).

    The chosen class is named in the spec's notes.

``hf:PATH`` and a plain ``PATH``
    PATH is a folder holding ``config.json`` (a checkpoint folder, as users keep it)
    or a ``.json`` file.  Its ``architectures[0]`` is the class when transformers has
    it (the checkpoint's own head, e.g. ``BertForSequenceClassification``), else the
    rule above.  After ``hf:``, a known model type wins over a folder of the same
    name (write ``hf:./llama`` for the folder).  Without ``hf:``, a name is a path
    only when it has no ``:`` (so it never collides with ``file.py:Attr`` or
    ``package.module:attr``), is not a torchvision or built-in name (those win), and
    is an existing folder holding ``config.json`` or an existing ``.json`` file.
    The file is read locally (``model_type`` picks the config class); nothing is
    fetched, and configs that need remote code are refused.

``timm:NAME``
    ``timm.create_model(NAME, pretrained=False)``, NAME any name timm registers
    (with or without a pretrained tag, ``resnet50.a1_in1k``); family
    ``classification``; the default input is the model's
    ``pretrained_cfg["input_size"]`` (``ModelSpec.input_size``).  Overrides are
    passed to ``create_model`` (``img_size=384``, ``num_classes=10``).

The prefixes ``hf:`` and ``timm:`` are reserved: a user module named ``hf`` or
``timm`` is written as a path (``./hf.py:build``).

Config overrides
----------------
``parse_config_overrides(["num_hidden_layers=2", "rope_theta=1e6"])`` (from
profiler.arguments, which parses without torch, so the CLI can check ``--config``
first) gives
``{"num_hidden_layers": 2, "rope_theta": 1000000.0}``; values are int, float,
bool (true/false), None (none/null), JSON for lists, dicts and quoted strings,
else the text.  A dotted name sets a sub-config field
(``text_config.num_hidden_layers=2`` for CLIP).  Overrides are constructor
arguments of the config class, so fields the constructor derives (Llama's
``head_dim`` from ``hidden_size``) follow them.  An unknown field is an error
naming the field and close matches.  ``attn_implementation`` and ``dtype`` are
accepted too.

Building
--------
Always on the meta device (``ModelSpec.build(meta=True)``): a 70B config builds in
well under a second and a few megabytes.  Attention: the model's default
implementation (``sdpa`` where the class supports it, else eager); MoE experts:
transformers' default (``grouped_mm``).  The caller's dtype comes from the config
(a checkpoint's ``dtype``/``torch_dtype``; float32 for defaults).

Inputs: ``example_inputs``
--------------------------
See its docstring: token ids, images, mel features, and for ``decode=N`` one new
token after a KV cache of N, all on the model's device (meta for a spec's build).
No ``attention_mask`` is passed: with SDPA, transformers decides whether it can skip
the causal mask by reading the padding mask's values (``padding_mask.all()``), and
a meta tensor has none (``Tensor.item() cannot be called on meta tensors``).
Without a mask every sequence is full length, which is what the counts assume;
causal masking is still applied (``is_causal`` for SDPA, a mask built from shapes
for eager attention).  Decoders that make a mask of ones themselves when given
none (BART, mBART, Marian, Pegasus, Blenderbot, M2M-100) get the mask form that
needs no data on meta: a 4D additive ``decoder_attention_mask``, which
transformers passes through as it is.

Listing
-------
``hf_names()`` and ``timm_names()`` read the installed packages' sources (transformers'
auto mappings, timm's ``@register_model`` functions) without importing them, so
``profiler list`` does not import torch; either is empty when its package is absent.
"""
from __future__ import annotations

import ast
import copy
import difflib
import functools
import importlib.util
import inspect
import json
import math
import re
from pathlib import Path
from typing import Any

from profiler.arguments import INT64_MAX, check_positive
from profiler.errors import ProfilerError, first_line

HF_PREFIX, TIMM_PREFIX = "hf:", "timm:"
HF_FAMILIES = ("language", "vision", "vision-language", "speech", "audio")
TOKENS_DEFAULT = 128          # prefill length when tokens= is not given (text models)
AUDIO_SAMPLES_DEFAULT = 16000  # one second at 16 kHz for raw-waveform models (wav2vec2, HuBERT)
_LISTED_MAPPINGS = ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
                    "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "MODEL_MAPPING_NAMES")
_EXTRA_FIELDS = ("attn_implementation", "experts_implementation", "dtype")


# --- names ---------------------------------------------------------------------

def is_hub_name(name: str) -> bool:
    """``hf:...`` or ``timm:...``."""
    return name.startswith((HF_PREFIX, TIMM_PREFIX))


def local_config(text: str) -> Path | None:
    """The config file ``text`` names: an existing ``.json`` file, or an existing
    folder holding ``config.json``; None otherwise (and for anything with a ``:``)."""
    if not text or ":" in text:
        return None
    path = Path(text).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path / "config.json"
    if path.is_file() and path.suffix == ".json":
        return path
    return None


def resolve_hub(name: str, overrides: dict[str, Any] | None = None):
    """A ModelSpec for ``hf:ARCH``, ``hf:PATH``, a plain config PATH, or ``timm:NAME``."""
    if name.startswith(TIMM_PREFIX):
        return resolve_timm(name[len(TIMM_PREFIX):], overrides)
    target = name[len(HF_PREFIX):] if name.startswith(HF_PREFIX) else name
    return resolve_hf(target, overrides, label=name)


def _suggest(name: str, names: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [n for n in names if name and name.lower() in n.lower() and n not in close][:3 - len(close)]
    return f"; did you mean {', '.join(close)}?" if close else f"; see 'profiler list' for the {what}"


# --- transformers ----------------------------------------------------------------

def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise ProfilerError("hf: models need transformers: pip install 'profiler[hf]'") from exc
    return transformers


def _modeling_maps() -> Any:
    from transformers.models.auto import modeling_auto
    return modeling_auto


def _first_class(value) -> str:
    return value[0] if isinstance(value, (tuple, list)) else value


def choose_class(config) -> tuple[str, str]:
    """(class name, head) for a config: see the module docstring."""
    maps = _modeling_maps()
    model_type = config.model_type
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    choices = []
    if enc_dec:
        choices += [(maps.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES, "seq2seq LM"),
                    (maps.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES, "speech seq2seq")]
    encoder = model_type in maps.MODEL_FOR_MASKED_LM_MAPPING_NAMES and not enc_dec
    if not encoder:
        choices.append((maps.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "causal LM"))
    choices.append((maps.MODEL_MAPPING_NAMES, "base model"))
    for mapping, head in choices:
        if model_type in mapping:
            return _first_class(mapping[model_type]), head
    raise ProfilerError(f"hf:{model_type}: transformers has no causal-LM, seq2seq or base model class for "
                        f"model type '{model_type}'")


def _family(cls) -> str:
    params = inspect.signature(cls.forward).parameters
    if "input_features" in params:
        return "speech"
    if "pixel_values" in params:
        return "vision-language" if "input_ids" in params else "vision"
    if "input_values" in params:
        return "audio"
    return "language"


def _config_types() -> dict[str, Any]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    return CONFIG_MAPPING


def _listed_types() -> list[str]:
    maps = _modeling_maps()
    types = set()
    for name in _LISTED_MAPPINGS:
        types |= set(getattr(maps, name, {}))
    return sorted(types & set(_config_types().keys()))


def _sub_configs(config_class, default, given: dict | None = None) -> dict[str, Any]:
    """Sub-config name -> its config class: the class declared in ``sub_configs``,
    or, where that is AutoConfig (LLaVA's text_config), the class of the default's
    sub-config or of the given file's ``model_type`` there."""
    subs = dict(getattr(config_class, "sub_configs", {}) or {})
    from transformers import PretrainedConfig
    if default is not None:
        for key, value in vars(default).items():
            if isinstance(value, PretrainedConfig):
                subs[key] = type(value)
    types = _config_types()
    for key, value in (given or {}).items():
        if isinstance(value, dict) and value.get("model_type") in types:
            subs[key] = types[value["model_type"]]
    return subs


def _fields(config_class, default, given: dict | None = None) -> set[str]:
    """Names a config takes: its defaults' fields, attribute aliases, constructor
    parameters, and those of a given config file."""
    names = set(_EXTRA_FIELDS) | set(getattr(config_class, "attribute_map", {}) or {})
    if default is not None:
        names |= set(default.to_dict())
    names |= {p for p, v in inspect.signature(config_class.__init__).parameters.items()
              if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    names |= set(given or {})
    return names


def _default_config(config_class):
    try:
        return config_class()
    except Exception:          # composite configs that need their parts (EncoderDecoderConfig)
        return None


def _split_overrides(label: str, config_class, overrides: dict[str, Any], given: dict | None):
    """(flat kwargs, {sub-config name: kwargs}, names to check after the build)
    after checking every name.  Names: a field (``num_hidden_layers``); a field of a
    sub-config (``text_config.hidden_size``); a key of a dict-valued field
    (``rope_parameters.rope_theta``), merged into the default or given dict; or such
    a key alone (``rope_theta``) when the config takes it as a legacy argument,
    checked after the build to have landed."""
    default = _default_config(config_class)
    fields = _fields(config_class, default, given)
    subs = _sub_configs(config_class, default, given)
    sub_fields = {s: _fields(cls, _default_config(cls), (given or {}).get(s)) for s, cls in subs.items()}
    dicts: dict[str, dict] = {}
    for source in (default.to_dict() if default is not None else {}), (given or {}):
        for key, value in source.items():
            if isinstance(value, dict) and key not in subs and key not in ("id2label", "label2id"):
                dicts[key] = dict(value)
    inner = {key for d in dicts.values() for key in d}
    every = sorted(fields | inner) + [f"{s}.{f}" for s in subs for f in sorted(sub_fields[s])] + \
        [f"{d}.{k}" for d, values in dicts.items() for k in values]
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    landed: list[str] = []
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise ProfilerError(f"{label}: config override names must be non-empty strings, got {key!r}")
        head, dot, tail = key.partition(".")
        if dot and "." not in tail and head in subs and tail in sub_fields[head]:
            nested.setdefault(head, {})[tail] = value
        elif dot and "." not in tail and head in dicts:
            flat[head] = {**(flat.get(head) or dicts[head]), tail: value}
        elif not dot and key in fields:
            flat[key] = value
        elif not dot and key in inner:
            flat[key] = value
            landed.append(key)
        else:
            close = _suggest(key, every, "fields")
            raise ProfilerError(f"{label}: {config_class.__name__} has no field '{key}'"
                                + (close if "did you mean" in close else
                                   f"; its fields are those of {config_class.__name__}().to_dict()"))
    return flat, nested, landed


def _landed(config, key: str, value: Any) -> bool:
    """A legacy argument ``key`` took effect: a dict field holds it (an argument the
    config does not know becomes a bare attribute, which no model reads)."""
    return any(isinstance(v, dict) and key in v and v[key] == value for v in vars(config).values())


def _reason(exc: BaseException) -> str:
    """One line of why a config class refused its arguments: the innermost cause
    (transformers' validators wrap the ValueError that says it, over two lines)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return first_line(exc)


def _load_config(target: str, overrides: dict[str, Any], label: str):
    """(config, where it came from, the file's dict or None)."""
    transformers_types = _config_types()
    types = sorted(transformers_types.keys())
    path = None
    if target in transformers_types:
        model_type, given = target, None
    else:
        path = local_config(target)
        if path is None:
            if "/" in target or target.endswith(".json") or Path(target).exists():
                raise ProfilerError(f"{label}: no config.json at '{target}' (expected a folder holding "
                                    "config.json, or a .json file)")
            raise ProfilerError(f"unknown hf model type '{target}'{_suggest(target, types, 'hf: names')}")
        try:
            given = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProfilerError(f"{label}: cannot read {path}: {exc}") from exc
        if not isinstance(given, dict):
            raise ProfilerError(f"{label}: {path} does not hold a JSON object")
        model_type = given.get("model_type")
        if model_type not in transformers_types:
            why = ("has no model_type" if model_type is None else
                   f"has model_type '{model_type}', which this transformers does not know"
                   + ("" if "auto_map" not in given else " (a model with remote code, which is never run)"))
            raise ProfilerError(f"{label}: {path} {why}")
    config_class = transformers_types[model_type]
    flat, nested, landed = _split_overrides(label, config_class, overrides or {}, given)
    try:
        if given is None:
            kwargs = dict(flat)
            for sub, values in nested.items():
                kwargs[sub] = dict(values)
            config = config_class(**kwargs)
        else:
            merged = {k: v for k, v in given.items() if k not in ("transformers_version",)}
            merged.update(flat)
            for sub, values in nested.items():
                merged[sub] = {**(merged.get(sub) or {}), **values}
            config = config_class.from_dict(merged)
    except Exception as exc:
        raise ProfilerError(f"{label}: {config_class.__name__} refused the config ({_reason(exc)}): "
                            "change the config= values") from exc
    for key in landed:
        if not _landed(config, key, overrides[key]):
            inside = [f"{d}.{key}" for d, v in vars(config).items() if isinstance(v, dict) and key in v]
            raise ProfilerError(f"{label}: {config_class.__name__} does not take '{key}' on its own; set it "
                                f"inside its dict field{', as ' + inside[0] if inside else ''}")
    origin = f"{path}" if path else f"{config_class.__name__} defaults"
    return config, origin, given


def resolve_hf(target: str, overrides: dict[str, Any] | None = None, label: str | None = None):
    """A ModelSpec for a transformers model type or a local config (see the module
    docstring); ``overrides`` change the config.  Imports transformers (and torch)."""
    from profiler.models.spec import ModelSpec
    label = label or f"{HF_PREFIX}{target}"
    transformers = _transformers()
    config, origin, given = _load_config(target, overrides or {}, label)
    cls_name, head = None, None
    for arch in (given or {}).get("architectures") or []:
        if isinstance(arch, str) and hasattr(transformers, arch):
            cls_name, head = arch, "the checkpoint's architectures[0]"
            break
    if cls_name is None:
        cls_name, head = choose_class(config)
    try:
        cls = getattr(transformers, cls_name)
    except Exception as exc:
        raise ProfilerError(f"{label}: transformers cannot load {cls_name}: {type(exc).__name__}: {exc}") from exc
    shown = ", ".join(f"{k}={v!r}" for k, v in (overrides or {}).items())
    note = (f"{label}: {cls_name} ({head}) from {origin}" + (f", with {shown}" if shown else "")
            + "; built on meta, no weights")
    return ModelSpec(label, functools.partial(_build_hf, cls, config), _family(cls), {},
                     config=config, notes=[note])


def _build_hf(cls, config):
    """A fresh model from a copy of ``config`` (the build may write to its config)."""
    return cls._from_config(copy.deepcopy(config))


# --- timm ----------------------------------------------------------------------------

def resolve_timm(name: str, overrides: dict[str, Any] | None = None):
    """A ModelSpec for ``timm.create_model(name, pretrained=False, **overrides)``."""
    from profiler.models.spec import ModelSpec
    try:
        import timm
    except ImportError as exc:
        raise ProfilerError("timm: models need timm: pip install 'profiler[timm]'") from exc
    label = f"{TIMM_PREFIX}{name}"
    if not name or ":" in name or not timm.is_model(name):
        raise ProfilerError(f"unknown timm model '{name}'{_suggest(name, timm_model_names(), 'timm: names')}")
    from timm.models import get_pretrained_cfg
    overrides = dict(overrides or {})
    cfg = get_pretrained_cfg(name)
    size = tuple(getattr(cfg, "input_size", None) or (3, 224, 224))
    img = overrides.get("img_size")
    if isinstance(img, int) and not isinstance(img, bool):
        size = (size[0], img, img)
    elif isinstance(img, (list, tuple)) and len(img) == 2:
        size = (size[0], *img)
    shown = "".join(f", {k}={v!r}" for k, v in overrides.items())
    note = (f"{label}: timm.create_model('{name}', pretrained=False{shown}); "
            f"input {'x'.join(map(str, size))} from its pretrained_cfg")
    return ModelSpec(label, functools.partial(_build_timm, name, overrides), "classification", {},
                     input_size=size, notes=[note])


def _build_timm(name: str, overrides: dict[str, Any]):
    import timm
    try:
        return timm.create_model(name, pretrained=False, **overrides)
    except TypeError as exc:
        if overrides:
            raise ProfilerError(f"timm:{name}: create_model refused the overrides "
                                f"{', '.join(overrides)}: {exc}") from exc
        raise


# --- example inputs -----------------------------------------------------------------------


def _check_scores(name: str, config, itemsize: int, batch: int, tokens: int | None, decode: int | None) -> None:
    """One layer's attention scores, batch × heads × queries × keys at the model's
    element size, fit a tensor (at most 2**63 - 1 bytes): a prefill of tokens (or,
    for decode=, the prefill of the cache: decode × decode) and a decode step of
    tokens × (decode + tokens).  A larger one is refused here, naming tokens= or
    decode= and the largest that fits, instead of failing inside torch ("Storage
    size calculation overflowed").  Skipped where the config names no head count."""
    heads = _get(config, "num_attention_heads", "n_head", "num_heads")
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


def _get(config, *names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _vocab(model, config) -> int:
    try:
        return model.get_input_embeddings().num_embeddings
    except Exception:
        return int(_get(config, "vocab_size", default=2) or 2)


class _Maker:
    """Tensors on the model's device: uninitialised on meta, seeded random elsewhere."""

    def __init__(self, model):
        import torch
        self.torch = torch
        params = [*model.parameters(), *model.buffers()]
        self.device = params[0].device if params else torch.device("cpu")
        self.dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
        self.meta = self.device.type == "meta"
        self.generator = None if self.meta else torch.Generator().manual_seed(0)

    def ids(self, shape, high: int):
        torch = self.torch
        if self.meta:
            return torch.empty(shape, dtype=torch.int64, device=self.device)
        return torch.randint(0, max(1, high), shape, generator=self.generator).to(self.device)

    def floats(self, shape):
        torch = self.torch
        if self.meta:
            return torch.empty(shape, dtype=self.dtype, device=self.device)
        return torch.randn(shape, generator=self.generator).to(self.device, self.dtype)

    def positions(self, start: int, count: int, batch: int):
        torch = self.torch
        return torch.arange(start, start + count, device=self.device).unsqueeze(0).expand(batch, count)


def _shape(t) -> str:
    return "x".join(map(str, t.shape))


def _image_size(config) -> tuple[int, int, int]:
    vision = _get(config, "vision_config", default=config)
    size = _get(vision, "image_size", default=224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    return (int(_get(vision, "num_channels", default=3)), *map(int, size[-2:]))


def _cache_name(params) -> str:
    return "cache" if "cache" in params else "past_key_values"


def _output_cache(out):
    for name in ("cache", "past_key_values"):
        value = getattr(out, name, None) if not isinstance(out, tuple) else None
        if value is not None:
            return value
    return None


def _run_prefill(model, kwargs: dict):
    """The model's own forward on the prefill, under no_grad and in eval mode (the
    modes restored); on meta, under the profiler's meta replay, which also lets
    meta MoE experts run (torch._grouped_mm)."""
    import contextlib

    from profiler.capture.modes import eval_state
    replay = contextlib.nullcontext()
    if all(t.device.type == "meta" for t in model.parameters()):
        try:
            from torch.utils._python_dispatch import TorchDispatchMode

            from profiler.capture.metacache import MetaReplay

            class _Replay(TorchDispatchMode):
                def __init__(self):
                    super().__init__()
                    self.replay = MetaReplay()

                def __torch_dispatch__(self, func, types, args=(), kw=None):
                    return self.replay(func, args, kw or {})
            replay = _Replay()
        except ImportError:
            pass
    with eval_state(model), replay:
        return model(**kwargs)


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
    make = _Maker(model)
    name = type(model).__name__
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    text_config = _get(config, "text_config", default=config)
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
        frames = 2 * int(_get(config, "max_source_positions", default=1500))
        features = make.floats((batch, int(_get(config, "num_mel_bins", "feature_size", default=80)), frames))
        if decode is None:
            kwargs = {"input_features": features}
            if "decoder_input_ids" in params:
                length = tokens or min(TOKENS_DEFAULT, limit("decoder") or TOKENS_DEFAULT)
                check("decoder", length)
                kwargs["decoder_input_ids"] = make.ids((batch, length), _vocab(model, config))
                kwargs.update(_decoder_mask(model, params, make, {"input_features": features[:1]}, batch, length, 0))
            return (), kwargs, _describe(kwargs)
        if not enc_dec:
            refuse("decode applies to models that generate; this one has no decoder")
        check("decoder", decode + (tokens or 1))
        return _decode_enc_dec(model, params, make, config, batch, tokens or 1, decode,
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
            length = tokens or int(_get(text_config, "max_position_embeddings", default=TOKENS_DEFAULT))
            check("text", length)
            kwargs = {"input_ids": make.ids((batch, length), _vocab(model, config)), "pixel_values": image}
        else:
            if tokens is not None:
                refuse("tokens= applies to text inputs; this model takes images (pixel_values)")
            kwargs = {"pixel_values": image}
        return (), kwargs, _describe(kwargs)

    if "input_values" in params:
        if decode is not None:
            refuse("decode applies to models that generate text; this one does not")
        kwargs = {"input_values": make.floats((batch, tokens or AUDIO_SAMPLES_DEFAULT))}
        return (), kwargs, _describe(kwargs)

    if "input_ids" not in params:
        required = [p for p, v in params.items() if v.default is v.empty and v.kind not in (v.VAR_KEYWORD,
                                                                                          v.VAR_POSITIONAL)]
        refuse(f"cannot make example inputs: the forward takes {', '.join(required) or 'no known input'}; "
               "pass inputs= and kwargs= yourself")
    vocab = _vocab(model, config)
    if decode is None:
        length = tokens or min(TOKENS_DEFAULT, *(limit(side) or TOKENS_DEFAULT for side in ("encoder", "decoder")))
        check("encoder", length)
        check("decoder", length)
        kwargs = {"input_ids": make.ids((batch, length), vocab)}
        if enc_dec and "decoder_input_ids" in params:
            kwargs["decoder_input_ids"] = make.ids((batch, length), vocab)
            kwargs.update(_decoder_mask(model, params, make, {"input_ids": kwargs["input_ids"][:1, :2]},
                                        batch, length, 0))
        return (), kwargs, _describe(kwargs)
    check("encoder", decode)
    check("decoder", decode + (tokens or 1))
    if enc_dec:
        encoder_input = {"input_ids": make.ids((batch, decode), vocab)}
        return _decode_enc_dec(model, params, make, config, batch, tokens or 1, decode, encoder_input,
                               f"{decode}-token")
    if _cache_name(params) not in params:
        refuse("decode applies to models that generate with a KV cache; the forward takes none")
    out = _run_prefill(model, {"input_ids": make.ids((batch, decode), vocab), "use_cache": True})
    cache = _output_cache(out)
    if cache is None:
        refuse("decode applies to models that generate with a KV cache; the forward returned none "
               "(an encoder)")
    new = tokens or 1
    kwargs = {"input_ids": make.ids((batch, new), vocab), _cache_name(params): cache}
    if "position_ids" in params:
        kwargs["position_ids"] = make.positions(decode, new, batch)
    if "cache_position" in params:
        kwargs["cache_position"] = make.positions(decode, new, 1)[0]
    kwargs["use_cache"] = True
    return (), kwargs, f"input_ids {_shape(kwargs['input_ids'])} after a KV cache of {decode} ({_cache_desc(cache)})"


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


def _decode_enc_dec(model, params, make, config, batch, new, decode, encoder_input, encoder_desc):
    vocab = _vocab(model, config)
    probe = {k: v[:1, :2] if k == "input_ids" else v[:1] for k, v in encoder_input.items()}
    out = _run_prefill(model, {**encoder_input, "decoder_input_ids": make.ids((batch, decode), vocab),
                               **_decoder_mask(model, params, make, probe, batch, decode, 0), "use_cache": True})
    cache = _output_cache(out)
    encoder = getattr(out, "encoder_last_hidden_state", None)
    if cache is None or encoder is None:
        raise ProfilerError(f"{type(model).__name__}: decode: the prefill returned no cache or encoder output")
    kwargs = {"encoder_outputs": (encoder,), "decoder_input_ids": make.ids((batch, new), vocab),
              **_decoder_mask(model, params, make, probe, batch, new, decode),
              _cache_name(params): cache, "use_cache": True}
    return (), kwargs, (f"decoder_input_ids {_shape(kwargs['decoder_input_ids'])} after a self-attention cache of "
                        f"{decode} and a {encoder_desc} encoder output {_shape(encoder)} ({_cache_desc(cache)})"
                        + _mask_desc(kwargs))


_MASK_NEEDED: dict[tuple, bool] = {}   # (class, attention implementation)


def _decoder_mask(model, params, make, probe: dict, batch: int, new: int, past: int) -> dict:
    """``{"decoder_attention_mask": 4D mask}`` for a decoder that, given no mask,
    makes one of ones and has transformers read its values (BART, mBART, Marian,
    Pegasus, Blenderbot, M2M-100: SDPA's mask-skip test, which a meta tensor cannot
    answer); ``{}`` for every other model.  Found once per class by a small meta
    forward (batch 1, two decoder tokens).  The 4D mask is taken as given: batch x 1
    x new x (past + new), additive (0 where a token may attend, the dtype's minimum
    above the causal diagonal), so SDPA and eager attention both apply it; it
    costs one addition per attention score, as an eager mask does.  Only meta
    models need it: a real model gets none."""
    if not make.meta or "decoder_attention_mask" not in params:
        return {}
    cls = (type(model), getattr(getattr(model, "config", None), "_attn_implementation", None))
    if cls not in _MASK_NEEDED:
        try:
            _run_prefill(model, {**probe, "decoder_input_ids": make.ids((1, 2), 2)})   # as the prefill runs
            _MASK_NEEDED[cls] = False
        except RuntimeError as exc:
            _MASK_NEEDED[cls] = "meta tensors" in str(exc)
    if not _MASK_NEEDED[cls]:
        return {}
    return {"decoder_attention_mask": causal_mask(batch, new, past, make.dtype, make.device)}


def causal_mask(batch: int, new: int, past: int, dtype, device):
    """An additive causal mask, batch x 1 x new x (past + new): query i (at
    position past + i) sees keys 0 … past + i.  On meta, its shape only."""
    import torch
    shape = (batch, 1, new, past + new)
    if torch.device(device).type == "meta":
        return torch.empty(shape, dtype=dtype, device=device)
    mask = torch.full((new, past + new), torch.finfo(dtype).min, dtype=dtype).triu(past + 1)
    return mask.expand(shape).to(device)


def _mask_desc(kwargs: dict) -> str:
    mask = kwargs.get("decoder_attention_mask")
    return "" if mask is None else f", 4D decoder_attention_mask {_shape(mask)}"


def _cache_desc(cache) -> str:
    layers = getattr(cache, "layers", None)
    if layers is None and hasattr(cache, "self_attention_cache"):
        return f"{type(cache).__name__} of {_cache_desc(cache.self_attention_cache)}"
    if not layers:
        return type(cache).__name__
    kinds = sorted({type(layer).__name__ for layer in layers})
    return f"{type(cache).__name__}, {len(layers)} layers: {', '.join(kinds)}"


def _describe(kwargs: dict) -> str:
    return ", ".join(f"{k} {_shape(v)}" for k, v in kwargs.items() if hasattr(v, "shape"))


# --- names without importing torch -----------------------------------------------------

def _package_root(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _literal_mappings(paths: list[Path], wanted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The module-level mappings among ``wanted`` built from literals in the source
    files ``paths``, read in order: ``NAME = OrderedDict([...])`` or a dict literal,
    ``NAME = OrderedDict(**{...}, **NAME)``, and ``NAME.update({...})``.  A name that
    is missing, or built from anything else, is left out."""
    found: dict[str, dict[str, Any]] = {}

    def literal(node) -> dict | None:
        try:
            return dict(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None

    def built(node) -> dict | None:
        if not isinstance(node, ast.Call):
            return literal(node)
        parts = [literal(a) for a in node.args]
        for keyword in node.keywords:
            if keyword.arg is not None:
                parts.append({keyword.arg: ast.literal_eval(keyword.value)} if isinstance(keyword.value, ast.Constant)
                             else None)
            elif isinstance(keyword.value, ast.Name):
                parts.append(found.get(keyword.value.id))
            else:
                parts.append(literal(keyword.value))
        if any(part is None for part in parts):
            return None
        merged: dict = {}
        for part in parts:
            merged.update(part)
        return merged

    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                call = node.value
                if (isinstance(call.func, ast.Attribute) and call.func.attr == "update"
                        and isinstance(call.func.value, ast.Name) and call.func.value.id in found
                        and len(call.args) == 1 and not call.keywords):
                    extra = literal(call.args[0])
                    if extra is None:
                        found.pop(call.func.value.id)
                    else:
                        found[call.func.value.id].update(extra)
                continue
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
                node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
            if not isinstance(target, ast.Name) or target.id not in wanted:
                continue
            value = built(node.value)
            if value is None:
                found.pop(target.id, None)
            else:
                found[target.id] = value
    return found


def hf_model_types() -> list[str]:
    """The transformers model types with a causal-LM, seq2seq, speech-seq2seq or
    base model class, read from transformers' sources (its auto mappings) without
    importing it, which imports torch; kept to the types its config mapping knows
    when that is readable too.  [] when transformers is not installed; only if the
    sources cannot be read is transformers imported."""
    root = _package_root("transformers")
    if root is None:
        return []
    auto = root / "models" / "auto"
    # the order transformers builds them in: auto_mappings (newer releases), then the modules
    files = [auto / "auto_mappings.py", auto / "configuration_auto.py", auto / "modeling_auto.py"]
    found = _literal_mappings(files, (*_LISTED_MAPPINGS, "CONFIG_MAPPING_NAMES"))
    models = [found[name] for name in _LISTED_MAPPINGS if name in found]
    if "MODEL_MAPPING_NAMES" in found:
        types = set().union(*(set(m) for m in models))
        configs = found.get("CONFIG_MAPPING_NAMES")
        return sorted(types & set(configs) if configs else types)
    try:
        return _listed_types()
    except Exception:
        return []


def hf_names() -> list[str]:
    return [HF_PREFIX + t for t in hf_model_types()]


_REGISTER = re.compile(r"^@register_model(?:\([^)]*\))?\s*\ndef (\w+)\(", re.M)


def timm_model_names() -> list[str]:
    """timm's registered architectures (``timm.list_models()``), read from its
    sources without importing it; [] when timm is not installed."""
    root = _package_root("timm")
    if root is None:
        return []
    names: set[str] = set()
    for path in sorted((root / "models").glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if "register_model" in source:
            names.update(_REGISTER.findall(source))
    if not names:
        try:
            import timm
            return sorted(timm.list_models())
        except Exception:
            return []
    return sorted(names)


def timm_names() -> list[str]:
    return [TIMM_PREFIX + n for n in timm_model_names()]
