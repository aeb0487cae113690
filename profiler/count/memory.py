"""Memory of inference and of a training step, from the shapes-only run: what is
live when, by category, and the peak (issue 23).

The live set is followed storage by storage while the profile's forward (and, for a
training step, the backward from a scalar loss and one optimizer step) runs on meta
tensors: profiler.capture.saved records every storage an op makes, when its last
reference dies, which of them autograd saved for the backward, and the gradients
and optimizer states as they appear.  This module turns that record into the
``Memory`` summary and the per-row columns.

Conventions (the same as torch.distributed._tools.mem_tracker.MemTracker's, against
which the tests check them):

* bytes are a storage's bytes (``untyped_storage().nbytes()``), each storage counted
  once however many tensors view it;
* a storage is live from the op that makes it until its last reference dies (no
  caching allocator, no fragmentation, no rounding: see ``ASSUMPTIONS``);
* the peak is the largest live total after any op;
* a training step is ``out = model(*inputs); sum of out's sums.backward();
  optimizer.step()`` with the output held until the step is done, gradients none
  before the step (``zero_grad(set_to_none=True)``), and the optimizer's states made
  at its first step, by torch's single-tensor implementation (``foreach=False``, the
  CPU default; on CUDA torch picks ``foreach``, whose step makes temporaries for all
  parameters at once);
* ``F.scaled_dot_product_attention`` as the fused kernel that runs it on a GPU or a
  CPU (flash, memory-efficient), not the math decomposition the meta device runs:
  it saves query, key, value, the output and a float32 log-sum-exp per query row
  (profiler.capture.saved._Fused); under ``sdpa_kernel(SDPBackend.MATH)`` as the math.

Categories (``CATEGORIES``), and MemTracker's names for them:

* ``parameters`` (Parameter), ``buffers`` (Buffer), ``gradients`` (Gradient: the
  parameters' ``.grad``), ``optimizer`` (Optstate: whatever the step allocates,
  its states and its temporaries), ``inputs`` (the model's inputs: MemTracker's
  Other when given with ``track_external``);
* ``saved``: forward tensors that autograd holds for the backward (and which are
  neither parameters nor buffers nor inputs); ``activations``: the other forward
  tensors still live (outputs, temporaries, a KV cache is ``kv_cache`` instead)
  — together MemTracker's Activation;
* ``temporaries``: tensors the backward makes other than the parameters' gradients
  (the gradients of activations): MemTracker's Temp;
* ``kv_cache``: the tensors of a KV cache the model returned (inference with a cache).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("parameters", "buffers", "gradients", "optimizer", "inputs", "saved", "activations",
              "temporaries", "kv_cache")
PHASES = ("forward", "backward", "optimizer")
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adafactor")
ASSUMPTIONS = ("each storage counted once at its exact bytes from the op that makes it until its last "
               "reference dies, with no caching-allocator rounding and no fragmentation; attention as the "
               "fused SDPA kernel (flash, memory-efficient), the optimizer as torch's single-tensor step "
               "(foreach=False)")
# the per-row columns a memory profile adds (``attach``): bytes of the row's module's own
# parameters and their gradients, and of the tensors autograd saved in its forward
# (each saved storage charged to the innermost module running when it was saved)
from profiler.columns import MEMORY_COLUMNS  # noqa: E402,F401


@dataclass(frozen=True)
class Memory:
    """The memory of one profiled step (``Report.memory``).

    peak_bytes: the largest live total after any op.
    peak_phase: "forward", "backward" or "optimizer": the phase running at the peak.
    peak_at: the name of the innermost module running at the peak ("" for the
        model's top level, "optimizer" in the optimizer's step).
    at_peak: bytes by category (``CATEGORIES``) live at the peak; they sum to peak_bytes.
    totals: whole-run totals by category: parameters, buffers and inputs as held,
        ``saved`` all the bytes autograd saved (deduplicated by storage), ``gradients``
        all the parameters' gradients, ``optimizer`` the states left after the step,
        ``activations`` every forward storage ever made that was not saved,
        ``temporaries`` every backward storage made, ``kv_cache`` the cache returned.
    timeline: (phase, module name, live bytes after that step), in order: one step
        per module call's end in the forward, per module's backward in the backward,
        and for the optimizer one at its start (the live bytes it starts from) and
        one for the step, plus a step of its own for each op that raises the peak
        (in the optimizer's step, once it passes the backward's peak, each state made).
    assumptions: the allocator assumptions, one sentence.
    optimizer: the optimizer stepped ("adamw", ...) or None.
    """

    peak_bytes: int
    peak_phase: str
    peak_at: str
    at_peak: dict[str, int]
    totals: dict[str, int]
    timeline: tuple[tuple[str, str, int], ...]
    assumptions: str = ASSUMPTIONS
    optimizer: str | None = None
    rows: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def share(self, category: str) -> float:
        """``category``'s share of the peak (0..1)."""
        return self.at_peak.get(category, 0) / self.peak_bytes if self.peak_bytes else 0.0


def _label(entry, category: str) -> str:
    """An entry's category for the summary: an activation refined as saved or KV cache."""
    return entry.sub if category == "activations" and entry.sub else category


