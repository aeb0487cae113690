"""profile(): check the arguments, build or take a model, run one shapes-only
forward, count, report.

A forward runs on the meta device whenever it can: a model built by name is built
there, and a model the caller holds runs on meta twins of its tensors (see
profiler.capture.twins).  Only when that fails does it fall back, one step at a time:
FakeTensorMode (a forward that makes CPU tensors of its own), then real CPU
tensors, and that only for a data-dependent op (``nonzero``, ``.item()``), and
only below ``REAL_LIMIT_BYTES``.  The report's notes say which ran and why.

A torchvision detection model runs on meta with its data-dependent steps fixed
by a stated assumption (``detections="bound"``, see profiler.capture.bounded), never
falling back; ``detections="real"`` runs it as any other model, which for a
detection model means on real CPU tensors.
"""
from __future__ import annotations

import contextlib
import math
import sys
from functools import partial
from operator import itemgetter
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedTensorMixin

from profiler.columns import COUNT_COLUMNS
from profiler.arguments import REAL_LIMIT_DEFAULT_GB, check_batch, check_input_fits, check_tokens, real_limit_bytes
from profiler.defaults import TOKENS_DEFAULT
from profiler.models import checkpointing as checkpoints
from profiler.capture import bounded as _detection
from profiler.errors import ProfilerError, first_line
from profiler.capture.inputs import (check_dtype, check_input_size, check_inputs, default_input_size, example_args,
                                     normalize_args, tensors_in, token_vocab)
from profiler.count.language import summarize
from profiler.models.spec import ModelSpec
from profiler.models.resolve import resolve
from profiler.report import Report
from profiler.capture.run import Run
from profiler.capture.session import ForwardRecord, captured, exclusive, kept_rng, on_meta, paused_gc, unwrapped
from profiler.count.rows import build_rows
from profiler.count import memory as _memory

_NOTHING = contextlib.nullcontext()   # reused: it keeps no state

# the note of each way a detection model's forward runs (profiler.capture.bounded)
REAL_NOTE = _detection.REAL_NOTE
BOUND_NOTE = _detection.BOUND_NOTE
TRAINING_NOTE = ("training step: forward in train mode (BatchNorm on batch statistics, dropout "
                 "active); bwd_* columns: the backward of a loss that depends on every output")
# the most memory a real-tensor fallback may take (inputs, a copy of the model's
# tensors, and the largest layer call seen before the shapes-only forward stopped);
# PROFILER_REAL_LIMIT_GB overrides it (read by profiler.arguments.real_limit_bytes)
REAL_LIMIT_BYTES = REAL_LIMIT_DEFAULT_GB << 30

# what torch says when a size or an element count does not fit int64
_SIZE_OVERFLOW = ("Storage size calculation overflowed", "Overflow when unpacking long", "without overflow")
# what a meta kernel says when an op needs the data, not only the shapes
_META_DATA_DEPENDENT = ("cannot be called on meta tensors", "Cannot copy out of meta tensor",
                        "data-independent implementation", "meta_nonzero")


def _describe(call) -> str:
    if call is None:
        return ""
    shapes = ", ".join("x".join(map(str, s)) for s in call.inputs) or "no tensors"
    return f" at layer '{call.name or '(model)'}' ({type(call.module).__name__}) on input {shapes}"


def _data_dependent(exc: BaseException, execution: str) -> bool:
    """The forward (run on ``execution``: meta or fake tensors) stopped at an op
    whose result depends on the values."""
    if execution == "fake":
        from torch._subclasses.fake_tensor import DataDependentOutputException, DynamicOutputShapeException
        return isinstance(exc, (DataDependentOutputException, DynamicOutputShapeException))
    return any(text in str(exc) for text in _META_DATA_DEPENDENT)


