"""Inputs: the caller's arguments checked before any forward, default inputs per
model family, and the dummy inputs a forward gets.

A leaf may be a tensor or a shape (a torch.Size, or a tuple/list of ints).  Shapes
become dummy tensors of the execution mode: meta, fake or real (seeded random);
given tensors become twins (see profiler.capture.twins), so the caller's are never
touched; a twin keeps its tensor's autograd status (a computed input's twin is
computed too, so in-place ops that eager allows on it run on the twin).
"""
from __future__ import annotations

import collections
import copy
import sys
import types
from typing import Any

import torch

from profiler.arguments import check_batch
from profiler.defaults import DEFAULT_IMAGE, FAMILY_DEFAULTS, NATIVE_DETECTION
from profiler.errors import ProfilerError
from profiler.models.spec import ModelSpec
from profiler.models.weights import weights_meta
from profiler.capture.twins import twin


def is_shape(x: Any) -> bool:
    """A torch.Size, or a non-empty tuple or list of ints (not bools)."""
    cls = type(x)
    if cls is torch.Size:
        return True
    if not (cls is tuple or cls is list or isinstance(x, (tuple, list))):
        return False
    for d in x:   # a loop, not all() over a generator: this runs on every input of every profile
        if type(d) is not int and (not isinstance(d, int) or isinstance(d, bool)):
            return False
    return len(x) > 0


# --- the caller's arguments, checked before any forward ----------------------

FLOAT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
                "float64": torch.float64}


def check_input_size(input_size: Any) -> tuple[int, ...] | None:
    """``input_size`` as a tuple of positive ints (None stays None)."""
    if input_size is None:
        return None
    if isinstance(input_size, str):
        parts = input_size.lower().split("x")
        hint = ("pass native=True for the published crop size" if input_size == "native" else
                f"pass a tuple such as {tuple(int(p) for p in parts)}" if all(p.isdigit() for p in parts)
                else "pass a tuple such as (3, 224, 224)")
        raise ProfilerError(f"input_size={input_size!r} is a string: {hint}")
    if not isinstance(input_size, (tuple, list, torch.Size)):
        raise ProfilerError(f"input_size={input_size!r}: expected a tuple of sizes such as (3, 224, 224)")
    if not input_size:
        raise ProfilerError("input_size=() is empty: give the per-sample size, such as (3, 224, 224), "
                            "or leave it out for the model's default")
    if not is_shape(input_size) or any(d <= 0 for d in input_size):
        raise ProfilerError(f"input_size={tuple(input_size)!r}: every size must be a positive integer, "
                            "as in (3, 224, 224)")
    return tuple(input_size)


