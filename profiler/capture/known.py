"""Meta tensors whose values are known: small integer inputs carried through a meta forward.

A meta forward knows shapes, not values, so any op whose result depends on values
fails there: ``.item()``, ``.tolist()``, ``nonzero``, a boolean mask index, a
``torch._check`` on a tensor.  A vision-language model needs them all: it finds its
image tokens in ``input_ids`` (``input_ids == image_token_id``), checks that their
count matches the image features (``torch._check`` on a tensor), and places the
features there; Qwen2-VL and kin read ``image_grid_thw`` with ``.tolist()`` to cut
the patch sequence and to make rotary positions.

Those values come from small tensors the inputs fix (token ids, grid sizes, image
sizes), not from the weights.  So the inputs that hold them are given as real CPU
tensors, and each meta tensor made from them carries its value here: an op whose
meta arguments all have values (and whose real arguments are small) is run on the
values too, on the CPU, and its meta result gets that value.  A value-less meta
argument (an activation, a weight) makes the result value-less, as usual.  With
values:

* ``_local_scalar_dense`` (``.item()``, ``bool()``, ``int()``) answers from the value;
* a copy to another device (``.cpu()``, ``.tolist()``) returns the value itself;
* an op whose output size depends on values (``nonzero``, ``masked_select``, a
  boolean index, ``unique``, ``repeat_interleave`` by a tensor) gets a meta result
  of the size the values give.  Where only the index is known (``embeds[mask]``,
  ``embeds`` an activation), the size comes from running the op on zeros of the
  activation's shape, when that fits ``ZEROS_LIMIT`` elements;
* deterministic factory ops (``arange``, ``zeros``, ``full``) on meta, up to
  ``VALUE_LIMIT`` elements, have values from the start (positions, masks), and so
  do tensors made from Python data (``torch.tensor([...], device=...)``), which
  reach no dispatch mode: ``KnownValues.functions()`` is the function mode that
  sees them.

Counts do not change: every op is charged as before; only the values ride along.
Values are dropped when their meta tensor dies (``weakref.finalize``), and nothing
is kept across forwards: one ``KnownValues`` per forward.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from profiler.capture.metacache import MetaReplay
from profiler.capture.modes import eval_state
from profiler.defaults import VALUE_LIMIT   # the largest value carried

ZEROS_LIMIT = 1 << 26          # elements: the largest stand-in of zeros for a value-less argument
LAZY_MIN = 1 << 16             # elements: a pure op's result this large gets its value when read (_defer)
_DYNAMIC = torch.Tag.dynamic_output_shape
_SEEDED = torch.Tag.nondeterministic_seeded
_SCALAR = torch.ops.aten._local_scalar_dense.default
_Tensor = torch.Tensor
# the argument types of aten ops that hold no tensor (``KnownValues._plain``)
_SCALARS = frozenset((int, float, bool, complex, str, type(None), torch.dtype, torch.device, torch.layout,
                      torch.memory_format, torch.Size))


def carried(t: torch.Tensor) -> bool:
    """Whether a real input tensor is carried as a value through a meta forward:
    one of up to VALUE_LIMIT elements (token ids, grids, masks, a few images or
    seconds of audio; the values cost nothing past the first op with a weight)."""
    if t.is_meta or t.layout != torch.strided:
        return False
    return t.numel() <= VALUE_LIMIT


class KnownValues:
    """The values of one meta forward's tensors; call it as the op runner
    (``known(func, args, kwargs)``), around ``run`` (the usual runner)."""

    def __init__(self, run: Callable[[Any, tuple, dict], Any]):
        self.run = run
        self._values: dict[int, torch.Tensor] = {}
        self._sources: dict[int, torch.Tensor] = {}   # values not yet read: the caller's tensors (``know``)
        # values not yet computed: (op, args, kwargs) of a large result of a pure op (``_defer``)
        self._thunks: dict[int, tuple] = {}
        # inside an attention call none of whose tensors holds a value (_FromData): its ops run
        # as they are, no value computed (its causal mask's would be lost inside it anyway)
        self.paused = False

    def __bool__(self) -> bool:
        return bool(self._values) or bool(self._sources) or bool(self._thunks)

    def know(self, meta: torch.Tensor, value: torch.Tensor, copy: bool = False) -> None:
        """``meta`` holds ``value`` (a CPU tensor of its shape and dtype).  ``copy``:
        ``value`` is the caller's tensor, copied when its value is first read (most
        forwards never read it: an image's first op takes a weight, which has no
        value).  Nothing in the forward writes it, which runs on meta twins."""
        key = id(meta)
        if key not in self._values and key not in self._sources:
            weakref.finalize(meta, self._drop, key)
        if copy and type(value) is not torch.Tensor:
            value, copy = value.clone(), False    # a subclass is copied now, where its own dispatch runs
        if copy:
            self._sources[key] = value
            self._values.pop(key, None)
        else:
            self._values[key] = value
            self._sources.pop(key, None)

    def _drop(self, key: int) -> None:
        self._values.pop(key, None)
        self._sources.pop(key, None)
        self._thunks.pop(key, None)

    def _has(self, t: torch.Tensor) -> bool:
        """Whether the meta tensor ``t`` holds a value (not copying one: see ``know``;
        not computing one: see ``_defer``)."""
        key = id(t)
        return key in self._values or key in self._sources or key in self._thunks

    def _get(self, key: int) -> torch.Tensor | None:
        found = self._values.get(key)
        if found is None:
            source = self._sources.pop(key, None)
            if source is not None:
                # our copy, no op of the forward's: a function mode reads values under the dispatch mode
                with torch._C._DisableTorchDispatch():
                    found = self._values[key] = source.clone()
            elif key in self._thunks:
                func, args, kwargs = self._thunks.pop(key)
                with torch._C._DisableTorchDispatch():
                    value = self._compute(func, args, kwargs)   # its arguments' values first
                if isinstance(value, torch.Tensor):
                    found = self._values[key] = value
        return found

    def _defer(self, func, args, kwargs, out) -> bool:
        """Whether ``out``'s value is left to compute when it is read (``_get``), as a
        thunk holding the op's arguments: for a result of ``LAZY_MIN`` elements or
        more of a pure op (not in place, not a view, not random), such as an
        attention's L x L causal mask (a ``ones``, its ``tril``, a ``where``), which no
        one reads (the next op takes a value-less tensor) and whose value cost 2 ms a
        layer at 2,048 tokens.  The value is the one computing it at once gives: the
        arguments' values cannot change before it is read, since every thunk is
        computed before an op writes a tensor that holds a value (``_settle``)."""
        if func._schema.is_mutable or func.is_view or _SEEDED in func.tags \
                or not isinstance(out, torch.Tensor) or out.numel() < LAZY_MIN:
            return False
        key = id(out)
        if key not in self._values and key not in self._sources and key not in self._thunks:
            weakref.finalize(out, self._drop, key)
        self._values.pop(key, None)
        self._sources.pop(key, None)
        self._thunks[key] = (func, args, kwargs)
        return True

    def _settle(self) -> None:
        """Every deferred value computed (before an op writes a tensor that holds a
        value, which a thunk may read), oldest first."""
        while self._thunks:
            self._get(next(iter(self._thunks)))

    def functions(self) -> TorchFunctionMode:
        """A function mode, entered with the op runner's dispatch mode, that gives
        tensors made from Python data on meta their values."""
        return _FromData(self)

    def forget(self, t: Any) -> None:
        """``t`` no longer holds a known value (written with unknown values)."""
        self._settle()   # a thunk may read its value as it was
        self._drop(id(t))

    def value(self, t: Any) -> torch.Tensor | None:
        return self._get(id(t)) if isinstance(t, torch.Tensor) and t.is_meta else None

    def _metas(self, args: tuple, kwargs: dict) -> int | None:
        """How many tensors the op's arguments hold, when all are meta tensors none
        of which holds a value; None otherwise.  The arguments of an aten op are
        tensors, scalars and lists or tuples of them, walked here; anything else
        (a pytree container that may hold tensors) answers None, and ``__call__``
        flattens it as before."""
        metas = 0
        for arg in ((*args, *kwargs.values()) if kwargs else args):
            cls = type(arg)
            if cls is list or cls is tuple:
                for item in arg:
                    if isinstance(item, _Tensor):
                        if not item.is_meta or self._has(item):
                            return None
                        metas += 1
                    elif type(item) not in _SCALARS:
                        return None
            elif isinstance(arg, _Tensor):
                if not arg.is_meta or self._has(arg):
                    return None
                metas += 1
            elif cls not in _SCALARS:
                return None
        return metas

    def __call__(self, func, args: tuple, kwargs: dict) -> Any:
        if self.paused:
            return self.run(func, args, kwargs)
        if not self:
            # the usual case: nothing to carry, unless the op makes a meta tensor with values from
            # no tensor (a factory; not the empty tensors composite ops make: a batch_norm's)
            device = kwargs.get("device")
            if device is None or str(device) != "meta" or not _made_on_meta(func, kwargs):
                return self.run(func, args, kwargs)
        else:
            # values held elsewhere (an input), none here: the op runs as usual, as below
            # (no value to carry, no CPU scalar to turn into a meta one), unless it makes
            # a meta tensor with values from no tensor (a factory: ``_made_on_meta``)
            metas = self._metas(args, kwargs)
            if metas is not None and (metas or not _made_on_meta(func, kwargs)):
                return self.run(func, args, kwargs)
        leaves = [x for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
        metas = [t for t in leaves if t.is_meta]
        if metas and any(not t.is_meta and t.dim() == 0 for t in leaves):
            # a CPU scalar beside meta tensors (masked_fill(x, m, torch.tensor(v))): CPU kernels take it,
            # meta ones refuse it; as a meta scalar holding its value, both views agree
            args, kwargs = tree_map(self._scalar_to_meta, (args, kwargs))
            leaves = [x for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
            metas = [t for t in leaves if t.is_meta]
        known = [self._has(t) for t in metas]
        if self._thunks and func._schema.is_mutable and any(known):
            self._settle()   # a write to a tensor holding a value: what a thunk reads is read first
        small = all(t.is_meta or (t.layout == torch.strided and t.numel() <= VALUE_LIMIT) for t in leaves)
        if small and "out" not in kwargs and (all(known) if metas else _made_on_meta(func, kwargs)):
            found = self._with_values(func, args, kwargs)
            if found is not _FAILED:
                return found
        elif any(known) and _DYNAMIC in func.tags:
            sized = self._sized_by_zeros(func, args, kwargs)
            if sized is not _FAILED:
                return sized
        out = self.run(func, args, kwargs)
        if metas and func._schema.is_mutable:
            self._drop(id(metas[0]))   # written with value-less arguments: its value is gone
        return out

    def _scalar_to_meta(self, x):
        if isinstance(x, torch.Tensor) and not x.is_meta and x.dim() == 0 and x.layout == torch.strided:
            meta = torch.empty((), dtype=x.dtype, device="meta")
            self.know(meta, x.detach().clone())
            return meta
        return x

    def _values_of(self, tree):
        def swap(x):
            if isinstance(x, torch.Tensor) and x.is_meta:
                return self._get(id(x))
            if isinstance(x, torch.device) and x.type == "meta":
                return torch.device("cpu")
            if isinstance(x, str) and x == "meta":
                return "cpu"
            return x
        return tree_map(swap, tree)

    def _compute(self, func, args, kwargs):
        try:
            return func(*self._values_of(args), **self._values_of(kwargs))
        except Exception:
            return _FAILED

    def _with_values(self, func, args, kwargs):
        """The op on the values too; its meta result carries the value.  An op
        whose output size the values decide gets a meta result of the value's size."""
        target = kwargs.get("device")
        to_real = func is _COPY and target is not None and str(target) != "meta"
        if func is _SCALAR or to_real:
            return self._compute(func, args, kwargs)  # .item(), .cpu(), .tolist(): the value itself
        if _DYNAMIC in func.tags:
            value = self._compute(func, args, kwargs)
            if value is _FAILED:
                return _FAILED
            out = tree_map(_meta_like, value)
        else:
            out = self.run(func, args, kwargs)          # the meta kernel: shapes, strides, aliasing
            sizes = [t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
            if sum(sizes) > VALUE_LIMIT:
                for t in tree_flatten(out)[0][:1]:
                    self._drop(id(t))
                return out
            if self._defer(func, args, kwargs, out):
                return out
            value = self._compute(func, args, kwargs)
            if value is _FAILED:
                if func._schema.is_mutable and tree_flatten(out)[0]:
                    self._drop(id(tree_flatten(out)[0][0]))
                return out
        for meta, real in zip(tree_flatten(out)[0], tree_flatten(value)[0]):
            if isinstance(meta, torch.Tensor) and meta.is_meta and isinstance(real, torch.Tensor):
                self.know(meta, real)
        return out

    def _sized_by_zeros(self, func, args, kwargs):
        """An op whose output size depends on the known arguments' values (a
        boolean index): run it on the values and on zeros for the rest; a
        value-less meta result of that size."""
        big = [x for x in tree_flatten((args, kwargs))[0]
               if isinstance(x, torch.Tensor) and x.is_meta and self.value(x) is None]
        if sum(t.numel() for t in big) > ZEROS_LIMIT:
            return _FAILED

        def swap(x):
            if isinstance(x, torch.Tensor) and x.is_meta:
                found = self.value(x)
                return found if found is not None else torch.zeros(x.shape, dtype=x.dtype)
            return x
        try:
            value = func(*tree_map(swap, args), **tree_map(swap, kwargs))
        except Exception:
            return _FAILED
        return tree_map(_meta_like, value)


_FAILED = object()
_COPY = torch.ops.aten._to_copy.default


def _meta_like(v):
    if isinstance(v, torch.Tensor):
        return torch.empty_strided(v.shape, v.stride(), dtype=v.dtype, device="meta")
    return v


def _made_on_meta(func, kwargs) -> bool:
    """An op that makes a meta tensor from no meta tensor, with values that mean
    something: a factory (``arange``, ``full``, ``zeros``) or a copy of a real tensor
    to meta (``torch.tensor([...], device=...)``), not ``empty*`` or a random one."""
    device = kwargs.get("device")
    if device is None or str(device) != "meta":
        return False
    found = _VALUED.get(func)
    if found is None:
        found = _VALUED[func] = (_SEEDED not in func.tags
                                 and not func.overloadpacket.__name__.startswith(("empty", "new_empty")))
    return found


_VALUED: dict[Any, bool] = {}   # per op: what _made_on_meta says of it on meta (its tags and name decide)


def with_values(tree: Any, known: KnownValues) -> Any:
    """``tree`` with each carried real tensor (see ``carried``) replaced by a meta
    tensor that holds its value in ``known``: for a meta model's own forward run
    outside a capture (a decode step's prefill)."""
    def swap(x):
        if isinstance(x, torch.Tensor) and carried(x):
            meta = torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device="meta")
            known.know(meta, x.clone())
            return meta
        return x
    return tree_map(swap, tree)


