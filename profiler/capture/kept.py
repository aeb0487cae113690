"""Meta twins kept from one profile of a model to the next.

A profile of a model the caller holds runs its forward on meta twins of its
tensors (profiler.capture.twins).  An inference forward on meta (session.captured)
leaves its twins as it found them, so the next profile of the same model reuses
them, wherever they are still what a new twin would be.  Two levels:

- ``kept_twin``: one tensor's twin, kept under the tensor's id with a weak
  reference to it, and checked one tensor at a time;
- a *plan* per model (``swap_in_kept``): the whole swap of the last profile,
  checked in a few passes that run in C (the sizes, names and tensor ids of the
  modules' parameter and buffer dicts; the tensors' metadata through torch's own
  tensor guard, and their leafness; after each forward, the twins as they were
  made) and then done by binding, in each module, a dict of twins in place of its
  own.  A ResNet-50 holds 320 tensors: checking them one by one in Python took a
  third of a millisecond, more in a process whose caches another workload had
  just emptied.

Nothing here keeps a model or its tensors alive: a plan holds ids, names, the
twins (meta tensors, no storage), the guards (metadata only) and weak references
to the tensors, and goes when its model does.  An id is never taken for another
tensor's: the death of any of the plan's tensors makes the plan stale.
"""
from __future__ import annotations

import gc
import weakref
from functools import partial
from itertools import chain
from collections import deque
from operator import attrgetter, is_, is_not, itemgetter, setitem

import torch
from torch import nn

from profiler.capture.twins import _SAME_META, memoized, swap_attributes, swap_in_twins, tensor_attributes_of, twin

# id of the caller's tensor -> (a weak reference to it, its twin); an entry goes when its tensor dies
_KEPT: dict[int, tuple] = {}
_KEEPABLE = frozenset((torch.Tensor, nn.Parameter))


def _forget(store: dict, key: int, ref) -> None:
    entry = store.get(key)
    if entry is not None and entry[0] is ref:
        del store[key]


def _referents_show_writes() -> bool:
    """Whether ``gc.get_referents`` of a tensor lists its attributes' dict and its
    hooks, and nothing but its class when it has none (it does on the torch we
    test: a tensor's traversal visits them).  Read without asking for ``__dict__``,
    which would make one: a twin with an instance dict pays a dict lookup on each
    of its method calls in the forward."""
    try:
        fresh = nn.Parameter(torch.empty(0, device="meta"))
        noted = nn.Parameter(torch.empty(0, device="meta"))
        noted.note = None
        hooked = nn.Parameter(torch.empty(0, device="meta"))
        hooked.register_hook(lambda grad: grad)
        return (gc.get_referents(fresh) == [nn.Parameter] and dict in map(type, gc.get_referents(noted))
                and len(gc.get_referents(hooked)) > 1)
    except Exception:   # pragma: no cover - another torch: the plain checks
        return False


_BY_REFERENTS = _referents_show_writes()


def _as_made(t: torch.Tensor) -> bool:
    """``t`` has no gradient, hooks or attributes, as a twin has when made."""
    if t.grad is not None:
        return False
    if _BY_REFERENTS:
        return gc.get_referents(t) == [type(t)]
    return t._backward_hooks is None and not t.__dict__


def _unchanged(made: torch.Tensor, t: torch.Tensor) -> bool:
    """``made``, a twin made for ``t``, matches ``t`` as it is now and is as it was
    made (a forward may have written to its twin)."""
    return (type(made) is type(t) and made.dtype == t.dtype and made.requires_grad == t.requires_grad
            and made.shape == t.shape and made.stride() == t.stride() and _as_made(made))


def kept_twin(t: torch.Tensor) -> torch.Tensor:
    """``twin(t, meta_maker())``, the same twin as the last profile's where it is
    what a new one would be.

    A kept twin is reused only when the tensor is the same object (held by a weak
    reference: nothing keeps the model alive), still a leaf (an in-place op can make
    it a computed tensor), and the twin matches it as it is now
    (``p.data = ...`` changes a tensor in place): the same class, dtype,
    requires_grad, shape and strides; and the twin is as it was made: no gradient,
    no hooks, no attributes.  Anything else makes a new twin.  Only plain tensors
    and Parameters, strided, leaves (a non-leaf's twin is recorded by autograd:
    twins._as_non_leaf); only for inference forwards on meta, whose twins no
    gradient reaches."""
    cls = type(t)
    if cls not in _KEEPABLE or t.layout is not torch.strided:
        return twin(t, _SAME_META)
    key = id(t)
    entry = _KEPT.get(key)
    if entry is not None and entry[0]() is t and t.is_leaf and _unchanged(entry[1], t):
        return entry[1]
    made = twin(t, _SAME_META)
    if t.is_leaf:
        _KEPT[key] = (weakref.ref(t, partial(_forget, _KEPT, key)), made)
    return made