def check_dtype(dtype: Any) -> torch.dtype | None:
    """``dtype`` as a floating torch.dtype; a name ("bfloat16") is accepted; None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in FLOAT_DTYPES:
        return FLOAT_DTYPES[dtype]
    if isinstance(dtype, torch.dtype) and dtype in FLOAT_DTYPES.values():
        return dtype
    raise ProfilerError(f"dtype={dtype!r}: expected one of {', '.join(FLOAT_DTYPES)} (a torch.dtype or its "
                        "name), the dtype the model's floating-point weights and inputs are counted at; "
                        "integer inputs such as token ids are given as integer tensors in inputs=")


ACCEPTED = ("expected a tensor, a full shape such as (1, 3, 224, 224), or a tuple, list or dict of them "
            "(a tuple: the positional arguments), or an object holding tensors (a KV cache)")


def _numpy_array(tree: Any) -> Any:
    """The first NumPy array in ``tree``'s tuples, lists and dicts (None if none):
    a forward would get it as it is, not as a tensor."""
    numpy = sys.modules.get("numpy")   # an array exists only where NumPy is imported
    if numpy is None:
        return None
    todo, seen = [tree], set()
    while todo:
        x = todo.pop()
        if isinstance(x, numpy.ndarray):
            return x
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, dict):
            todo.extend(x.values())
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
    return None


def _holds_input(tree: Any) -> bool:
    """A tensor or a shape anywhere in ``tree`` (containers, objects' attributes)."""
    if is_shape(tree):
        return True
    if isinstance(tree, dict):
        return any(_holds_input(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return any(_holds_input(v) for v in tree)
    return bool(tensors_in(tree))


def check_inputs(inputs: Any, argument: str = "inputs") -> None:
    """Given example inputs (``argument``: inputs= or kwargs=): a tensor, a shape, or
    containers (tuple, list, dict) and objects holding them; not a bare number or
    string, not a NumPy array (anywhere in the containers), and, for inputs=, not
    something that holds no tensor and no shape at all (``object()``).  An empty
    tuple (no positional arguments) passes, as do other values beside a tensor
    (``(x, 0.5)``: a forward's further arguments)."""
    array = _numpy_array(inputs)
    if array is not None:
        raise ProfilerError(f"{argument}= holds a NumPy array (shape {tuple(array.shape)}, {array.dtype}), which "
                            "a forward would get as it is: pass torch.from_numpy(array) instead")
    if argument != "inputs" or inputs is None or (isinstance(inputs, tuple) and not inputs):
        return
    if isinstance(inputs, (bool, int, float, complex, str, bytes)):
        raise ProfilerError(f"inputs={inputs!r}: expected a tensor, a full shape such as (1, 3, 224, 224), "
                            "or a tuple of them (the positional arguments); for a per-sample size "
                            "use input_size=")
    if not _holds_input(inputs):
        shown = repr(inputs) if len(repr(inputs)) <= 60 else f"a {type(inputs).__name__}"
        raise ProfilerError(f"inputs={shown} holds no tensor and no shape: {ACCEPTED}")


# --- default and dummy inputs --------------------------------------------------


def default_input_size(spec: ModelSpec | None, native: bool = False) -> tuple[int, ...]:
    """The per-sample input size: 3×227×227 for images unless the family says
    otherwise; ``native`` takes the published weights' crop size (for detection,
    whose weights have none, the 512×512 image of their published figures)."""
    if spec is None or spec.family == "custom":
        return DEFAULT_IMAGE
    meta = weights_meta(spec.name) if spec.family != "classification" or native else {}
    if spec.family == "video":
        size = meta.get("crop_size", (112, 112))
        return (3, meta.get("clip_len", 16), *size)
    if native and "crop_size" in meta:
        return (3, *meta["crop_size"])
    if native and spec.family == "detection":
        return NATIVE_DETECTION
    return FAMILY_DEFAULTS.get(spec.family, DEFAULT_IMAGE)


def token_vocab(model: torch.nn.Module) -> int | None:
    """The vocabulary size when the model's first layer with parameters is an
    embedding (its dummy input is then token ids), else None."""
    for module in model.modules():
        if module._parameters and not module._modules:
            if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
                return module.num_embeddings
            return None
    return None


def example_args(family: str, size: tuple[int, ...], batch: int) -> tuple[Any, ...]:
    """Positional args (as shapes) for a family: detection takes a list of images,
    optical flow two image batches, the rest one batch."""
    check_batch(batch)
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


def materialize(tree: Any, make, dtype: torch.dtype, generator: torch.Generator | None,
                device: torch.device | str = "meta", ids: int | None = None,
                memo: dict[int, Any] | None = None) -> Any:
    """The inputs a forward gets.  Shapes become dummy tensors on ``device``: random
    when ``generator`` is given, else uninitialised; of ``dtype``, or int64 token
    ids below ``ids`` when the model starts with an embedding.  Given tensors become
    their twins (``make``, see profiler.capture.twins), so the caller's are never touched;
    any other object that holds tensors (a KV cache) is deep-copied with its tensors
    replaced by twins.  ``memo``: twins by the id of the tensor they stand for,
    shared between args and kwargs."""
    memo = {} if memo is None else memo
    if is_shape(tree):
        shape = tuple(tree)
        if ids is not None:
            if generator is None:
                return torch.empty(shape, dtype=torch.int64, device=device)
            return torch.randint(0, ids, shape, generator=generator).to(device)
        if generator is None:
            return torch.empty(shape, dtype=dtype, device=device)
        return torch.randn(shape, dtype=dtype, generator=generator).to(device)
    if isinstance(tree, torch.Tensor):
        if id(tree) not in memo:
            memo[id(tree)] = twin(tree, make)
        return memo[id(tree)]
    if isinstance(tree, dict):
        return type(tree)((k, materialize(v, make, dtype, generator, device, ids, memo)) for k, v in tree.items())
    if isinstance(tree, (list, tuple)):
        items = [materialize(v, make, dtype, generator, device, ids, memo) for v in tree]
        return type(tree)(items) if not hasattr(tree, "_fields") else type(tree)(*items)
    held = tensors_in(tree)
    if not held:
        return tree
    copy_memo: dict[int, Any] = {}
    for t in held:
        if id(t) not in memo:
            memo[id(t)] = twin(t, make)
        copy_memo[id(t)] = memo[id(t)]
    copy_memo[id(copy_memo)] = held   # deepcopy's keep-alive list
    return copy.deepcopy(tree, copy_memo)


_ATOMS = (str, bytes, int, float, complex, bool, type(None), torch.dtype, torch.device, type,
          types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)


def tensors_in(obj: Any) -> list[torch.Tensor]:
    """The tensors reachable from ``obj`` through containers, ``__dict__`` and
    ``__slots__`` (what deepcopy will walk), outer ones first, in argument order."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    todo = collections.deque([obj])
    while todo:
        x = todo.popleft()
        if id(x) in seen or isinstance(x, _ATOMS):
            continue
        seen.add(id(x))
        if isinstance(x, torch.Tensor):
            found.append(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
        elif isinstance(x, (list, tuple, set, frozenset)):
            todo.extend(x)
        else:
            todo.extend(getattr(x, "__dict__", {}).values())
            for cls in type(x).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if isinstance(slot, str) and hasattr(x, slot):
                        todo.append(getattr(x, slot))
    return found
