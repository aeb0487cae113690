"""Activation checkpointing switched on in a model built by name, the way its library
trains with it: transformers' ``activation_checkpointing_enable`` (before 5.x
``gradient_checkpointing_enable``), timm's ``set_grad_checkpointing``.  What it
costs is counted by profiler.capture.autograd (the recompute pass).

Kinds: "non-reentrant" (``torch.utils.checkpoint`` with ``use_reentrant=False``,
what PyTorch recommends and timm uses by default) and "reentrant"
(``use_reentrant=True``).  Only a model the profiler built itself is switched: a
caller's model is theirs to switch (and would be left changed)."""
from __future__ import annotations

from torch import nn

from profiler.errors import ProfilerError

VARIANTS = ("non-reentrant", "reentrant")


def check_variant(value) -> str | None:
    """``checkpointing=``: False/None (off), True ("non-reentrant") or a variant."""
    if value is None or value is False:
        return None
    if value is True:
        return VARIANTS[0]
    if isinstance(value, str) and value in VARIANTS:
        return value
    raise ProfilerError(f"checkpointing={value!r}: expected True, False, 'non-reentrant' or 'reentrant'")


def enable(module: nn.Module, variant: str, label: str) -> str:
    """Switch activation checkpointing on in ``module`` (built here); returns the note
    saying how."""
    reentrant = variant == "reentrant"
    switch = getattr(module, "activation_checkpointing_enable", None) \
        or getattr(module, "gradient_checkpointing_enable", None)
    if switch is not None and hasattr(module, "config"):   # transformers
        if not getattr(module, "supports_gradient_checkpointing", False):
            raise ProfilerError(f"{label}: checkpointing=: transformers' {type(module).__name__} does not "
                                "support activation checkpointing")
        arguments = {"use_reentrant": reentrant}
        if switch.__name__ == "activation_checkpointing_enable":
            switch(activation_checkpointing_kwargs=arguments)
        else:
            switch(gradient_checkpointing_kwargs=arguments)
        return f"activation checkpointing ({variant}): transformers' {switch.__name__}() on every layer"
    if hasattr(module, "set_grad_checkpointing") and hasattr(module, "default_cfg"):   # timm
        if reentrant:
            raise ProfilerError(f"{label}: checkpointing='reentrant': timm picks the variant process-wide "
                                "(timm.layers.set_reentrant_ckpt); profile with checkpointing=True "
                                "(non-reentrant, timm's default)")
        module.set_grad_checkpointing(True)
        return f"activation checkpointing ({variant}): timm's set_grad_checkpointing()"
    raise ProfilerError(f"{label}: checkpointing= switches on transformers' or timm's own activation "
                        "checkpointing, which this model has not: wrap its blocks in "
                        "torch.utils.checkpoint.checkpoint yourself and profile it as an nn.Module")
