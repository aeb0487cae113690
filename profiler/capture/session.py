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
import ctypes
import gc
import logging
import random
import struct
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
from profiler.capture.kept import after_forward, swap_in_kept

LOCK = threading.RLock()
_THIS_THREAD = threading.local()   # .inside: this thread is in a profile (see ``exclusive``)
_NOTHING = contextlib.nullcontext()   # one for every optional context of a profile: it keeps no state

REENTRY_ERROR = ("profile() or measure() was called while a profile runs on the same thread (from a forward, "
                 "a hook or a builder of the model being profiled): its forward would be counted into the "
                 "outer report; profile after the outer call returns")


class exclusive:
    """``LOCK`` held, for one profile (or measured run) at a time in the process;
    a profile started inside one on the same thread is refused (``REENTRY_ERROR``).
    Refusing is the simple safe choice: the outer capture's hooks and dispatch
    mode are live for any forward the thread runs until it returns, and the
    inner forward runs on the outer one's meta twins.  (This and the other
    context managers around every profile are classes: a generator-based one
    costs four times as much.)"""

    __slots__ = ()

    def __enter__(self) -> None:
        LOCK.acquire()
        if getattr(_THIS_THREAD, "inside", False):
            LOCK.release()
            raise ProfilerError(REENTRY_ERROR)
        _THIS_THREAD.inside = True

    def __exit__(self, *exc) -> None:
        _THIS_THREAD.inside = False
        LOCK.release()

class paused_gc:
    """Python's cyclic garbage collector paused for one profile, as ``timeit``
    pauses it, and switched back on after (only if it was on: a caller's
    ``gc.disable()`` stands).  A profile frees what it allocates by reference
    counting, but its bursts of allocation trigger young collections, which promote
    its live records to the old generation; those count towards a full collection
    of the whole heap (0.16 s once torchvision is imported), which then falls every
    twenty ResNet-50 profiles or so: a quarter of a loop of profiles' time.  A
    thread that switches the collector off while a profile runs has it switched
    back on when the profile ends."""

    __slots__ = ("_was_on",)

    def __enter__(self) -> None:
        self._was_on = gc.isenabled()
        if self._was_on:
            gc.disable()

    def __exit__(self, *exc) -> None:
        if self._was_on:
            gc.enable()


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


