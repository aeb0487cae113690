"""The live set of one profiled step, storage by storage: what the forward makes,
what autograd saves for the backward, what the backward and the optimizer make, and
when each storage's last reference dies (issue 23; summarised by profiler.count.memory).

A ``Trace`` follows the ops of the profile's capture for the one forward (meta, fake
or real tensors: the profile's own, never the caller's), through the capture's own
dispatch mode (it wraps the mode's runner: no second mode per op).  Every
op's output storages it has not seen are *allocated* then, in the category of the
phase (forward: activations, backward: temporaries, optimizer: optimizer), charged
to the innermost module call running (``Capture.stack``), and a weak reference to
the storage *frees* them when the last tensor viewing it dies.  The parameters,
buffers and inputs are live from the start.  Around the forward,
``torch.autograd.graph.saved_tensors_hooks`` sees every tensor autograd saves:
an activation storage saved becomes ``saved`` (a parameter, buffer or input saved
stays what it is: no new memory), charged to the module whose forward saved it.
For a training step the trace then makes the loss (the sum of the outputs' sums),
runs the backward through the capture's replay (so a custom Function's backward and
checkpointing's recompute are counted as in any training profile), marks each
parameter's gradient as it arrives (a hook on the parameter, and one after its
accumulation, as MemTracker does), and takes the optimizer's first step (its states
are made then): simulated storage by storage for SGD and Adam(W) (``_simulated_step``),
torch's own step for Adafactor.  Attention is counted as the fused kernel that runs
it, not the math decomposition the meta device runs (``_Fused``).  A KV cache given
(decode) is live from the start; one returned is marked ``kv_cache``.

The record is an event list: +storage, -storage, and a storage changing category
(a backward temporary that becomes a parameter's gradient), with the index of the
event after which the live total peaked; profiler.count.memory replays it.
"""
from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from profiler.capture.autograd import hooks_active

_SDPA = torch.nn.functional.scaled_dot_product_attention
_NoFunctions = torch._C.DisableTorchFunction   # no function mode takes the torch calls inside
_Tensor = torch.Tensor
_BACKWARD = torch.autograd.backward
from torch.autograd.graph import _engine_run_backward  # noqa: E402  (torch.autograd.backward's own engine call)
_ref, _partial = weakref.ref, functools.partial
_MADE = {"forward": "activations", "backward": "temporaries"}   # the category of what an op makes, by phase

# the torch optimizer of each name, with the settings that decide its states
OPTIMIZER_CLASSES = {
    "sgd": ("SGD", {"lr": 0.01}),
    "sgd-momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "adafactor": ("Adafactor", {}),
}
SIMULATED = ("sgd", "sgd-momentum", "adam", "adamw")   # stepped by Trace._simulated_step


class Request:
    """A memory profile asked for: the optimizer to step (or None), and, once the
    profile's forward has run, its ``trace``.  It rides on the profile's Run
    (profiler.capture.run.Run.memory), which the capture's forward reads."""

    def __init__(self, optimizer: str | None, simulate: bool = True):
        self.optimizer = optimizer
        self.simulate = simulate   # False: run the torch optimizer itself (the tests' reference)
        self.trace: Trace | None = None


class Following:
    """``follow``'s context manager: enters ``trace.follow`` around the forward."""

    def __init__(self, trace: "Trace", model: torch.nn.Module, inputs: Any):
        self.trace, self._cm = trace, trace.follow(model, inputs)

    def __enter__(self) -> "Trace":
        return self._cm.__enter__()

    def __exit__(self, *exc) -> Any:
        return self._cm.__exit__(*exc)


def follow(capture: Any, model: torch.nn.Module, inputs: Any, training: bool,
           request: Request | None) -> Following | None:
    """Where a memory profile was asked for (``request``): a new ``Trace`` of this
    forward (kept on the request: the last forward attempted is the profile's), to be
    entered inside ``capture``; else None."""
    if request is None:
        return None
    trace = Trace(capture, request.optimizer if training else None, training)
    trace.simulate = request.simulate
    request.trace = trace
    return Following(trace, model, inputs)


