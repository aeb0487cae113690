"""Finding and building models: torchvision names, built-ins, user code, and
Hugging Face transformers / timm models (``hf:ARCH``, a local config.json,
``timm:NAME``; see profiler.models.hub).

Nothing here downloads: torchvision builders get ``weights=None`` and, where they
take it, ``weights_backbone=None``; hf: and timm: models are built from configs
with ``pretrained=False``.  The published weights' metadata (crop size, clip
length, _ops, num_params) is read offline.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Callable

from profiler.errors import ProfilerError
from profiler.models.spec import ModelSpec, meta_in_constructors  # noqa: F401 (re-exported)

DEFAULT_IMAGE = (3, 227, 227)


def torchvision_names() -> list[str]:
    from torchvision.models import list_models
    return sorted(list_models())


def all_names() -> list[str]:
    """Every name ``profile`` takes: built-ins, torchvision's, then the hf: and timm:
    names of the installed packages (what ``profiler list`` prints)."""
    from profiler.models.zoo import BUILTIN
    return sorted(BUILTIN) + torchvision_names() + hub_names_without_torch()


BUILTIN_NAMES = ("alexnet_paper",)   # profiler.models.zoo.BUILTIN's keys, known without importing torch (tested)


def all_names_without_torch() -> list[str]:
    """``all_names()`` for ``profiler list``, which should answer without importing
    torch: torchvision's names are read from its source (see
    ``torchvision_names_from_source``); if that finds nothing, torchvision is imported."""
    return sorted(BUILTIN_NAMES) + (torchvision_names_from_source() or torchvision_names())


def hub_names_without_torch() -> list[str]:
    """``hf:`` and ``timm:`` names, read from the installed packages' sources; none
    for a package that is not installed (see profiler.models.hub)."""
    from profiler.models.hub import hf_names, timm_names
    return hf_names() + timm_names()


def torchvision_names_from_source() -> list[str]:
    """The names torchvision registers, read from its installed sources without
    importing it (which imports torch, ~3 s): each function under torchvision/models
    decorated with ``@register_model(...)``, named by its ``name=`` argument or its
    own name; the same list as ``list_models()`` (tested).  Empty when the sources
    are not there or a name is not a plain string (the caller then imports torchvision)."""
    import ast
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return []
    names = []
    for path in sorted(Path(spec.submodule_search_locations[0], "models").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "register_model(" not in source:   # parse only the files that register models
            continue
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register_model":
                    given = {k.arg: k.value for k in decorator.keywords}.get("name", ast.Constant(node.name))
                    if not (isinstance(given, ast.Constant) and isinstance(given.value, str)):
                        return []
                    names.append(given.value)
    return sorted(names)


def family_of(name: str) -> str:
    import torchvision.models as tvm
    for family, module in (("segmentation", tvm.segmentation), ("detection", tvm.detection),
                           ("video", tvm.video), ("optical_flow", tvm.optical_flow),
                           ("quantized", tvm.quantization)):
        if name in tvm.list_models(module=module):
            return family
    return "classification"


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else "; see 'profiler list'"


def resolve(spec: str, overrides: dict[str, Any] | None = None) -> ModelSpec:
    """A model from a torchvision name, a built-in name, ``file.py:attr`` or
    ``package.module:attr`` (attr is a class or function called with no arguments),
    ``hf:ARCH``, ``hf:PATH`` or a plain PATH to a config.json or a folder holding one,
    or ``timm:NAME`` (see profiler.models.hub for the rules).  ``overrides``: config fields
    for hf: models, ``create_model`` arguments for timm: (see
    ``hub.parse_config_overrides``); other models take none."""
    from profiler.models import hub
    if hub.is_hub_name(spec):
        return hub.resolve_hub(spec, overrides)
    if ":" in spec:
        _no_overrides(spec, overrides)
        return ModelSpec(spec, _load_user_callable(spec), "custom")
    from profiler.models.zoo import BUILTIN
    if spec in BUILTIN:
        _no_overrides(spec, overrides)
        return ModelSpec(spec, BUILTIN[spec], "classification")
    names = torchvision_names()
    if spec not in names:
        if hub.local_config(spec) is not None:
            return hub.resolve_hub(spec, overrides)
        raise ProfilerError(f"unknown model '{spec}'{_suggest(spec, names + sorted(BUILTIN))}")
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


def weights_meta(name: str) -> dict[str, Any]:
    """The published DEFAULT weights' metadata plus crop size and clip length, offline;
    empty for names that are not torchvision's (hf:, timm:, user code)."""
    if ":" in name:
        return {}
    from torchvision.models import get_model_weights
    try:
        weights = get_model_weights(name).DEFAULT
    except Exception:
        return {}
    meta = dict(weights.meta)
    transforms = weights.transforms()
    crop = getattr(transforms, "crop_size", None)
    if crop:
        meta["crop_size"] = tuple(crop) * (2 // len(crop)) if len(crop) == 1 else tuple(crop)
    resize = getattr(transforms, "resize_size", None)
    if resize:
        meta["resize_size"] = tuple(resize)
    clip = re.findall(r"clip_len=(\d+)", meta.get("_docs", ""))
    if clip:
        meta["clip_len"] = int(clip[0])
    return meta


def native_build_kwargs(name: str) -> dict[str, Any]:
    """Constructor arguments that the published DEFAULT weights imply: ViTs trained
    at 384 or 518 are built with that image_size; GoogLeNet and Inception v3 ship
    with the input transform on; GoogLeNet's figures exclude its auxiliary heads,
    Inception v3's include them (they do not run in eval mode either way); the
    segmentation weights carry the auxiliary head; the detection builders that put
    FrozenBatchNorm2d in the backbone when given weights get it
    (``frozen_batchnorm``, see ``_with_frozen_batchnorm``), so the parameters equal
    the published ``num_params``."""
    meta = weights_meta(name)
    kwargs: dict[str, Any] = {}
    if name.startswith("vit_") and meta.get("crop_size", (224, 224))[0] != 224:
        kwargs["image_size"] = meta["crop_size"][0]
    if name in ("googlenet", "inception_v3", "quantized_googlenet", "quantized_inception_v3"):
        kwargs["transform_input"] = True
    if name in ("googlenet", "quantized_googlenet"):
        kwargs["aux_logits"] = False
    if name.startswith(("fcn_", "deeplabv3_")):
        kwargs["aux_loss"] = True  # the published segmentation weights carry the auxiliary head
    if frozen_batchnorm_when_trained(name):
        kwargs["frozen_batchnorm"] = True
    return kwargs


@functools.lru_cache(maxsize=None)
def frozen_batchnorm_when_trained(name: str) -> bool:
    """Whether torchvision's builder for ``name`` builds its backbone with
    FrozenBatchNorm2d when it is given weights (``norm_layer = FrozenBatchNorm2d
    if is_trained else nn.BatchNorm2d``: the R-CNNs, RetinaNet and FCOS on
    ResNet-50, Faster R-CNN on MobileNetV3; not the v2 models, SSD or SSDlite).
    Read from the source of the builder and of the private helpers it calls, so
    a new torchvision is followed."""
    if ":" in name:
        return False
    try:
        from torchvision.models import get_model_builder
        builder = inspect.unwrap(get_model_builder(name))
        source = inspect.getsource(builder)
        # and the module's private helpers it calls (_fasterrcnn_mobilenet_v3_large_fpn)
        module = sys.modules[builder.__module__]
        for helper in set(re.findall(r"\b(_\w+)\(", source)):
            found = getattr(module, helper, None)
            if inspect.isfunction(found):
                source += inspect.getsource(found)
    except Exception:
        return False
    return re.search(r"FrozenBatchNorm2d\s+if\s+is_trained", source) is not None


def _with_frozen_batchnorm(builder: Callable[..., Any]) -> Callable[..., Any]:
    """A detection builder that also takes ``frozen_batchnorm=True``: what it builds
    when given weights, which it cannot be here (they would be downloaded).  With
    weights its backbone gets FrozenBatchNorm2d, whose statistics and affine terms
    are buffers, not parameters (fasterrcnn_resnet50_fpn: 41,755,286 parameters,
    the published figure, against 41,808,406 with trainable BatchNorm2d); without,
    nn.BatchNorm2d.  Each BatchNorm2d of the backbone's body is replaced by a
    FrozenBatchNorm2d of its width, holding the same values, on the same device.
    The counts are the same either way (eval BatchNorm is a per-channel scale and
    shift).  Which backbone layers would train when fine-tuning
    (``trainable_backbone_layers``) is a training choice the weights do not make;
    it is left as the builder sets it without weights: all trainable."""
    @functools.wraps(builder)
    def build(*args: Any, frozen_batchnorm: bool = False, **kwargs: Any) -> Any:
        model = builder(*args, **kwargs)
        if frozen_batchnorm:
            freeze_backbone_batchnorm(model)
        return model
    return build


def freeze_backbone_batchnorm(model: Any) -> Any:
    """Replace every nn.BatchNorm2d in ``model.backbone.body`` by a FrozenBatchNorm2d
    with the same values (in place); returns ``model``."""
    import torch
    from torch import nn
    from torchvision.ops import FrozenBatchNorm2d
    body = getattr(getattr(model, "backbone", None), "body", None)
    if body is None:
        raise ProfilerError(f"{type(model).__name__} has no backbone.body whose BatchNorm2d to freeze")
    for parent in list(body.modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is not nn.BatchNorm2d:
                continue
            frozen = FrozenBatchNorm2d(child.num_features)
            device = child.running_mean.device if child.running_mean is not None else child.weight.device
            frozen = frozen.to(device)
            if device.type != "meta":
                with torch.no_grad():
                    for attr in ("weight", "bias", "running_mean", "running_var"):
                        source = getattr(child, attr)
                        if source is not None:
                            getattr(frozen, attr).copy_(source)
            setattr(parent, child_name, frozen)
    return model


def parse_input_size(text: str) -> tuple[int, ...]:
    """'3x224x224' → (3, 224, 224); every dimension a positive integer."""
    parts = text.lower().split("x")
    if not all(p.isdigit() for p in parts) or not parts:
        raise ProfilerError(f"malformed --input '{text}': expected sizes like 3x224x224")
    dims = tuple(int(p) for p in parts)
    if any(d <= 0 for d in dims):
        raise ProfilerError(f"malformed --input '{text}': every size must be positive")
    return dims