def _check_arguments(input_size, batch, inputs, kwargs, dtype, native, training):
    """Every argument checked before any model is built or run (one-line errors),
    and the numbers the environment sets (PROFILER_REAL_LIMIT_GB)."""
    input_size = check_input_size(input_size)
    check_batch(batch)
    if input_size is not None:
        check_input_fits(batch, input_size)
    real_limit_bytes()
    dtype = check_dtype(dtype)
    for name, value in (("native", native), ("training", training)):
        if not isinstance(value, bool):
            raise ProfilerError(f"{name}={value!r}: expected True or False")
    if inputs is not None:
        check_inputs(inputs)
        for name, given in (("input_size", input_size is not None), ("batch", batch != 1), ("native", native)):
            if given:
                raise ProfilerError(f"{name} applies to the dummy input, but inputs= is given: "
                                    f"pass one or the other")
    if kwargs is not None and not (isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)):
        raise ProfilerError(f"kwargs must be a dict of keyword arguments, got {type(kwargs).__name__}")
    if kwargs is not None:
        check_inputs(kwargs, "kwargs")
    return input_size, dtype


def _floating_dtype(model: nn.Module, inputs: Any, kwargs: dict) -> torch.dtype:
    """The dtype of the model's first floating-point or complex parameter (or
    buffer); for a model without any, that of the first such tensor it is given;
    else float32.  A complex dtype counts at its own element size (complex64: 8
    bytes, two float32s)."""
    # parameters() and buffers() in their order (module by module, tied ones once: the first
    # found decides), read from the modules' slots: the generators cost a small profile 5 us;
    # the walk is lazy, ending at the first floating parameter (a whole list of a ResNet-50's
    # modules took 60 us)
    for slot in ("_parameters", "_buffers"):
        for module in model.modules():
            for t in getattr(module, slot).values():
                if t is not None and (t.is_floating_point() or t.is_complex()):
                    return t.dtype
    for t in tensors_in((inputs, kwargs)):
        if t.is_floating_point() or t.is_complex():
            return t.dtype
    return torch.float32


def _take(model: nn.Module, notes: list[str]) -> nn.Module:
    """The caller's module, out of any torch.compile or DataParallel wrapper."""
    if isinstance(model, torch.jit.ScriptModule):
        raise ProfilerError(f"{type(model).__name__} is a TorchScript module, whose forward cannot be "
                            "hooked: pass the nn.Module you scripted or traced instead")
    inner = unwrapped(model)
    if inner is not model:
        notes.append(f"profiled the {type(inner).__name__} inside {type(model).__name__}")
    return inner