class kept_rng:
    """The torch (CPU, and CUDA where initialised), Python and NumPy random states
    as they were, whatever a builder or a forward draws.  (torch.random.fork_rng
    does the torch part with more checks, at twice the cost of a small profile's
    whole bookkeeping.)  Inside another ``kept_rng`` on the same thread (a forward
    inside a profile) it does nothing: the outer one puts the states back.  NumPy's
    and Python's are kept as raw bytes (``_numpy_state``, ``_python_state``):
    NumPy's get_state() and set_state() took 50 us, Python's getstate() 7.5 us
    (a tuple of 625 ints), a twentieth of a one-layer profile."""

    __slots__ = ("_kept",)

    def __enter__(self) -> None:
        self._kept = None
        if getattr(_THIS_THREAD, "rng_kept", False):
            return
        torch_rng = torch.default_generator.get_state()   # torch.get_rng_state(), without its frame
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        python_rng = _python_state()
        numpy = sys.modules.get("numpy")
        numpy_rng = _numpy_state(numpy) if numpy is not None else None
        self._kept = (torch_rng, cuda, python_rng, numpy_rng)
        _THIS_THREAD.rng_kept = True

    def __exit__(self, *exc) -> None:
        if self._kept is None:
            return
        torch_rng, cuda, python_rng, numpy_rng = self._kept
        self._kept = None
        _THIS_THREAD.rng_kept = False
        torch.default_generator.set_state(torch_rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        python_rng.restore()
        if numpy_rng is not None:
            numpy_rng.restore()


# ctypes arrays over the random states' memory, made once per place: (address, size) -> (the
# object that owns the memory, held so the memory stays its; the array); a few entries (the global
# generators), forgotten all at once past _VIEWS_KEPT
_VIEWS: dict[tuple[int, int], tuple[Any, Any]] = {}
_VIEWS_KEPT = 16


def _view(owner: Any, address: int, size: int) -> Any:
    """A ctypes array over the ``size`` bytes at ``address``, inside ``owner``, whose
    ``raw`` reads them: ctypes.string_at costs 0.3 us a call, the array's ``raw`` 0.08
    us (four reads per profile)."""
    found = _VIEWS.get((address, size))
    if found is None or found[0] is not owner:
        if len(_VIEWS) >= _VIEWS_KEPT:
            _VIEWS.clear()
        found = _VIEWS[(address, size)] = (owner, (ctypes.c_char * size).from_address(address))
    return found[1]


class _RawNumpyState:
    """The global NumPy RandomState's state read as raw bytes, put back (by
    ``set_state``) only where a draw changed it: its MT19937 key and position (the bit generator's C struct, at
    ``ctypes.state_address``) and its cached Gaussian (``has_gauss``, ``gauss``, inside
    the RandomState object, at ``_NUMPY_GAUSS``).  Everything ``get_state()`` holds,
    read in 1 us where ``get_state()`` and ``set_state()`` take 25 us each (they copy
    the key one word at a time), so a profile whose forward draws nothing pays 1 us."""

    __slots__ = ("rng", "views", "key", "gauss")

    def __init__(self, rng):
        self.rng = rng
        bits = rng._bit_generator
        self.views = (_view(bits, bits.ctypes.state_address, _MT_BYTES), _view(rng, id(rng) + _NUMPY_GAUSS, 16))
        with bits.lock:
            self.key, self.gauss = self.views[0].raw, self.views[1].raw

    def restore(self) -> None:
        rng = self.rng
        with rng._bit_generator.lock:
            same = self.views[0].raw == self.key and self.views[1].raw == self.gauss
        if same:    # nothing drew: the state is as it was
            return
        # a draw changed it: put it back through NumPy's own set_state, writing nothing into its memory
        import numpy
        key = numpy.frombuffer(self.key, dtype="<u4", count=624)
        pos = struct.unpack_from("<i", self.key, 624 * 4)[0]
        has, gauss = struct.unpack_from("i", self.gauss, 0)[0], struct.unpack_from("d", self.gauss, 8)[0]
        rng.set_state(("MT19937", key, pos, has, gauss))


class _NumpyState:
    """NumPy's global random state by ``get_state()``, put back by ``set_state()``."""

    __slots__ = ("numpy", "state")

    def __init__(self, numpy):
        self.numpy, self.state = numpy, numpy.random.get_state()

    def restore(self) -> None:
        self.numpy.random.set_state(self.state)


_MT_BYTES = 624 * 4 + 4      # MT19937's C state: uint32 key[624], int pos
_UNKNOWN = -1                # no layout found: get_state() and set_state()
_NUMPY_GAUSS: int | None = None   # where has_gauss (an int, padded to 8) and gauss (a double) sit


def _numpy_state(numpy):
    """A snapshot of NumPy's global random state (the RandomState that
    ``numpy.random.get_state`` is bound to): raw bytes (``_RawNumpyState``) where the
    layout was found and checked, else get_state()."""
    global _NUMPY_GAUSS, _NUMPY_CHECKED
    get_state = numpy.random.get_state
    checked = _NUMPY_CHECKED
    if checked is not None and checked[0] is get_state and checked[1]._bit_generator is checked[2] \
            and checked[3] == _NUMPY_GAUSS:
        return _RawNumpyState(checked[1])   # the generator checked last time, as it was
    rng = getattr(get_state, "__self__", None)
    if _NUMPY_GAUSS is None:
        found = _find_gauss(numpy)
        _NUMPY_GAUSS = _UNKNOWN if found is None else found
    if _NUMPY_GAUSS == _UNKNOWN or rng is None or type(rng) is not numpy.random.RandomState \
            or type(rng._bit_generator) is not numpy.random.MT19937:
        return _NumpyState(numpy)
    _NUMPY_CHECKED = (get_state, rng, rng._bit_generator, _NUMPY_GAUSS)
    return _RawNumpyState(rng)


# (numpy.random.get_state, the RandomState it is bound to, its bit generator, the Gaussian's offset) as
# _numpy_state last found them fit for raw reads: the same need no second look (NumPy's own, held for good)
_NUMPY_CHECKED: tuple | None = None


def _find_gauss(numpy) -> int | None:
    """The offset of a RandomState's cached Gaussian (``has_gauss`` then ``gauss``) in
    the object, found on a scratch RandomState set to two distinct cached values and
    checked, with the MT19937 struct's bytes, against what get_state() says; None
    where anything differs (another NumPy's layout)."""
    try:
        scratch = numpy.random.RandomState(12345)
        size = type(scratch).__basicsize__
        found = None
        for has, gauss in ((1, 1.2345678901234567), (0, -0.0098765432109876), (1, 3.5)):
            name, key, pos, _, _ = scratch.get_state()
            scratch.set_state((name, key, pos, has, gauss))
            raw = ctypes.string_at(id(scratch), size)
            at = raw.find(struct.pack("d", gauss))
            if at < 8 or (found is not None and at != found) or struct.unpack_from("i", raw, at - 8)[0] != has:
                return None
            found = at
            mt = ctypes.string_at(scratch._bit_generator.ctypes.state_address, _MT_BYTES)
            if mt != key.astype("<u4").tobytes() + struct.pack("<i", pos):
                return None
            scratch.random_sample(700)    # past a regeneration of the key: the next check reads a new one
        return found - 8
    except Exception:
        return None


class _RawPythonState:
    """Python's global random.Random state read as raw bytes (its MT19937 ``index``
    and ``state[624]``, at ``_PY_MT`` inside the object) with its cached Gaussian
    (``gauss_next``, a Python attribute), put back through ``setstate`` only where a
    draw changed them: everything ``getstate()`` holds, read in 1 us, and nothing
    written into the object's memory."""

    __slots__ = ("rng", "raw", "gauss")

    def __init__(self, rng):
        self.rng, self.gauss = rng, rng.gauss_next
        self.raw = _view(rng, id(rng) + _PY_MT, _PY_MT_BYTES).raw

    def restore(self) -> None:
        rng = self.rng
        if rng.gauss_next is self.gauss and _view(rng, id(rng) + _PY_MT, _PY_MT_BYTES).raw == self.raw:
            return   # nothing drew
        index = struct.unpack_from("i", self.raw, 0)[0]
        rng.setstate((_PY_VERSION, struct.unpack_from("624I", self.raw, 4) + (index,), self.gauss))


class _PythonState:
    """Python's global random state by ``getstate()``, put back by ``setstate()``."""

    __slots__ = ("state",)

    def __init__(self):
        self.state = random.getstate()

    def restore(self) -> None:
        random.setstate(self.state)


_PY_MT_BYTES = 4 + 624 * 4     # CPython's RandomObject after its header: int index, uint32_t state[624]
_PY_VERSION = 3                # random.Random.VERSION: getstate()'s first item
_PY_MT: int | None = None      # the offset of ``index`` in the object (_UNKNOWN: no layout found)


def _python_state():
    """A snapshot of Python's global random state (the random.Random that
    ``random.getstate`` is bound to): raw bytes (``_RawPythonState``) where the
    layout was found and checked, else getstate()."""
    global _PY_MT
    if _PY_MT is None:
        found = _find_python_mt()
        _PY_MT = _UNKNOWN if found is None else found
    rng = getattr(random.getstate, "__self__", None)
    if _PY_MT == _UNKNOWN or type(rng) is not random.Random:
        return _PythonState()
    return _RawPythonState(rng)


def _find_python_mt() -> int | None:
    """The offset of a random.Random's ``index`` (then its ``state``) in the object,
    found on scratch generators and checked against what getstate() says, before
    and after a regeneration of the key; None where anything differs (another
    Python's layout)."""
    try:
        if random.Random.VERSION != _PY_VERSION:
            return None
        at = object.__basicsize__   # the C struct's fields follow the object header
        for seed in (12345, 678):
            scratch = random.Random(seed)
            for _ in range(3):
                version, state, _ = scratch.getstate()
                expected = struct.pack("i", state[-1]) + struct.pack("624I", *state[:-1])
                if version != _PY_VERSION or ctypes.string_at(id(scratch) + at, _PY_MT_BYTES) != expected:
                    return None
                scratch.random()
                scratch.getrandbits(700 * 32)   # past a regeneration: the next check reads a new key
        return at
    except Exception:
        return None


_SEEDED: torch.Tensor | None = None   # the CPU generator's state after manual_seed(0) (seed_forward)


def seed_forward() -> None:
    """``torch.manual_seed(0)`` for the generators ``kept_rng`` keeps: the CPU one,
    and CUDA's where CUDA is initialised (a forward on CUDA tensors).
    torch.manual_seed also queues a seed for each uninitialised CUDA, XPU and MTIA
    (three ``traceback.format_stack()`` calls, 40% of a small profile), which then
    stays queued after the profile: the caller's own seed, queued for when CUDA
    starts, was replaced by ours.  A forward that starts CUDA itself and draws
    on it is not seeded (nor was its state kept before).  The CPU generator is
    given the state manual_seed(0) leaves (made once, on a generator of our own:
    the same bytes, checked in tests/capture/test_session.py), a copy five times
    cheaper than seeding its Mersenne Twister again."""
    global _SEEDED
    if _SEEDED is None:
        _SEEDED = torch.Generator().manual_seed(0).get_state()
    torch.default_generator.set_state(_SEEDED)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(0)


class process_state:
    """Grad on for a training profile (off otherwise), and the fused attention fast
    path off (its one fused op would hide the attention's inner layers)."""

    __slots__ = ("training", "_kept")

    def __init__(self, training: bool):
        self.training = training

    def __enter__(self) -> None:
        fastpath = torch.backends.mha.get_fastpath_enabled()
        grad = torch.is_grad_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        self._kept = (fastpath, grad)
        # what torch.set_grad_enabled(mode) does when called, without making its context object
        torch._C._set_grad_enabled(self.training)

    def __exit__(self, *exc) -> None:
        fastpath, grad = self._kept
        try:
            torch._C._set_grad_enabled(grad)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)