_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}
_GETITEM, _SETITEM = torch.Tensor.__getitem__, torch.Tensor.__setitem__
_SDPA = torch.nn.functional.scaled_dot_product_attention


class _FromData(TorchFunctionMode):
    """``torch.tensor(data, device=meta)`` and kin: made on the CPU, then a meta
    tensor that holds that value.  Indexing a tensor that holds a value with
    Python data (``ids[:, [-1, 0]]``) too: torch turns the list into an index
    tensor on meta out of sight of any mode, so the value is indexed here, beside
    the meta op."""

    def __init__(self, known: KnownValues):
        super().__init__()
        self.known = known
        # a memory profile's handler of F.scaled_dot_product_attention (profiler.capture.saved.
        # _Fused.call), which then needs no function mode of its own: None where none is following
        self.attention: Callable | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is _GETITEM or func is _SETITEM:
            return self._indexed(func, args, kwargs)
        if func not in _FROM_DATA:
            if func is _SDPA:
                return self._attention(func, args, kwargs)
            return func(*args, **kwargs)
        device = kwargs.get("device")
        if func is torch.Tensor.new_tensor and device is None and args and isinstance(args[0], torch.Tensor):
            device = args[0].device
        if device is None or str(device) != "meta":
            return func(*args, **kwargs)
        data = args[1] if func is torch.Tensor.new_tensor else args[0] if args else None
        if isinstance(data, torch.Tensor):
            return func(*args, **kwargs)       # from a tensor: the dispatch mode sees the copy
        try:
            value = func(*args, **{**kwargs, "device": "cpu"})
        except Exception:
            return func(*args, **kwargs)
        if not isinstance(value, torch.Tensor) or value.numel() > VALUE_LIMIT:
            return func(*args, **kwargs)
        meta = func(*args, **kwargs)
        self.known.know(meta, value)
        return meta

    def _attention(self, func, args, kwargs):
        """F.scaled_dot_product_attention (through a memory profile's handler where one
        is set).  Where none of its tensors holds a value, as in every attention of a
        model (queries come from weights), its ops compute no values: its output can
        hold none, and its decomposition's causal mask, made from nothing and so
        given a value (an L x L one at 2,048 tokens is 4M elements, the largest value
        carried: 2 ms a layer), dies inside it."""
        known = self.known
        call = self.attention or func
        if known.paused or any(known.value(t) is not None or (isinstance(t, torch.Tensor) and not t.is_meta)
                               for t in (*args, *kwargs.values())):
            return call(*args, **kwargs) if call is func else call(func, args, kwargs)
        known.paused = True
        try:
            return call(*args, **kwargs) if call is func else call(func, args, kwargs)
        finally:
            known.paused = False

    def _indexed(self, func, args, kwargs):
        target = args[0] if args else None
        value = self.known.value(target)
        if value is None:
            return func(*args, **kwargs)
        index = args[1] if len(args) > 1 else None
        leaves = [x for x in tree_flatten(index)[0] if isinstance(x, torch.Tensor)]
        if any(x.is_meta and self.known.value(x) is None for x in leaves):
            out = func(*args, **kwargs)
            if func is _SETITEM:
                self.known.forget(target)
            return out
        swap = (lambda x: self.known.value(x) if isinstance(x, torch.Tensor) and x.is_meta else x)
        plain = tree_map(swap, index)
        if func is _GETITEM:
            out = func(*args, **kwargs)
            try:
                found = value[plain]
            except Exception:
                return out
            if isinstance(out, torch.Tensor) and out.is_meta and isinstance(found, torch.Tensor) \
                    and found.numel() <= VALUE_LIMIT:
                self.known.know(out, found)
            return out
        given = args[2] if len(args) > 2 else None
        new = self.known.value(given) if isinstance(given, torch.Tensor) and given.is_meta else given
        out = func(*args, **kwargs)
        if isinstance(given, torch.Tensor) and given.is_meta and new is None:
            self.known.forget(target)
            return out
        self.known._settle()   # a thunk may read the target's value as it was
        try:
            value[plain] = new
        except Exception:
            self.known.forget(target)
        else:
            self.known.know(target, value)     # the dispatch level dropped it (an index it could not see)
        return out


def run_forward(model, kwargs: dict, fn: Callable[..., Any] | None = None):
    """``fn(**kwargs)`` (default: the model's own forward) under no_grad and in eval
    mode (the modes restored); on a meta model, under a meta replay that lets meta
    MoE experts run (torch._grouped_mm) and carries the values of the small real
    inputs.  The runner that profiler.models.hf's input rules are given, to make
    inputs from the model's own outputs (a KV cache, a tower's feature count)."""
    fn = fn or model
    replay = contextlib.nullcontext()
    if all(t.device.type == "meta" for t in model.parameters()):
        known = KnownValues(MetaReplay())
        kwargs = with_values(kwargs, known)

        class _Replay(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kw=None):
                return known(func, args, kw or {})
        replay = _Replay()
        functions = known.functions()
    else:
        functions = contextlib.nullcontext()
    with eval_state(model), functions, replay:
        return fn(**kwargs)
