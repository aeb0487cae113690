"""Shape helpers shared by the forward and backward files of every group.

Formulas see shapes (tuples of ints), not tensors; these helpers read the
arguments aten passes (an int or a one-element list for every spatial
dimension, a tuple of outputs for ops with several) and which gradients a call
wants.  Quantities of one group (pooling windows, interpolation taps, softmax
rows) live in that group's forward file, not here.
"""
from __future__ import annotations

from typing import Any

from profiler.formulas.cost import Shape


def is_shape(x: Any) -> bool:
    """Whether an argument arrived as a tensor's shape (a tuple of ints)."""
    return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


def first_output(out: Any) -> Shape:
    """The first output's shape, for ops that return one tensor or several."""
    return out[0] if out and isinstance(out[0], tuple) else out


def dim_size(shape: Shape, dim: int) -> int:
    """The length of ``dim``; a 0-d tensor counts as one element along it."""
    return shape[dim] if shape else 1


def per_dim(v: Any, d: int) -> tuple[int, ...]:
    """An int, or a 1-element list as aten passes it, repeated for d dimensions."""
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    return v * d if len(v) == 1 else v


def same_padding(kernel, dilation) -> tuple[int, ...]:
    """padding='same' of a stride-1 conv: half the dilated kernel's extent, per dimension."""
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))


def need(needs, i: int) -> bool:
    """Whether input i of a call requires grad (``needs``: one flag per input)."""
    return len(needs) > i and bool(needs[i])


def module_params_need(m: Any, *names: str) -> tuple[bool, ...]:
    """For each parameter name: whether module ``m`` has it and it requires grad."""
    return tuple(getattr(m, name, None) is not None and getattr(m, name).requires_grad
                 for name in names)