_NO_TENSORS = frozenset((int, float, bool, str, type(None), torch.Size))


def _given_tensors(tree: Any, found: list | None = None) -> list[torch.Tensor]:
    """The tensors among ``tree_flatten(tree)``'s leaves, in order: plain tuples,
    lists and dicts and what holds no tensor walked here (a shape's ints), anything
    else (a namedtuple, a registered container) flattened by pytree as before."""
    found = [] if found is None else found
    cls = type(tree)
    if cls is tuple or cls is list:
        for x in tree:
            _given_tensors(x, found)
    elif cls is dict:
        for x in tree.values():
            _given_tensors(x, found)
    elif isinstance(tree, torch.Tensor):
        found.append(tree)
    elif cls not in _NO_TENSORS:
        found.extend(t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor))
    return found


def set_training(model: nn.Module, modules: list[nn.Module], training: bool, undo: list | None = None) -> None:
    """``model.train(training)``; ``modules``: ``list(model.modules())``.  Where no
    module's class has its own ``train``, ``__setattr__`` or ``training`` attribute,
    each module's flag is set in its ``__dict__``, as Module.train sets it through
    Module.__setattr__, which costs alexnet 36 us a call (a ResNet-50 0.25 ms).
    ``undo``: a snapshot's list (twins.ModuleState.undo), given each flag it set."""
    for m in modules:
        plain = _PLAIN_TRAIN.get(type(m))
        if plain is None:
            cls = type(m)
            plain = _PLAIN_TRAIN[cls] = (cls.train is nn.Module.train and cls.__setattr__ is nn.Module.__setattr__
                                         and not hasattr(cls, "training"))
        if not plain:
            model.train(training)
            return
    for m in modules:
        bindings = m.__dict__
        if undo is not None:
            undo.append((bindings, "training", bindings["training"]))
        bindings["training"] = training