@contextlib.contextmanager
def _plain_runner(trace: "Trace"):
    """The backward's ops run without the meta forward's known values
    (profiler.capture.known), whose per-op check cost a third of a language model's
    backward: a backward reads no token id's value.  Where the capture replays its
    backward of its own accord (a custom Function, checkpointing's recompute reruns
    forward code), the runner stays as it is."""
    capture = trace.capture
    run = trace._inner
    inner = getattr(run, "run", None)
    claims = getattr(capture, "claims", None)
    if inner is None or claims is None or claims.nodes or capture.hooked:
        yield
        return
    trace._inner = inner
    try:
        yield
    finally:
        trace._inner = run


def _is_cache(value: Any) -> bool:
    """A transformers KV cache (a Cache, whose ``layers`` hold keys and values)."""
    return any(c.__name__.endswith("Cache") for c in type(value).__mro__) and hasattr(value, "layers")


def _cache_tensors(cache: Any) -> list[torch.Tensor]:
    """The tensors a KV cache holds: its layers' keys and values, and whatever pytree finds."""
    tensors = []
    for layer in getattr(cache, "layers", ()) or ():
        tensors.extend(t for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
                       if isinstance(t, torch.Tensor))
    tensors.extend(t for t in tree_flatten(cache)[0] if isinstance(t, torch.Tensor))
    return tensors


def _storages(tree: Any) -> list:
    """(storage, tensor) of each tensor in an op's result (a tensor, a tuple or list of
    tensors, or anything pytree flattens)."""
    if type(tree) is torch.Tensor or type(tree) is torch.nn.Parameter:
        return [(tree.untyped_storage(), tree)]
    found = []
    flat = (type(tree) is tuple or type(tree) is list) and all(
        type(x) is torch.Tensor or x is None for x in tree)
    leaves = tree if flat else tree_flatten(tree)[0]
    for t in leaves:
        if isinstance(t, torch.Tensor):
            try:
                found.append((t.untyped_storage(), t))
            except (NotImplementedError, RuntimeError):   # a tensor with no storage (a subclass)
                pass
    return found


class Entry:
    """One storage: its bytes, category (at the moment), refinement ("saved",
    "kv_cache" for an activation), the call it was made in, the call that saved it."""

    __slots__ = ("key", "nbytes", "category", "sub", "owner", "saver", "phase")

    def __init__(self, key: int, nbytes: int, category: str, owner: Any, phase: str):
        self.key, self.nbytes, self.category, self.owner, self.phase = key, nbytes, category, owner, phase
        self.sub = None
        self.saver = None


def _mark(method):
    """A function calling ``method``, marked as the trace's own saved-tensor hook
    (profiler.capture.autograd.hooks_active does not take it for checkpointing's)."""
    def hook(t):
        return method(t)
    hook.profiler_memory = True
    return hook


