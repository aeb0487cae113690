"""Run a user's model on stand-ins for its tensors, and put the model back as it was.

A model the user holds has real weights.  Running its forward on them, even under
FakeTensorMode (which wraps every real parameter on every op), costs as much as
twenty meta forwards.  Instead each parameter, buffer and plain tensor attribute
is swapped, for the one forward, for a *twin*: a tensor with its shape, strides
and dtype on the meta device (or a fake or cloned real one for the fallbacks), as
``torch.func.functional_call`` swaps in given tensors.  Tied weights get one twin.
The user's tensors are never read or written.  A twin keeps what autograd sees:
requires_grad, and a computed tensor's twin is computed too (a non-leaf), so the
in-place ops eager allows on it run on the twin.  An uninitialised parameter or
buffer's twin is uninitialised, so a lazy module infers its shapes on its twins.

What the forward changes on the modules is undone afterwards, on every exit path:
``ModuleState`` keeps each module's class, its ``__dict__`` bindings, and the
contents of the dicts, lists and sets held there (parameters, buffers,
submodules, hooks, the non-persistent buffer names).  So a buffer registered or
an attribute set during the forward, a lazy module that materialised itself
(new class, hooks removed), or a parametrization that updated its buffers, all
come back as they were.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from operator import is_, setitem
from typing import Callable

import torch
from torch import nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

_CONTAINERS = (dict, list, set)
# a module's attributes are mostly these: exact types, read without isinstance (ModuleState)
_EXACT_CONTAINERS = frozenset((dict, OrderedDict, list, set))
_PLAIN = frozenset((bool, int, float, str, tuple, type(None)))
_run = deque(maxlen=0).extend   # runs an iterator to its end in C


def _same(live, saved) -> bool:
    """The container holds the very objects it held, in the same order (compared by
    identity: values may be tensors, whose == is elementwise).  A reordering reads
    as a change, which only costs a restore.  map(is_) keeps the loop in C."""
    if isinstance(live, dict):
        return live.keys() == saved.keys() and all(map(is_, live.values(), saved.values()))
    if isinstance(live, list):
        return len(live) == len(saved) and all(map(is_, live, saved))
    return live == saved           # sets hold names


class ModuleState:
    """A snapshot of the modules' Python state, and its restoration (``restore``).

    Most containers (the hook dicts) are empty and stay so, and the rest come back
    unchanged from most forwards: only what changed is written back, as this runs
    around every profile of a model the caller holds."""

    def __init__(self, modules: list[nn.Module]):
        self._saved = []
        self.tensor_attributes: list[tuple[dict, str]] = []   # plain tensor attributes, for swap_in_twins
        # (slots, name, the tensor) of each entry swap_in_twins replaced: put back first, after which a
        # forward that changed nothing else leaves every container as it was (a check, no rewrite)
        self.undo: list[tuple[dict, str, torch.Tensor]] = []
        for module in modules:
            bindings = module.__dict__
            empty, filled = [], []
            for name, value in bindings.items():
                cls = type(value)
                if cls in _PLAIN:
                    continue
                if cls in _EXACT_CONTAINERS or isinstance(value, _CONTAINERS):
                    if value:
                        filled.append((value, value.copy()))
                    else:
                        empty.append(value)
                elif isinstance(value, torch.Tensor):
                    self.tensor_attributes.append((bindings, name))
            self._saved.append((module, module.__class__, bindings.copy(), tuple(empty), filled))

    def restore(self) -> None:
        if self.undo:   # each store in C, the last first (a slot replaced twice gets its first value)
            _run(map(setitem, *zip(*reversed(self.undo))))
            self.undo = []
        for module, cls, bindings, empty, filled in self._saved:
            if module.__class__ is not cls:       # a lazy module became its cls_to_become
                module.__class__ = cls
            if any(empty):                        # the hook dicts, mostly: one pass in C
                for container in empty:
                    if container:
                        container.clear()
            for container, copy in filled:
                if not _same(container, copy):
                    container.clear()
                    if isinstance(container, list):
                        container.extend(copy)
                    else:
                        container.update(copy)
            live = module.__dict__
            if not _same(live, bindings):
                if live.keys() == bindings.keys():   # a value rebound (the training flag): put it back
                    for name, value in bindings.items():
                        if live[name] is not value:
                            live[name] = value
                else:
                    live.clear()
                    live.update(bindings)


Make = Callable[[torch.Tensor], torch.Tensor]


def floating(dtype: torch.dtype | None) -> Callable[[torch.Tensor], torch.dtype]:
    """The dtype a twin of ``t`` takes: ``dtype`` for floating tensors when given,
    else the tensor's own."""
    if dtype is None:
        return lambda t: t.dtype
    return lambda t: dtype if t.is_floating_point() else t.dtype


