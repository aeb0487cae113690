"""A model's name to its ``ModelSpec``: torchvision names, built-ins, user code, and
Hugging Face transformers / timm models (``hf:ARCH``, a local config.json,
``timm:NAME``; see profiler.models.hf and profiler.models.timm_models).

Nothing here downloads: torchvision builders get ``weights=None`` and, where they
take it, ``weights_backbone=None``; hf: and timm: models are built from configs
with ``pretrained=False``.  Listing the names is profiler.models.names' job; what
the published weights say, profiler.models.weights'.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

from profiler.defaults import DEFAULT_IMAGE  # noqa: F401 (re-exported: the default per-sample image)
from profiler.errors import ProfilerError
from profiler.models.hub import suggest
from profiler.models.names import torchvision_names
from profiler.models.spec import ModelSpec
from profiler.models.weights import _with_frozen_batchnorm, native_build_kwargs


def family_of(name: str) -> str:
    import torchvision.models as tvm
    for family, module in (("segmentation", tvm.segmentation), ("detection", tvm.detection),
                           ("video", tvm.video), ("optical_flow", tvm.optical_flow),
                           ("quantized", tvm.quantization)):
        if name in tvm.list_models(module=module):
            return family
    return "classification"


def resolve(spec: str, overrides: dict[str, Any] | None = None, native: bool = False) -> ModelSpec:
    """A model from a torchvision name, a built-in name, ``file.py:attr`` or
    ``package.module:attr`` (attr is a class or function called with no arguments),
    ``hf:ARCH``, ``hf:PATH`` or a plain PATH to a config.json or a folder holding one,
    or ``timm:NAME`` (see profiler.models.hub, profiler.models.hf and
    profiler.models.timm_models for the rules).  ``overrides``: config fields
    for hf: models, ``create_model`` arguments for timm: (see
    ``profiler.arguments.parse_config_overrides``); other models take none.  ``native``: built
    with the constructor arguments the published weights imply (``native_build_kwargs``;
    user code takes none)."""
    found = _resolve(spec, overrides)
    if native and found.family != "custom":
        found.build_kwargs.update(native_build_kwargs(found.name))
    return found


def _resolve(spec: str, overrides: dict[str, Any] | None) -> ModelSpec:
    from profiler.models import hub
    if hub.is_hub_name(spec):
        return _resolve_hub(spec, overrides)
    if ":" in spec:
        _no_overrides(spec, overrides)
        return ModelSpec(spec, _load_user_callable(spec), "custom")
    from profiler.models.zoo import ALIASES, BUILTIN
    if spec in BUILTIN:
        _no_overrides(spec, overrides)
        return ModelSpec(spec, BUILTIN[spec], "classification")
    if spec in ALIASES:                 # an old name: the built-in it became, under the name given, with a note
        _no_overrides(spec, overrides)
        target, note = ALIASES[spec]
        return ModelSpec(spec, BUILTIN[target], "classification", notes=[note])
    names = torchvision_names()
    if spec not in names:
        if hub.local_config(spec) is not None:
            return _resolve_hub(spec, overrides)
        raise ProfilerError(f"unknown model '{spec}'{suggest(spec, names + sorted(BUILTIN), 'models')}")
    _no_overrides(spec, overrides)
    from torchvision.models import get_model_builder
    builder = get_model_builder(spec)
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None
    family = family_of(spec)
    if family == "detection":
        builder = _with_frozen_batchnorm(builder)
    return ModelSpec(spec, builder, family, kwargs)


def _resolve_hub(name: str, overrides: dict[str, Any] | None) -> ModelSpec:
    """``timm:NAME`` (profiler.models.timm_models), else ``hf:ARCH``, ``hf:PATH`` or a
    plain config PATH (profiler.models.hf)."""
    from profiler.models.hub import HF_PREFIX, TIMM_PREFIX
    if name.startswith(TIMM_PREFIX):
        from profiler.models.timm_models import resolve_timm
        return resolve_timm(name[len(TIMM_PREFIX):], overrides)
    from profiler.models.hf import resolve_hf
    target = name[len(HF_PREFIX):] if name.startswith(HF_PREFIX) else name
    return resolve_hf(target, overrides, label=name)


def _no_overrides(spec: str, overrides: dict[str, Any] | None) -> None:
    if overrides:
        raise ProfilerError(f"{spec}: config overrides ({', '.join(overrides)}) apply to hf: and timm: "
                            "models only")


def _load_user_callable(spec: str) -> Callable[[], Any]:
    where, _, attr = spec.rpartition(":")
    try:
        if where.endswith(".py") or "/" in where:
            path = Path(where)
            if not path.is_file():
                raise ProfilerError(f"no such file '{where}'")
            module_name = f"_profiler_user_{abs(hash(path.resolve()))}"
            loader = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ProfilerError:
        raise
    except Exception as exc:
        raise ProfilerError(f"cannot import '{where}': {type(exc).__name__}: {exc}") from exc
    target = getattr(module, attr, None)
    if not callable(target):
        raise ProfilerError(f"'{where}' has no callable '{attr}'")
    return target
