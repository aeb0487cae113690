"""Replay meta-device op results by signature, to make shapes-only forwards fast.

Many aten ops have their meta kernel written in Python (batch_norm, layer_norm,
addmm, gelu, softmax, broadcasting arithmetic): each call costs 0.2-1.5 ms, which
is most of a meta forward.  A meta kernel's result depends only on its inputs'
metadata, so within one forward an op called again with the same shapes, strides,
dtypes and arguments (every block of a ViT, most of a ResNet stage) gets a fresh
empty meta tensor of the recorded shape, stride and dtype instead of re-running
the kernel.  Ops that return new tensors qualify, and in-place ops that keep
their first argument's metadata (add_, relu_), which get that argument back once
the same call has passed the kernel's checks; not views, out= ops, in-place ops
that change metadata (t_, resize_), random or data-dependent ones; and only when
every tensor argument is a dense meta tensor.  Anything else runs as usual.

The first call of six common ops skips its slow kernel too: addmm's result has
the metadata of mm's (a contiguous tensor of the operands' dtype), max and
adaptive average pooling's are contiguous tensors of the pooled size, a convolution's is a contiguous
tensor of the usual output size (what the Python meta kernel makes), and eval-mode batch_norm and
layer_norm on a contiguous input give a contiguous output like the input plus
per-channel (per-row) statistics in the op-math dtype.  New tensors are made with
empty_strided, a C++ kernel on meta (empty_like and new_empty are not).  Each shortcut checks the
arguments it relies on and otherwise returns None, so the real kernel runs (and
raises its own error on bad input).  tests/capture/test_metacache.py checks the
shortcuts against the real kernels over dtypes, shapes and strides.

A training profile's memory trace (profiler.capture.saved) runs the backward on meta
too, whose slowest kernels get shortcuts of the same sort: batch_norm's backward
(a Python decomposition, about 1 ms a call), ReLU's threshold_backward, a
convolution's backward and softmax's, add.Tensor (the engine's sum of two
gradients), a Linear's mm and its bias's sum over dimensions, max pooling's backward,
a norm's products and powers (mul.Tensor of broadcasting dense operands, pow.Tensor_Scalar),
the loss's sum and the seed gradient's zeros_like, each for dense operands of one shape and dtype, where the kernel's result is contiguous (tests/capture/test_metacache.py,
and a resnet18's training step op by op).

One shortcut is not about speed: torch._grouped_mm (the experts of transformers'
mixture-of-experts models) has a meta kernel written for CUDA that refuses float32,
so on meta it gives what the CPU kernel gives, output or error (checked against
the CPU kernel, not the meta one).
"""
from __future__ import annotations

from typing import Any

import torch

_SKIP_TAGS = (torch.Tag.nondeterministic_seeded, torch.Tag.dynamic_output_shape)
_FRESH, _INPLACE = "fresh", "inplace"


def _replayable(func) -> str | None:
    """_FRESH for an op whose every return is a fresh tensor, not an alias of an
    input; _INPLACE for an in-place op that writes its first argument only and
    returns it (add_, relu_: metadata unchanged, so a call that passed the
    kernel's checks once passes them again); None for anything else (views,
    out= ops, in-place ops that change metadata such as t_ or resize_, random
    or data-dependent ops)."""
    schema, tags = func._schema, func.tags
    if func.is_view or any(tag in tags for tag in _SKIP_TAGS) or not schema.returns:
        return None
    if not schema.is_mutable:
        if all(r.alias_info is None and str(r.type) == "Tensor" for r in schema.returns):
            return _FRESH
        return None
    written = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    if (torch.Tag.inplace in tags and torch.Tag.inplace_view not in tags and len(schema.returns) == 1
            and schema.returns[0].alias_info is not None and written == schema.arguments[:1]
            and str(schema.arguments[0].type) == "Tensor"):
        return _INPLACE
    return None


# the replay key is built on every op of a forward: these checks are its hot path
_Tensor, _strided = torch.Tensor, torch.strided
_PLAIN = frozenset((int, float, bool, str, type(None)))  # list items keyed by value and type


def _tensor_key(t: torch.Tensor) -> tuple | None:
    if not t.is_meta or t.layout != _strided or t.dtype.is_complex:
        return None
    return (t.shape, t.stride(), t.dtype, t.storage_offset())