def _empty(t: torch.Tensor, dtype: torch.dtype, device) -> torch.Tensor:
    """An uninitialised tensor of ``t``'s shape (and strides, when strided)."""
    if t.layout != torch.strided:
        return torch.empty(t.shape, dtype=dtype, device=device)
    return torch.empty_strided(t.shape, t.stride(), dtype=dtype, device=device)


_META = torch.device("meta")


def meta_maker(dtype: torch.dtype | None = None) -> Make:
    """Twins on the meta device."""
    if dtype is None:    # the usual case, inlined: it runs for every tensor of the model
        def same(t: torch.Tensor) -> torch.Tensor:
            if t.layout is torch.strided:
                return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=_META)
            return torch.empty(t.shape, dtype=t.dtype, device=_META)
        return same
    dtype_of = floating(dtype)
    return lambda t: _empty(t, dtype_of(t), _META)


_SAME_META = meta_maker()


def fake_maker(fake_mode, dtype: torch.dtype | None = None) -> Make:
    """Twins as fake tensors on the tensor's own device, made under ``fake_mode``
    without reading the real data."""
    dtype_of = floating(dtype)

    def make(t: torch.Tensor) -> torch.Tensor:
        with fake_mode:
            return _empty(t, dtype_of(t), t.device)
    return make


def real_maker(dtype: torch.dtype | None = None) -> Make:
    """Twins as copies of the real values (the forward may write its buffers)."""
    dtype_of = floating(dtype)
    return lambda t: t.detach().to(dtype=dtype_of(t), copy=True)


class _PlacedMixin:
    """An uninitialised twin that knows its device and dtype without reading its
    ``.data``.  ``materialize`` reads ``self.data.device`` when not given one, and
    under a dispatch mode ``.data`` is an ``aten.detach`` op on the uninitialised
    tensor, whose shape the capture (recording ops for the backward) cannot read:
    the lazy module's shape inference failed in training profiles.  Given the
    place, materialising runs only ``aten.empty``, as a lazy module's own does.

    Under FakeTensorMode that empty tensor is fake, and ``.data`` cannot hold a
    fake tensor (it keeps only its meta storage: the layer then mixed meta and
    fake tensors).  The slots the twin fills (``_twin_slots``, set by
    ``swap_in_twins``) then take the fake tensor, as a Parameter for a parameter:
    the lazy module reads its tensors back from its slots."""

    def materialize(self, shape, device=None, dtype=None) -> None:
        place = self.__dict__.pop("_twin_place", None)
        if place is None:     # a copy the forward made of the twin (deepcopy keeps the class only)
            super().materialize(shape, device, dtype)
            return
        slots = self.__dict__.pop("_twin_slots", ())
        made = torch.empty(shape, device=place[0] if device is None else device,
                           dtype=place[1] if dtype is None else dtype)
        if type(made) is torch.Tensor or not slots:
            self.data = made
            self.__class__ = self.cls_to_become
            return
        if self.cls_to_become is nn.Parameter:
            made = nn.Parameter(made, requires_grad=self.requires_grad)
        for bindings, name in slots:
            bindings[name] = made


class _PlacedParameter(_PlacedMixin, UninitializedParameter):
    cls_to_become = nn.Parameter


class _PlacedBuffer(_PlacedMixin, UninitializedBuffer):
    cls_to_become = torch.Tensor


_PLACED = {UninitializedParameter: _PlacedParameter, UninitializedBuffer: _PlacedBuffer}