def profile(model: str | nn.Module, input_size: tuple[int, ...] | None = None, batch: int = 1,
            inputs: Any = None, kwargs: dict[str, Any] | None = None,
            dtype: torch.dtype | str | None = None, native: bool = False, training: bool = False,
            tokens: int | None = None, decode: int | None = None,
            config: dict[str, Any] | None = None, detections: str = "bound", measure: bool = False,
            device: str | None = None, named: dict[str, Any] | None = None, image: int | None = None,
            frames: int | None = None, seconds: float | None = None, checkpointing: bool | str = False,
            runs: int | None = None, peak_flops: float | None = None, peak_bandwidth: float | None = None,
            memory: bool = False, optimizer: str | None = None) -> Report:
    """Profile ``model`` (a torchvision or built-in name, ``hf:ARCH``, ``timm:NAME``,
    a local transformers config, ``file.py:Attr``, or any nn.Module, as it is: real
    weights, any dtype, wrapped by torch.compile or DataParallel, lazy) on one dummy
    input.  The model, the inputs and the process are left as they were (see
    profiler.capture.session); one profile runs at a time.

    input_size: per-sample size, e.g. (3, 224, 224); default 3×227×227 for images,
        the family's default otherwise, (128,) token ids for a model whose first
        layer is an embedding.  ``native`` uses the published crop size.
    batch: leading batch size.
    inputs / kwargs: explicit example inputs instead: positional args (a tuple) or a
        single argument, and keyword args; tensors or shapes, nested in lists,
        tuples, dicts and other objects (a KV cache), which are never modified.
    dtype: the floating dtype to count at (torch.float16 or "float16", bfloat16,
        float32, float64); default: the model's own.  Dummy inputs take it, bytes
        are counted at its element size; the caller's model is not converted.
    training: profile a training step: the forward in train mode with grad on, plus
        the backward of a loss depending on every output, in the bwd_* columns
        (see profiler.formulas.backward); ``Report.passes`` sums forward, backward and both
        (the model FLOPs), and with activation checkpointing the recomputed forward too
        (the hardware FLOPs; see profiler.capture.autograd).
    checkpointing: with ``training``, switch on the activation checkpointing of a
        transformers or timm model built by name, as its library trains with it:
        True or "non-reentrant", or "reentrant" (see profiler.models.checkpointing).
        A model of yours is profiled as you set it up.
    tokens: a language model's prefill of batch × tokens token ids (a transformers
        model gets the inputs its forward takes: see profiler.models.hf.example_inputs).
    decode: one generation step of a transformers model after a KV cache of
        ``decode`` tokens (``tokens`` is then the new tokens per sequence, default 1).
    config: overrides of an ``hf:``/``timm:`` model's config, e.g. {"num_hidden_layers": 2}.
    named: inputs by name, each a tensor, a shape (the whole tensor's, batch
        included: ``(1, 3, 336, 336)``) or a shape and a dtype (``((1, 600),
        "int64")``): for a transformers model merged over the inputs made for it
        (which follow the given sizes), for any other model keyword inputs beside
        the positional one.  Shapes become dummy tensors: floating ones
        uninitialised, token ids (a name ending in ``ids``) below the vocabulary,
        other integers zeros, booleans true.
    image, frames, seconds: the sizes of a transformers model's made inputs: the
        image side in pixels, the video frames, the audio length (see
        profiler.models.hf.rules for the defaults).
    detections: how a torchvision detection model's data-dependent steps (score
        tests, NMS, box sizes) are counted: "bound" (default) on shapes, with every
        candidate passing, NMS keeping every box and boxes covering the image: an
        upper bound, the same everywhere (profiler.capture.bounded); "real": the real
        execution, one forward on real CPU tensors (``Report.execution`` "real"), whose
        count depends on the image, the weights and the thread count.
    measure: also run the model for real and time every layer beside its roofline
        bound (profiler.measure.timing), on the model and inputs this profile built
        or made (a transformers model's too), under the same lock and state
        snapshot; refused in one line, before anything real is built, when its
        memory is above the limit (the memory available, PROFILER_MEASURE_LIMIT_GB).
        ``device``: where ("cpu", "cuda"), or a data-sheet name ("H100") for a
        roofline prediction without ``measure``.  ``runs``: timed runs (default: as
        many as fit in about 3 s); ``peak_flops``, ``peak_bandwidth``: the roofs
        instead of a microbenchmark or a data sheet.

    profile() runs one profile at a time in a process; one called from inside a
    profile on the same thread (a forward hook that profiles) is refused with a
    ProfilerError, never counted into the outer report.

    A language model's report has ``Report.language`` (see profiler.count.language).

    memory: also follow the memory of the step (``Report.memory``, a
        profiler.count.memory.Memory, and the rows' memory columns): the live bytes by
        category op by op, and the peak.  ``optimizer`` ("sgd", "sgd-momentum",
        "adam", "adamw", "adafactor"), with ``training``, adds its first step and
        implies ``memory``.
    """
    input_size, dtype = _check_arguments(input_size, batch, inputs, kwargs, dtype, native, training)
    _check_language_arguments(model, input_size, inputs, native, tokens, decode, config, batch)
    named = _check_named(named, image, frames, seconds)
    checkpointing = _check_checkpointing(checkpointing, model, training)
    detections = _detection.check_detections(detections)
    if not isinstance(measure, bool):
        raise ProfilerError(f"measure={measure!r}: expected True or False")
    timing = measure or device is not None or peak_flops is not None or peak_bandwidth is not None
    if runs is not None and not measure:
        raise ProfilerError(f"runs={runs!r} goes with measure=True")
    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
        raise ProfilerError(f"runs={runs!r}: expected a positive integer")
    if timing and (tokens is not None or decode is not None or named
                   or image is not None or frames is not None or seconds is not None):
        raise ProfilerError("measure= and device= do not go with tokens=, decode=, named=, image=, frames= or "
                            "seconds=: time such a model with profiler.measure.measure(report, model, "
                            "inputs=..., kwargs=...)")
    if measure and (device or "cpu").startswith("cuda") and torch.cuda.is_available():
        torch.cuda.init()   # before kept_rng: the CUDA generators are then kept as well
    memory = _memory.check(memory, optimizer, training)
    memory = _memory.request(memory, optimizer)   # carried on the Run to the capture's forward
    with exclusive(), kept_rng():
        try:
            # the collector paused for the shapes-only run, not for a measured run's real forwards
            with paused_gc():
                report, run = _profile(model, input_size, batch, inputs, kwargs or {}, dtype, native, training,
                                       tokens, decode, config, detections, named, (image, frames, seconds),
                                       checkpointing, memory)
                _memory.fill(report, memory)   # report.memory and the memory columns (profiler.count.memory)
        except ProfilerError as exc:
            if not any(text in str(exc) for text in _SIZE_OVERFLOW):
                raise
            # torch's own words: say what to lower
            raise ProfilerError(f"{exc}; the sizes overflow int64: "
                                f"{_smaller(tokens, decode, inputs, kwargs)}") from exc
        if timing:
            # the model run for real, on what this profile ran (see profiler.measure.timing)
            from profiler.measure.timing import measure_run
            measure_run(report, run, device=device or "cpu", runs=runs, peak_flops=peak_flops,
                        peak_bandwidth=peak_bandwidth, measure=measure)
    return report