# --- a plan per model ------------------------------------------------------------------------

_PARAMETERS = attrgetter("_parameters")
_BUFFERS = attrgetter("_buffers")
_BINDINGS = attrgetter("__dict__")
_GRAD = attrgetter("grad")
_LEAF = attrgetter("is_leaf")
_NOT_NONE = partial(is_not, None)
_VALUES = dict.values
_run = deque(maxlen=0).extend   # runs an iterator to its end in C (here: a map of dict stores)

try:   # torch's C++ check of many tensors' metadata at once (TorchDynamo's guards use it)
    from torch._C._dynamo.guards import TensorGuards as _TensorGuards
except ImportError:   # pragma: no cover - a torch without it: every profile swaps one tensor at a time
    _TensorGuards = None

# id of the root module -> its plan; a plan goes when its module dies
_PLANS: dict[int, "_Plan"] = {}


def _guard(tensors: list[torch.Tensor]):
    """A check that ``tensors`` still have the exact class, dispatch keys (device,
    layout, requires_grad), dtype, shape and strides they have now, or None where
    torch offers none."""
    if _TensorGuards is None:
        return None
    try:
        guard = _TensorGuards(*tensors, dynamic_dims_sizes=[list(t.shape) for t in tensors],
                              dynamic_dims_strides=[list(t.stride()) for t in tensors])
        return guard if guard.check(*tensors) else None
    except Exception:   # another torch's signature: no plan, the same twins one at a time
        return None


def _slots(modules: list[nn.Module]) -> list[dict]:
    return [*map(_PARAMETERS, modules), *map(_BUFFERS, modules)]


class _Plan:
    """One model's swap as the last profile did it, and what must still hold to do
    it again.  The swap binds, in each module that holds tensors, a dict of twins
    in place of its ``_parameters`` or ``_buffers`` dict (``fills``, one for each
    non-empty dict of the model: ``picks`` takes the caller's dicts out of
    ``_slots``' list and the modules' ``__dict__`` out of theirs, ``attributes``
    names the binding); the caller's dicts are not written.

    What must hold: the caller's model holds, module by module, as many entries
    (``sizes``) with the same names and tensors (``names``, ``value_ids``) as it
    held, so each dict of twins goes where it went; the tensors have the class
    and metadata they had (``guard``, over each tensor once: ``unique`` picks
    them out of the values); none has died since (``stale``, set through
    ``watched``: an id in ``value_ids`` might now be another tensor's); and the
    last forward left the dicts of twins and the twins as made (``after_forward``:
    ``bound_names``, ``bound``, ``twin_guard``, ``as_made``).  ``by_id``: the
    twins by the id of their tensor."""

    __slots__ = ("ref", "sizes", "names", "value_ids", "unique", "guard", "stale", "watched", "picks",
                 "attributes", "fills", "bound_names", "bound", "twins", "twin_guard", "as_made", "by_id",
                 "__weakref__")

    def holds(self, slots: list[dict]) -> bool:
        """The model holds what it held when the plan was made: as many modules, each
        with the same names and tensors, each of the same class and metadata (the
        dicts themselves may be new: the plan binds by module).  The same tensors: the
        same ids, none of the plan's tensors having died since; still leaves (a leaf that
        stops requiring grad, then is written in place by a tensor that does, is a
        computed tensor requiring grad: the guard alone would not tell)."""
        if self.stale or list(map(len, slots)) != self.sizes:
            return False
        if list(chain.from_iterable(slots)) != self.names:
            return False
        values = list(chain.from_iterable(map(_VALUES, slots)))
        if list(map(id, values)) != self.value_ids:
            return False
        tensors = self.unique(values)
        return self.guard.check(*tensors) and all(map(_LEAF, tensors))

    def left_as_made(self) -> bool:
        """The dicts of twins hold what they were made with, and the twins are as they
        were made: the same class and metadata, no gradient, hooks or attributes."""
        values = list(chain.from_iterable(map(_VALUES, self.fills)))
        twins = self.twins
        return (list(chain.from_iterable(self.fills)) == self.bound_names   # so as many values as ``bound``
                and all(map(is_, values, self.bound)) and self.twin_guard.check(*twins)
                and list(map(_GRAD, twins)).count(None) == len(twins) and gc.get_referents(*twins) == self.as_made)