def twin(t: torch.Tensor, make: Make) -> torch.Tensor:
    """``make(t)``, keeping what the module code may check: a Parameter stays a
    Parameter (and an uninitialised one uninitialised, so a lazy module still
    infers its shape, on the twin: see _PlacedMixin), requires_grad is kept, and so
    is autograd's view of a tensor: a leaf's twin is a leaf, a non-leaf's twin a
    non-leaf (see ``_as_non_leaf``), so an in-place op that eager allows on a
    computed input runs on its twin too."""
    # type checks, not isinstance: Parameter's metaclass makes isinstance cost ~7 us,
    # and this runs for every tensor of the model on every profile
    cls = type(t)
    if issubclass(cls, (UninitializedParameter, UninitializedBuffer)):
        probe = make(torch.empty(0, dtype=t.dtype))
        placed = _PLACED.get(cls)
        if placed is None:    # a subclass of the user's own: keep its class, reading .data as it does
            return cls(requires_grad=t.requires_grad, device=probe.device, dtype=probe.dtype)
        made = placed(requires_grad=t.requires_grad, device=probe.device, dtype=probe.dtype)
        made._twin_place = (probe.device, probe.dtype)
        return made
    new = make(t)
    if issubclass(cls, nn.Parameter) or getattr(t, "_is_param", False):
        if type(new) is torch.Tensor:    # what nn.Parameter(new) does, without its Python frame
            return torch.Tensor._make_subclass(nn.Parameter, new, t.requires_grad)
        return nn.Parameter(new, requires_grad=t.requires_grad)
    if t.requires_grad and new.is_leaf:
        new.requires_grad_(True)
        if not t.is_leaf:
            return _as_non_leaf(new)
    return new


def _as_non_leaf(leaf: torch.Tensor) -> torch.Tensor:
    """A non-leaf with ``leaf``'s values, shape and strides: its clone, recorded by
    autograd.  The twin of a computed input (``x * 1`` of a leaf that requires
    grad) must not be a leaf that requires grad, on which autograd refuses the
    in-place ops (``ReLU(inplace=True)``) that eager allows on the input itself.
    Not a view: in-place ops on a view of such a leaf are refused as well.  A copy
    into a tensor of the same strides (clone keeps strides only when dense), made
    before the capture starts, so the copy is no op of the model's; grad on
    whatever the mode, so an inference profile's twin is a non-leaf as well.  (A
    meta or fake copy holds no data; a real one copies the input once more.)"""
    with torch.enable_grad():
        if leaf.layout is not torch.strided:
            return leaf.clone()
        return leaf.new_empty_strided(leaf.shape, leaf.stride()).copy_(leaf)


def tensor_attributes_of(modules: list[nn.Module]) -> list[tuple[dict, str]]:
    """The plain tensor attributes of ``modules`` (a mask, a table), as (the
    module's ``__dict__``, the name); a ``ModuleState`` finds them as it reads
    every attribute."""
    return [(module.__dict__, name) for module in modules
            for name, value in module.__dict__.items() if isinstance(value, torch.Tensor)]


def swap_attributes(tensor_attributes: list[tuple[dict, str]], of: Make, undo: list) -> None:
    """Each plain tensor attribute replaced by ``of(tensor)``, the replaced entry given to ``undo``."""
    for bindings, name in tensor_attributes:
        t = bindings[name]
        bindings[name] = of(t)
        undo.append((bindings, name, t))


def memoized(twins: dict[int, torch.Tensor], made_by: Make) -> Make:
    """``made_by`` once per tensor: ``twins`` keeps each tensor's twin by its id,
    so tied weights (and a tensor held twice) get one twin."""
    def of(t: torch.Tensor) -> torch.Tensor:
        found = twins.get(id(t))
        if found is None:
            found = twins[id(t)] = made_by(t)
        return found
    return of


def swap_in_twins(modules: list[nn.Module], make: Make,
                  tensor_attributes: list[tuple[dict, str]] | None = None,
                  undo: list | None = None, made_by: Make | None = None) -> dict[int, torch.Tensor]:
    """Replace every parameter, buffer and tensor attribute of ``modules`` by its
    twin (one twin per tensor, so tied weights stay tied).  Call only inside a
    ``ModuleState`` snapshot, which puts the originals back; ``tensor_attributes``:
    the snapshot's list of plain tensor attributes, else they are looked for here.
    ``undo``: the snapshot's list (``ModuleState.undo``), given each replaced entry
    as (slots, name, tensor), which the snapshot puts back first.  ``made_by``: what
    makes a tensor's twin, ``twin(t, make)`` by default (profiler.capture.kept
    gives its kept twins).  Returns the twins by the id of the tensor they stand
    for."""
    twins: dict[int, torch.Tensor] = {}
    of = memoized(twins, made_by or (lambda t: twin(t, make)))
    undo = [] if undo is None else undo
    for module in modules:
        for slots in (module._parameters, module._buffers):
            for name, t in slots.items():
                if t is not None:
                    slots[name] = made = of(t)
                    undo.append((slots, name, t))
                    if isinstance(made, _PlacedMixin):   # a lazy module's: see _PlacedMixin
                        made.__dict__.setdefault("_twin_slots", []).append((slots, name))
    swap_attributes(tensor_attributes_of(modules) if tensor_attributes is None else tensor_attributes, of, undo)
    return twins