def _check_language_arguments(model, input_size, inputs, native, tokens, decode, config, batch) -> None:
    check_tokens(tokens, decode, input_size is not None, inputs is not None, native, batch)
    if config is not None:
        if not isinstance(model, str):
            raise ProfilerError("config= overrides the config of a model built by name (hf:ARCH, timm:NAME); "
                                "build your own model with the config you want")
        if not (isinstance(config, dict) and all(isinstance(k, str) for k in config)):
            raise ProfilerError(f"config must be a dict of field names to values, got {type(config).__name__}")


def _check_named(named, image, frames, seconds) -> dict[str, Any]:
    """named= as {name: tensor | (shape, dtype or None)}, dtypes as torch dtypes;
    image=, frames= and seconds= checked (profiler.arguments.check_made_sizes)."""
    from profiler.arguments import DTYPE_NAMES, check_made_sizes
    if named is None and image is None and frames is None and seconds is None:
        return {}   # nothing to check: the usual call
    check_made_sizes(image, frames, seconds)
    if named is None:
        return {}
    if not (isinstance(named, dict) and all(isinstance(k, str) and k.isidentifier() for k in named)):
        raise ProfilerError("named= must be a dict of input names to tensors or shapes, such as "
                            "named={'pixel_values': (1, 3, 336, 336)}")
    out: dict[str, Any] = {}
    for name, value in named.items():
        if isinstance(value, torch.Tensor):
            out[name] = value
            continue
        shape, dtype = value, None
        if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (tuple, list))
                and (value[1] is None or isinstance(value[1], (str, torch.dtype)))):
            shape, dtype = value
        if isinstance(dtype, str):
            if dtype not in DTYPE_NAMES:
                raise ProfilerError(f"named={{{name!r}: ...}}: unknown dtype {dtype!r}; expected one of "
                                    f"{', '.join(DTYPE_NAMES)}")
            dtype = getattr(torch, dtype)
        if not (isinstance(shape, (tuple, list)) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                         for d in shape)):
            raise ProfilerError(f"named={{{name!r}: {value!r}}}: expected a tensor, a shape such as (1, 3, 224, 224), "
                                "or a shape and a dtype such as ((1, 600), 'int64')")
        check_input_fits(1, tuple(shape) or (1,), 8, argument=f"named {name}")
        out[name] = (tuple(shape), dtype)
    return out


