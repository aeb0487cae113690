"""Whole-state snapshots: what profiling must leave exactly as it found it.

``snapshot(model)`` records the model and the process; ``assert_untouched(model,
before)`` fails, naming the first difference, if anything changed:

* every module reached by ``named_modules(remove_duplicate=False)``: its class and
  its whole ``__dict__``: the keys, and each value (the parameter, buffer and
  submodule slots, every hook dict, ``training``, plain attributes), compared
  recursively through builtin lists, tuples, dicts and sets; a tensor by identity
  and by its state (class, dtype, device, shape, strides, requires_grad, storage,
  bits (a BLAKE2 digest), grad, tensor hooks); any other object by identity, numbers and strings by
  value;
* ``state_dict(keep_vars=True)``: the same keys, each the same tensor object;
* the process: torch's CPU, Python's ``random`` and NumPy's global RNG states,
  grad and inference mode, the default dtype and device, the MHA fast path flag,
  torch's thread count, the global module hooks and the dispatch and function
  mode stacks.
"""
from __future__ import annotations

import gc
import hashlib
import random
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as module_globals

GLOBAL_HOOKS = sorted(n for n in dir(module_globals) if n.startswith("_global_")
                      and isinstance(getattr(module_globals, n), dict))
SCALARS = (str, int, bool, type(None), torch.dtype, torch.device, torch.Size, complex)


def _bits(t: torch.Tensor) -> bytes | torch.Tensor | None:
    """A digest of the tensor's raw bytes (NaN equals NaN, -0.0 differs from 0.0);
    None for a tensor without data (meta, fake or another subclass, uninitialised)."""
    if type(t) not in (torch.Tensor, nn.Parameter) or t.is_meta:
        return None
    t = t.detach()
    if t.layout != torch.strided:
        return t.clone()
    raw = t.contiguous().reshape(-1).view(torch.uint8)
    return hashlib.blake2b(memoryview(raw.numpy())).digest()


class TensorState:
    """A tensor as it was: equal to another only if it is the same object, with the
    same metadata, storage, values, grad and hooks."""

    def __init__(self, t: torch.Tensor, depth: int = 0):
        self.obj = t
        self.cls = type(t)
        if isinstance(t, nn.parameter.UninitializedTensorMixin):   # lazy modules': no shape yet
            self.meta = (t.dtype, t.device, None, None, None, t.requires_grad)
        else:
            self.meta = (t.dtype, t.device, tuple(t.shape), t.layout,
                         tuple(t.stride()) if t.layout == torch.strided else None, t.requires_grad)
        self.bits = _bits(t)
        self.ptr = t.untyped_storage().data_ptr() if self.bits is not None and t.layout == torch.strided else None
        grad = t.grad if t.is_leaf else None   # a non-leaf's grad is never populated (and warns)
        self.grad = TensorState(grad, depth + 1) if grad is not None and depth == 0 else grad is not None
        self.hooks = tuple(freeze(getattr(t, name, None))
                           for name in ("_backward_hooks", "_post_accumulate_grad_hooks"))

    def __eq__(self, other) -> bool:
        if not isinstance(other, TensorState):
            return NotImplemented
        if isinstance(self.bits, torch.Tensor) and isinstance(other.bits, torch.Tensor):   # sparse
            same_bits = self.bits.shape == other.bits.shape and torch.equal(self.bits, other.bits)
        else:
            same_bits = type(self.bits) is type(other.bits) and self.bits == other.bits
        return (self.obj is other.obj and self.cls is other.cls and self.meta == other.meta
                and self.ptr == other.ptr and same_bits and self.grad == other.grad and self.hooks == other.hooks)

    def __repr__(self) -> str:
        dtype, device, shape, _, _, grad = self.meta
        return (f"<{self.cls.__name__} id={id(self.obj):#x} {dtype} {device} {shape} "
                f"requires_grad={grad} storage={self.ptr}>")


class Same:
    """Any other object: equal only to the very same object (kept alive, so that its
    id cannot be reused)."""

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, Same) and self.obj is other.obj

    def __repr__(self) -> str:
        return f"<the {type(self.obj).__name__} object at {id(self.obj):#x}>"


