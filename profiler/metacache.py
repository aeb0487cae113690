"""Replay meta-device op results by signature, to make shapes-only forwards fast.

Many aten ops have their meta kernel written in Python (batch_norm, layer_norm,
addmm, gelu, softmax, broadcasting arithmetic): each call costs 0.2-1.5 ms, which
is most of a meta forward.  A meta kernel's result depends only on its inputs'
metadata, so within one forward an op called again with the same shapes, strides,
dtypes and arguments (every block of a ViT, most of a ResNet stage) gets a fresh
empty meta tensor of the recorded shape, stride and dtype instead of re-running
the kernel.  Only ops that return new tensors qualify: no views, no in-place or
out= ops, no random or data-dependent ones; and only when every tensor argument
is a dense meta tensor.  Anything else runs as usual.
"""
from __future__ import annotations

from typing import Any

import torch

_SKIP_TAGS = (torch.Tag.nondeterministic_seeded, torch.Tag.dynamic_output_shape)


def _replayable(func) -> bool:
    """True for an op whose every return is a fresh tensor, not an alias of an input."""
    schema = func._schema
    return (not func.is_view and not schema.is_mutable and bool(schema.returns)
            and all(r.alias_info is None and str(r.type) == "Tensor" for r in schema.returns)
            and not any(tag in func.tags for tag in _SKIP_TAGS))


def _tensor_key(t: torch.Tensor) -> tuple | None:
    if not t.is_meta or t.layout != torch.strided or t.is_complex():
        return None
    return (t.shape, t.stride(), t.dtype, t.storage_offset())


def _key(func, args: tuple, kwargs: dict) -> tuple | None:
    """A hashable signature of the call, or None when it cannot be replayed.  Python
    scalars carry their type: mul(x, 2) and mul(x, 2.0) differ in result dtype."""
    parts: list[Any] = [func, tuple(kwargs)]
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, torch.Tensor):
            arg = _tensor_key(arg)
            if arg is None:
                return None
        elif isinstance(arg, (list, tuple)):
            items = []
            for item in arg:
                if isinstance(item, torch.Tensor):
                    item = _tensor_key(item)
                    if item is None:
                        return None
                else:
                    item = (type(item), item)
                items.append(item)
            arg = (type(arg), tuple(items))
        else:
            arg = (type(arg), arg)
        parts.append(arg)
    return tuple(parts)


def _spec(t: torch.Tensor) -> tuple | None:
    if t.layout != torch.strided or t.storage_offset() != 0 or t.is_conj() or t.is_neg():
        return None
    return (tuple(t.shape), t.stride(), t.dtype)


def _fresh(spec: tuple) -> torch.Tensor:
    return torch.empty_strided(spec[0], spec[1], dtype=spec[2], device="meta")


class MetaReplay:
    """Runs ops, remembering meta results; use one per forward (nothing is kept
    across profiles, so every profile pays for its own kernels)."""

    def __init__(self):
        self._results: dict[tuple, tuple | list] = {}
        self._eligible: dict[Any, bool] = {}

    def __call__(self, func, args: tuple, kwargs: dict) -> Any:
        eligible = self._eligible.get(func)
        if eligible is None:
            eligible = self._eligible[func] = _replayable(func)
        key = _key(func, args, kwargs) if eligible else None
        if key is not None:
            try:
                found = self._results.get(key)
            except TypeError:  # an unhashable argument: run the kernel
                key, found = None, None
            if found is not None:
                return _fresh(found) if isinstance(found, tuple) else tuple(map(_fresh, found))
        out = func(*args, **kwargs)
        if key is not None:
            if isinstance(out, torch.Tensor) and out.is_meta:
                spec = _spec(out)
                if spec is not None:
                    self._results[key] = spec
            elif isinstance(out, tuple) and all(isinstance(o, torch.Tensor) and o.is_meta for o in out):
                specs = [_spec(o) for o in out]
                if all(s is not None for s in specs):
                    self._results[key] = specs
        return out