def _named_inputs(named: dict[str, Any], ids: int | None) -> dict[str, Any]:
    """named= for a model whose inputs are not made: tensors as they are; floating
    shapes as shapes (dummy tensors of the profile's dtype); integer and boolean
    ones real tensors, small ones holding values (ids below the vocabulary, zeros,
    true), which a meta forward carries (profiler.capture.known)."""
    from profiler.defaults import VALUE_LIMIT
    out: dict[str, Any] = {}
    for name, value in named.items():
        if isinstance(value, torch.Tensor):
            out[name] = value
            continue
        shape, dtype = value
        if dtype is None or dtype.is_floating_point:
            out[name] = torch.empty(shape, dtype=dtype, device="meta") if dtype is not None else shape
        elif math.prod(shape) > VALUE_LIMIT:
            out[name] = torch.empty(shape, dtype=dtype, device="meta")
        elif name.endswith("ids") and ids:
            out[name] = torch.randint(0, ids, shape, generator=torch.Generator().manual_seed(1)).to(dtype)
        else:
            out[name] = torch.full(shape, dtype == torch.bool, dtype=dtype)
    return out


_CLASS_CONFIG: dict[type, bool] = {}   # module class: whether a class in its MRO defines ``config``


def _hf_config(module: nn.Module) -> Any:
    """A transformers model's config (None for any other model).  Read from the
    module's ``__dict__``, or the class's where it defines one: a getattr that
    misses raises inside Module.__getattr__, which costs a small profile 1 us."""
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return None
    config = module.__dict__.get("config")
    if config is None:
        cls = type(module)
        if cls not in _CLASS_CONFIG:
            _CLASS_CONFIG[cls] = any("config" in vars(c) for c in cls.__mro__)
        config = getattr(module, "config", None) if _CLASS_CONFIG[cls] else None
    return config if isinstance(config, transformers.PretrainedConfig) else None


