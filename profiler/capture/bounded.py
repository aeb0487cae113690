"""torchvision's detection models on shapes: the data-dependent steps answered
by one stated assumption, so the count is deterministic and needs no real tensors.

A detection forward decides sizes from values: which anchors pass a score test
(``nonzero``), which boxes NMS keeps, which FPN level pools each box, how large a
box is when its mask is pasted or its keypoint heatmaps are resized
(``.item()``).  On random weights and one image those decisions depend on float
rounding, so a real forward's count changes with the thread count and the
machine.  ``detections="bound"`` (the default) runs the forward on the meta
device instead, with every such decision fixed by the assumption ``ASSUMPTION``:

* every candidate passes its score and size tests: ``nonzero`` of a mask the
  data decides lists every element (a boolean index or ``masked_select`` takes
  every element), so the model's own caps set the sizes:
  ``rpn_pre_nms_top_n_test``, ``rpn_post_nms_top_n_test``, ``topk_candidates``,
  ``box_detections_per_img`` / ``detections_per_img``;
* NMS keeps every box, in the order given (``torchvision::nms`` returns
  0..N-1); its cost is counted at its worst case, all pairs, as always.
  torchvision's batched NMS runs one NMS per class above 1,000 boxes on the CPU
  and above 25,000 elsewhere (meta included), one NMS over every class's boxes
  below; so on shapes an RPN's 4,663 proposals are one NMS of 4,663 boxes where a
  real CPU forward runs one per FPN level, a larger all-pairs count;
* every box whose size matters covers the whole (resized) image: the boxes
  given to a ``MultiScaleRoIAlign`` (proposals, detections) are decided to be
  (0, 0, width, height), so they are pooled from the coarsest FPN level (the
  cost of RoIAlign does not depend on the level) and masks are pasted and
  keypoint heatmaps resized at the size of the image;
* a tensor of labels or levels the data decides is constant: asked for its
  distinct values (``unique``) it holds one, 0; compared with ``==`` it holds the
  value it is first compared with (all boxes in one class, one level).

Everything else is computed, not assumed: a tensor whose values follow from
the shapes and from those decisions (``arange`` labels, anchors' indices, the
boxes above after resizing) is carried along as a small real CPU *value* next to
its meta tensor, so ``nonzero``, ``unique``, ``.item()`` and boolean indexing of
it give what the real op gives.  A value the data decides that no rule covers
(``.item()`` of a score, say) stops the profile with an error naming the line;
``detections="real"`` then runs the forward on real CPU tensors, as before.

The counts are an upper bound for one image: a real image on trained weights
keeps fewer proposals and detections.  They are the same at any thread count,
on any machine, in every run.

Two modes do it, both entered around one forward and left after it; nothing is
patched.  A TorchFunctionMode (``_Values``) carries the values: it sees every
torch call before the dispatcher (and before the profiler's replay of repeated
meta ops, which skips kernels), computes an output's value from its inputs'
values, and forgets a value when its tensor is written with data it does not
know.  A TorchDispatchMode (``_Answers``) sits below the profiler's counting
mode and answers the ops the meta device cannot run (``nonzero``, ``nms``,
``unique``, ``_local_scalar_dense``, boolean indexing) from the values, making
the assumption's decisions where there is none; the counting mode above it sees
each op with its answer, so NMS is counted on the boxes it was given.  Forward
pre-hooks on the model's ``MultiScaleRoIAlign`` modules decide the boxes.
"""
from __future__ import annotations

import contextlib
import sys
import weakref
from typing import Any, Iterator

import numpy
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

from profiler.capture.record import tensor_leaves
from profiler.errors import ProfilerError

BOUND, REAL = "bound", "real"
DETECTIONS = (BOUND, REAL)

ASSUMPTION = ("every candidate passes its score and size tests, NMS keeps every box, every box covers "
              "the whole image, labels and FPN levels the data decides are constant")
# the report's note for each way a detection forward runs: one line
BOUND_NOTE = ("detections bound: every candidate passes, NMS keeps every box, boxes cover the image "
              "(the model's caps set the sizes)")
REAL_NOTE = ("detections real: one random image; the count varies with the image, the weights and the "
             "thread count")

# values are carried for integer and boolean tensors up to this many elements (labels,
# indices, masks), and for floating ones up to the smaller cap (boxes and their sizes);
# a larger tensor (a feature map, an image canvas) is left without one
INT_CAP = 1 << 21
FLOAT_CAP = 1 << 16