def freeze(value: Any, depth: int = 0) -> Any:
    """A comparable record of ``value``: builtin containers walked, tensors as
    TensorState, scalars by value, anything else by identity."""
    kind = type(value)
    if isinstance(value, torch.Tensor):
        return TensorState(value)
    if kind is float:
        return ("float", value.hex())   # NaN equals NaN, -0.0 differs from 0.0
    if kind in SCALARS:
        return (kind.__name__, value)
    if depth < 6:
        if kind in (list, tuple):
            return (kind.__name__, tuple(freeze(v, depth + 1) for v in value))
        if isinstance(value, dict) and kind.__module__ in ("builtins", "collections"):
            return (kind.__name__, tuple((Same(k) if not isinstance(k, SCALARS) else k, freeze(v, depth + 1))
                                         for k, v in value.items()))
        if kind in (set, frozenset):
            return (kind.__name__, frozenset(v if type(v) in SCALARS else id(v) for v in value))
    return Same(value)


def _rng_states() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(torch=torch.get_rng_state(), python=random.getstate(),
                numpy=(name, keys.copy(), pos, has_gauss, cached))


def _process() -> dict:
    return dict(
        grad_enabled=torch.is_grad_enabled(),
        gc_enabled=gc.isenabled(),
        gc_threshold=gc.get_threshold(),
        inference_mode=torch.is_inference_mode_enabled(),
        default_dtype=torch.get_default_dtype(),
        default_device=torch.get_default_device(),
        mha_fastpath=torch.backends.mha.get_fastpath_enabled(),
        threads=torch.get_num_threads(),
        dispatch_modes=torch._C._len_torch_dispatch_stack(),
        function_modes=torch._C._len_torch_function_stack(),
        global_hooks={name: freeze(getattr(module_globals, name)) for name in GLOBAL_HOOKS},
    )


def snapshot(model: nn.Module | None = None) -> dict:
    """The model's whole state (if given) and the process's."""
    before = dict(process=_process(), rng=_rng_states())
    if model is not None:
        modules = list(model.named_modules(remove_duplicate=False))
        before["modules"] = [(name, Same(m), Same(type(m)), {k: freeze(v) for k, v in vars(m).items()})
                             for name, m in modules]
        before["state_dict"] = {k: Same(v) for k, v in model.state_dict(keep_vars=True).items()}
    return before


def assert_rng_untouched(before: dict) -> None:
    now = _rng_states()
    assert torch.equal(now["torch"], before["rng"]["torch"]), "torch's CPU RNG state changed"
    assert now["python"] == before["rng"]["python"], "Python's random state changed"
    b, n = before["rng"]["numpy"], now["numpy"]
    assert b[0] == n[0] and np.array_equal(b[1], n[1]) and b[2:] == n[2:], "NumPy's global RNG state changed"


def assert_untouched(model: nn.Module | None, before: dict) -> None:
    """Everything ``snapshot`` recorded is as it was."""
    after = snapshot(model)
    for key, value in before["process"].items():
        assert after["process"][key] == value, f"process state {key}: {value!r} became {after['process'][key]!r}"
    assert_rng_untouched(before)
    if model is None:
        return
    names_before = [name for name, *_ in before["modules"]]
    names_after = [name for name, *_ in after["modules"]]
    assert names_after == names_before, "the module tree changed"
    for (name, module, cls, attrs), (_, module_now, cls_now, attrs_now) in zip(before["modules"], after["modules"]):
        where = name or "(model)"
        assert module_now == module, f"{where}: a different module object"
        assert cls_now == cls, f"{where}: class {cls.obj.__name__} became {cls_now.obj.__name__}"
        assert attrs_now.keys() == attrs.keys(), (
            f"{where}: attributes added {sorted(attrs_now.keys() - attrs.keys())}, "
            f"removed {sorted(attrs.keys() - attrs_now.keys())}")
        for key, value in attrs.items():
            assert attrs_now[key] == value, f"{where}.{key}: {value!r} became {attrs_now[key]!r}"
    assert after["state_dict"].keys() == before["state_dict"].keys(), "state_dict keys changed"
    for key, value in before["state_dict"].items():
        assert after["state_dict"][key] == value, f"state_dict[{key!r}] is a different tensor"