def _profile(model, input_size, batch, inputs, kwargs, dtype, native, training, tokens, decode, config,
             detections=_detection.BOUND, named=None, sizes=(None, None, None),
             checkpointing=None, memory=None) -> tuple[Report, Run]:
    """The profile, and its run as resolved and run (a measured run times the same:
    profiler.measure.timing)."""
    spec: ModelSpec | None = None
    notes: list[str] = []
    prepare = None
    if isinstance(model, str):
        spec = resolve(model, config, native=native)
        label = spec.name
        notes.extend(spec.notes)
        prepare = partial(_switched, variant=checkpointing, label=label, notes=notes)
        try:
            module, owned = spec.build(meta=True), True
        except Exception as exc:
            notes.append(f"built with real weights: the builder cannot run on the meta device "
                         f"({first_line(exc)})")
            module, owned = _build_real(spec), True
        module = prepare(module)
    elif isinstance(model, nn.Module):
        module, owned = _take(model, notes), False
        label = type(module).__name__
    else:
        raise ProfilerError(f"model: expected a model name or an nn.Module, got {type(model).__name__}")
    if not isinstance(module, nn.Module):
        raise ProfilerError(f"{label}: the builder returned {type(module).__name__}, not an nn.Module")
    family = spec.family if spec else "custom"
    ids = token_vocab(module)
    input_dtype = dtype or _floating_dtype(module, inputs, kwargs)
    hf_config = spec.config if spec is not None and spec.config is not None else _hf_config(module)

    inputs_for = None
    makes = hf_config is not None and inputs is None and not kwargs and input_size is None and not native
    if named and not makes:    # no inputs are made: the named ones are keyword inputs
        kwargs = {**kwargs, **_named_inputs(named, ids)}
    if makes:
        from profiler.capture.known import run_forward
        from profiler.models.hf import example_inputs
        # made from the model as it runs (its twins in place): see session.captured
        image, frames, seconds = sizes
        inputs_for = partial(example_inputs, config=hf_config, batch=batch, tokens=tokens, decode=decode,
                             image=image, frames=frames, seconds=seconds, given=named or None, run=run_forward)
        candidates = [((), "example inputs", None)]
    elif any(s is not None for s in sizes):
        raise ProfilerError(f"{label}: image=, frames= and seconds= size the inputs made for a transformers "
                            "model; give this one input_size= or named=")
    elif decode is not None:
        raise ProfilerError(f"{label}: decode= needs a transformers model (it takes the model's own KV cache); "
                            "for another model pass the cache in kwargs=")
    elif inputs is not None:
        candidates = [(normalize_args(inputs), "given inputs", None)]
    elif kwargs and input_size is None and tokens is None:
        candidates = [((), "given inputs", None)]   # the keyword arguments are the inputs
    else:
        if tokens is not None and not ids:
            raise ProfilerError(f"{label}: tokens= applies to a model whose first layer is an embedding; "
                                "use input_size= for this one")
        size = input_size or ((tokens,) if tokens else None) or (spec.input_size if spec else None) \
            or ((TOKENS_DEFAULT,) if ids and spec is None else default_input_size(spec, native))
        check_input_fits(batch, size, 8 if ids else input_dtype.itemsize)   # fits a tensor, in bytes
        candidates = [(example_args(family, size, batch), "x".join(map(str, size)), tuple(size))]
        if spec and family == "classification" and not (input_size or native or spec.input_size):
            # a model that only takes one resolution (ViT, MaxViT) gets the published crop
            # size, or 224 where the default build differs from the published weights (ViT-H)
            for fixed in (default_input_size(spec, native=True), (3, 224, 224)):
                desc = "x".join(map(str, fixed))
                if desc not in [c[1] for c in candidates]:
                    candidates.append((example_args(family, fixed, batch), desc, tuple(fixed)))

    is_detection = family == "detection" or (family == "custom" and _detection.is_detection_model(module))
    run = Run(label, module, spec=spec, owned=owned, family=family, candidates=candidates, args=candidates[0][0],
              kwargs=kwargs, inputs_for=inputs_for, dtype=dtype, input_dtype=input_dtype, ids=ids, batch=batch,
              training=training, bound=is_detection and detections == _detection.BOUND, prepare=prepare,
              notes=notes, memory=memory)
    rows, done = _forward(run)
    desc = run.input_desc
    totals = _check_fits(label, desc, rows, _smaller(tokens, decode, inputs, kwargs))
    if is_detection:
        notes.append(BOUND_NOTE if run.bound else REAL_NOTE)
    if training:
        notes.append(TRAINING_NOTE)
    report = Report.from_rows(label, rows, totals, input_desc=desc, batch=batch, execution=run.execution, notes=notes,
                              itemsize=input_dtype.itemsize, dtype=str(input_dtype).removeprefix("torch."),
                              input_size=run.input_size)
    if family == "language" or (family == "custom" and ids):
        report.language = _language(module, run, report, rows, done.capture.calls, decode,
                                    size[-1] if inputs_for is None and inputs is None and not kwargs else None)
    return report, run


def _language(module: nn.Module, run: Run, report: Report, rows: list[dict], calls, decode, tokens):
    """The language-model summary of this profile (see profiler.count.language): new
    tokens per sequence from the ids made for the forward (``tokens`` where they
    were made from input_size)."""
    ids = next((run.kwargs[k] for k in ("decoder_input_ids", "input_ids") if k in run.kwargs), None)
    if ids is None and tokens is None:
        return None   # inputs the caller gave: no telling which dimension holds the tokens
    new = ids.shape[-1] if ids is not None else tokens
    training_flops = hardware_flops = None
    if run.training:
        # model FLOPs: the passes' "forward+backward" row; hardware FLOPs add a
        # "recompute" row (a checkpointed forward run again) where there is one
        passes = dict(zip(report.passes["pass"], report.passes["flops"]))
        training_flops = int(passes["forward+backward"])
        hardware_flops = training_flops + int(passes.get("recompute", 0))
    return summarize(module, rows, report.totals, report.batch, report.itemsize,
                     "decode" if decode else "prefill", new, (decode or 0) + new, training_flops,
                     calls, hardware_flops)


