"""Run two models on one random input and measure how far their outputs are apart."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils._pytree import tree_leaves

from profiler.capture.modes import eval_state
from profiler.errors import ProfilerError


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 if none)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def random_input(input_size: tuple[int, ...], batch: int = 1, dtype: torch.dtype = torch.float32,
                 seed: int = 0) -> torch.Tensor:
    """A seeded standard-normal batch, without touching the global random state."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *input_size), dtype=dtype, generator=generator)


def max_abs_difference(a, b) -> float:
    """The largest |a − b| over the tensors of two outputs of the same structure."""
    left = [t for t in tree_leaves(a) if isinstance(t, torch.Tensor)]
    right = [t for t in tree_leaves(b) if isinstance(t, torch.Tensor)]
    if len(left) != len(right) or any(x.shape != y.shape for x, y in zip(left, right)):
        raise ProfilerError("the two models' outputs differ in structure or shape")
    return max((float((x.double() - y.double()).abs().max()) for x, y in zip(left, right)
                if x.numel()), default=0.0)


def compare_outputs(model_a: nn.Module, model_b: nn.Module, input_size: tuple[int, ...],
                    batch: int = 1, seed: int = 0) -> tuple[float, float]:
    """(max |model_a(x) − model_b(x)|, max |model_a(x)|) over all output elements,
    for one seeded random input x of per-sample size ``input_size`` in model_a's
    dtype; both run in eval mode without grad, and their modes are restored after."""
    x = random_input(tuple(input_size), batch, model_dtype(model_a), seed)
    with eval_state(model_a, model_b):
        out = model_a(x)
        scale = max((float(t.abs().max()) for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.numel()),
                    default=0.0)
        return max_abs_difference(out, model_b(x)), scale


def max_output_difference(model_a: nn.Module, model_b: nn.Module, input_size: tuple[int, ...],
                          batch: int = 1, seed: int = 0) -> float:
    """Max |model_a(x) − model_b(x)| (see ``compare_outputs``)."""
    return compare_outputs(model_a, model_b, input_size, batch, seed)[0]