class Trace:
    """The live set of one step (see the module docstring).  Use ``follow`` around the
    forward and ``step`` after it.

    Not a dispatch mode of its own: every op the capture's mode
    (profiler.capture.record) runs goes through its runner (``_mode._run``: the known
    values' check, the meta replay), which ``follow`` wraps with ``_traced`` — one
    Python mode per op instead of two, the same ops seen."""

    def __init__(self, capture: Any, optimizer: str | None, training: bool):
        self.capture = capture
        self._inner = None   # the capture's runner, which ``_traced`` calls
        self.training = training
        self.optimizer = optimizer
        self.entries: dict[int, Entry] = {}         # live storages by id(storage)
        self.all: list[Entry] = []                   # every storage ever seen, in order
        self.events: list[tuple[int, Entry, Any]] = []   # (+1 made | -1 freed | 0 retagged, entry, category)
        self.live = 0
        self.peak = 0
        self.peak_event = 0                          # events[:peak_event] make the peak
        self.peak_where: tuple[str, str] = ("forward", "")
        self.phase = "forward"
        self.at = ""                                 # the module running (backward: whose saved tensors it reads)
        self.timeline: list[list] = []               # [phase, name, live after], one per run of ops
        self._frozen = True                          # the next op starts a new timeline step
        self.params: list[torch.nn.Parameter] = []
        self._finalizers: list | None = []          # the storages' weak references (None: closed)
        self._handles: list = []
        self._hook_dicts: tuple = ()                 # the gradient hooks' shared dicts (``step``)
        self._hooked: list = []                      # parameters given them
        self._post_hooked: list = []
        self.optimizer_state = None
        self.grad_bytes = self.state_bytes = 0
        self.simulate = True
        self._savers: dict[int, str] = {}   # id of each tensor packed -> the module call that saved it
        self.hide = 0       # inside a fused attention (``_Fused``): what ops make is not counted
        self._fused: _Fused | None = None   # attention's handler, and a function mode of its own (``_fusing``)
        self._functions = None              # the capture's function mode that calls it, where it has one
        self.recomputed: list = []          # attention's saved sets recomputed for their original call (_Fused)
        self._virtual = 0   # keys of the simulated optimizer's storages: -1, -2, ...

    # -- the live set ---------------------------------------------------------------
    def _where(self) -> Any:
        stack = self.capture.stack
        for call in reversed(stack):
            if not call.absorbed:
                return call
        return None

    def _name(self) -> str:
        if self.phase == "forward":
            call = self._where()
            return call.name if call is not None else ""
        return self.at

    def add(self, storage, category: str, owner: Any = None) -> Entry | None:
        key = id(storage)
        entry = self.entries.get(key)
        if entry is not None:
            return entry
        return self._new(storage, key, category, owner)

    def _new(self, storage, key: int, category: str, owner: Any) -> Entry:
        """``add`` of a storage not live yet."""
        entry = Entry(key, storage.nbytes(), category, owner, self.phase)
        self.entries[key] = entry
        self.all.append(entry)
        self.events.append((1, entry, category))
        self.live += entry.nbytes
        # a weak reference whose callback frees it (weakref.finalize costs three times as much)
        self._finalizers.append(_ref(storage, _partial(self._dead, key)))
        return entry

    def _dead(self, key: int, ref: Any) -> None:
        if self._finalizers is not None:
            self._free(key)

    def _free(self, key: int) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.events.append((-1, entry, None))
            self.live -= entry.nbytes

    def retag(self, tensor: torch.Tensor, category: str) -> None:
        entry = self.entries.get(id(tensor.untyped_storage()))
        if entry is None:
            self.add(tensor.untyped_storage(), category)
        elif entry.category != category:
            self.events.append((0, entry, category))
            entry.category = category

    def _after_op(self, name: str | None = None) -> None:
        """The timeline after an op (``name``: the module running, when known)."""
        if name is None:
            name = self._name()
        phase, live, last = self.phase, self.live, self.timeline[-1]
        if self._frozen or last[0] != phase or last[1] != name:
            self.timeline.append([phase, name, live])
            self._frozen = False
        else:
            last[2] = live
        if live > self.peak:
            self.peak, self.peak_event, self.peak_where = live, len(self.events), (phase, name)
            self._frozen = True

    def _traced(self, func, args, kwargs):
        """The capture's runner, then what the op made allocated (``add``, inlined: this
        runs for every op of the step) and the timeline (``_after_op``)."""
        out = self._inner(func, args, kwargs)
        if self.hide:   # inside a fused attention's call or backward (``_Fused``): not counted
            return out
        phase = self.phase
        if phase == "forward":
            owner = None
            for call in reversed(self.capture.stack):   # ``_where``
                if not call.absorbed:
                    owner = call
                    break
            name = owner.name if owner is not None else ""
        else:
            owner, name = None, self.at
        entries = self.entries
        if type(out) is _Tensor:   # most ops
            storage = out.untyped_storage()
            key = id(storage)
            if key not in entries:
                self._new(storage, key, _MADE.get(phase, "optimizer"), owner)
        else:
            for storage, _ in _storages(out):
                key = id(storage)
                if key not in entries:
                    self._new(storage, key, _MADE.get(phase, "optimizer"), owner)
        self._after_op(name)
        return out

    # -- saved tensors ----------------------------------------------------------------
    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        call = None
        for running in reversed(self.capture.stack):   # ``_where``
            if not running.absorbed:
                call = running
                break
        self._savers[id(t)] = call.name if call is not None else ""   # the backward reading it is call's
        try:
            entry = self.entries.get(id(t.untyped_storage()))
        except (NotImplementedError, RuntimeError):
            return t
        if entry is not None and entry.category == "activations" and entry.sub is None:
            entry.sub, entry.saver = "saved", call
        return t

    def _unpack(self, t: torch.Tensor) -> torch.Tensor:
        """A backward node reads what it saved: the backward of the module that saved it runs."""
        if self.phase == "backward":
            name = self._savers.get(id(t))
            if name is not None:
                self.at = name
        return t

    # -- the step -----------------------------------------------------------------------
    @contextlib.contextmanager
    def follow(self, model: torch.nn.Module, inputs: Any):
        """Around the forward: the model's parameters, buffers and ``inputs`` live, every
        op traced, saved tensors seen (training)."""
        # the capture's walk of the module tree (its named modules), not another; the
        # parameters as model.parameters() gives them (first appearance, each once)
        named = getattr(self.capture, "modules", None)
        params: dict[int, torch.nn.Parameter] = {}
        for _, module in (model.named_modules() if named is None else named):
            for p in module._parameters.values():
                if p is not None:
                    self.add(p.untyped_storage(), "parameters")
                    params.setdefault(id(p), p)
            for b in module._buffers.values():
                if b is not None:
                    self.add(b.untyped_storage(), "buffers")
        args, kwargs = inputs
        for value in (*args, *kwargs.values()):   # a KV cache given (decode): live from the start
            if _is_cache(value):
                for t in _cache_tensors(value):
                    self.add(t.untyped_storage(), "kv_cache")
        for storage, _ in _storages(inputs):
            self.add(storage, "inputs")
        training = self.training
        self.params = [p for p in params.values() if p.requires_grad] if training else []
        self.timeline.append(["forward", "", self.live])
        self.peak, self.peak_event = self.live, len(self.events)
        hooks = (torch.autograd.graph.saved_tensors_hooks(_mark(self._pack), _mark(self._unpack))
                 if training else contextlib.nullcontext())
        mode = self.capture._mode
        self._inner, mode._run = mode._run, self._traced
        fused = _Fused(self)
        # attention is seen by the capture's function mode where it has one (profiler.capture.known's,
        # on a forward carrying values): no second mode taking every torch function; else by _Fused's own
        functions = getattr(self.capture, "_functions", None)
        self._fused = fused
        if functions is not None and hasattr(functions, "attention"):
            functions.attention = fused.call
        else:
            functions = None
        self._functions = functions
        try:
            with hooks:
                self._fusing(functions is None)
                try:
                    yield self
                finally:
                    self._fusing(False)
        finally:
            if functions is not None:
                functions.attention = None
            mode._run = self._inner
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            for hooks in self._hook_dicts:
                hooks.clear()   # torch keeps calling a post-accumulate dict once set: an empty one calls nothing
            with _NoFunctions():
                for p in self._hooked:
                    if p._backward_hooks is self._hook_dicts[0]:
                        p._backward_hooks = None
                for p in self._post_hooked:
                    if p._post_accumulate_grad_hooks is self._hook_dicts[1]:
                        p._post_accumulate_grad_hooks = None
            with _NoFunctions():
                for p in self.params:
                    p.grad = None
            self.close()

    def _fusing(self, on: bool) -> None:
        """Enter (``on``) or leave ``_Fused``'s own function mode, where the trace has one:
        it is on while model code can run (the forward, and a backward that reruns
        forward code), and off for the trace's own work (its hooks, the optimizer)."""
        fused = self._fused
        if fused is None or fused.entered == on:
            return
        fused.entered = on
        if on:
            fused.__enter__()
        else:
            fused.__exit__(None, None, None)

    def step(self, output: Any) -> None:
        """After the forward, inside ``follow``: a KV cache in ``output`` marked; for a
        training step the loss, the backward (the capture's replay) and the optimizer's
        first step."""
        self._mark_cache(output)
        if not self.training:
            self.capture.replay(output)
            return
        roots = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)
                 and t.requires_grad and t.grad_fn is not None]
        # the loss: the sum of the outputs' sums, a scalar (its few bytes in the forward)
        loss = None
        for t in roots:
            loss = t.sum() if loss is None else loss + t.sum()
        # a parameter's gradient as it arrives, and once accumulated (MemTracker's hooks); the
        # trace's own torch calls (here, in the hooks, the optimizer) pass no function mode
        retag = self.retag

        def arrived(g):
            with _NoFunctions():
                retag(g, "gradients")

        def accumulated(q):
            with _NoFunctions():
                retag(q.grad, "gradients")

        # one hook dict shared by every parameter (as register_hook and
        # register_post_accumulate_grad_hook keep theirs: torch calls each entry), set
        # where the parameter has none yet, emptied and unset when the trace closes
        # (``follow``): a handle per hook cost a tenth of a small convnet's memory analysis
        handles, arriving, accumulating = self._handles, {0: arrived}, {0: accumulated}
        self._hook_dicts = (arriving, accumulating)
        with _NoFunctions():
            for p in self.params:
                if p._backward_hooks is None:
                    p._backward_hooks = arriving
                    self._hooked.append(p)
                else:
                    handles.append(p.register_hook(arrived))
                if p._post_accumulate_grad_hooks is None:
                    p._post_accumulate_grad_hooks = accumulating
                    self._post_hooked.append(p)
                else:
                    handles.append(p.register_post_accumulate_grad_hook(accumulated))
        self.phase, self.at, self._frozen = "backward", "", True
        claims = getattr(self.capture, "claims", None)
        if claims is not None:   # the backward's nodes not held (profiler.capture.autograd.Claims.mark)
            claims.mark = object()
        # model code runs in the backward only where the capture replays forward code (a custom
        # Function's backward, checkpointing's recompute): attention is looked for there only,
        # by _Fused's own mode, which runs the engine with itself on (``_Fused._backward``)
        rerun = claims is not None and bool(claims.nodes or self.capture.hooked)
        if rerun and self._functions is not None:
            self._functions.attention = None
        self._fusing(rerun)
        try:
            with _plain_runner(self):
                self.capture.replay(output, loss=loss)
        finally:
            self._fusing(False)
            if claims is not None:
                claims.mark = None
                claims.seen.clear()   # the forward's nodes: nothing walks the graph after the backward
        del loss, roots
        with _NoFunctions():
            grads = {id(p.grad.untyped_storage()): p.grad.untyped_storage().nbytes()
                     for p in self.params if p.grad is not None}
        self.grad_bytes = sum(grads.values())
        if self.optimizer is not None and self.params:
            # the step's first timeline point: what it starts from (else the states made
            # until the step passes the backward's peak would read as made before it)
            self.phase, self.at = "optimizer", "optimizer"
            self.timeline.append(["optimizer", "optimizer", self.live])
            self._frozen = True
            if self.simulate and self.optimizer in SIMULATED:
                with _NoFunctions():
                    self._simulated_step()
            else:
                self._real_step()
            self._frozen = True
            self._after_op()   # the timeline's last step: what the step leaves
        self.phase = "done"

    # -- the optimizer's first step ------------------------------------------------------
    def _alloc(self, nbytes: int) -> Entry:
        """A storage the (simulated) optimizer makes: live until ``_drop``."""
        key = self._virtual = self._virtual - 1
        entry = Entry(key, nbytes, "optimizer", None, self.phase)
        self.entries[key] = entry
        self.all.append(entry)
        self.events.append((1, entry, "optimizer"))
        self.live += nbytes
        self._after_op(self.at)
        return entry

    def _drop(self, entry: Entry | None) -> None:
        if entry is not None:
            self._free(entry.key)

    def _simulated_step(self) -> None:
        """The first step of torch's single-tensor (``foreach=False``: the CPU default)
        SGD, SGD with momentum, Adam or AdamW at their default settings, storage by
        storage as its code makes and drops them (torch/optim/adam.py, sgd.py), without
        running it: on meta, the real step costs more than the whole forward.
        ``tests/count/test_memory_optimizer.py`` checks it against the real step.

        * Adam, AdamW: ``_init_group`` makes, parameter by parameter, the step count
          (a float32 scalar on the CPU: 4 bytes), ``exp_avg`` and ``exp_avg_sq`` (each
          like the parameter); then per parameter ``denom = (exp_avg_sq.sqrt() / c).add_(eps)``
          makes sqrt's result and the quotient, drops sqrt's, and the previous
          parameter's ``denom`` goes when the name is rebound; everything else is in place.
        * SGD: in place, nothing made.  SGD with momentum: ``buf = grad.detach().clone()``
          per parameter at the first step, kept as the state.
        """
        params = [p for p in self.params if p.grad is not None]
        size = [p.numel() * p.element_size() for p in params]
        if self.optimizer in ("adam", "adamw"):
            step = torch.empty((), dtype=torch.get_default_dtype()).element_size()   # _get_scalar_dtype()
            for n in size:
                self._alloc(step), self._alloc(n), self._alloc(n)
            self.state_bytes = sum(2 * n + step for n in size)
            denom = None
            for n in size:
                root = self._alloc(n)
                quotient = self._alloc(n)
                self._drop(root)
                self._drop(denom)
                denom = quotient
            self._drop(denom)
        elif self.optimizer == "sgd-momentum":
            for n in size:
                self._alloc(n)
            self.state_bytes = sum(size)

    def _real_step(self) -> None:
        """The first step of the torch optimizer itself, on the profile's parameters."""
        name, settings = OPTIMIZER_CLASSES[self.optimizer]
        optimizer = getattr(torch.optim, name)(self.params, **settings)
        optimizer.step()
        for state in optimizer.state.values():   # states made outside any op (a CPU step count)
            for value in state.values():
                if isinstance(value, torch.Tensor) and id(value.untyped_storage()) not in self.entries:
                    self.add(value.untyped_storage(), "optimizer")
                    self._after_op()
        self.optimizer_state = optimizer.state   # held to the end: the states are live after the step
        self.state_bytes = sum(e.nbytes for e in self.entries.values() if e.category == "optimizer")

    def _mark_cache(self, output: Any) -> None:
        """The tensors of a KV cache the model returned (``past_key_values``)."""
        cache = getattr(output, "past_key_values", None)
        if cache is None and isinstance(output, dict):
            cache = output.get("past_key_values")
        if cache is None:
            return
        for t in _cache_tensors(cache):
            entry = self.entries.get(id(t.untyped_storage()))
            if entry is not None and entry.category == "activations":
                entry.sub = "kv_cache"

    def close(self) -> None:
        """Stop following: no callback from here on."""
        self._finalizers = None   # no callback acts from here on
        self.optimizer_state = None


