"""The transformers class a config is built as, and the spec that builds it.

The class, the task head a user expects:

* an encoder-decoder config (``is_encoder_decoder``: T5, BART, Whisper): the
  sequence-to-sequence LM (``AutoModelForSeq2SeqLM``, else
  ``AutoModelForSpeechSeq2Seq``), because Whisper's and BART's causal-LM class is
  their decoder alone;
* an encoder (the model type has a masked-LM class and is not encoder-decoder:
  BERT, RoBERTa): the base model (``AutoModel``), because their causal-LM class is
  the encoder run as a decoder;
* else the causal LM where there is one (``AutoModelForCausalLM``: Llama, GPT-2,
  Mistral, Mixtral, Qwen2), else the base model (ViT, CLIP).

A local config's ``architectures[0]`` wins when transformers has that class (the
checkpoint's own head, e.g. ``BertForSequenceClassification``).  The chosen class
is named in the spec's notes.  The build is always on the meta device
(``ModelSpec.build(meta=True)``): a 70B config builds in well under a second and a
few megabytes.
"""
from __future__ import annotations

import copy
import functools
import inspect
from typing import Any

from profiler.errors import ProfilerError
from profiler.models.hf.config import load_config, transformers_module
from profiler.models.hub import HF_PREFIX

HF_FAMILIES = ("language", "vision", "vision-language", "speech", "audio")


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


def resolve_hf(target: str, overrides: dict[str, Any] | None = None, label: str | None = None):
    """A ModelSpec for a transformers model type or a local config (see the module
    docstring); ``overrides`` change the config.  Imports transformers (and torch)."""
    from profiler.models.spec import ModelSpec
    label = label or f"{HF_PREFIX}{target}"
    transformers = transformers_module()
    config, origin, given = load_config(target, overrides or {}, label)
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