_PLAIN_TRAIN: dict[type, bool] = {}   # module class: whether set_training may set its flag directly


def model_device(model: nn.Module) -> torch.device:
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def on_meta(model: nn.Module, modules: list[nn.Module] | None = None) -> bool:
    """Every parameter and buffer (and at least one) on the meta device.  Read from
    each module's slots: parameters() and buffers() are generators over the whole
    tree, 0.5 ms on a ResNet-50.  ``modules``: ``list(model.modules())``, when the
    caller has it."""
    found = False
    for module in (model.modules() if modules is None else modules):
        for t in (*module._parameters.values(), *module._buffers.values()):
            if t is not None:
                if not t.is_meta:
                    return False
                found = True
    return found


def _unwrap_children(modules: list[nn.Module]) -> bool:
    """Put the module a torch.compile or DataParallel wrapper holds in the wrapper's
    place wherever one sits inside the model (inside a ``ModuleState``, which puts
    the wrappers back): the profile runs the Python forward they wrap.  Whether
    there was any."""
    changed = False
    for module in modules:
        slots = module._modules
        for name, child in slots.items():
            cls = type(child)
            wraps = _WRAPS.get(cls)
            if wraps is None:   # what ``unwrapped`` asks of a module's class before it looks inside
                wraps = _WRAPS[cls] = (cls.__name__ == "OptimizedModule"
                                       or issubclass(cls, (nn.DataParallel, nn.parallel.DistributedDataParallel)))
            if wraps:
                inner = unwrapped(child)
                if inner is not child:
                    slots[name] = inner
                    changed = True
    return changed