def _make_plan(modules: list[nn.Module], slots: list[dict], values: list) -> _Plan | None:
    """The plan of a swap just done one tensor at a time: ``values``, the caller's
    tensors (and None for a deleted slot) in ``slots``' order before it; ``slots``
    now hold the twins.  None where a tensor has no kept twin (a class of its own,
    not strided, not a leaf) or torch has no guard: such a model keeps swapping one
    tensor at a time."""
    # each tensor once, at its first place in ``values`` (torch's guard refuses a tensor given twice)
    first = {}
    for index, t in enumerate(values):
        if t is not None:
            first.setdefault(id(t), index)
    swapped = list(chain.from_iterable(map(_VALUES, slots)))
    tensors = [values[index] for index in first.values()]
    made = [swapped[index] for index in first.values()]
    if not tensors or not all(type(t) in _KEEPABLE and t.layout is torch.strided and t.is_leaf for t in tensors):
        return None
    if not _BY_REFERENTS or not all(map(_as_made, made)):
        return None
    as_made = list(map(type, made))   # what gc.get_referents(*made) lists while they are as made
    guard, twin_guard = _guard(tensors), _guard(made)
    if guard is None or twin_guard is None:
        return None
    plan = _Plan()
    plan.sizes = list(map(len, slots))
    plan.names = list(chain.from_iterable(slots))
    plan.value_ids = list(map(id, values))
    plan.guard, plan.twins, plan.twin_guard, plan.as_made = guard, made, twin_guard, as_made
    plan.unique = _picker(list(first.values()))
    count = len(modules)
    filled = [index for index, held in enumerate(slots) if held]
    plan.picks = (_picker(filled), _picker([index % count for index in filled]))
    plan.attributes = ["_parameters" if index < count else "_buffers" for index in filled]
    plan.fills = [dict(slots[index]) for index in filled]
    plan.bound_names = list(chain.from_iterable(plan.fills))
    plan.bound = list(chain.from_iterable(map(_VALUES, plan.fills)))
    plan.by_id = {id(t): m for t, m in zip(tensors, made)}
    plan.stale = False
    expire = partial(_expire, weakref.ref(plan))
    plan.watched = [weakref.ref(t, expire) for t in tensors]
    plan.ref = weakref.ref(modules[0], partial(_forget_plan, id(modules[0])))
    return plan


def _picker(indices: list[int]):
    """A function of a sequence giving the tuple of its items at ``indices``."""
    if len(indices) == 1:
        index = indices[0]
        return lambda items: (items[index],)
    return itemgetter(*indices)   # a tuple from two on (none: no plan is made for a model with no tensors)


def _expire(plan_ref, _) -> None:
    plan = plan_ref()
    if plan is not None:
        plan.stale = True


def _forget_plan(key: int, ref) -> None:
    plan = _PLANS.get(key)
    if plan is not None and plan.ref is ref:
        del _PLANS[key]


def swap_in_kept(modules: list[nn.Module], tensor_attributes: list[tuple[dict, str]] | None,
                 undo: list) -> dict[int, torch.Tensor]:
    """twins.swap_in_twins with kept meta twins, for an inference forward on meta:
    the parameters and buffers of ``modules`` (``modules[0]`` the root, as
    ``named_modules`` lists them) by the model's plan where it holds, else one
    tensor at a time by ``kept_twin`` (twins.swap_in_twins; and a plan made for
    the next profile); the plain tensor attributes (``tensor_attributes``, or
    looked for) one at a time.  Inside a
    ``ModuleState`` snapshot, whose ``undo`` list is given each entry replaced.
    Call ``after_forward`` once the forward is done.  Returns the twins by the id
    of the tensor they stand for."""
    root = modules[0]
    slots = _slots(modules)
    plan = _PLANS.get(id(root))
    if plan is None or plan.ref() is not root or not plan.holds(slots):
        values = list(chain.from_iterable(map(_VALUES, slots)))
        twins = swap_in_twins(modules, _SAME_META, tensor_attributes, undo, made_by=kept_twin)
        made = _make_plan(modules, slots, values)
        if made is not None:
            _PLANS[id(root)] = made
        else:
            _PLANS.pop(id(root), None)
        return twins
    slot_pick, module_pick = plan.picks
    bindings = module_pick(list(map(_BINDINGS, modules)))
    undo.extend(zip(bindings, plan.attributes, slot_pick(slots)))
    _run(map(setitem, bindings, plan.attributes, plan.fills))
    twins = dict(plan.by_id)
    swap_attributes(tensor_attributes_of(modules) if tensor_attributes is None else tensor_attributes,
                    memoized(twins, kept_twin), undo)
    return twins


def after_forward(root: nn.Module) -> None:
    """The forward that ``swap_in_kept`` prepared for ``root`` is done: its plan is
    kept only if the forward left its dicts of twins and every twin as they were
    made.  Checked here, while the forward has just read them, and not at the next
    swap, where reading them again would cost what the plan saves; the one change
    this misses is a twin the forward handed out of the model (into a global, say)
    and its holder changed later."""
    plan = _PLANS.get(id(root))
    if plan is not None and plan.ref() is root and not plan.left_as_made():
        del _PLANS[id(root)]