def _key(func, args: tuple, kwargs: dict) -> tuple | None:
    """A hashable signature of the call, or None when it cannot be replayed.  Python
    scalars carry their type: mul(x, 2) and mul(x, 2.0) differ in result dtype."""
    parts: list[Any] = [id(func), tuple(kwargs)]   # the op by id: held in _OPS
    for arg in ((*args, *kwargs.values()) if kwargs else args):
        if isinstance(arg, _Tensor):
            if not arg.is_meta or arg.layout != _strided or arg.dtype.is_complex:
                return None
            arg = (arg.shape, arg.stride(), arg.dtype, arg.storage_offset())
        elif isinstance(arg, (list, tuple)):
            types = tuple(map(type, arg))
            if _PLAIN.issuperset(types):  # sizes, strides, paddings: no per-item work
                arg = (type(arg), types, tuple(arg))
            else:
                items = []
                for item in arg:
                    if isinstance(item, _Tensor):
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


_META = torch.device("meta")


def _fresh(spec: tuple) -> torch.Tensor:
    # empty_strided is a C++ kernel on meta; empty_like and new_empty take 8-40 us
    return torch.empty_strided(spec[0], spec[1], dtype=spec[2], device=_META)


def _contiguous(shape, dtype: torch.dtype) -> torch.Tensor:
    """torch.empty(shape, dtype=dtype) on meta, through the fast kernel."""
    return torch.empty_strided(shape, _strides(shape), dtype=dtype, device=_META)


# contiguous strides by shape: computed once per shape (the shapes of a forward repeat), at
# most STRIDES_KEPT of them kept (a few hundred KB), forgotten all at once past that
_STRIDES: dict[tuple, tuple] = {}
STRIDES_KEPT = 4096


def _strides(shape) -> tuple:
    """The strides torch.empty(shape) gives (a size-0 dimension counts as 1)."""
    key = shape if isinstance(shape, tuple) else tuple(shape)
    found = _STRIDES.get(key)
    if found is None:
        strides, stride = [], 1
        for size in reversed(key):
            strides.append(stride)
            stride *= max(size, 1)
        if len(_STRIDES) >= STRIDES_KEPT:
            _STRIDES.clear()
        found = _STRIDES[key] = tuple(reversed(strides))
    return found


def _dense(t: torch.Tensor) -> bool:
    """Contiguous with exactly the strides torch.empty gives (size-1 dims included)."""
    if not t.is_contiguous() or t.numel() == 0:
        return False
    shape = t.shape
    # contiguous with no size-1 dimension: its strides can only be empty's
    return 1 not in shape or t.stride() == _strides(shape)