_META = torch.device("meta")
_NUMPY_NONZERO = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32,
                  torch.float64)
# integer dtypes NumPy compares exactly as torch does (floats are left to torch: its
# promotion of a float32 tensor against a Python float differs from NumPy's)
_NUMPY_EXACT = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_aten = torch.ops.aten


def check_detections(detections: Any) -> str:
    """``detections`` is "bound" or "real" (one-line error otherwise)."""
    if not isinstance(detections, str) or detections not in DETECTIONS:
        raise ProfilerError(f"detections={detections!r}: expected 'bound' (the default: an upper bound on "
                            "shapes, the same on every machine) or 'real' (one real forward on CPU tensors)")
    return detections


def is_detection_model(model: nn.Module) -> bool:
    """A torchvision detection model (R-CNN family, RetinaNet, FCOS, SSD, SSDlite),
    or a subclass of one."""
    global _DETECTION_CLASSES
    if _DETECTION_CLASSES is None:
        if "torchvision" not in sys.modules:
            return False
        from torchvision.models.detection.fcos import FCOS
        from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
        from torchvision.models.detection.retinanet import RetinaNet
        from torchvision.models.detection.ssd import SSD
        _DETECTION_CLASSES = (GeneralizedRCNN, RetinaNet, FCOS, SSD)
    return isinstance(model, _DETECTION_CLASSES)


_DETECTION_CLASSES: tuple[type, ...] | None = None   # imported once torchvision is


class UnstatedValue(RuntimeError):
    """The forward read a value the data decides that no stated rule covers."""


# --- values -------------------------------------------------------------------


class _Store:
    """The known values of meta tensors: a CPU tensor per meta tensor, found by
    identity (weak references, so a value dies with its tensor), and the tensors
    sharing a storage, so a write through one forgets the others' values too."""

    def __init__(self):
        self._values: dict[int, tuple[weakref.ref, torch.Tensor]] = {}
        self._by_storage: dict[Any, list[weakref.ref]] = {}
        self._sets = 0

    def get(self, t: torch.Tensor) -> torch.Tensor | None:
        entry = self._values.get(id(t))
        if entry is None or entry[0]() is not t:
            return None
        return entry[1]

    def set(self, t: torch.Tensor, value: torch.Tensor) -> None:
        ref = weakref.ref(t)
        self._values[id(t)] = (ref, value)
        self._by_storage.setdefault(_storage(t), []).append(ref)
        self._sets += 1
        if self._sets % 4096 == 0:
            self._sweep()

    def forget(self, t: torch.Tensor) -> None:
        """``t``'s value and those of every live tensor that shares its storage."""
        self._drop(t)
        for ref in self._by_storage.pop(_storage(t), ()):
            other = ref()
            if other is not None:
                self._drop(other)

    def _drop(self, t: torch.Tensor) -> None:
        entry = self._values.get(id(t))
        if entry is not None and entry[0]() is t:
            del self._values[id(t)]

    def _sweep(self) -> None:
        """Entries of tensors that are gone."""
        self._values = {k: v for k, v in self._values.items() if v[0]() is not None}
        self._by_storage = {k: live for k, refs in self._by_storage.items()
                            if (live := [r for r in refs if r() is not None])}

    def clear(self) -> None:
        self._values.clear()
        self._by_storage.clear()


def _storage(t: torch.Tensor) -> Any:
    try:
        return t.untyped_storage()._cdata
    except Exception:
        return ("tensor", id(t))


def _cap(t: torch.Tensor) -> int:
    return FLOAT_CAP if (t.is_floating_point() or t.is_complex()) else INT_CAP


def _meta_like(value: torch.Tensor) -> torch.Tensor:
    return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device=_META)


@contextlib.contextmanager
def _plain() -> Iterator[None]:
    """No dispatch modes (the profiler's counting mode must not see the ops that
    compute values) and no torch-function modes."""
    with _disable_current_modes(), torch._C.DisableTorchFunction():
        yield


