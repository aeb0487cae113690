"""profile(): build or take a model, run one shapes-only forward, count, report."""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from .capture import Capture, ModuleCall
from .errors import ProfilerError
from .inputs import default_input_size, example_args, materialize, normalize_args
from .models import ModelSpec, native_build_kwargs, resolve
from .report import Report
from .rows import build_rows

DATA_DEPENDENT_NOTE = ("detection counts depend on the input: proposals, NMS and the heads' "
                       "per-box work vary with the image")
TRAINING_NOTE = ("training step: forward in train mode (BatchNorm on batch statistics, dropout "
                 "active); bwd_* columns: the backward of a loss that depends on every output")


def _describe(call: ModuleCall | None) -> str:
    if call is None:
        return ""
    shapes = ", ".join("x".join(map(str, s)) for s in call.inputs) or "no tensors"
    return f" at layer '{call.name or '(model)'}' ({type(call.module).__name__}) on input {shapes}"


@contextlib.contextmanager
def _profiling_state(model: nn.Module, training: bool = False, modules: list[nn.Module] | None = None):
    """Eval mode, no grad (train mode with grad for a training profile), no fused
    attention fast path (its one fused op would hide the attention's inner layers);
    every module's mode, the flag and the CPU random state (a forward may draw
    random numbers) restored after.  ``modules``: ``list(model.modules())`` if the
    caller has it."""
    modes = [(m, m.training) for m in (model.modules() if modules is None else modules)]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        # only when some flag must change: each assignment goes through
        # nn.Module.__setattr__, and a model already in the wanted mode is the usual case
        if any(flag != training for _, flag in modes):
            model.train(training)
        torch.backends.mha.set_fastpath_enabled(False)
        with (torch.enable_grad() if training else torch.no_grad()), torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for module, flag in modes:
            if module.training != flag:
                module.training = flag


def _run(model: nn.Module, args, kwargs, mode: str, dtype,
         training: bool = False) -> tuple[Capture, contextlib.ExitStack]:
    """One forward in ``mode`` (meta, fake or real) under the capture.  Returns the
    capture and, still entered, the profiling state the forward ran in: the
    formulas read each module's mode, so the caller builds the rows before it
    closes that (putting the modes back and setting them again costs as much as a
    third of a small model's profile).  On failure the state is closed here."""
    generator = torch.Generator().manual_seed(0)
    fake = None
    if mode == "fake":
        from torch._subclasses.fake_tensor import FakeTensorMode
        fake = FakeTensorMode(allow_non_fake_inputs=True)
    with (fake or contextlib.nullcontext()):
        args = materialize(args, mode, dtype, generator)
        kwargs = materialize(kwargs, mode, dtype, generator)
        capture = Capture(model, record_ops=training)
        with contextlib.ExitStack() as state:
            state.enter_context(_profiling_state(model, training, [m for _, m in capture.modules]))
            try:
                with capture:
                    model(*args, **kwargs)
            except Exception as exc:
                exc.failed_call = capture.failed_call
                raise
            return capture, state.pop_all()


