"""One profiling forward and the state around it: entered, run, and put back.

``captured`` runs a profile's model (a ``Run``) once under the capture on one
execution (meta, fake or real tensors), on twins of its tensors (see
profiler.capture.twins), and hands what it recorded to the caller while the
forward's modes still hold (the formulas read them when the caller counts).
Everything it changes is restored on every exit path: the model's modules
(``ModuleState``), the grad mode and the attention fast-path flag; ``kept_rng``
keeps the torch, Python and NumPy random states (a builder or a forward may draw
random numbers) around a whole profile.

The process-wide part of that state (the fast-path flag, the RNGs, the
fake-tensor logger) and a model shared between threads make concurrent profiles
unsafe, so ``LOCK`` lets one profile run at a time in a process; ``profile()``
and ``measure()`` hold it through ``exclusive``, the measured run included (it
runs the caller's model too).  ``exclusive`` also refuses a profile started from
inside one on the same thread (a forward hook that profiles a model): LOCK is
re-entrant, and the inner forward would otherwise run under the outer capture
and add its counts to the outer report.
"""
from __future__ import annotations

import contextlib
import logging
import random
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from profiler.errors import ProfilerError
from profiler.capture.record import Capture
from profiler.capture.inputs import materialize
from profiler.capture.known import KnownValues, carried
from profiler.capture.run import Run
from profiler.capture import saved as _saved
from profiler.capture.twins import ModuleState, fake_maker, meta_maker, real_maker, swap_in_twins

LOCK = threading.RLock()
_THIS_THREAD = threading.local()   # .inside: this thread is in a profile (see ``exclusive``)

REENTRY_ERROR = ("profile() or measure() was called while a profile runs on the same thread (from a forward, "
                 "a hook or a builder of the model being profiled): its forward would be counted into the "
                 "outer report; profile after the outer call returns")


@contextlib.contextmanager
def exclusive():
    """``LOCK`` held, for one profile (or measured run) at a time in the process;
    a profile started inside one on the same thread is refused (``REENTRY_ERROR``).
    Refusing is the simple safe choice: the outer capture's hooks and dispatch
    mode are live for any forward the thread runs until it returns, and the
    inner forward runs on the outer one's meta twins."""
    with LOCK:
        if getattr(_THIS_THREAD, "inside", False):
            raise ProfilerError(REENTRY_ERROR)
        _THIS_THREAD.inside = True
        try:
            yield
        finally:
            _THIS_THREAD.inside = False

# FakeTensorMode logs a failed meta kernel with its whole traceback at ERROR level
# before the error propagates; the caller reports the error in one line instead
_FAKE_LOGGER = "torch._subclasses.fake_tensor"


class _DropAll(logging.Filter):
    def filter(self, record) -> bool:
        return False


@contextlib.contextmanager
def _quiet_fake_log():
    logger, muted = logging.getLogger(_FAKE_LOGGER), _DropAll()
    logger.addFilter(muted)
    try:
        yield
    finally:
        logger.removeFilter(muted)


