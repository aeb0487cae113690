"""transformers configs by model type or from a local file, with overrides.

``load_config(target, overrides, label)`` gives (config, where it came from, the
file's dict or None).  Overrides come parsed (``profiler.arguments.
parse_config_overrides``): ``{"num_hidden_layers": 2, "rope_theta": 1e6}``.  A
name is a field (``num_hidden_layers``), a field of a sub-config
(``text_config.hidden_size``), a key of a dict-valued field
(``rope_parameters.rope_theta``), or such a key alone (``rope_theta``) where the
config takes it as a legacy argument (checked after the build to have landed).
Overrides are constructor arguments of the config class, so fields the
constructor derives (Llama's ``head_dim`` from ``hidden_size``) follow them.  A
sub-config override changes that one field of the sub-config the parent config
sets (LLaVA's 336-pixel CLIP tower stays one; a Mask2Former backbone keeps its
``model_type``), never the sub-config class's own defaults.  An unknown field is an
error naming the field and close matches.
``attn_implementation``, ``experts_implementation`` and ``dtype`` are accepted too.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from profiler.errors import ProfilerError, first_line
from profiler.models.hub import local_config, suggest

EXTRA_FIELDS = ("attn_implementation", "experts_implementation", "dtype")


def transformers_module():
    try:
        import transformers
    except ImportError as exc:
        raise ProfilerError("hf: models need transformers: pip install 'profiler[hf]'") from exc
    return transformers


def config_types() -> dict[str, Any]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    return CONFIG_MAPPING


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
    types = config_types()
    for key, value in (given or {}).items():
        if isinstance(value, dict) and value.get("model_type") in types:
            subs[key] = types[value["model_type"]]
    return subs


def _fields(config_class, default, given: dict | None = None) -> set[str]:
    """Names a config takes: its defaults' fields, attribute aliases, constructor
    parameters, and those of a given config file."""
    names = set(EXTRA_FIELDS) | set(getattr(config_class, "attribute_map", {}) or {})
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


def _split_overrides(label: str, config_class, overrides: dict[str, Any], given: dict | None,
                     default=None):
    """(flat kwargs, {sub-config name: kwargs}, names to check after the build)
    after checking every name.  Names: a field (``num_hidden_layers``); a field of a
    sub-config (``text_config.hidden_size``); a key of a dict-valued field
    (``rope_parameters.rope_theta``), merged into the default or given dict; or such
    a key alone (``rope_theta``) when the config takes it as a legacy argument,
    checked after the build to have landed.  ``default``: ``config_class()``, or None
    where it does not build."""
    fields = _fields(config_class, default, given)
    subs = _sub_configs(config_class, default, given)
    sub_fields = {s: _fields(cls, _default_config(cls), (given or {}).get(s)) for s, cls in subs.items()}
    dicts: dict[str, dict] = {}
    for source in (default.to_dict() if default is not None else {}), (given or {}):
        for key, value in source.items():
            if isinstance(value, dict) and key not in subs and key not in ("id2label", "label2id"):
                dicts[key] = dict(value)
    # a dict field may be keyed by layer index (Aria's per-layer settings): only string keys
    # can be legacy arguments, and names are sorted as strings, never int against str
    inner = {key for d in dicts.values() for key in d if isinstance(key, str)}
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
            # an int-keyed dict (layer indices) is named with the index as text: keep its key
            inside = next((k for k in dicts[head] if not isinstance(k, str) and str(k) == tail), tail)
            flat[head] = {**(flat.get(head) or dicts[head]), inside: value}
        elif not dot and key in fields:
            flat[key] = value
        elif not dot and key in inner:
            flat[key] = value
            landed.append(key)
        else:
            close = suggest(key, every, "fields")
            raise ProfilerError(f"{label}: {config_class.__name__} has no field '{key}'"
                                + (close if "did you mean" in close else
                                   f"; its fields are those of {config_class.__name__}().to_dict()"))
    return flat, nested, landed


def _sub_config_kwargs(default, sub: str, values: dict[str, Any]) -> dict[str, Any]:
    """The kwargs for sub-config ``sub`` of a config built from its defaults, with
    ``values`` changed: the fields the default parent gave that sub-config (LLaVA's
    vision tower: 1024 wide, patch 14, 336 px; an encoder-decoder's decoder:
    ``is_decoder``), its ``model_type`` (a backbone config is looked up by it), and
    ``values``.  Fields the sub-config class derives from the others (Llama's
    ``head_dim`` from ``hidden_size``) are left out, so that they follow ``values``
    as they do at the top level."""
    from transformers import PretrainedConfig
    parent_sub = getattr(default, sub, None) if default is not None else None
    if not isinstance(parent_sub, PretrainedConfig):
        return dict(values)             # no default to keep: the sub-config class's defaults
    cls = type(parent_sub)
    target = {k: v for k, v in parent_sub.to_dict().items() if k != "transformers_version"}
    plain = _default_config(cls)
    if plain is None:
        return {**target, **values}
    base = {k: v for k, v in plain.to_dict().items() if k != "transformers_version"}
    kept = {k: v for k, v in target.items() if k not in base or base[k] != v}
    for key in list(kept):
        trial = {k: v for k, v in kept.items() if k != key}
        try:
            again = cls(**trial).to_dict()
        except Exception:
            continue                    # needed: without it the class refuses
        if all(again.get(k) == v for k, v in target.items() if k != "transformers_version"):
            kept = trial                # derived from the rest: let it follow the overrides
    if "model_type" in target:
        kept["model_type"] = target["model_type"]
    return {**kept, **values}


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


def load_config(target: str, overrides: dict[str, Any], label: str):
    """(config, where it came from, the file's dict or None)."""
    transformers_types = config_types()
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
            raise ProfilerError(f"unknown hf model type '{target}'{suggest(target, types, 'hf: names')}")
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
    default = _default_config(config_class)
    flat, nested, landed = _split_overrides(label, config_class, overrides or {}, given, default)
    required = _required_fields(config_class, flat, given)
    flat = {**required, **flat}
    try:
        if given is None:
            kwargs = dict(flat)
            for sub, values in nested.items():
                kwargs[sub] = _sub_config_kwargs(default, sub, values)
            config = config_class(**kwargs)
        else:
            merged = {k: v for k, v in given.items() if k not in ("transformers_version",)}
            merged.update(flat)
            for sub, values in nested.items():
                # a file without this sub-config gets the default parent's, as with no file
                merged[sub] = {**(merged.get(sub) or _sub_config_kwargs(default, sub, {})), **values}
            config = config_class.from_dict(merged)
    except Exception as exc:
        raise ProfilerError(f"{label}: {config_class.__name__} refused the config ({_reason(exc)}): "
                            "change the config= values") from exc
    for key in landed:
        if not _landed(config, key, overrides[key]):
            inside = [f"{d}.{key}" for d, v in vars(config).items() if isinstance(v, dict) and key in v]
            raise ProfilerError(f"{label}: {config_class.__name__} does not take '{key}' on its own; set it "
                                f"inside its dict field{', as ' + inside[0] if inside else ''}")
    filled = _fill_unset_shapes(config, overrides or {})
    if required:
        filled = "; ".join(x for x in (filled, ", ".join(f"{k}={v}" for k, v in required.items())
                                       + " set: the config class has no default and refuses to build "
                                         "without it (change it with config=)") if x)
    origin = (f"{path}" if path else f"{config_class.__name__} defaults") + (f" ({filled})" if filled else "")
    return config, origin, given


# fields a config class takes with no default (None) and refuses to build without, and the
# value given where neither the overrides nor the file set one: the forecast horizon of the
# lagged forecasters (Time Series Transformer, Informer, Autoformer), PatchTST's default and
# the future_time_features rule's (profiler.models.hf.rules.series)
REQUIRED_DEFAULTS = {"prediction_length": 24}


def _required_fields(config_class, flat: dict[str, Any], given: dict | None) -> dict[str, Any]:
    """The REQUIRED_DEFAULTS the config class takes with a default of None and that
    neither the overrides (``flat``) nor the given file set."""
    params = inspect.signature(config_class.__init__).parameters
    return {name: value for name, value in REQUIRED_DEFAULTS.items()
            if name in params and params[name].default is None and name not in flat
            and (given or {}).get(name) is None}


def _fill_unset_shapes(config, overrides: dict[str, Any]) -> str:
    """Give ``head_dim`` and ``num_key_value_heads`` left None (HunYuan's and
    Nemotron's default configs) the values every config that derives them uses,
    ``hidden_size // num_attention_heads`` and ``num_attention_heads`` (no grouping),
    in the config and its sub-configs: their modeling code reads them unchecked, and
    fails on ``None ** -0.5``.  A field the overrides name is left alone.  Returns
    what was filled, for the note ("" if nothing)."""
    from transformers import PretrainedConfig
    done = []
    parts = [("", config)] + [(f"{k}.", v) for k, v in vars(config).items() if isinstance(v, PretrainedConfig)]
    def unset(part, name: str) -> bool:
        try:
            return name in vars(part) and getattr(part, name) is None
        except Exception:          # a per-layer setting (Gemma 4): the model reads it per layer
            return False

    for prefix, part in parts:
        try:
            heads, hidden = getattr(part, "num_attention_heads", None), getattr(part, "hidden_size", None)
        except Exception:
            continue
        if not (isinstance(heads, int) and heads > 0):
            continue
        if unset(part, "num_key_value_heads") and prefix + "num_key_value_heads" not in overrides:
            part.num_key_value_heads = heads
            done.append(f"{prefix}num_key_value_heads={heads}")
        if unset(part, "head_dim") and isinstance(hidden, int) and hidden % heads == 0 \
                and prefix + "head_dim" not in overrides:
            part.head_dim = hidden // heads
            done.append(f"{prefix}head_dim={hidden // heads}")
    return f"unset {', '.join(done)} filled as transformers derives them" if done else ""