def _site() -> str:
    """The first frame outside torch and the profiler: where the forward read the value."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename.replace("\\", "/")
        if "/torch/" not in path and "/profiler/" not in path:
            return f"{path.rsplit('/', 1)[-1]}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "an unknown line"


# --- the decisions of the assumption -----------------------------------------


class _Decisions:
    """What the assumption decides about a meta tensor the data decides, and the
    values it carries (``store``); shared by the two modes."""

    def __init__(self):
        self.store = _Store()

    def value(self, t: Any) -> Any:
        """The CPU value standing for ``t``: itself when it is not a meta tensor."""
        if isinstance(t, torch.Tensor) and t.is_meta:
            return self.store.get(t)
        return t

    def known(self, t: Any) -> bool:
        return self.value(t) is not None

    def decide(self, t: torch.Tensor, fill) -> torch.Tensor:
        """Give the unknown meta tensor ``t`` the value ``fill`` everywhere."""
        with _plain():
            value = torch.full(t.shape, fill, dtype=t.dtype)
        self.store.set(t, value)
        return value

    def nonzero_value(self, t: torch.Tensor) -> torch.Tensor:
        """``t``'s value, deciding an unknown ``t`` to be nonzero everywhere (every
        candidate passes its test)."""
        value = self.value(t)
        return value if value is not None else self.decide(t, True)

    def labels_value(self, t: torch.Tensor) -> torch.Tensor:
        """``t``'s value, deciding an unknown ``t`` to be constant 0 (one label)."""
        value = self.value(t)
        return value if value is not None else self.decide(t, 0)

    def mirror(self, value: Any) -> Any:
        """Meta tensors standing for the CPU tensors in ``value``, with those values."""
        if isinstance(value, torch.Tensor):
            meta = _meta_like(value)
            self.store.set(meta, value)
            return meta
        if isinstance(value, (tuple, list)):
            return type(value)(self.mirror(v) for v in value)
        return value

    def whole_image_boxes(self, boxes: list, image_shapes: list) -> None:
        """Decide the boxes of each image (a meta N×4 tensor) to cover the image:
        (0, 0, width, height)."""
        for per_image, shape in zip(boxes, image_shapes):
            if not (isinstance(per_image, torch.Tensor) and per_image.is_meta) or self.known(per_image):
                continue
            if per_image.dim() != 2 or per_image.shape[-1] != 4:
                continue
            height, width = (int(s) for s in shape)
            with _plain():
                value = torch.tensor([0.0, 0.0, float(width), float(height)], dtype=per_image.dtype)
                value = value.expand(per_image.shape[0], 4).contiguous()
            self.store.set(per_image, value)


# --- the dispatch mode: answers on meta ----------------------------------------

_RESAMPLE = (_aten.upsample_bicubic2d.default, _aten.upsample_bilinear2d.default)


def _nonzero(value: torch.Tensor) -> torch.Tensor:
    """``value.nonzero()``, computed by NumPy on one thread: torch's CPU kernel splits
    a mask of more than 32,768 elements over its threads, and on a busy machine a
    parallel region of a few microseconds waits milliseconds for a core (the
    per-class NMS loop asks for 90 of them)."""
    with _plain():
        if value.dtype in _NUMPY_NONZERO and value.dim() > 0:
            return torch.from_numpy(numpy.stack(numpy.nonzero(value.numpy()), axis=1).astype("int64"))
        return value.nonzero()


def _bool_indices(decisions: _Decisions, indices) -> list | None:
    """Boolean (or uint8) masks among ``indices`` replaced by the long indices of
    their nonzero elements (meta tensors with values), as aten does; None when
    there is no mask."""
    if not any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices):
        return None
    out = []
    for index in indices:
        if isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8):
            value = decisions.nonzero_value(index) if index.is_meta else index
            with _plain():
                columns = _nonzero(value).unbind(1)
            out.extend(decisions.mirror(c.contiguous()) if index.is_meta else c for c in columns)
        else:
            out.append(index)
    return out


