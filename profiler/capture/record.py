"""One forward pass with every module's calls recorded and a dispatch mode below them.

Each module's calls are recorded with their input and output shapes (call by call:
a module run twice gives two records), by a stand-in ``forward`` bound on the
module for the one forward pass, which records and calls the module's own.  (Hooks
did this first, but a module with hooks takes torch's slow call path, and
registering and removing two hooks per module cost as much again: together a
quarter of a ResNet-50 profile.)  The stand-in runs inside the module call, after
any forward pre-hooks (a lazy module's shape inference, the user's own) and before
the forward hooks.  A TorchDispatchMode sees every aten
op and charges it to the innermost running module, unless an enclosing module has
an analytic formula, which then accounts for everything inside it.  Matmul-family
and softmax ops in a module without a formula also leave marks on its call, from
which profiler.count.kinds names the row's kind.  In a meta forward with nothing
else to see its ops, a stock leaf module (a Conv2d, a BatchNorm2d in eval mode, a
ReLU, a Linear...) is answered from shapes instead of run (profiler.capture.leaves):
its formula counts it, and its output's metadata is all its forward gave.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from profiler.formulas.cost import ZERO, Cost, Shape
from profiler.formulas import find_aten_formula, find_module_formula
from profiler.formulas.forward.activation import softmax_module
from profiler.formulas.forward.zero import ZERO_COST_OPS
from profiler.formulas.registry import AtenFormula, ModuleFormula
from profiler.capture.marks import ACT_MATMUL, PARAM_MATMUL, SOFTMAX, advance, op_mark, storage_key
from profiler.capture.known import KnownValues
from profiler.capture.metacache import MetaReplay
from profiler.capture.leaves import QUICK
from profiler.capture import autograd


def _as_shape(x: Any) -> Any:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else x


def _as_shapes(tree: Any) -> Any:
    """tree_map(_as_shape, tree).  An op's arguments are tensors, scalars and plain
    lists or tuples of them, which this maps directly: pytree's flatten and
    unflatten cost more than the op's formula.  Other containers go to pytree."""
    cls = type(tree)
    if cls is tuple or cls is list:
        return cls([_as_shapes(x) for x in tree])
    if isinstance(tree, torch.Tensor):
        return tuple(tree.shape)
    if cls is dict:
        return {k: _as_shapes(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list, dict)):  # torch.Size, namedtuples, OrderedDict...
        return tree_map(_as_shape, tree)
    return tree


