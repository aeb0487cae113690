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
  at its first step.

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

CATEGORIES = ("parameters", "buffers", "gradients", "optimizer", "inputs", "saved", "activations",
              "temporaries", "kv_cache")
PHASES = ("forward", "backward", "optimizer")
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adafactor")
ASSUMPTIONS = ("each storage counted once at its exact bytes from the op that makes it until its last "
               "reference dies, with no caching-allocator rounding and no fragmentation")
# the per-row columns a memory profile adds (``attach``): bytes of the row's module's own
# parameters and their gradients, and of the tensors autograd saved in its forward
# (each saved storage charged to the innermost module running when it was saved)
MEMORY_COLUMNS = ["param_bytes", "grad_bytes", "saved_bytes"]


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
        and one for the optimizer step, plus the peak's own step.
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