class _Answers(TorchDispatchMode):
    """Answers, on meta tensors, the ops whose output depends on the data; entered
    below the profiler's counting mode, which sees each op with its answer."""

    def __init__(self, decisions: _Decisions):
        super().__init__()
        self.d = decisions
        self._resampled: dict[tuple, tuple] = {}
        self._handlers = {
            _aten.nonzero.default: self._nonzero,
            _aten._local_scalar_dense.default: self._scalar,
            _aten.index.Tensor: self._index,
            _aten.index_put.default: self._index_put,
            _aten.index_put_.default: self._index_put,
            _aten._index_put_impl_.default: self._index_put,
            _aten.masked_select.default: self._masked_select,
            _aten._unique2.default: self._unique,
            _aten.unique_dim.default: self._unique,
            _aten.unique_consecutive.default: self._unique,
            _aten.unique_dim_consecutive.default: self._unique,
        }
        nms = getattr(getattr(torch.ops, "torchvision", None), "nms", None)
        if nms is not None:
            self._handlers[nms.default] = self._nms

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False   # as the counting mode: no torch._dynamo wrapper around every op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = self._handlers.get(func)
        if handler is not None and any(t.is_meta for t in tensor_leaves((args, kwargs))):
            return handler(func, args, kwargs)
        if func in _RESAMPLE and not kwargs and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return self._resample(func, args)
        out = func(*args, **kwargs)
        if func.is_view and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            self._view(func, args, kwargs, out)
        return out

    def _view(self, func, args, kwargs, out) -> None:
        """A view of a tensor with a value gets the same view of the value (cheap, and
        torch.where's unbind then needs no second nonzero above)."""
        value = self.d.value(args[0])
        if value is None:
            return
        try:
            with _plain():
                views = func(value, *args[1:], **kwargs)
        except Exception:
            return
        for meta, view in zip(tensor_leaves(out), tensor_leaves(views)):
            if meta.is_meta and view.shape == meta.shape and not self.d.known(meta):
                self.d.store.set(meta, view)

    def _resample(self, func, args):
        """Bicubic and bilinear resizing on meta, its output remembered by everything
        but the input's storage offset (the keypoint head resizes 17 heatmaps per
        box, each a slice of one tensor, so the counting mode's replay, which keys
        on the offset, misses; the bicubic meta kernel is a Python decomposition of
        about 100 ms)."""
        x = args[0]
        key = (func, tuple(x.shape), x.stride(), x.dtype,
               tuple(tuple(a) if isinstance(a, (list, tuple)) else a for a in args[1:]))
        spec = self._resampled.get(key)
        if spec is None:
            out = func(*args)
            self._resampled[key] = (tuple(out.shape), out.stride(), out.dtype)
            return out
        return torch.empty_strided(spec[0], spec[1], dtype=spec[2], device=_META)

    def _nonzero(self, func, args, kwargs):
        return self.d.mirror(_nonzero(self.d.nonzero_value(args[0])))

    def _scalar(self, func, args, kwargs):
        value = self.d.value(args[0])
        if value is None:
            raise UnstatedValue(f"detections='bound': {_site()} reads a value the data decides (a "
                                f"{'x'.join(map(str, args[0].shape)) or 'scalar'} {str(args[0].dtype)[6:]} "
                                "tensor) that no stated assumption covers; profile with detections='real'")
        with _plain():
            return value.item()

    def _index(self, func, args, kwargs):
        x, indices = args[0], args[1]
        converted = _bool_indices(self.d, indices)
        return func(x, converted, **kwargs) if converted is not None else func(*args, **kwargs)

    def _index_put(self, func, args, kwargs):
        converted = _bool_indices(self.d, args[1])
        if converted is None:
            return func(*args, **kwargs)
        return func(args[0], converted, *args[2:], **kwargs)

    def _masked_select(self, func, args, kwargs):
        x, mask = args[0], args[1]
        value = self.d.nonzero_value(mask) if mask.is_meta else mask
        with _plain():
            count = int(value.expand(torch.broadcast_shapes(x.shape, mask.shape)).count_nonzero())
        return torch.empty((count,), dtype=x.dtype, device=_META)

    def _unique(self, func, args, kwargs):
        value = self.d.labels_value(args[0])
        with _plain():
            found = func(value, *args[1:], **kwargs)
        return self.d.mirror(found)

    def _nms(self, func, args, kwargs):
        boxes, scores = args[0], args[1]
        torch._check(boxes.dim() == 2 and boxes.shape[-1] == 4 and scores.dim() == 1
                     and scores.shape[0] == boxes.shape[0], lambda: "nms: boxes must be N×4 and scores N")
        with _plain():
            kept = torch.arange(boxes.shape[0], dtype=torch.long)
        return self.d.mirror(kept)


# --- the function mode: values carried along ----------------------------------

