"""One profile's run, resolved once: the model, its inputs and how they are run.

``profiler.api`` builds a ``Run`` from profile()'s arguments; the capture's forward
(profiler.capture.session) reads it, and so does the measured run
(profiler.measure.timing), which sits above the capture and below the api: the
record lives here, at the lowest stage that reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

if TYPE_CHECKING:
    from profiler.capture.saved import Request
    from profiler.models.spec import ModelSpec


@dataclass
class Run:
    """The model and inputs of one profile, and how they run.

    label: the model's name in the report;
    module: the module that runs: a by-name model's build (on meta where its
        builder can; None where a measured run builds it itself), or the caller's
        module out of any wrapper;
    spec: the ModelSpec of a model built by name (its real build is seeded);
    owned: ``module`` was built here for this profile (nothing of it to restore);
    family: the spec's family, "custom" for a caller's module;
    candidates: the positional inputs to try, in order, each (args, description,
        per-sample size or None): a model that takes one resolution only gets the
        published crop size after the default;
    args, kwargs: the inputs: shapes (made into dummy tensors), the caller's
        tensors, or, once ``inputs_for`` made them, the made ones (before twins);
        ``args`` is set to the candidate that ran;
    inputs_for: makes (args, kwargs, description) from the model as it runs (a
        transformers model's inputs: profiler.models.hf.example_inputs), or None;
    dtype: the floating dtype asked for (None: the model's own); ``input_dtype``:
        the dtype of dummy floating inputs, and of the counted bytes;
    ids: the vocabulary of a model whose first layer is an embedding (its dummy
        inputs are token ids below it), else None;
    batch, training: as given to profile();
    bound: a detection model run on meta with its data-dependent steps bounded
        (profiler.models.detection), never falling back;
    prepare: what a by-name model's real build gets, as its meta build did
        (checkpointing switched on), or None;
    notes: the report's notes on the run, added to as it is resolved and run;
    execution: "meta", "fake" or "real" once the forward ran (None before);
    input_desc, input_size: the input that ran, in words and as a per-sample size
        (None for inputs not made from one);
    memory: a memory profile's request (profiler.capture.saved.Request: the
        optimizer to step; the forward that ran leaves its trace on it), or None."""

    label: str
    module: nn.Module | None
    spec: ModelSpec | None = None
    owned: bool = False
    family: str = "custom"
    candidates: list[tuple[tuple, str, tuple[int, ...] | None]] = field(default_factory=list)
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs_for: Callable[[nn.Module], tuple[tuple, dict, str]] | None = None
    dtype: torch.dtype | None = None
    input_dtype: torch.dtype = torch.float32
    ids: int | None = None
    batch: int = 1
    training: bool = False
    bound: bool = False
    prepare: Callable[[nn.Module], nn.Module] | None = None
    notes: list[str] = field(default_factory=list)
    execution: str | None = None
    input_desc: str = ""
    input_size: tuple[int, ...] | None = None
    memory: Request | None = None
