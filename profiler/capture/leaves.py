"""The outputs of stock leaf modules in a shapes-only forward, without running them.

In a meta forward a Conv2d's output is an empty meta tensor whose shape, strides and
dtype follow from the input's and the module's configuration.  Running the module to
make it costs its Python forward, the functional, the dispatch mode's call and the
replay key (profiler.capture.metacache): 15-40 us a call, most of a ResNet-50
profile.  The recording forward (profiler.capture.record) asks ``QUICK`` first, and
runs the module's own forward when the answer is None.

Each function takes the module and its one positional input and returns the tensor
the module's forward returns on meta (a fresh one of the same shape, strides and
dtype; the input itself where the forward returns it: an in-place activation, an
eval-mode dropout), or None for anything it does not vouch for: an input that is not
dense, dtypes that differ, a padding mode or an argument form left to the kernel,
which then runs and raises its own error where there is one.  The shapes come from
metacache's op shortcuts where the forward reaches one of its ops, so both agree.
tests/capture/test_leaves.py checks every function against the module's own forward
on meta over generated configurations, dtypes and layouts.

The recording forward asks only where no one can tell the difference (see
``Capture``): a module of exactly one of these classes, with its class's own
forward, inside a module with a formula (so no op of it is charged on its own),
in a meta forward without autograd records or a memory trace, with no other
torch function or dispatch mode than the capture's, one positional tensor argument
and no keywords, and no tensor holding a known value (profiler.capture.known).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from profiler.capture.metacache import (_adaptive_avg_pool2d, _contiguous, _convolution, _dense, _layer_norm,
                                        _max_pool2d, _mean_dim, normalizes)

_Tensor, _Parameter = torch.Tensor, nn.Parameter


_MISSING = object()


def _own(module: nn.Module, name: str) -> Any:
    """``getattr(module, name)`` for a parameter or buffer, read from its slots: an
    instance attribute first, then ``_parameters`` and ``_buffers`` (Module.__getattr__'s
    order), which the stock classes here have no class attribute to shadow."""
    bindings = module.__dict__
    found = bindings.get(name, _MISSING)
    if found is _MISSING:
        for slots in (bindings.get("_parameters"), bindings.get("_buffers")):
            if slots is not None and name in slots:
                return slots[name]
        return getattr(module, name)
    return found


def _meta(t: Any) -> bool:
    """A plain meta tensor or parameter (no subclass with dispatch of its own), or None."""
    return t is None or ((type(t) is _Parameter or type(t) is _Tensor) and t.is_meta)


def _elementwise(x: torch.Tensor, inplace: bool) -> torch.Tensor | None:
    """An activation's result on a dense floating input: the input itself in place,
    else a contiguous tensor like it (the kernel's, for a dense input)."""
    if not x.dtype.is_floating_point or not _dense(x):
        return None
    return x if inplace is True else _contiguous(x.shape, x.dtype) if inplace is False else None


def conv(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Conv1d/2d/3d with zeros padding given in numbers, on a batched input."""
    weight, bias = _own(module, "weight"), _own(module, "bias")
    if module.padding_mode != "zeros" or type(module.padding) is str or not (_meta(weight) and _meta(bias)) \
            or x.dim() != len(module.kernel_size) + 2 or not x.dtype.is_floating_point:
        return None
    return _convolution(x, weight, bias, module.stride, module.padding, module.dilation, False, None,
                        module.groups)


def linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Linear on a dense floating input of two or more dimensions: a contiguous
    tensor of its leading sizes and ``out_features``, of its dtype."""
    weight, bias = _own(module, "weight"), _own(module, "bias")
    if not (_meta(weight) and _meta(bias)) or x.dim() < 2 or not x.dtype.is_floating_point or not _dense(x) \
            or weight.dim() != 2 or weight.numel() == 0 or weight.dtype != x.dtype \
            or x.shape[-1] != weight.shape[1] \
            or (bias is not None and (bias.dtype != x.dtype or tuple(bias.shape) != (weight.shape[0],))):
        return None
    return _contiguous((*x.shape[:-1], weight.shape[0]), x.dtype)


_BATCH_NORM_DIMS = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}


def batch_norm(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """BatchNorm1d/2d/3d in eval mode with running statistics (the forward's
    ``bn_training`` false): the normalised output, as native_batch_norm's."""
    if module.training:
        return None
    weight, bias = _own(module, "weight"), _own(module, "bias")
    mean, var = _own(module, "running_mean"), _own(module, "running_var")
    if not (_meta(weight) and _meta(bias) and _meta(mean) and _meta(var)) \
            or x.dim() not in _BATCH_NORM_DIMS[type(module)] or not x.dtype.is_floating_point \
            or not normalizes(x, weight, bias, mean, var, False):
        return None
    return _contiguous(x.shape, x.dtype)


def layer_norm(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    weight, bias = _own(module, "weight"), _own(module, "bias")
    if not (_meta(weight) and _meta(bias)) or not x.dtype.is_floating_point:
        return None
    out = _layer_norm(x, module.normalized_shape, weight, bias, module.eps)
    return None if out is None else out[0]


def relu(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    return _elementwise(x, module.inplace)


def gelu(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    if module.approximate not in ("none", "tanh"):
        return None
    return _elementwise(x, False)


def dropout(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Eval-mode dropout returns its input (the kernel's ``if (!train) return input``)."""
    p = module.p
    if module.training or type(p) not in (int, float) or not 0 <= p <= 1 or type(module.inplace) is not bool:
        return None
    return x


def _ints(value: Any) -> Any:
    return [value] if type(value) is int else value


def max_pool2d(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """MaxPool2d without indices: the pooled output of max_pool2d_with_indices."""
    if module.return_indices is not False or not x.dtype.is_floating_point:
        return None
    stride = [] if module.stride is None else _ints(module.stride)
    out = _max_pool2d(x, _ints(module.kernel_size), stride, _ints(module.padding), _ints(module.dilation),
                      module.ceil_mode)
    return None if out is None else out[0]


def adaptive_avg_pool2d(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """AdaptiveAvgPool2d on a dense 4D floating input of more than one channel and
    pixel: to 1 x 1 a mean over the last two dimensions (what the composite op
    runs), else _adaptive_avg_pool2d."""
    size = module.output_size
    if x.dim() != 4 or not x.dtype.is_floating_point:
        return None
    size = [size, size] if type(size) is int else list(size)
    if len(size) != 2:
        return None
    size = [x.shape[2 + i] if s is None else s for i, s in enumerate(size)]
    if size == [1, 1]:
        return _mean_dim(x, [-1, -2], True) if x.shape[1] >= 2 and x.shape[2] * x.shape[3] >= 2 else None
    return _adaptive_avg_pool2d(x, size)


QUICK: dict[type, Callable[[nn.Module, torch.Tensor], torch.Tensor | None]] = {
    nn.Conv1d: conv, nn.Conv2d: conv, nn.Conv3d: conv, nn.Linear: linear,
    nn.BatchNorm1d: batch_norm, nn.BatchNorm2d: batch_norm, nn.BatchNorm3d: batch_norm,
    nn.LayerNorm: layer_norm, nn.ReLU: relu, nn.SiLU: relu, nn.GELU: gelu, nn.Dropout: dropout,
    nn.MaxPool2d: max_pool2d, nn.AdaptiveAvgPool2d: adaptive_avg_pool2d,
}