_UNSEEDED = frozenset((
    "empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided", "rand", "rand_like", "randn",
    "randn_like", "randint", "randint_like", "randperm", "bernoulli", "multinomial", "normal", "poisson",
    "uniform_", "normal_", "random_", "exponential_", "geometric_", "cauchy_", "log_normal_", "bernoulli_",
    "dropout", "dropout_", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "rrelu",
    "tolist", "item", "__bool__", "__int__", "__float__", "__index__", "__len__", "numel", "dim", "size",
    "data_ptr", "element_size", "__repr__", "__format__", "__str__", "__get__", "stride", "is_floating_point"))
# arguments whose metadata alone (shape, dtype) these use, not their values: by position
_SHAPE_ONLY = {**{name: 0 for name in ("zeros_like", "ones_like", "full_like", "new_zeros", "new_ones",
                                       "new_full", "new_tensor")},
               **{name: 1 for name in ("expand_as", "view_as", "reshape_as", "type_as", "to")}}
_EQ = frozenset(("__eq__", "eq"))
_INPLACE_DUNDERS = frozenset(f"__i{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                                      "and", "or", "xor", "lshift", "rshift", "matmul"))


_COMPARISONS = {**{f"__{op}__": op for op in ("eq", "ne", "lt", "le", "gt", "ge")},
                **{op: op for op in ("eq", "ne", "lt", "le", "gt", "ge")}}
_NUMPY_COMPARE = {"eq": numpy.equal, "ne": numpy.not_equal, "lt": numpy.less, "le": numpy.less_equal,
                  "gt": numpy.greater, "ge": numpy.greater_equal}


def _compare(op: str, a: Any, b: Any) -> torch.Tensor | None:
    """``a op b`` for a CPU tensor and a CPU tensor or Python number, by NumPy on
    one thread (torch splits a comparison of more than 32,768 elements over its
    threads, which on a busy machine costs milliseconds: the per-class NMS loop
    compares every box's label with each class); None where NumPy would not give
    torch's answer (other dtypes, a tensor on the right of a number)."""
    if not isinstance(a, torch.Tensor) or a.dtype not in _NUMPY_EXACT:
        return None
    if isinstance(b, torch.Tensor):
        if b.dtype not in _NUMPY_EXACT or (b.dtype.is_floating_point != a.dtype.is_floating_point):
            return None
        with _plain():
            b = b.numpy()
    elif isinstance(b, bool) or not isinstance(b, int) or a.dtype.is_floating_point:
        return None
    try:
        with _plain():
            return torch.from_numpy(numpy.asarray(_NUMPY_COMPARE[op](a.numpy(), b)))
    except Exception:   # a number NumPy will not compare with this dtype: torch will
        return None


def _name(func) -> str:
    return getattr(func, "__name__", "") or ""


def _on_cpu(x: Any) -> Any:
    if isinstance(x, torch.device) and x.type == "meta":
        return torch.device("cpu")
    if isinstance(x, str) and x == "meta":
        return "cpu"
    return x


class _Values(TorchFunctionMode):
    """Carries values along the forward: after each torch call whose meta tensor
    arguments all have values (or that makes new tensors from sizes), computes
    the outputs' values on the CPU; forgets a value when its tensor is written
    with data it does not know."""

    def __init__(self, decisions: _Decisions):
        super().__init__()
        self.d = decisions

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        if name == "tolist" and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            value = self.d.value(args[0])
            if value is not None:
                with _plain():
                    return value.tolist()
        if name in _EQ and len(args) == 2:
            self._first_comparison(*args)
        out = func(*args, **kwargs)
        if name in _UNSEEDED:
            return out
        try:
            self._carry(func, name, args, kwargs, out)
        except Exception:
            # a value that cannot be computed is not known: the assumption then decides
            for t in tensor_leaves(out):
                if t.is_meta:
                    self.d.store.forget(t)
        return out

    def _first_comparison(self, a, b) -> None:
        """``t == v`` with ``t`` an integer tensor the data decides and ``v`` known:
        ``t`` holds ``v`` everywhere (the first value it is compared with)."""
        for unknown, other in ((a, b), (b, a)):
            if not (isinstance(unknown, torch.Tensor) and unknown.is_meta and not unknown.is_floating_point()
                    and unknown.dtype != torch.bool and not self.d.known(unknown)):
                continue
            value = self.d.value(other) if isinstance(other, torch.Tensor) else other
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    continue
                with _plain():
                    value = value.item()
            if isinstance(value, (int, bool)):
                self.d.decide(unknown, value)
            return

    def _carry(self, func, name, args, kwargs, out) -> None:
        inputs = [t for t in tensor_leaves((args, kwargs)) if t.is_meta]
        written = self._written(func, name, args, kwargs, out)
        if written is not None:
            if not all(self.d.known(t) for t in inputs):
                self.d.store.forget(written)
                return
            try:
                self._compute(func, name, args, kwargs)   # known data written: the same write on the values
            except Exception:
                self.d.store.forget(written)
            return
        donor = self._shape_only(name, args)
        if donor is not None:
            inputs = [t for t in inputs if t is not donor]   # only its metadata matters
        if not all(self.d.known(t) for t in inputs):
            return
        metas = tensor_leaves(out)
        if not any(t.is_meta and not self.d.known(t) for t in metas) \
                or any(t.is_meta and t.numel() > _cap(t) for t in metas):
            return
        values = tensor_leaves(self._compute(func, name, args, kwargs))
        if len(metas) != len(values):
            return
        for meta, value in zip(metas, values):
            if meta.is_meta and not self.d.known(meta) and not value.is_meta and value.shape == meta.shape \
                    and value.dtype == meta.dtype:
                self.d.store.set(meta, value)

    @staticmethod
    def _written(func, name, args, kwargs, out) -> torch.Tensor | None:
        """The meta tensor this call writes in place, if any."""
        target = None
        if "out" in kwargs:
            target = kwargs["out"]
        elif name == "__setitem__" or name in _INPLACE_DUNDERS or (name.endswith("_") and not name.startswith("_")) \
                or kwargs.get("inplace") is True:
            target = args[0] if args else None
        return target if isinstance(target, torch.Tensor) and target.is_meta else None

    def _shape_only(self, name, args) -> torch.Tensor | None:
        """The argument of this call whose metadata alone it uses, when it is a meta
        tensor without a value (``scores`` in ``labels.expand_as(scores)``)."""
        position = _SHAPE_ONLY.get(name)
        if position is None or len(args) <= position:
            return None
        donor = args[position]
        if isinstance(donor, torch.Tensor) and donor.is_meta and not self.d.known(donor):
            return donor
        return None

    def _compute(self, func, name, args, kwargs):
        if name in _COMPARISONS and len(args) == 2 and not kwargs:
            found = _compare(_COMPARISONS[name], self.d.value(args[0]), self.d.value(args[1]))
            if found is not None:
                return found
        donor = self._shape_only(name, args)

        def value_of(x):
            if isinstance(x, torch.Tensor):
                if x.is_meta:
                    if x is donor:   # uninitialised data of the same metadata
                        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype)
                    return self.d.value(x)
                return x
            if isinstance(x, (list, tuple)) and not isinstance(x, torch.Size):
                items = [value_of(v) for v in x]
                return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
            if isinstance(x, dict):
                return {k: value_of(v) for k, v in x.items()}
            return _on_cpu(x)

        with _plain():
            return func(*value_of(args), **value_of(kwargs))


