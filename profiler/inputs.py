"""Dummy inputs: default ones per model family, and user-given nested inputs.

A leaf may be a tensor or a shape (a torch.Size, or a tuple/list of ints).  Shapes
become dummy tensors of the execution mode: meta, fake or real (seeded random).
"""
from __future__ import annotations

from typing import Any

import torch

from .errors import ProfilerError
from .models import DEFAULT_IMAGE, ModelSpec, weights_meta

FAMILY_DEFAULTS = {
    "segmentation": (3, 520, 520),   # the published weights' resize size
    "detection": (3, 480, 640),      # one VGA image; the model's transform resizes it
    "optical_flow": (3, 368, 496),   # a Sintel-sized frame pair, divisible by 8
}


def is_shape(x: Any) -> bool:
    return isinstance(x, torch.Size) or (
        isinstance(x, (tuple, list)) and len(x) > 0 and all(isinstance(d, int) and not isinstance(d, bool) for d in x))


def default_input_size(spec: ModelSpec | None, native: bool = False) -> tuple[int, ...]:
    """The per-sample input size: 3×227×227 for images unless the family says
    otherwise; ``native`` takes the published weights' crop size."""
    if spec is None or spec.family == "custom":
        return DEFAULT_IMAGE
    meta = weights_meta(spec.name) if spec.family != "classification" or native else {}
    if spec.family == "video":
        size = meta.get("crop_size", (112, 112))
        return (3, meta.get("clip_len", 16), *size)
    if native and "crop_size" in meta:
        return (3, *meta["crop_size"])
    return FAMILY_DEFAULTS.get(spec.family, DEFAULT_IMAGE)


def example_args(family: str, size: tuple[int, ...], batch: int) -> tuple[Any, ...]:
    """Positional args (as shapes) for a family: detection takes a list of images,
    optical flow two image batches, the rest one batch."""
    if batch < 1:
        raise ProfilerError(f"batch must be a positive integer, got {batch}")
    if family == "detection":
        return ([tuple(size)] * batch,)
    if family == "optical_flow":
        return ((batch, *size), (batch, *size))
    return ((batch, *size),)


def normalize_args(inputs: Any) -> tuple[Any, ...]:
    """User ``inputs`` to positional args: a tuple that is not a shape is the args;
    anything else (tensor, shape, list, dict, a namedtuple such as PackedSequence)
    is the single first argument."""
    if isinstance(inputs, tuple) and not is_shape(inputs) and not hasattr(inputs, "_fields"):
        return inputs
    return (inputs,)


def materialize(tree: Any, mode: str, dtype: torch.dtype, generator: torch.Generator) -> Any:
    """Replace shapes by dummy tensors and move given tensors to the mode."""
    if is_shape(tree):
        shape = tuple(tree)
        if mode == "meta":
            return torch.empty(shape, dtype=dtype, device="meta")
        if mode == "fake":
            return torch.empty(shape, dtype=dtype)
        return torch.randn(shape, dtype=dtype, generator=generator)
    if isinstance(tree, torch.Tensor):
        return torch.empty_like(tree, device="meta") if mode == "meta" else tree
    if isinstance(tree, dict):
        return {k: materialize(v, mode, dtype, generator) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [materialize(v, mode, dtype, generator) for v in tree]
        return type(tree)(items) if not hasattr(tree, "_fields") else type(tree)(*items)
    return tree
