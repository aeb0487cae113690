"""What the published DEFAULT weights of a torchvision model say, read offline: their
metadata (crop size, clip length, _ops, num_params), the constructor arguments they
imply (``native_build_kwargs``), and the FrozenBatchNorm2d backbone a detection
builder gives a model it loads weights into.  Nothing is downloaded.
"""
from __future__ import annotations

import functools
import inspect
import re
import sys
from typing import Any, Callable

from profiler.errors import ProfilerError


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