# per module class: whether ``unwrapped`` can take a module of it apart (a torch.compile or DataParallel
# wrapper, or a class of that name); the others' instances are never wrappers (a ResNet-50 has 160)
_WRAPS: dict[type, bool] = {}


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
def captured(run: Run, execution: str, args: Any = None, model: nn.Module | None = None,
             values: bool = False) -> Iterator[ForwardRecord]:
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
    unfinished module call) and ``capture``.

    A meta forward carries the values of small real inputs (profiler.capture.known).
    Tensors made from Python data on meta (``torch.tensor(data, device=x.device)``)
    get theirs from a torch function mode, which takes every torch function call of
    the forward (a sixth of a small model's profile): it is entered when an input
    carries a value, when the inputs are made from the model (``run.inputs_for``),
    or with ``values``.  Left out, such a tensor has no value, and a forward that
    reads one stops with a data-dependent error, on which profiler.api runs the meta
    forward again with ``values`` (the same forward, value for value: a value-less
    meta tensor never gives a wrong value, only that error)."""
    model = run.module if model is None else model
    args = run.args if args is None else args
    kwargs, dtype, training, owned = run.kwargs, run.dtype, run.training, run.owned
    fake = None
    if execution == "fake":
        from torch._subclasses.fake_tensor import FakeTensorMode
        fake = FakeTensorMode(allow_non_fake_inputs=True)
    make = meta_maker(dtype) if execution == "meta" else fake_maker(fake, dtype) if fake else real_maker(dtype)
    device = "meta" if execution == "meta" else model_device(model)
    # the one walk of the module tree (the capture's, the checks'), again where a wrapper inside was unwrapped
    named = list(model.named_modules())
    modules = [m for _, m in named]
    saved = None if owned else ModuleState(modules)
    capture, description, kept = None, None, False
    try:
        with process_state(training), (_quiet_fake_log() if fake else _NOTHING):
            if not owned and _unwrap_children(modules):
                named = list(model.named_modules())
            # twins stand in for real tensors, or give the model another dtype; a model
            # already on meta (the caller's or ours) runs as it is in a meta forward
            # (and a training profile of the caller's model always: its backward may be run,
            # profiler.capture.autograd, and must write no gradient into the caller's tensors)
            if (dtype is not None or (execution == "meta") != on_meta(model, [m for _, m in named])
                    or (not owned and (execution != "meta" or training))):
                attributes = saved.tensor_attributes if saved is not None else None
                undo = saved.undo if saved is not None else []
                # an inference forward on meta keeps its twins for the next profile (profiler.capture.kept)
                kept = execution == "meta" and dtype is None and not training and run.memory is None
                if kept:
                    swap_in_kept(modules, attributes, undo)
                else:
                    swap_in_twins(modules, make, attributes, undo)
            generator = torch.Generator().manual_seed(0) if execution == "real" else None
            memo: dict[int, Any] = {}
            with fake or _NOTHING:
                if run.inputs_for is not None:
                    args, kwargs, description = run.inputs_for(model)
                made, made_args = kwargs, args
                given = _given_tensors((args, kwargs))
                args = materialize(args, make, run.input_dtype, generator, device, run.ids, memo)
                kwargs = materialize(kwargs, make, run.input_dtype, generator, device, run.ids, memo)
                known = None
                if execution == "meta":   # small real inputs (token ids, grid sizes) keep their values
                    known = KnownValues(None)
                    for t in given:
                        if carried(t) and id(t) in memo and memo[id(t)].is_meta:
                            known.know(memo[id(t)], t.detach(), copy=True)
                memo.clear()   # no reference beyond the inputs' own: a decode's old cache dies at its update
                functions = values or run.inputs_for is not None or bool(known)
                capture = Capture(model, record_ops=training, known=known, functions=functions,
                                  named_modules=named if run.inputs_for is None else None,
                                  quick=execution == "meta" and run.memory is None)
                if any(m.training != training for _, m in capture.modules):
                    set_training(model, [m for _, m in capture.modules], training,
                                 saved.undo if saved is not None else None)
                memory = _saved.follow(capture, model, (args, kwargs), training, run.memory)   # or None
                try:
                    # seeded: a forward that draws numbers (VITS: noise in its durations sets the
                    # waveform's length) counts the same every run; the caller's state comes back
                    with kept_rng(), capture, memory or _NOTHING:
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
        try:
            if kept:
                after_forward(modules[0])
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