def _fused_layout(out: torch.Tensor) -> torch.Tensor:
    """The math result in the fused kernels' layout: (B, H, L, D) viewing (B, L, H, D)
    memory (flash and memory-efficient attention write it so, on a GPU and a CPU), so
    that the ops after it copy (or not) as they would after the fused kernel.  A copy
    kept from the capture's sight (it counts nothing), within the autograd graph."""
    if out.dim() != 4 or out.transpose(1, 2).is_contiguous():
        return out
    with torch._C._DisableTorchDispatch():
        return out.transpose(1, 2).contiguous().transpose(1, 2)


def fused_enabled() -> bool:
    """Some fused SDPA backend is allowed (not ``sdpa_kernel(SDPBackend.MATH)`` alone):
    attention is then counted as the fused kernel, else as its math decomposition."""
    cuda = torch.backends.cuda
    return cuda.flash_sdp_enabled() or cuda.mem_efficient_sdp_enabled() or cuda.cudnn_sdp_enabled()


class _Fused(TorchFunctionMode):
    """``F.scaled_dot_product_attention`` as the fused kernel that runs it on a GPU (flash,
    memory-efficient) or a CPU (flash for CPU), not as the math decomposition the meta
    device runs (whose (B, H, L, L) scores would be saved for the backward): the call
    runs as it is (the capture counts it as ever), but what its ops make is hidden
    from the trace but the output; for a training step the fused kernel's saved set
    is held instead: query, key, value, the output and a log-sum-exp per query row
    (float32, or the inputs' dtype where wider), until the gradients of query, key
    and value are made; the math backward's own temporaries are hidden too, its
    gradients of query, key and value counted."""

    def __init__(self, trace: Trace):
        super().__init__()
        self.trace = trace
        self.entered = False   # as the trace's own function mode (``Trace._fusing``)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is not _SDPA:
            if func is _BACKWARD and self.trace.phase == "backward":
                return self._backward(func, args, kwargs or {})
            return func(*args, **(kwargs or {}))
        return self.call(func, args, kwargs or {})

    def _backward(self, func, args: tuple, kwargs: dict):
        """torch.autograd.backward, with this mode on in the engine, where checkpointing's
        recompute and custom Functions' backward call attention.  torch.autograd.backward
        is a torch function: each function mode takes it in turn and runs it with itself
        off, so none is on in the engine; here the modes below are off as they would be,
        and this one on, around the rest of torch.autograd.backward (the gradients made,
        the engine run), as it passes a function mode the call (its tensors as a tuple,
        the other arguments by name).  Inputs to stop at: as it is (the replay gives none)."""
        if len(args) != 1 or type(args[0]) is not tuple or kwargs.get("inputs") is not None \
                or not set(kwargs) <= {"grad_tensors", "retain_graph", "create_graph", "inputs"}:
            return func(*args, **kwargs)
        tensors, create = args[0], kwargs.get("create_graph", False)
        retain = kwargs.get("retain_graph")
        below = []
        while torch._C._len_torch_function_stack() > 0:
            below.append(torch._C._pop_torch_function_stack())
        try:
            with self:
                grads = torch.autograd._tensor_or_tensors_to_tuple(kwargs.get("grad_tensors"), len(tensors))
                grads = torch.autograd._make_grads(tensors, grads, is_grads_batched=False)
                _engine_run_backward(tensors, grads, create if retain is None else retain, create, (),
                                     allow_unreachable=True, accumulate_grad=True)
        finally:
            for mode in reversed(below):
                torch._C._push_on_torch_function_stack(mode)

    def call(self, func, args: tuple, kwargs: dict):
        """A call of F.scaled_dot_product_attention, run (the function modes below it
        see it as ever) and counted as the fused kernel."""
        if len(args) < 3 or not fused_enabled():
            return func(*args, **kwargs)
        trace = self.trace
        trace.hide += 1
        try:
            out = func(*args, **kwargs)
        finally:
            trace.hide -= 1
        if isinstance(out, torch.Tensor):
            # torch functions called here are the trace's own: no function mode (the
            # capture's known values) may take them for the model's
            with torch._C.DisableTorchFunction():
                out = _fused_layout(out)
                self._fused(out, *args[:3])
        return out

    def _fused(self, out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """The output made, and where autograd records the call the fused kernel's saved
        set: query, key, value, the output and the log-sum-exp, held as autograd holds
        them until the kernel's backward has made the gradients of query, key and value.

        * The forward: saved activations.  Under someone else's saved-tensor hooks
          (non-reentrant checkpointing: the set is dropped, to be recomputed; or
          offloaded) none is held.
        * A recompute in the backward (checkpointing's): the backward's temporaries.
          Reentrant: the recompute's own graph is backpropagated, and its kernel's
          backward releases them.  Non-reentrant (under checkpointing's recompute
          hooks): the recomputed set is held for the original call's backward, which
          releases it; the original calls' backward runs in the reverse order of their
          recomputes (``Trace.recomputed``, a stack)."""
        trace = self.trace
        phase = trace.phase
        made = "activations" if phase == "forward" else _MADE.get(phase, "optimizer")
        owner = trace._where() if phase == "forward" else None
        trace.add(out.untyped_storage(), made, owner)
        trace._after_op()
        inputs = [t for t in (q, k, v) if isinstance(t, torch.Tensor) and t.requires_grad]
        if phase not in _MADE or not torch.is_grad_enabled() or not inputs or out.grad_fn is None:
            return
        foreign = hooks_active()   # another's saved-tensor hooks take what autograd saves
        held: list = []
        lse = None
        if not (foreign and phase == "forward"):
            held.extend((q, k, v, out))
            if phase == "forward":
                for t in held:
                    trace._pack(t)
            size = 8 if q.dtype in (torch.float64, torch.complex128) else 4   # float32, or double's
            rows = q.numel() // q.shape[-1]   # (B, H, L): one per query row
            trace._virtual -= 1
            lse = Entry(trace._virtual, rows * size, made, owner, phase)
            if phase == "forward":
                lse.sub, lse.saver = "saved", lse.owner
            trace.entries[lse.key] = lse
            trace.all.append(lse)
            trace.events.append((1, lse, made))
            trace.live += lse.nbytes
            trace._after_op()
        if foreign and phase != "forward":   # a non-reentrant recompute: for the original call's backward
            trace.recomputed.append((held, lse))
            return
        from_recompute = foreign   # the forward under checkpointing: the set comes from the recompute

        handles: list = []

        def started(grads):   # the math backward begins: hidden until q, k, v have gradients,
            trace.hide += 1   # the output's gradient held by the kernel till then
            if from_recompute and trace.recomputed:   # the set recomputed for this call
                held[:0], lses[0] = trace.recomputed[-1]
            held.extend(g for g in grads if isinstance(g, torch.Tensor))

        lses = [lse]

        def done(grads):   # the kernel's gradients made, then its saved set released
            trace.hide -= 1
            for g in grads:
                if isinstance(g, torch.Tensor):
                    trace.add(g.untyped_storage(), "temporaries")
            trace._after_op()
            if from_recompute and trace.recomputed:
                trace.recomputed.pop()[0].clear()
            held.clear()
            if lses[0] is not None:
                trace._free(lses[0].key)
            for handle in handles:   # a recompute's: its hooks would keep its graph (q, k, v) alive
                handle.remove()

        first = out.grad_fn.register_prehook(started)
        last = torch.autograd.graph.register_multi_grad_hook(inputs, done, mode="all")
        if phase != "forward":
            handles.extend((first, last))