def summarize(trace) -> Memory:
    """The ``Memory`` of a profiler.capture.saved.Trace: the live set replayed up to
    the peak's event, each storage in the category it had then (a saved or cached
    activation as such from its making on)."""
    at_peak = dict.fromkeys(CATEGORIES, 0)
    now: dict = {}   # live entry -> its category at that moment
    for change, entry, category in trace.events[:trace.peak_event]:
        if change == 1:
            now[entry] = category
        elif change == -1:
            now.pop(entry, None)
        elif entry in now:
            now[entry] = category
    for entry, category in now.items():
        at_peak[_label(entry, category)] += entry.nbytes
    totals = dict.fromkeys(CATEGORIES, 0)
    for entry in trace.all:
        first = entry.phase
        if entry.category in ("parameters", "buffers", "inputs"):
            totals[entry.category] += entry.nbytes
        elif entry.sub is not None:
            totals[entry.sub] += entry.nbytes
        elif first == "forward" and entry.category == "activations":
            totals["activations"] += entry.nbytes
        elif first == "backward" and entry.category == "temporaries":
            totals["temporaries"] += entry.nbytes
    totals["gradients"] = trace.grad_bytes
    totals["optimizer"] = trace.state_bytes
    phase, at = trace.peak_where
    rows: dict[int, dict[str, int]] = {}   # by id of the module call: the bytes it saved
    for entry in trace.all:
        if entry.sub == "saved" and entry.saver is not None:
            row = rows.setdefault(id(entry.saver), {"saved_bytes": 0})
            row["saved_bytes"] += entry.nbytes
    return Memory(peak_bytes=trace.peak, peak_phase=phase if phase in PHASES else "optimizer",
                  peak_at=at, at_peak=at_peak, totals=totals,
                  timeline=tuple((p, n, b) for p, n, b in trace.timeline if p in PHASES),
                  optimizer=trace.optimizer, rows=rows)


def attach(report, memory: Memory, calls, model, training: bool) -> None:
    """``report.memory`` and the rows' memory columns (``MEMORY_COLUMNS``): each row's
    parameters at their element size, their gradients (training: those that
    require grad), and what autograd saved in the row's module call.  ``calls``:
    the capture's module calls, in the order the rows were made from them."""
    report.memory = memory
    # the rows as made while the frame is not built (most callers of a memory profile
    # read report.memory only: no frame for them), else the frame's columns
    rows = report._rows if report._layers is None else None
    if rows is not None:
        names, types, counts = [r["name"] for r in rows], [r["type"] for r in rows], [r["params"] for r in rows]
    else:
        layers = report.layers
        names, types, counts = list(layers["name"]), list(layers["type"]), list(layers["params"])
    modules = dict(model.named_modules())
    saved_by_call = memory.rows
    # the rows made from calls come first, in call order (profiler.count.rows.build_rows)
    saved, cursor = [], 0
    for call in calls:
        if call.absorbed or cursor >= len(names):
            continue
        if names[cursor] == (call.name or "(model)") and types[cursor] == type(call.module).__name__:
            saved.append(saved_by_call.get(id(call), {}).get("saved_bytes", 0))
            cursor += 1
    saved.extend([0] * (len(names) - len(saved)))
    params, grads = [], []
    for name, count in zip(names, counts):
        module = modules.get("" if name == "(model)" else name)
        # the module's first parameter (``parameters()`` order): its own first, else its submodules'
        first = None if module is None else next((p for p in module._parameters.values() if p is not None), None)
        if first is None and module is not None:
            first = next(module.parameters(), None)
        # floating parameters at the profile's dtype (``dtype=`` converts the twins)
        size = 0 if first is None else report.itemsize if first.is_floating_point() else first.element_size()
        params.append(int(count) * size)
        grads.append(int(count) * size if training and first is not None and first.requires_grad else 0)
    if rows is not None:
        for row, p, g, s in zip(rows, params, grads, saved):
            row["param_bytes"], row["grad_bytes"], row["saved_bytes"] = p, g, s
    else:
        layers["param_bytes"] = params
        layers["grad_bytes"] = grads
        layers["saved_bytes"] = saved


def check(memory: Any, optimizer: Any, training: bool) -> bool:
    """Whether ``profile(memory=, optimizer=, training=)`` asks for memory; a
    ProfilerError for a wrong value."""
    if optimizer is None and (memory is False or memory is True):
        return memory   # the usual call: nothing to refuse
    from profiler.errors import ProfilerError
    if not isinstance(memory, bool):
        raise ProfilerError(f"memory={memory!r}: expected True or False")
    if optimizer is None:
        return memory
    if optimizer not in OPTIMIZERS:
        raise ProfilerError(f"optimizer={optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    if not training:
        raise ProfilerError(f"optimizer={optimizer!r} steps a training step: add training=True")
    return True


def request(memory: bool, optimizer: str | None):
    """The memory request a profile carries on its Run (profiler.capture.saved.Request),
    or None where no memory was asked for."""
    if not memory:
        return None
    from profiler.capture.saved import Request
    return Request(optimizer)


def fill(report, request) -> None:
    """``report.memory`` and the memory columns from the trace of the forward that ran
    (nothing where no memory was asked for)."""
    trace = request.trace if request is not None else None
    if trace is not None:
        attach(report, summarize(trace), trace.capture.calls, trace.capture.model, trace.training)