def _on_meta(model: nn.Module) -> bool:
    """Every parameter and buffer (and at least one) on the meta device.  Read from
    each module's slots: parameters() and buffers() are generators over the whole
    tree, 0.5 ms on a ResNet-50."""
    found = False
    for module in model.modules():
        for t in (*module._parameters.values(), *module._buffers.values()):
            if t is not None:
                if not t.is_meta:
                    return False
                found = True
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def profile(model: str | nn.Module, input_size: tuple[int, ...] | None = None, batch: int = 1,
            inputs: Any = None, kwargs: dict[str, Any] | None = None,
            dtype: torch.dtype = torch.float32, native: bool = False, training: bool = False) -> Report:
    """Profile ``model`` (a torchvision or built-in name, ``file.py:Attr``, or any
    nn.Module) on one dummy input.

    input_size: per-sample size, e.g. (3, 224, 224); default 3×227×227 for images,
        the family's default otherwise.  ``native`` uses the published crop size.
    batch: leading batch size.
    inputs / kwargs: explicit example inputs instead: positional args (a tuple) or a
        single argument, and keyword args; tensors or shapes, nested in lists,
        tuples and dicts.
    training: profile a training step: the forward in train mode with grad on, plus
        the backward of a loss depending on every output, in the bwd_* columns
        (see profiler.backward); ``Report.passes`` sums forward, backward and both.
    """
    spec: ModelSpec | None = None
    notes: list[str] = []
    if isinstance(model, str):
        spec = resolve(model)
        label = spec.name
        if native and spec.family != "custom":
            spec.build_kwargs.update(native_build_kwargs(spec.name))
    elif isinstance(model, nn.Module):
        label = type(model).__name__
    else:
        raise ProfilerError(f"expected a model name or an nn.Module, got {type(model).__name__}")
    family = spec.family if spec else "custom"
    if inputs is None:
        size = tuple(input_size) if input_size else default_input_size(spec, native)
        candidates = [(example_args(family, size, batch), "x".join(map(str, size)), size)]
        if spec and family == "classification" and not (input_size or native):
            # a model that only takes one resolution (ViT, MaxViT) gets the published crop
            # size, or 224 where the default build differs from the published weights (ViT-H)
            for fixed in (default_input_size(spec, native=True), (3, 224, 224)):
                if fixed != size and fixed not in [c[2] for c in candidates]:
                    candidates.append((example_args(family, fixed, batch), "x".join(map(str, fixed)), fixed))
    else:
        candidates = [(normalize_args(inputs), "given inputs", None)]
    kwargs = kwargs or {}

    module = model if isinstance(model, nn.Module) else None
    if module is None:
        try:
            module, mode = spec.build(meta=True), "meta"
        except Exception as exc:
            notes.append(f"built with real weights: the builder cannot run on the meta device "
                         f"({_first_line(exc)})")
            module, mode = _build_real(spec), "fake"
    else:
        mode = "meta" if _on_meta(module) else "fake"

    # a train-mode forward updates BatchNorm statistics: the caller's buffers are put back
    saved = [(b, b.detach().clone()) for b in module.buffers() if not b.is_meta] if training else []
    try:
        capture, state, module, mode, input_desc = _forward(label, spec, module, candidates, kwargs,
                                                            mode, dtype, notes, training)
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
    if family == "detection":
        notes.append(DATA_DEPENDENT_NOTE)
    with state:   # the modes the forward ran in, which the formulas read
        rows = build_rows(capture.calls, module, training, capture.modules)
    if training:
        notes.append(TRAINING_NOTE)
    return Report.from_rows(label, rows, input_desc=input_desc, batch=batch, mode=mode, notes=notes,
                            itemsize=dtype.itemsize)


def _forward(label, spec, module, candidates, kwargs, mode, dtype, notes, training=False):
    """Run shapes-only on the first input candidate that works; if none does, fall
    back to real CPU tensors (rebuilding a meta-built model with real weights) and
    say why.  Returns (capture, the profiling state still entered (see _run), module,
    mode, input description)."""
    first_exc = None
    for args, desc, _ in candidates:
        try:
            capture, state = _run(module, args, kwargs, mode, dtype, training)
        except Exception as exc:
            first_exc = first_exc or exc
            continue
        if desc != candidates[0][1]:
            notes.append(f"input {candidates[0][1]} rejected ({_first_line(first_exc)}); "
                         f"used {desc}, a size the model takes")
        return capture, state, module, mode, desc
    if mode == "meta" and spec is None:
        raise ProfilerError(f"{label}: forward failed{_describe(getattr(first_exc, 'failed_call', None))}: "
                            f"{_first_line(first_exc)}") from first_exc
    if mode == "meta":
        module = _build_real(spec)
    args, desc, _ = candidates[0]
    try:
        capture, state = _run(module, args, kwargs, "real", dtype, training)
    except Exception as exc:
        raise ProfilerError(f"{label}: forward failed{_describe(getattr(exc, 'failed_call', None))}: "
                            f"{_first_line(exc)}") from exc
    notes.append(f"ran on real CPU tensors: shapes alone were not enough ({_first_line(first_exc)})")
    return capture, state, module, "real", desc


def _build_real(spec: ModelSpec) -> nn.Module:
    """A real build, seeded, without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return spec.build(meta=False)
