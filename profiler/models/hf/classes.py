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
  Mistral, Mixtral, Qwen2), else the base model (ViT, CLIP);
* else (a model type no auto class maps: a sub-model such as ``owlv2_vision_model``,
  ``siglip_text_model``, or a task model such as ``zoedepth``) the ``PreTrainedModel``
  subclass of the model type's own modeling modules whose ``config_class`` is the
  config's class: a base model (a name ending in ``Model``, no ``For``) first, then
  another headless module (``...Encoder``, ``...Backbone``, ``...VQVAE``), then a head;
  among equals a class transformers exports, then the shortest name, then by name.  The
  note names the class and the ones passed over.  A type with no such class (a part
  built only inside its parent: ``sam_mask_decoder``) is refused in one line that
  names the parent to profile instead.

A local config's ``architectures[0]`` wins when transformers has that class (the
checkpoint's own head, e.g. ``BertForSequenceClassification``).  The chosen class
is named in the spec's notes.  The build is always on the meta device
(``ModelSpec.build(meta=True)``): a 70B config builds in well under a second and a
few megabytes.
"""
from __future__ import annotations

import copy
import functools
import importlib
import inspect
import pkgutil
import re
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
            return _exported_or_own(_first_class(mapping[model_type]), config), head
    own = own_classes(type(config))
    if own:
        (name, kind), others = own[0], [n.rpartition(":")[2] for n, _ in own[1:]]
        return name, (f"the {kind} whose config_class is {type(config).__name__}, as no auto class maps "
                      f"'{model_type}'" + (f"; passed over {', '.join(others)}" if others else ""))
    for mapping, head in ((maps.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES, "image-text-to-text"),
                          (maps.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES, "multimodal LM")):
        # a config that reuses another model's class (PP-Chart2Table builds a GotOcr2ForConditionalGeneration)
        if model_type in mapping:
            return _first_class(mapping[model_type]), head
    parents = _parents(model_type)
    why = (f"transformers has no model class for model type '{model_type}': no auto class maps it, and no "
           f"PreTrainedModel of its model folder takes {type(config).__name__}")
    if parents:
        raise ProfilerError(f"hf:{model_type}: {why} (it is built only inside a larger model): profile "
                            f"{' or '.join('hf:' + t for t in parents[:3])} instead")
    raise ProfilerError(f"hf:{model_type}: {why}: build the model that uses a {type(config).__name__} "
                        "yourself and profile it as an nn.Module")


def _exported_or_own(name: str, config) -> str:
    """``name`` where transformers exports it, else the class of that name in the
    config's model folder as ``module:Class`` (an auto map may name a class the
    package does not export: VoxtralRealtimeTextModel); else ``name`` as it is."""
    if hasattr(transformers_module(), name):
        return name
    return next((n for n, _ in own_classes(type(config)) if n.rpartition(":")[2] == name), name)


# a class that adds a task head: ...ForCausalLM, ...LMHeadModel, ...WithProjection, ...SLAHead
_HEAD = re.compile(r"For[A-Z0-9]|LMHead|WithProjection|Head$")


def own_classes(config_class) -> list[tuple[str, str]]:
    """[(name, kind)], best first, of the ``PreTrainedModel`` subclasses defined in
    the modeling modules of ``config_class``'s model folder whose ``config_class`` is
    ``config_class`` (the abstract ``...PreTrainedModel`` bases left out).  ``name`` is
    the class's name where transformers exports it, else ``module:Class`` (see
    ``load_class``); kind is "base model", "headless module" or "head"; the order is
    the module docstring's."""
    transformers = transformers_module()
    package_name = config_class.__module__.rpartition(".")[0]
    try:
        package = importlib.import_module(package_name)
    except Exception:
        return []
    found = []
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        if not info.name.startswith("modeling_"):
            continue
        try:
            module = importlib.import_module(f"{package_name}.{info.name}")
        except Exception:        # a modeling module whose optional dependency is missing
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__ \
                    and issubclass(obj, transformers.PreTrainedModel) \
                    and getattr(obj, "config_class", None) is config_class and not name.endswith("PreTrainedModel"):
                exported = getattr(transformers, name, None) is obj
                if _HEAD.search(name):
                    kind, rank = "head", 2
                elif name.endswith("Model"):
                    kind, rank = "base model", 0
                else:
                    kind, rank = "headless module", 1
                found.append(((rank, not exported, len(name), name),
                              (name if exported else f"{module.__name__}:{name}", kind)))
    return [entry for _, entry in sorted(found)]


def load_class(name: str):
    """The transformers class ``name``: a name transformers exports, or
    ``module:Class`` for one it does not (``own_classes``)."""
    module, colon, attr = name.rpartition(":")
    if colon:
        return getattr(importlib.import_module(module), attr)
    return getattr(transformers_module(), name)


def _parents(model_type: str) -> list[str]:
    """Model types of the same model folder that an auto class maps: what a part
    (``sam_mask_decoder``) is built inside (``sam``)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES, model_type_to_module_name
    maps = _modeling_maps()
    folder = model_type_to_module_name(model_type)
    mapped = (maps.MODEL_MAPPING_NAMES, maps.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
              maps.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    return sorted(t for t in CONFIG_MAPPING_NAMES if t != model_type and model_type_to_module_name(t) == folder
                  and any(t in m for m in mapped))


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
        cls = load_class(cls_name)
    except Exception as exc:
        raise ProfilerError(f"{label}: transformers cannot load {cls_name}: {type(exc).__name__}: {exc}") from exc
    shown = ", ".join(f"{k}={v!r}" for k, v in (overrides or {}).items())
    note = (f"{label}: {cls.__name__} ({head}) from {origin}" + (f", with {shown}" if shown else "")
            + "; built on meta, no weights")
    return ModelSpec(label, functools.partial(_build_hf, cls, config), _family(cls), {},
                     config=config, notes=[note])


def _build_hf(cls, config):
    """A fresh model from a copy of ``config`` (the build may write to its config)."""
    return cls._from_config(copy.deepcopy(config))