def _opmath(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _like(t: torch.Tensor, params) -> bool:
    """Each of ``params`` is None or a meta tensor of ``t``'s dtype."""
    dtype = t.dtype
    for p in params:   # a loop, not all() over a generator: it runs on every layer of a forward
        if p is not None and not (isinstance(p, _Tensor) and p.is_meta and p.dtype == dtype):
            return False
    return True


def _addmm(self, mat1, mat2, *, beta=1, alpha=1):
    if not (self.dtype == mat1.dtype == mat2.dtype and mat1.dim() == 2 and mat2.dim() == 2) \
            or mat1.shape[1] != mat2.shape[0]:
        return None   # the kernel raises its own error
    # mm's result, as its meta kernel (Python, 20-40 us) makes it: contiguous, of the operands' dtype
    out = (mat1.shape[0], mat2.shape[1])
    # self must broadcast to the result (torch.broadcast_shapes, inlined: it is Python and slow)
    bias = tuple(self.shape)
    if len(bias) > 2 or any(b not in (1, o) for b, o in zip(reversed(bias), reversed(out))):
        return None
    return _contiguous(out, mat1.dtype)


def normalizes(x, weight, bias, running_mean, running_var, training) -> bool:
    """Whether eval-mode batch_norm's result is a contiguous tensor like ``x``: a dense
    input of two or more dimensions, running statistics, and every parameter a meta
    tensor of its dtype with one value per channel (``_batch_norm``)."""
    if training or running_mean is None or running_var is None or x.dim() < 2 or not _dense(x):
        return False
    params = (weight, bias, running_mean, running_var)
    if not _like(x, params):
        return False
    channels = (x.shape[1],)
    for p in params:
        if p is not None and p.shape != channels:
            return False
    return True


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if not normalizes(x, weight, bias, running_mean, running_var, training):
        return None
    stat = (x.shape[1],)
    return (_contiguous(x.shape, x.dtype), _contiguous(stat, _opmath(x.dtype)),
            _contiguous(stat, _opmath(x.dtype)))


def _layer_norm(x, normalized_shape, weight, bias, eps):
    k = len(normalized_shape)
    if not (0 < k <= x.dim()) or list(x.shape[-k:]) != list(normalized_shape) or not _dense(x) \
            or not _like(x, (weight, bias)) \
            or any(p is not None and list(p.shape) != list(normalized_shape) for p in (weight, bias)):
        return None
    stat = (*x.shape[:x.dim() - k], *([1] * k))
    return (_contiguous(x.shape, x.dtype), _contiguous(stat, _opmath(x.dtype)),
            _contiguous(stat, _opmath(x.dtype)))


_INT = frozenset((int,))


def _int_list(value, n: int) -> bool:
    """A list or tuple of ``n`` Python ints (not bools)."""
    return type(value) in (list, tuple) and len(value) == n and _INT.issuperset(map(type, value))


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """Non-transposed convolution: the meta kernel (Python, about 50 us) gives a
    contiguous tensor of the input's dtype, of the usual output size."""
    k = weight.dim() - 2
    if transposed or k < 1 or x.dim() != k + 2 or type(groups) is not int or groups < 1 \
            or not _like(x, (weight, bias)) \
            or not (_int_list(stride, k) and _int_list(padding, k) and _int_list(dilation, k)):
        return None
    shape, kernel = x.shape, weight.shape
    if shape[1] == 0 or kernel[1] * groups != shape[1] or (bias is not None and bias.shape != kernel[:1]) \
            or min(stride) < 1 or min(padding) < 0 or min(dilation) < 1:
        return None   # the kernel's own error (a stride of 0 included)
    sizes = [(n + 2 * p - d * (w - 1) - 1) // s + 1
             for n, p, d, w, s in zip(shape[2:], padding, dilation, kernel[2:], stride)]
    if min(sizes) < 1:
        return None
    return _contiguous((shape[0], kernel[0], *sizes), x.dtype)


def _int_pair(value) -> tuple[int, int] | None:
    """A pooling argument of one or two ints as (height, width), as the kernel reads it."""
    if type(value) in (list, tuple) and len(value) in (1, 2) and all(type(v) is int for v in value):
        return (value[0], value[-1])
    return None


def _max_pool2d(x, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    """max_pool2d_with_indices on a dense 4D input of more than one channel and
    more than one pixel (whose layout reads as contiguous, never channels-last):
    the meta kernel (Python, about 40 us) gives the pooled output and its int64
    indices, both contiguous, of the usual size.  Arguments it would refuse, or
    any other form of them, are left to it."""
    if x.dim() != 4 or not _dense(x) or x.shape[1] < 2 or x.shape[2] * x.shape[3] < 2 or type(ceil_mode) is not bool:
        return None
    kernel, padding, dilation = _int_pair(kernel_size), _int_pair(padding), _int_pair(dilation)
    stride = kernel if type(stride) in (list, tuple) and len(stride) == 0 else _int_pair(stride)
    if kernel is None or stride is None or padding is None or dilation is None:
        return None
    sizes = []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        if k < 1 or s < 1 or d < 1 or p < 0 or p > k // 2 or p > ((k - 1) * d + 1) // 2:
            return None
        out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:   # the last window must start inside the input or its padding
            out -= 1
        if out < 1:
            return None
        sizes.append(out)
    shape = (x.shape[0], x.shape[1], *sizes)
    return _contiguous(shape, x.dtype), _contiguous(shape, torch.int64)


def _adaptive_avg_pool2d(x, output_size):
    """_adaptive_avg_pool2d on a dense 4D input of more than one channel and more
    than one pixel (contiguous, never read as channels-last): the meta kernel
    (Python, about 20 us) gives a contiguous tensor of the input's dtype, the
    input's leading sizes and ``output_size``."""
    if x.dim() != 4 or not _dense(x) or x.shape[1] < 2 or x.shape[2] * x.shape[3] < 2 \
            or not _int_list(output_size, 2) or min(output_size) < 0:
        return None
    return _contiguous((x.shape[0], x.shape[1], *output_size), x.dtype)


def _reduced(x, dim, keepdim, dtype):
    """What a reduction over ``dim`` (sum.dim_IntList, mean.dim) of a floating tensor
    with no dtype given makes on meta: a contiguous tensor of the input's dtype, of
    the sizes not reduced (size 1 in their place with ``keepdim``); None for anything
    else (a dimension repeated or out of range: the kernel's own error)."""
    n = x.dim()
    if dtype is not None or type(keepdim) is not bool or not x.dtype.is_floating_point \
            or type(dim) not in (list, tuple) or not dim or not all(type(d) is int and -n <= d < n for d in dim):
        return None
    reduced = {d % n for d in dim}
    if len(reduced) != len(dim):
        return None
    if keepdim:
        return _contiguous([1 if i in reduced else size for i, size in enumerate(x.shape)], x.dtype)
    return _contiguous([size for i, size in enumerate(x.shape) if i not in reduced], x.dtype)


def _mean_dim(x, dim, keepdim=False, *, dtype=None):
    """mean.dim of a dense input (a global average pool's mean): its meta kernel
    (Python, about 120 us) gives what ``_reduced`` says."""
    return _reduced(x, dim, keepdim, dtype) if _dense(x) else None


_GROUPED_MM_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_C10_NAMES = {torch.float64: "Double", torch.float32: "Float", torch.float16: "Half", torch.bfloat16: "BFloat16",
              torch.int64: "Long", torch.int32: "Int", torch.int16: "Short", torch.int8: "Char",
              torch.uint8: "Byte", torch.bool: "Bool"}


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise RuntimeError(message)


def _grouped_mm_strides(t: torch.Tensor) -> None:
    """The CPU kernel's layout rule: row- or column-major in the last two
    dimensions, with the other stride a multiple of 16 bytes."""
    strides, sizes = t.stride(), t.shape
    alignment = 16 // t.element_size()
    if strides[-2] == 1 and strides[-1] >= max(1, sizes[-2]):
        _check(strides[-1] % alignment == 0, "strides should be multiple of 16 bytes")
    elif strides[-1] == 1 and strides[-2] >= max(1, sizes[-1]):
        _check(strides[-2] % alignment == 0, "strides should be multiple of 16 bytes")
    else:
        _check(False, f"Invalid strides/sizes, got {list(strides)} for strides and {list(sizes)} for sizes")


def _grouped_mm(a, b, offs=None, bias=None, out_dtype=None):
    """torch._grouped_mm as its CPU kernel runs it.  The meta kernel follows the
    CUDA one and refuses float32 ("Expected mat_a to be BFloat16 or supported
    Float16 matrix"), so a meta-built MoE model (transformers' grouped_mm experts)
    could not run on shapes; this gives the CPU kernel's output (shape, strides
    with the last dimension padded to 16 bytes, dtype) for float32, float16 and
    bfloat16, and raises the CPU kernel's own error where its checks refuse the
    arguments (float64 among them).  The output does not depend on the values of
    ``offs``.  Mixed dtypes (an error of the CPU kernel's matmul) and 2D×2D
    operands whose grouped dimensions differ (an error or not depending on the
    offsets) are left to the meta kernel."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return None
    for name, t in (("mat_a", a), ("mat_b", b)):
        _check(t.dtype in _GROUPED_MM_DTYPES, f"Expected {name} to be Float32, BFloat16 or Float16 matrix, "
                                              f"got {_C10_NAMES.get(t.dtype, t.dtype)}")
    if a.dtype != b.dtype:
        return None
    _check(a.dim() in (2, 3), "mat_a has to be 2 or 3d")
    _check(b.dim() in (2, 3), "mat_b has to be 2 or 3d")
    a_2d, b_2d = a.dim() == 2, b.dim() == 2
    if not (a_2d and b_2d):
        _check(a.shape[-1] == b.shape[-2], "contraction dimension of mat_a and mat_b must match")
    elif a.shape[1] != b.shape[0]:
        return None
    _grouped_mm_strides(a)
    _grouped_mm_strides(b)
    _check((offs is not None) == (a_2d or b_2d),
           "Have to provide offsets if there is a 2d matrix, or no offset if both matrices are 3d")
    if offs is not None:
        _check(offs.dim() == 1, "offs has to be 1D")
        _check(offs.dtype == torch.int32, "Offsets have to be int32")
    _check(bias is None, "Bias not supported yet")
    _check(out_dtype is None or out_dtype == a.dtype, "Grouped gemm output dtype must match `mat_a` dtype")
    if a_2d and b_2d:
        size = (offs.shape[0], a.shape[0], b.shape[1])
    elif a_2d:
        _check(offs.shape[0] == b.shape[0], "matrix batch sizes have to match")
        size = (a.shape[0], b.shape[-1])
    elif b_2d:
        _check(offs.shape[0] == a.shape[0], "matrix batch sizes have to match")
        size = (a.shape[1], b.shape[1])
    else:
        _check(a.shape[0] == b.shape[0], "batched dimension has to match")
        size = (a.shape[0], a.shape[1], b.shape[-1])
    alignment = 16 // a.element_size()
    padded = (size[-1] + alignment - 1) // alignment * alignment
    strides = (padded, 1) if len(size) == 2 else (size[1] * padded, padded, 1)
    return _fresh((size, strides, a.dtype))


# -- the backward's ops (a training profile's memory trace runs the backward on meta) --

def _bool_list(value, n: int) -> bool:
    return type(value) in (list, tuple) and len(value) == n and all(type(v) is bool for v in value)


def _channel(p, x: torch.Tensor) -> bool:
    """None, or a meta floating tensor of shape (C,) for ``x``'s channel dimension."""
    return p is None or (isinstance(p, torch.Tensor) and p.is_meta and p.dtype.is_floating_point
                         and tuple(p.shape) == (x.shape[1],))


def _batch_norm_backward(grad_out, x, weight, running_mean, running_var, save_mean, save_invstd,
                         train, eps, output_mask):
    """native_batch_norm_backward where the gradient and the input are dense tensors of one
    shape and floating dtype: its meta kernel (a Python decomposition, about 1 ms) gives
    the input's gradient always (whatever ``output_mask[0]`` says), contiguous, of the
    input's dtype, and those of the weight and bias, of shape (C,) in the weight's
    dtype (the input's without a weight), where ``output_mask`` asks."""
    if type(train) is not bool or not _bool_list(output_mask, 3) or x.dim() < 2 \
            or tuple(grad_out.shape) != tuple(x.shape) or grad_out.dtype != x.dtype \
            or not x.dtype.is_floating_point or not (_dense(x) and _dense(grad_out)) \
            or not all(_channel(p, x) for p in (weight, running_mean, running_var, save_mean, save_invstd)) \
            or (train and (save_mean is None or save_invstd is None)) \
            or (not train and (running_mean is None or running_var is None)):
        return None
    stat = weight.dtype if weight is not None else x.dtype
    return (_contiguous(x.shape, x.dtype),
            _contiguous((x.shape[1],), stat) if output_mask[1] else None,
            _contiguous((x.shape[1],), stat) if output_mask[2] else None)


def _threshold_backward(grad_out, x, threshold):
    """threshold_backward (ReLU's) of a dense gradient and input of one shape and
    floating dtype: its meta kernel (Python, about 0.25 ms) gives a contiguous tensor
    like the gradient."""
    if type(threshold) not in (int, float) or tuple(grad_out.shape) != tuple(x.shape) \
            or grad_out.dtype != x.dtype or not x.dtype.is_floating_point \
            or not (_dense(x) and _dense(grad_out)):
        return None
    return _contiguous(grad_out.shape, grad_out.dtype)


def _channels_last_like(t: torch.Tensor) -> bool:
    """A dense tensor the kernel's ``suggest_memory_format`` would read as channels-last
    (only a 4D or 5D one with a size-1 dimension can be; asked of torch then)."""
    if t.dim() not in (4, 5) or min(t.shape) > 1:
        return False
    from torch._prims_common import suggest_memory_format
    return suggest_memory_format(t) != torch.contiguous_format


def _convolution_backward(grad_out, x, weight, bias_sizes, stride, padding, dilation, transposed,
                          output_padding, groups, output_mask):
    """convolution_backward with a dense input and weight that do not read as
    channels-last: its meta kernel (Python, about 70 us) gives, where ``output_mask``
    asks, contiguous tensors of the gradient's dtype shaped like the input, the weight
    and ``bias_sizes``.  A channels-last layout, or any other form of the arguments,
    is left to it."""
    if not _bool_list(output_mask, 3) or not (_dense(x) and _dense(weight)) \
            or _channels_last_like(x) or _channels_last_like(weight) \
            or (output_mask[2] and not (type(bias_sizes) in (list, tuple)
                                        and all(type(v) is int and v >= 0 for v in bias_sizes))):
        return None
    dtype = grad_out.dtype
    return (_contiguous(x.shape, dtype) if output_mask[0] else None,
            _contiguous(weight.shape, dtype) if output_mask[1] else None,
            _contiguous(tuple(bias_sizes), dtype) if output_mask[2] else None)


def _gradient_sum(a, b, *, alpha=1):
    """add.Tensor of two dense tensors of one shape and floating dtype (the engine
    summing the gradients of a tensor used twice, a residual's): its meta kernel
    (Python elementwise, about 0.2 ms) gives a contiguous tensor like them."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or type(alpha) not in (int, float) \
            or tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype or not a.dtype.is_floating_point \
            or not (_dense(a) and _dense(b)):
        return None
    return _contiguous(a.shape, a.dtype)


def _softmax_backward_data(grad_out, output, dim, input_dtype):
    """_softmax_backward_data of a dense gradient and output of one shape and floating
    dtype, the input's dtype the same: its meta kernel (Python, about 0.4 ms) gives a
    contiguous tensor like the gradient."""
    if type(dim) is not int or not -max(output.dim(), 1) <= dim < max(output.dim(), 1) \
            or tuple(grad_out.shape) != tuple(output.shape) \
            or not (grad_out.dtype == output.dtype == input_dtype) or not output.dtype.is_floating_point \
            or not (_dense(output) and _dense(grad_out)):
        return None
    return _contiguous(grad_out.shape, grad_out.dtype)


def _mm(a, b):
    """mm of two 2D tensors of one dtype whose inner sizes agree (a Linear's backward):
    its meta kernel (Python, about 25 us) gives a contiguous tensor of that dtype."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dim() != 2 or b.dim() != 2 \
            or a.dtype != b.dtype or a.shape[1] != b.shape[0]:
        return None   # the kernel raises its own error
    return _contiguous((a.shape[0], b.shape[1]), a.dtype)


def _sum_dims(x, dim, keepdim=False, *, dtype=None):
    """sum.dim_IntList of a tensor of any layout (a bias's gradient, summed from an
    expanded one): its meta kernel (a Python reference, about 50 us) gives what
    ``_reduced`` says."""
    return _reduced(x, dim, keepdim, dtype)


def _sum_all(x, *, dtype=None):
    """sum.default of a floating tensor with no dtype (the loss): its meta kernel (a
    Python reference, about 40 us) gives a 0-dim tensor of the input's dtype."""
    if dtype is not None or not x.dtype.is_floating_point:
        return None
    return _contiguous((), x.dtype)


def _zeros_like(x, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """zeros_like of a dense tensor with no other argument (the backward's seed gradient):
    its meta kernel (about 50 us) keeps the input's layout: contiguous, of its dtype."""
    if dtype is not None or layout is not None or device is not None or pin_memory not in (None, False) \
            or memory_format is not None or not _dense(x) or _channels_last_like(x):
        return None
    return _contiguous(x.shape, x.dtype)


def _max_pool2d_backward(grad_out, x, kernel_size, stride, padding, dilation, ceil_mode, indices):
    """max_pool2d_with_indices_backward where the forward's shortcut (``_max_pool2d``)
    takes the input and the gradient and indices have its pooled shape, the gradient
    the input's dtype: the meta kernel (Python, about 80 us) gives a contiguous tensor
    like the input (which reads as contiguous, never channels-last: see _max_pool2d)."""
    pooled = _max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)
    if pooled is None or grad_out.dtype != x.dtype or tuple(grad_out.shape) != tuple(pooled[0].shape) \
            or tuple(indices.shape) != tuple(pooled[0].shape):
        return None
    return _contiguous(x.shape, x.dtype)


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    """torch.broadcast_shapes(a, b), or None where they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _product(a, b):
    """mul.Tensor of two dense floating tensors of one dtype, of at least one dimension,
    whose shapes broadcast (a norm's or a rotary embedding's backward): its meta kernel
    (a Python reference, about 40 us) gives a contiguous tensor of that dtype and the
    broadcast shape (each operand's nonzero strides decrease with the dimension, as
    the output's do; a broadcast dimension's zero stride decides nothing)."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dtype != b.dtype \
            or not a.dtype.is_floating_point or a.dim() == 0 or b.dim() == 0 or not (_dense(a) and _dense(b)):
        return None
    shape = _broadcast(tuple(a.shape), tuple(b.shape))
    return None if shape is None else _contiguous(shape, a.dtype)


def _power(x, exponent):
    """pow.Tensor_Scalar of a dense floating tensor by a Python int or float (an RMS
    norm's backward): its meta kernel (a Python reference, about 70 us) gives a
    contiguous tensor like the input."""
    if type(exponent) not in (int, float) or not x.dtype.is_floating_point or not _dense(x):
        return None
    return _contiguous(x.shape, x.dtype)


_aten = torch.ops.aten
SHORTCUTS = {_aten.addmm.default: _addmm, _aten.native_batch_norm.default: _batch_norm,
             _aten.native_layer_norm.default: _layer_norm, _aten.convolution.default: _convolution,
             _aten._grouped_mm.default: _grouped_mm, _aten.max_pool2d_with_indices.default: _max_pool2d,
             _aten._adaptive_avg_pool2d.default: _adaptive_avg_pool2d, _aten.mean.dim: _mean_dim,
             # the backward's
             _aten.native_batch_norm_backward.default: _batch_norm_backward,
             _aten.threshold_backward.default: _threshold_backward,
             _aten.convolution_backward.default: _convolution_backward,
             _aten._softmax_backward_data.default: _softmax_backward_data,
             _aten.add.Tensor: _gradient_sum, _aten.mm.default: _mm, _aten.sum.dim_IntList: _sum_dims,
             _aten.sum.default: _sum_all, _aten.zeros_like.default: _zeros_like,
             _aten.max_pool2d_with_indices_backward.default: _max_pool2d_backward,
             _aten.mul.Tensor: _product, _aten.pow.Tensor_Scalar: _power}


# per op, by id (an OpOverload hashes in Python): (the op, _replayable(op), its shortcut or None), which
# its schema and tags decide; the op is held, so its id is never another op's
_OPS: dict[int, tuple[Any, str | None, Any]] = {}


class MetaReplay:
    """Runs ops, remembering meta results; use one per forward (nothing is kept
    across profiles, so every profile pays for its own kernels)."""

    def __init__(self):
        self._results: dict[tuple, tuple | list | str] = {}

    def __call__(self, func, args: tuple, kwargs: dict) -> Any:
        entry = _OPS.get(id(func))
        if entry is None or entry[0] is not func:
            entry = _OPS[id(func)] = (func, _replayable(func), SHORTCUTS.get(func))
        _, replay, shortcut = entry
        key = _key(func, args, kwargs) if replay is not None else None
        if key is not None:
            try:
                found = self._results.get(key)
            except TypeError:  # an unhashable argument: run the kernel
                key, found = None, None
            if found is not None:
                if found is _INPLACE:
                    return args[0]
                return _fresh(found) if type(found) is tuple else tuple(map(_fresh, found))
        # the shortcut only where there is a key: all tensors dense meta
        out = shortcut(*args, **kwargs) if shortcut is not None and key is not None else None
        if out is None:
            out = func(*args, **kwargs)
        if key is None:
            return out
        if replay is _INPLACE:
            if out is args[0]:
                self._results[key] = _INPLACE
        elif isinstance(out, torch.Tensor) and out.is_meta:
            spec = _spec(out)
            if spec is not None:
                self._results[key] = spec
        elif isinstance(out, tuple) and all(isinstance(o, torch.Tensor) and o.is_meta for o in out):
            specs = [_spec(o) for o in out]
            if all(s is not None for s in specs):
                self._results[key] = specs
        return out