@contextlib.contextmanager
def kept_rng():
    """The torch (CPU, and CUDA where initialised), Python and NumPy random states
    as they were, whatever a builder or a forward draws.  (torch.random.fork_rng
    does the torch part with more checks, at twice the cost of a small profile's
    whole bookkeeping.)  Inside another ``kept_rng`` on the same thread (a forward
    inside a profile) it does nothing: the outer one puts the states back (NumPy's
    alone cost 50 us each way)."""
    if getattr(_THIS_THREAD, "rng_kept", False):
        yield
        return
    torch_rng = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    python_rng = random.getstate()
    numpy = sys.modules.get("numpy")
    numpy_rng = numpy.random.get_state() if numpy is not None else None
    _THIS_THREAD.rng_kept = True
    try:
        yield
    finally:
        _THIS_THREAD.rng_kept = False
        torch.set_rng_state(torch_rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(python_rng)
        if numpy_rng is not None:
            numpy.random.set_state(numpy_rng)


def seed_forward() -> None:
    """``torch.manual_seed(0)`` for the generators ``kept_rng`` keeps: the CPU one,
    and CUDA's where CUDA is initialised (a forward on CUDA tensors).
    torch.manual_seed also queues a seed for each uninitialised CUDA, XPU and MTIA
    (three ``traceback.format_stack()`` calls, 40% of a small profile), which then
    stays queued after the profile: the caller's own seed, queued for when CUDA
    starts, was replaced by ours.  A forward that starts CUDA itself and draws
    on it is not seeded (nor was its state kept before)."""
    torch.default_generator.manual_seed(0)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(0)


@contextlib.contextmanager
def process_state(training: bool):
    """Grad on for a training profile (off otherwise), and the fused attention fast
    path off (its one fused op would hide the attention's inner layers)."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.enable_grad() if training else torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def model_device(model: nn.Module) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def on_meta(model: nn.Module) -> bool:
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


def _unwrap_children(modules: list[nn.Module]) -> None:
    """Put the module a torch.compile or DataParallel wrapper holds in the wrapper's
    place wherever one sits inside the model (inside a ``ModuleState``, which puts
    the wrappers back): the profile runs the Python forward they wrap."""
    for module in modules:
        slots = module._modules
        for name, child in slots.items():
            inner = unwrapped(child) if child is not None else None
            if inner is not child:
                slots[name] = inner


def unwrapped(model: nn.Module) -> nn.Module:
    """The module inside torch.compile's OptimizedModule, DataParallel or
    DistributedDataParallel (repeatedly), else ``model`` itself."""
    while True:
        if type(model).__name__ == "OptimizedModule" and isinstance(model._modules.get("_orig_mod"), nn.Module):
            model = model._modules["_orig_mod"]
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


@contextlib.contextmanager
def captured(run: Run, execution: str, args: Any = None, model: nn.Module | None = None) -> Iterator[ForwardRecord]:
    """Run ``run``'s model once on ``execution`` ("meta", "fake" or "real" tensors)
    under the capture, and yield what it recorded (a ``ForwardRecord``) while the
    forward's state still holds: its twins, its train/eval modes and grad mode,
    which the formulas read when the caller counts the calls
    (profiler.count.rows.build_rows); on leaving, everything is put back.

    ``args``: the positional inputs (default ``run.args``); ``model``: the module
    to run (default ``run.module``; a real build in its place for a real run).
    Shapes in the inputs become dummy tensors (of ``run.input_dtype``, or token
    ids below ``run.ids``), given tensors twins; the model's own tensors are
    replaced by twins (meta, fake or cloned real), floating ones of ``run.dtype``
    when given.  ``run.inputs_for(model)``, when given, makes (args, kwargs,
    description) from the model as it runs, twins in place (a language model's
    KV cache comes from its own prefill), and replaces the inputs.  ``run.owned``:
    a model built here for this profile, whose state needs no restoring and whose
    tensors need no twins when it is on the meta device already (or, for a real
    run, real).  On failure the exception carries ``failed_call`` (the innermost
    unfinished module call) and ``capture``."""
    model = run.module if model is None else model
    args = run.args if args is None else args
    kwargs, dtype, training, owned = run.kwargs, run.dtype, run.training, run.owned
    fake = None
    if execution == "fake":
        from torch._subclasses.fake_tensor import FakeTensorMode
        fake = FakeTensorMode(allow_non_fake_inputs=True)
    make = meta_maker(dtype) if execution == "meta" else fake_maker(fake, dtype) if fake else real_maker(dtype)
    device = "meta" if execution == "meta" else model_device(model)
    modules = list(model.modules())
    saved = None if owned else ModuleState(modules)
    capture, description = None, None
    try:
        with process_state(training), (_quiet_fake_log() if fake else contextlib.nullcontext()):
            if not owned:
                _unwrap_children(modules)
            # twins stand in for real tensors, or give the model another dtype; a model
            # already on meta (the caller's or ours) runs as it is in a meta forward
            # (and a training profile of the caller's model always: its backward may be run,
            # profiler.capture.autograd, and must write no gradient into the caller's tensors)
            if (dtype is not None or (execution == "meta") != on_meta(model)
                    or (not owned and (execution != "meta" or training))):
                swap_in_twins(modules, make, saved.tensor_attributes if saved is not None else None)
            generator = torch.Generator().manual_seed(0) if execution == "real" else None
            memo: dict[int, Any] = {}
            with fake or contextlib.nullcontext():
                if run.inputs_for is not None:
                    args, kwargs, description = run.inputs_for(model)
                made, made_args = kwargs, args
                given = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
                args = materialize(args, make, run.input_dtype, generator, device, run.ids, memo)
                kwargs = materialize(kwargs, make, run.input_dtype, generator, device, run.ids, memo)
                known = None
                if execution == "meta":   # small real inputs (token ids, grid sizes) keep their values
                    known = KnownValues(None)
                    for t in given:
                        if carried(t) and id(t) in memo and memo[id(t)].is_meta:
                            known.know(memo[id(t)], t.detach(), copy=True)
                memo.clear()   # no reference beyond the inputs' own: a decode's old cache dies at its update
                capture = Capture(model, record_ops=training, known=known)
                if any(m.training != training for _, m in capture.modules):
                    model.train(training)
                memory = _saved.follow(capture, model, (args, kwargs), training, run.memory)   # or None
                try:
                    # seeded: a forward that draws numbers (VITS: noise in its durations sets the
                    # waveform's length) counts the same every run; the caller's state comes back
                    with kept_rng(), capture, memory or contextlib.nullcontext():
                        seed_forward()
                        output = model(*args, **kwargs)
                        # custom Functions' backward, checkpointing's recompute (profiler.capture.autograd);
                        # a memory profile's step (profiler.capture.saved) replays it
                        (memory.trace.step if memory else capture.replay)(output)
                        del output
                except Exception as exc:
                    exc.failed_call = capture.failed_call
                    exc.capture = capture
                    raise
            loose = [*capture.unpaired, *([capture.loose] if capture.loose is not None else [])]
            yield ForwardRecord(capture, description, made, made_args, loose)
    finally:
        if saved is not None:
            saved.restore()


@dataclass
class ForwardRecord:
    """What one forward recorded: the capture (its module calls), and, where
    ``inputs_for`` made the inputs, their description; the keyword and positional
    arguments the forward was given or made (before twins: shapes, the caller's
    tensors, made ones), which a measured run takes (profiler.measure.timing);
    ``loose``: recomputed work attributed to no call (activation checkpointing's
    rerun outside any module call, and recompute calls with no original)."""

    capture: Capture
    description: str | None
    kwargs: dict
    args: tuple = ()
    loose: list = field(default_factory=list)
