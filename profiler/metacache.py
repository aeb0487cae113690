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

The first call of three common ops skips its slow kernel too: addmm's result has
the metadata of mm's (a C++ kernel, 20x faster), and eval-mode batch_norm and
layer_norm on a contiguous input give a contiguous output like the input plus
per-channel (per-row) statistics in the op-math dtype.  Each shortcut checks the
arguments it relies on and otherwise returns None, so the real kernel runs (and
raises its own error on bad input).  tests/test_metacache.py checks the
shortcuts against the real kernels over dtypes, shapes and strides.
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


def _dense(t: torch.Tensor) -> bool:
    """Contiguous with exactly the strides torch.empty gives (size-1 dims included)."""
    expected, stride = [], 1
    for size in reversed(t.shape):
        expected.append(stride)
        stride *= max(size, 1)
    return t.numel() > 0 and t.stride() == tuple(reversed(expected))


def _opmath(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _like(t: torch.Tensor, params) -> bool:
    return all(p is None or (isinstance(p, torch.Tensor) and p.is_meta and p.dtype == t.dtype)
               for p in params)


def _addmm(self, mat1, mat2, *, beta=1, alpha=1):
    if not (self.dtype == mat1.dtype == mat2.dtype and mat1.dim() == 2 and mat2.dim() == 2):
        return None
    try:
        out = torch.ops.aten.mm.default(mat1, mat2)
        return out if torch.broadcast_shapes(self.shape, out.shape) == out.shape else None
    except Exception:  # the real kernel will raise its own error
        return None


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    params = (weight, bias, running_mean, running_var)
    if training or running_mean is None or running_var is None or x.dim() < 2 \
            or not _dense(x) or not _like(x, params) \
            or any(p is not None and tuple(p.shape) != (x.shape[1],) for p in params):
        return None
    stat = (x.shape[1],)
    return (torch.empty_like(x), x.new_empty(stat, dtype=_opmath(x.dtype)),
            x.new_empty(stat, dtype=_opmath(x.dtype)))


def _layer_norm(x, normalized_shape, weight, bias, eps):
    k = len(normalized_shape)
    if not (0 < k <= x.dim()) or list(x.shape[-k:]) != list(normalized_shape) or not _dense(x) \
            or not _like(x, (weight, bias)) \
            or any(p is not None and list(p.shape) != list(normalized_shape) for p in (weight, bias)):
        return None
    stat = (*x.shape[:x.dim() - k], *([1] * k))
    return (torch.empty_like(x), x.new_empty(stat, dtype=_opmath(x.dtype)),
            x.new_empty(stat, dtype=_opmath(x.dtype)))


_aten = torch.ops.aten
SHORTCUTS = {_aten.addmm.default: _addmm, _aten.native_batch_norm.default: _batch_norm,
             _aten.native_layer_norm.default: _layer_norm}


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
        shortcut = SHORTCUTS.get(func) if key is not None else None  # key: all tensors dense meta
        out = shortcut(*args, **kwargs) if shortcut is not None else None
        if out is None:
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