def tensor_leaves(tree: Any, found: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """The tensors among tree_leaves(tree), in order.  Hook arguments and op arguments
    are tensors and plain tuples, lists and dicts of them, walked directly: pytree's
    flatten costs more than the hook or the op's formula (see _as_shapes)."""
    found = [] if found is None else found
    cls = type(tree)
    if cls is tuple or cls is list:
        for x in tree:
            tensor_leaves(x, found)
    elif isinstance(tree, torch.Tensor):
        found.append(tree)
    elif cls is dict:
        for x in tree.values():
            tensor_leaves(x, found)
    elif isinstance(tree, (tuple, list, dict)):
        found.extend(t for t in tree_leaves(tree) if isinstance(t, torch.Tensor))
    return found


_PLAIN_TYPES: dict[type, bool] = {}   # tensor class: whether torch function handling leaves it as it is


def _sizes(tensors: list[torch.Tensor]) -> tuple[tuple[Shape, ...], int, int]:
    """(shapes, elements, bytes) of ``tensors``.  Read with torch function handling
    off when every tensor is a plain one (whose ``shape``, ``numel`` and
    ``element_size`` no ``__torch_function__`` of its class answers): a function
    mode (profiler.capture.known's) otherwise takes each of those calls, three per
    tensor of every module call, most of the mode's calls in a forward."""
    for t in tensors:
        cls = type(t)
        plain = _PLAIN_TYPES.get(cls)
        if plain is None:
            plain = _PLAIN_TYPES[cls] = (cls is torch.Tensor
                                          or cls.__torch_function__ is torch._C._disabled_torch_function_impl)
        if not plain:
            break
    else:
        with torch._C.DisableTorchFunction():
            return _read_sizes(tensors)
    return _read_sizes(tensors)


def _read_sizes(tensors: list[torch.Tensor] | tuple) -> tuple[tuple[Shape, ...], int, int]:
    if len(tensors) == 1:   # most calls
        t = tensors[0]
        n = t.numel()
        return (tuple(t.shape),), n, n * t.element_size()
    sizes = [t.numel() for t in tensors]
    return (tuple([tuple(t.shape) for t in tensors]), sum(sizes),
            sum([n * t.element_size() for n, t in zip(sizes, tensors)]))


def grads_of(tree: Any) -> tuple[bool, ...]:
    """Per tensor leaf: whether autograd will want its gradient."""
    on = torch.is_grad_enabled()
    return tuple(on and t.requires_grad for t in tensor_leaves(tree))


@dataclass
class OpRecord:
    """One functional op as the backward formulas read it (training profiles only):
    tensors as shapes; ``needs[i]``: whether positional argument i holds a tensor
    that requires grad."""

    func: Any
    out: Any
    args: tuple
    kwargs: dict
    needs: tuple[bool, ...]


def _record(func, out, args, kwargs) -> OpRecord:
    needs = tuple(any(grads_of(a)) for a in args)
    return OpRecord(func, tree_map(_as_shape, out), tree_map(_as_shape, args),
                    tree_map(_as_shape, kwargs), needs)


class CallRecord:
    """One call of one module, as the hooks and the dispatch mode saw it.

    A plain slotted class, not a dataclass with Counter fields: one is made per
    module call, and three Counters each took longer than the rest of the hook."""

    __slots__ = ("name", "module", "depth", "formula", "absorbed", "counts_inside", "inputs", "outputs",
                 "kwargs", "out_elems", "out_bytes", "in_bytes", "ops", "uncounted_ops", "op_cost",
                 "op_kind_flops", "op_elems", "op_bytes", "op_in_bytes", "input_grads", "op_records",
                 "pattern", "finished", "grad_on", "custom_bwd", "custom_missing", "custom_error", "twin",
                 "episode", "ran")

    def __init__(self, name: str, module: nn.Module, depth: int, formula: ModuleFormula | None,
                 absorbed: bool, inputs: tuple[Shape, ...] = (), kwargs: dict[str, Any] | None = None,
                 in_bytes: int = 0, input_grads: tuple[bool, ...] = ()):
        self.name = name
        self.module = module
        self.depth = depth
        self.formula = formula
        self.absorbed = absorbed                # inside a module whose formula counts it
        # this call's formula (or an ancestor's) accounts for all ops below it
        self.counts_inside = absorbed or formula is not None
        self.inputs = inputs
        self.outputs: tuple[Shape, ...] = ()
        self.kwargs = {} if kwargs is None else kwargs
        self.out_elems = 0
        self.out_bytes = 0
        self.in_bytes = in_bytes                # bytes of the tensors the call was given
        self.ops: dict[str, int] = {}           # counted functional ops, by aten name
        self.uncounted_ops: dict[str, int] = {}  # ops with no formula
        self.op_cost: Cost = ZERO
        self.op_kind_flops: dict[str, int] = {}
        self.op_elems = 0
        self.op_bytes = 0
        self.op_in_bytes = 0                    # bytes of the tensors the counted functional ops read
        self.input_grads = input_grads          # per input tensor: requires grad (training profiles)
        self.op_records: list[OpRecord] = []    # every functional op (training profiles)
        self.pattern = ""                       # its progress along the attention pattern (profiler.count.kinds)
        self.finished = False
        # training profiles (profiler.capture.autograd): whether autograd recorded the call (grad
        # on); the backward of the custom Functions it made, as their backward ran: cost, ops with
        # no formula, or the error that stopped it; the recompute call that repeats it (activation
        # checkpointing), and for a recompute call, the rerun it belongs to
        self.grad_on = True
        self.custom_bwd: Cost = ZERO
        self.custom_missing: dict[str, int] = {}
        self.custom_error = ""
        self.twin: CallRecord | None = None
        self.episode: int | None = None
        self.ran = False   # a recompute call inside a formula module's: some counted op ran in it

    def __repr__(self) -> str:
        return f"CallRecord({self.name!r}, {type(self.module).__name__}, inputs={self.inputs})"


_UNSEEN = object()
_NONE = object()   # a module with no forward of its own in its __dict__


class _OpCounter(TorchDispatchMode):
    """Charges each aten op to the innermost module call on the stack."""

    # no dispatch key, as TorchDispatchMode's default: read by its enter as an attribute that
    # exists (a lookup that misses raises inside hasattr, once a profile)
    _dispatch_key = None

    def __init__(self, stack: list[CallRecord], record: bool = False, model: nn.Module | None = None,
                 known: KnownValues | None = None):
        super().__init__()
        self.stack = stack
        self.record = record  # keep each op's shapes for the backward formulas
        self.model = model
        self._resolved: dict[Any, AtenFormula | str | None] = {}
        self._marks: dict[Any, str | None] = {}  # per op: its profiler.count.kinds mark, or None
        self._param_keys: set | None = None  # storages of the model's parameters, on the first matmul
        self._run = MetaReplay()  # repeated meta ops skip their slow Python kernels
        self.sink: CallRecord | None = None  # the bottom of the stack while the backward replays
        self.raised = 0       # ops that raised, whether or not the forward caught the error
        self.engine_ops = 0   # ops of autograd's own backward met in the replay (profiler.capture.autograd)
        if known is not None:     # a meta forward carrying the values of small inputs (profiler.capture.known)
            known.run, self._run = self._run, known

    def _resolve(self, func) -> AtenFormula | str | None:
        """The op's formula, "zero" for a data-movement op, or None if uncounted."""
        if func not in self._resolved:
            packet = func.overloadpacket
            found = find_aten_formula(packet)
            if found is None and (func.is_view or packet.__name__ in ZERO_COST_OPS):
                found = "zero"
            self._resolved[func] = found
            self._marks[func] = op_mark(packet.__name__, found.kind) if isinstance(found, AtenFormula) else None
        return self._resolved[func]

    def _mark(self, call: CallRecord, func, kind: str, args: tuple, kwargs: dict) -> str:
        """Leave the op's mark on ``call`` (profiler.count.kinds); the kind its FLOPs count
        under: "linear" for a matmul against one of the module's own parameters."""
        mark = self._marks[func]
        if mark is None:
            return kind
        if mark == ACT_MATMUL:
            keys = {storage_key(t) for t in tensor_leaves((args, kwargs))}
            own = call.module._parameters
            if own and any(p is not None and storage_key(p) in keys for p in own.values()):
                return "linear"
            if self._param_keys is None:
                self._param_keys = ({storage_key(p) for p in self.model.parameters()}
                                    if self.model is not None else set())
            mark = PARAM_MATMUL if keys & self._param_keys else ACT_MATMUL
        call.pattern = advance(call.pattern, mark)
        return kind

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode wraps a subclass's __torch_dispatch__ in torch._dynamo's
        # disable() unless this says no: a wrapper around every aten op (and the
        # import of torch._dynamo on the first one) for a mode that never runs
        # under torch.compile
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            out = self._run(func, args, kwargs)
        except Exception:
            self.raised += 1   # the forward may catch it (a value read without values: see Capture.values_off)
            raise
        stack = self.stack
        if not stack:
            return out
        call = stack[-1]
        if call.counts_inside:  # most ops: a formula module above counts them
            if self.sink is not None and not call.ran and isinstance(self._resolve(func), AtenFormula):
                for above in reversed(stack):   # a rerun cut short inside a formula module: did it compute?
                    if not above.counts_inside:
                        break
                    above.ran = True
            return out
        if call is self.sink:
            if not torch.is_grad_enabled():   # the engine's backward: the backward formulas count it
                self.engine_ops += 1
                return out
        elif self.record:
            call.op_records.append(_record(func, out, args, kwargs))
        formula = self._resolved.get(func, _UNSEEN)
        if formula is _UNSEEN:
            formula = self._resolve(func)
        if formula == "zero":
            return out
        name = func.overloadpacket.__name__
        if formula is None:
            call.uncounted_ops[name] = call.uncounted_ops.get(name, 0) + 1
            return out
        if "out" in kwargs:   # an out= overload (old-style spectral_norm's mv): the result is `out`
            kwargs = {k: v for k, v in kwargs.items() if k != "out"}
        cost = formula.fn(_as_shapes(out), *_as_shapes(args), **_as_shapes(kwargs))
        call.ops[name] = call.ops.get(name, 0) + 1
        call.op_cost += cost
        kind = formula.kind
        if kind == "matmul" or kind == "activation":  # matmuls and softmax: evidence for the row's kind
            kind = self._mark(call, func, kind, args, kwargs)
        call.op_kind_flops[kind] = call.op_kind_flops.get(kind, 0) + cost.flops
        for t in tensor_leaves(out):
            n = t.numel()
            call.op_elems += n
            call.op_bytes += n * t.element_size()
        call.op_in_bytes += sum([t.numel() * t.element_size() for t in tensor_leaves((args, kwargs))])
        return out


class Capture:
    """Records every module call of ``model``; use as a context manager around one forward.

    ``calls`` lists the module calls in the order they started.  On an exception
    the unfinished calls left on ``stack`` tell which layer failed.  On exit each
    module's ``__dict__`` is as it was (its own ``forward`` binding, if it had one,
    put back).
    """

    def __init__(self, model: nn.Module, record_ops: bool = False, known: KnownValues | None = None,
                 functions: bool = True, named_modules: list[tuple[str, nn.Module]] | None = None,
                 quick: bool = False):
        self.model = model
        self.record_ops = record_ops  # for training profiles: input grads and per-op shapes
        self.calls: list[CallRecord] = []
        self.stack: list[CallRecord] = []
        # build_rows and api reuse the list; ``named_modules``: the caller's list(model.named_modules())
        self.modules = list(model.named_modules()) if named_modules is None else named_modules
        self._bound: list[tuple[dict, Any]] = []  # (module __dict__, its own forward binding or _NONE)
        self._formulas: dict[type, ModuleFormula | None] = {}  # by module class, for this forward
        self._mode = _OpCounter(self.stack, record_ops, model, known)
        # tensors made from Python data on meta (``torch.tensor(data, device=...)``), which no dispatch
        # mode sees, given their values: a function mode, which takes every torch function of the forward
        # (a sixth of a small profile); ``functions=False`` leaves it out (see session.captured)
        self._functions = known.functions() if known is not None and functions else None
        self.values_off = known is not None and not functions   # that mode was left out
        # training profiles: what the autograd graph runs beyond the formulas (profiler.capture.autograd)
        self.claims = autograd.Claims(self._window) if record_ops else None
        self.hooked = False         # some call ran under saved-tensor hooks (non-reentrant checkpointing)
        self.unpaired: list[CallRecord] = []     # recompute calls with no original found
        self.loose: CallRecord | None = None     # recomputed ops outside any module call
        self._open: dict[Any, tuple[CallRecord, CallRecord]] = {}   # running Function backwards: (window, owner)
        self._ran: set = set()
        # stock leaf modules answered from shapes (profiler.capture.leaves): the caller says the forward
        # is a meta one with no autograd records and no memory trace; ``_quiet`` checks the rest per call
        self._quick = quick and not record_ops
        self._known = known
        self._modes = 1 + (self._functions is not None)   # the capture's own: its dispatch and function modes

    def __enter__(self) -> "Capture":
        try:
            for name, module in self.modules:
                bindings = module.__dict__
                own = bindings.get("forward", _NONE)
                self._bound.append((bindings, own))
                # the class's own forward only: an instance's binding of its own is run as it is
                quick = QUICK.get(type(module)) if self._quick and own is _NONE else None
                bindings["forward"] = self._recording(module, name, name.count(".") + bool(name), quick)
            if self._functions is not None:
                self._functions.__enter__()
            try:
                self._mode.__enter__()
            except BaseException:
                if self._functions is not None:
                    self._functions.__exit__(None, None, None)
                raise
        except BaseException:
            self._unbind()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            try:
                self._mode.__exit__(*exc)
            finally:
                if self._functions is not None:
                    self._functions.__exit__(*exc)
        finally:
            self._unbind()

    def _unbind(self) -> None:
        for bindings, own in self._bound:
            if own is _NONE:
                bindings.pop("forward", None)
            else:
                bindings["forward"] = own
        self._bound.clear()

    def _window(self, node: Any, owner: CallRecord) -> None:
        """Charge the ops of ``node``'s backward (a custom Function's) to ``owner``:
        hooks on the node (of the profile's own graph) push a call for them while
        it runs and add what it counted to ``owner.custom_bwd``."""
        node.register_prehook(lambda grads: self._enter(node, owner))
        node.register_hook(lambda grads_in, grads_out: self._leave(node, owner))

    def _enter(self, node: Any, owner: CallRecord) -> None:
        self._ran.add(node)
        window = CallRecord(owner.name, owner.module, owner.depth, None, False)
        self._open[node] = window, owner
        self.stack.append(window)

    def _leave(self, node: Any, owner: CallRecord) -> None:
        window, _ = self._open.pop(node)
        while self.stack and self.stack.pop() is not window:
            pass
        owner.custom_bwd += window.op_cost
        for op, n in window.uncounted_ops.items():
            owner.custom_missing[op] = owner.custom_missing.get(op, 0) + n

    @property
    def ops_raised(self) -> int:
        """How many ops of the forward raised, the errors the forward caught included."""
        return self._mode.raised

    def replay(self, output: Any, loss: torch.Tensor | None = None) -> None:
        """After the forward of a training profile that made custom Function nodes or
        ran under saved-tensor hooks: run the graph's backward once, counting what it
        runs that the backward formulas cannot see (profiler.capture.autograd).
        ``loss`` (a memory profile, profiler.capture.saved): run it in any case, from this scalar."""
        if self.claims is None or not (self.claims.nodes or self.hooked or loss is not None):
            return
        roots = autograd.roots(output, tensor_leaves) if loss is None else [loss]
        if not roots:
            return
        mode, stack, first = self._mode, self.stack, len(self.calls)
        sink = CallRecord("", self.model, 0, None, False)
        mode.sink, depth = sink, len(stack)
        stack.append(sink)
        try:
            error = autograd.replay(roots)
        finally:
            del stack[depth:]
            mode.sink = None
        for _, owner in self._open.values():   # the backward that raised
            owner.custom_error = error or "its backward did not finish"
        self._open.clear()
        if error:   # the Functions the failed replay never reached: each backward alone
            for node, owner in self.claims.nodes:
                if node in self._ran or autograd.is_reentrant_checkpoint(node) or owner.custom_error:
                    continue
                self._enter(node, owner)
                try:
                    failed = autograd.run_alone(node)
                finally:
                    self._leave(node, owner)
                if failed:
                    owner.custom_error = failed
        recomputed = self.calls[first:]   # the calls the backward reran (paired: ``twin``)
        del self.calls[first:]
        self.unpaired = autograd.pair(self.calls, recomputed)
        self.loose = sink

    def _quiet(self, x: Any) -> bool:
        """Whether a leaf module's output may be made from shapes (profiler.capture.leaves)
        for the input ``x``: a plain meta tensor holding no known value, with only the
        capture's modes active (a mode of the forward's own would see the ops run)."""
        if type(x) is not torch.Tensor or not x.is_meta:
            return False
        known = self._known
        if known and known._has(x):
            return False
        return (torch._C._len_torch_dispatch_stack() + torch._C._len_torch_function_stack()) == self._modes

    def _recording(self, module: nn.Module, name: str, depth: int, quick=None):
        """A ``forward`` for ``module`` that records the call around its own forward.
        ``quick``: the module's output from shapes (profiler.capture.leaves), tried first
        where the capture allows it.  A call that raises stays on the stack (``failed_call``)."""
        inner, stack, calls, record, formulas = module.forward, self.stack, self.calls, self.record_ops, self._formulas

        def forward(*args, **kwargs):
            cls = type(module)
            formula = formulas[cls] if cls in formulas else formulas.setdefault(cls, find_module_formula(module))
            # a formula module counts every op inside it: made from shapes, its output is all it gave
            if quick is not None and formula is not None and len(args) == 1 and not kwargs and self._quiet(args[0]):
                x = args[0]
                # made by the kernels themselves, read directly: no mode sees the empty tensors made
                with torch._C._DisableTorchDispatch(), torch._C.DisableTorchFunction():
                    try:
                        output = quick(module, x)
                    except Exception:   # an attribute the stock class always has, deleted: the forward decides
                        output = None
                    if output is not None:   # a leaf: no call inside it, so recorded whole here
                        inputs, _, in_bytes = _read_sizes((x,))
                        call = CallRecord(name, module, depth, formula, bool(stack) and stack[-1].counts_inside,
                                          inputs, None, in_bytes)
                        call.outputs, call.out_elems, call.out_bytes = _read_sizes((output,))
                        call.finished = True
                        calls.append(call)
                        return output
            tensors = tensor_leaves((args, kwargs))
            shapes, _, nbytes = _sizes(tensors)
            call = CallRecord(
                name, module, depth, formula, absorbed=bool(stack) and stack[-1].counts_inside,
                inputs=shapes, in_bytes=nbytes,
                input_grads=grads_of((args, kwargs)) if record else (),
                kwargs={k: _as_shapes(v) for k, v in kwargs.items() if not isinstance(v, torch.Tensor)} if kwargs else None)
            calls.append(call)
            if record:   # training: autograd's view of the call (profiler.capture.autograd)
                call.grad_on = torch.is_grad_enabled()
                caller = stack[-1] if stack else None
                if caller is not None and caller is self._mode.sink:   # a call the backward reruns
                    call.episode, caller = self._mode.engine_ops, None
                self.claims.claim(tensors, caller)
                if not self.hooked and autograd.hooks_active():
                    self.hooked = True
            if formula is not None and formula.fn is softmax_module and stack and not stack[-1].counts_inside:
                parent = stack[-1]  # an nn.Softmax child: the softmax of its parent's attention
                parent.pattern = advance(parent.pattern, SOFTMAX)
            stack.append(call)
            try:
                output = inner(*args, **kwargs)
            except BaseException:
                if self._mode.sink is not None:   # a rerun stopped early (checkpointing): the replay goes on
                    while stack and stack.pop() is not call:
                        pass
                raise
            stack.pop()
            tensors = tensor_leaves(output)
            if record:
                self.claims.claim(tensors, call)
            call.outputs, call.out_elems, call.out_bytes = _sizes(tensors)
            call.finished = True
            return output

        forward.__wrapped__ = inner   # inspect.signature(module.forward) still reads the module's own
        return forward

    @property
    def failed_call(self) -> CallRecord | None:
        """The innermost call that had started but not finished (after an error)."""
        return self.stack[-1] if self.stack else None