def _forward(run: Run) -> tuple[list[dict], ForwardRecord]:
    """Run ``run`` through the first forward that runs and count it: meta on each
    input candidate, then fake, then real (data-dependent ops only, within the
    memory limit).  ``run.bound``: a detection model on meta, its data-dependent
    steps answered by profiler.models.detection's assumption, with no fallback.
    Returns the report rows and what the forward recorded, and sets what ran on ``run``: its ``execution``
    ("meta", "fake" or "real"), its inputs (``args``, and ``kwargs`` as made),
    ``input_desc`` and ``input_size``, and ``module`` where a by-name model was built
    for real to run; notes go to ``run.notes``."""
    label, notes = run.label, run.notes

    def attempt(execution, args, desc, size, model=run.module, values=False):
        with _detection.bounded(model) if run.bound and execution == "meta" else _NOTHING:
            with captured(run, execution, args, model, values) as done:
                capture = done.capture
                # an op raised without the values of tensors made from Python data, and the forward
                # caught it: the error may be a value read that shaped what the forward did next
                retry = capture.values_off and capture.ops_raised > 0
                rows = None if retry else build_rows(capture.calls, model, run.training, capture.modules,
                                                     done.loose)
        if retry:   # the same forward with those values, as if none had been left out
            return attempt(execution, args, desc, size, model, values=True)
        run.execution, run.args, run.kwargs = execution, done.args, done.kwargs
        run.input_desc, run.input_size = done.description or desc, size
        return rows, done

    candidates = run.candidates
    first = None
    for args, desc, size in candidates:
        try:
            try:
                counted = attempt("meta", args, desc, size)
            except Exception as exc:
                if not (getattr(getattr(exc, "capture", None), "values_off", False)
                        and _data_dependent(exc, "meta")):
                    raise
                # a value read: of a tensor made from Python data, maybe, whose value only the
                # function mode gives (see session.captured); the same forward with it
                counted = attempt("meta", args, desc, size, values=True)
        except Exception as exc:
            first = first or exc
            continue
        if desc != candidates[0][1]:
            notes.append(f"input {candidates[0][1]} rejected ({first_line(first)}); "
                         f"used {desc}, a size the model takes")
        return counted

    if isinstance(first, ProfilerError) and not hasattr(first, "capture"):
        raise first   # refused while making the inputs (profiler.models.hf.example_inputs): its own words
    args, desc, size = candidates[0]
    if run.bound:
        raise ProfilerError(f"{label}: forward failed{_describe(getattr(first, 'failed_call', None))}: "
                            f"{first_line(first)}") from first
    failed, failed_on = first, "meta"
    if not _data_dependent(first, "meta"):
        # a forward that makes CPU tensors of its own cannot mix them with meta ones
        try:
            counted = attempt("fake", args, desc, size)
        except Exception as exc:
            # inputs that could not be made on fake tensors say nothing of the forward: keep the meta error
            if not (isinstance(exc, ProfilerError) and not hasattr(exc, "capture")):
                failed, failed_on = exc, "fake"
        else:
            notes.append(f"ran on fake tensors: the meta device was not enough ({first_line(first)})")
            return counted
    if not _data_dependent(failed, failed_on):
        raise ProfilerError(f"{label}: forward failed{_describe(getattr(failed, 'failed_call', None))}: "
                            f"{first_line(failed)}") from failed

    module = run.module
    if not run.owned and on_meta(module):
        raise ProfilerError(f"{label}: the forward needs real tensors{_describe(getattr(failed, 'failed_call', None))} "
                            f"({first_line(failed)}), but the model's weights are on the meta device: "
                            "pass it built with real weights")
    # the limit is checked before a by-name model is built for real: its meta build has the sizes
    _check_real_size(label, module, args, run.input_dtype, getattr(failed, "capture", None),
                     f"{_describe(getattr(failed, 'failed_call', None))} ({first_line(failed)})")
    real = (run.prepare or (lambda m: m))(_build_real(run.spec)) if run.owned and on_meta(module) else module
    try:
        counted = attempt("real", args, desc, size, real)
    except Exception as exc:
        raise ProfilerError(f"{label}: forward failed{_describe(getattr(exc, 'failed_call', None))}: "
                            f"{first_line(exc)}") from exc
    notes.append(f"ran on real CPU tensors: shapes alone were not enough ({first_line(failed)})")
    run.module = real   # a by-name model built for real here: a measured run times it, built once
    return counted