# --- the whole thing ----------------------------------------------------------


@contextlib.contextmanager
def bounded(model: nn.Module) -> Iterator[_Decisions]:
    """Around one shapes-only forward of a detection model (entered outside the
    profiler's capture, so its counting mode sits above ``_Answers``): the
    data-dependent steps answered by ``ASSUMPTION``.  Nothing outside the model's
    own hooks, removed on exit, and the two modes is touched.  Yields the
    decisions, whose ``value(t)`` is the value a meta tensor carries (tests)."""
    decisions = _Decisions()
    handles = []
    try:
        from torchvision.ops import MultiScaleRoIAlign
    except ImportError:   # no torchvision: no RoI pooling to decide boxes for
        MultiScaleRoIAlign = ()

    def decide_boxes(module, args, kwargs):
        boxes = args[1] if len(args) > 1 else kwargs.get("boxes")
        shapes = args[2] if len(args) > 2 else kwargs.get("image_shapes")
        if isinstance(boxes, (list, tuple)) and isinstance(shapes, (list, tuple)):
            decisions.whole_image_boxes(list(boxes), list(shapes))

    try:
        for module in model.modules():
            if MultiScaleRoIAlign and isinstance(module, MultiScaleRoIAlign):
                handles.append(module.register_forward_pre_hook(decide_boxes, with_kwargs=True))
        with _Answers(decisions), _Values(decisions):
            yield decisions
    finally:
        for handle in handles:
            handle.remove()
        decisions.store.clear()
