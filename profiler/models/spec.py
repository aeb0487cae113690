"""How to build one model (``ModelSpec``), and the meta-device build it uses.

Kept apart from the name resolution in profiler.models.resolve so that the builders of
profiler.models.hf (hf:), profiler.models.timm_models (timm:) and profiler.models.resolve can both make specs without
importing each other.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ModelSpec:
    """How to build one model, and what it eats by default."""

    name: str
    builder: Callable[..., Any]
    # classification, segmentation, detection, video, optical_flow, custom; hf: models
    # language, vision, vision-language, speech, audio (profiler.models.hf.HF_FAMILIES)
    family: str
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    config: Any = None                         # an hf: model's transformers config (inputs: hf.example_inputs)
    input_size: tuple[int, ...] | None = None  # the default per-sample input, where the model says (timm:)
    notes: list[str] = field(default_factory=list)   # for the report: what was built, and how

    def build(self, meta: bool):
        """Build the model; on the meta device (no real weights) when ``meta``.

        A builder that needs real values for its own arithmetic (RegNet computes its
        block widths with torch ops and ``.tolist()``) fails when every tensor is
        meta; it is then built again with only the tensors that module constructors
        create on meta (see ``meta_in_constructors``).  If that fails too, the first
        error is raised."""
        import torch
        if not meta:
            return self.builder(**self.build_kwargs)
        try:
            with torch.device("meta"):
                return self.builder(**self.build_kwargs)
        except Exception as exc:
            first = exc
        try:
            with meta_in_constructors():
                return self.builder(**self.build_kwargs)
        except Exception:
            raise first from None

    def build_seeded(self):
        """Build the model with real weights drawn from seed 0 (the same weights every
        time), leaving the caller's torch random state as it was."""
        import torch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return self.build(meta=False)


def meta_in_constructors():
    """A context in which tensors made inside an ``nn.Module`` constructor (its
    parameters and buffers) go to the meta device, and tensors made anywhere else
    stay on the default device, so a builder can compute with real values before
    it constructs the modules."""
    import torch
    from torch.overrides import TorchFunctionMode

    def in_constructor() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module):
                return True
            frame = frame.f_back
        return False

    class MetaInConstructors(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if in_constructor():
                with torch.device("meta"):
                    return func(*args, **kwargs)
            return func(*args, **kwargs)

    return MetaInConstructors()