def _smaller(tokens, decode, inputs, kwargs) -> str:
    """How to make a profile's inputs smaller, in the arguments that made them."""
    if decode is not None:
        return "lower decode= (or tokens=)"
    if tokens is not None:
        return "lower tokens= (or batch=)"
    if inputs is not None or kwargs:
        return "give smaller inputs="
    return "lower batch= or input_size="


def _check_fits(label, desc, rows, smaller: str = "profile a smaller input") -> dict[str, int]:
    """Counts are int64 in the report's tables: refuse an input whose counts overflow
    them.  Returns the sums of the count columns (the report's totals)."""
    limit = 2**63 - 1
    # each row's counts as a tuple, the tuples transposed into columns, each summed: all in C loops
    sums = map(sum, zip(*map(_COUNTS, rows))) if rows else [0] * len(COUNT_COLUMNS)
    totals = dict(zip(COUNT_COLUMNS, sums))
    for column, total in totals.items():
        if total > limit:
            raise ProfilerError(f"{label}: at input {desc} the {column} total exceeds 2**63 - 1, the largest "
                                f"count a report holds: {smaller}")
    return totals


_COUNTS = itemgetter(*COUNT_COLUMNS)   # a row's count columns, as a tuple


def _check_real_size(label, model, args, input_dtype, capture, why: str = "") -> None:
    """Refuse a real-tensor forward that would take more than the limit: the dummy
    inputs, the model's tensors (a copy of the caller's, or a real build of a
    model built by name), and the largest layer call the failed shapes-only
    forward made before it stopped: a lower bound on the real forward's peak."""
    from profiler.capture.inputs import is_shape
    limit = real_limit_bytes()
    need = 0

    def add_inputs(tree):
        nonlocal need
        if is_shape(tree):
            n = 1
            for d in tree:
                n *= d
            need += n * input_dtype.itemsize
        elif isinstance(tree, (list, tuple)):
            for x in tree:
                add_inputs(x)
    add_inputs(args)
    # a lazy module's uninitialised tensors have no size yet (its forward gives them one)
    need += sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())
                if not isinstance(t, UninitializedTensorMixin))
    if capture is not None and capture.calls:
        # the largest single layer call seen so far (its inputs and outputs live at once): a
        # lower bound on the forward's peak, where the sum of all of them would overstate it
        need += max(call.in_bytes + call.out_bytes for call in capture.calls)
    if need > limit:
        raise ProfilerError(f"{label}: the forward needs real tensors{why or ' (a data-dependent op)'}, which would take "
                            f"at least {need / 2**30:.1f} GiB, above the {limit / 2**30:.1f} GiB limit; "
                            "profile a smaller input, or raise PROFILER_REAL_LIMIT_GB")


def _check_checkpointing(value, model, training) -> str | None:
    variant = checkpoints.check_variant(value)
    if variant is not None and not training:
        raise ProfilerError(f"checkpointing={value!r} changes only a training step: add training=True")
    if variant is not None and not isinstance(model, str):
        raise ProfilerError(f"checkpointing={value!r} switches it on in a model built by name; switch it on in "
                            "your model yourself (model.gradient_checkpointing_enable(), "
                            "model.set_grad_checkpointing(), torch.utils.checkpoint): its recompute is counted")
    return variant


def _switched(module: nn.Module, variant: str | None, label: str, notes: list[str]) -> nn.Module:
    """``module`` with activation checkpointing on (``variant``), the note said once."""
    if variant is not None:
        note = checkpoints.enable(module, variant, label)
        if note not in notes:
            notes.append(note)
    return module


def _build_real(spec: ModelSpec) -> nn.Module:
    """A real build, seeded (``ModelSpec.build_seeded``); a failure in one line."""
    try:
        return spec.build_seeded()
    except ProfilerError:
        raise        # refused in its own words (above the memory limit: profiler.models.spec)
    except Exception as exc:
        raise ProfilerError(f"cannot build '{spec.name}': {first_line(exc)}"
                            + (" (a builder is called with no arguments)" if isinstance(exc, TypeError)
                               else "")) from exc
