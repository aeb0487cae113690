"""What the forward's autograd graph runs beyond the analytic backward formulas: the
backward of custom ``torch.autograd.Function``s and the forward that activation
checkpointing recomputes.  (Training profiles only.)

The backward formulas (profiler.formulas.backward) read each recorded op's shapes and
which of its inputs require grad.  Two things in real training code escape them:

* **A custom Function** runs its forward with grad off, so its ops record no backward,
  and its ``backward`` is arbitrary Python.  It is counted from what that ``backward``
  runs: each Function node met in the graph is *claimed* by a module call (the call
  in which it was made: see ``Claims``), and during the replay below the ops its
  backward dispatches are charged to that call's ``custom_bwd``.
* **Activation checkpointing** frees activations in the forward and recomputes them
  in the backward: reentrant (``CheckpointFunction``, a Function whose forward runs
  the region with grad off) and non-reentrant (saved-tensor hooks that rerun the
  region when a saved tensor is first unpacked, by default only as far as the last
  tensor it needs).  The module calls rerun in the backward are *recompute* calls;
  each is paired with the original call it repeats (``pair``), which counts it in
  its own pass.

Neither is knowable from shapes, so when the forward made a Function node or ran
under saved-tensor hooks, the graph's backward is really run, once, on the profile's
tensors (meta, fake or twins: never the user's), from zero gradients of every output
(``replay``).  The dispatch mode stays on: ops of the engine's own backward (grad off,
nothing recording) are skipped, as the formulas count them; ops of a claimed
Function's backward are charged to its claim; ops with grad on are a recomputed
forward, charged to the recompute call running them, or to the replay's ``loose``
call where checkpointing reran code outside any module.
"""
from __future__ import annotations

from typing import Any

import torch

from profiler.errors import first_line

try:   # the reentrant checkpoint's Function: its recompute is counted as such, not as a custom backward
    from torch.utils.checkpoint import CheckpointFunction as _REENTRANT
except ImportError:  # pragma: no cover - every supported torch has it
    _REENTRANT = None


def hooks_active() -> bool:
    """Saved-tensor hooks (non-reentrant checkpointing, CPU offloading) are on."""
    hooks = torch._C._autograd._top_saved_tensors_default_hooks(False)
    # a memory profile's own hooks (profiler.capture.saved) only look
    return hooks is not None and not getattr(hooks[0], "profiler_memory", False)


def is_function_node(node: Any) -> bool:
    """A node of a Python ``torch.autograd.Function`` (its ``_forward_cls`` names it)."""
    return hasattr(node, "_forward_cls")


def is_reentrant_checkpoint(node: Any) -> bool:
    return _REENTRANT is not None and getattr(node, "_forward_cls", None) is _REENTRANT


class Claims:
    """The custom Function nodes of the graph, each with the module call it belongs to.

    A call claims, when it returns, the unclaimed Function nodes its outputs reach,
    and, when it starts, its caller claims those its inputs reach: so a node belongs
    to the innermost call running when it was made (inner calls return first).  One
    set of the nodes walked so far keeps the whole walk to one visit per node."""

    def __init__(self, window: Any):
        self.seen: set = set()
        self.nodes: list[tuple[Any, Any]] = []   # (node, owner call)
        self.window = window                     # makes a node's backward window (see Windows)
        # a memory profile's backward (profiler.capture.saved): nodes walked are marked in their
        # own metadata with this token instead of held in ``seen``, which would keep a recompute
        # graph's saved tensors (never backpropagated) alive past the moment autograd frees them
        self.mark: object | None = None

    def claim(self, tensors: list[torch.Tensor], owner: Any) -> None:
        seen, mark = self.seen, self.mark
        todo = [t.grad_fn for t in tensors if t.grad_fn is not None]
        while todo:
            node = todo.pop()
            if node is None or node in seen:
                continue
            if mark is None:
                seen.add(node)
            else:
                metadata = node.metadata
                if metadata.get("profiler_claimed") is mark:
                    continue
                metadata["profiler_claimed"] = mark
            if is_function_node(node) and owner is not None and not owner.counts_inside:
                self.nodes.append((node, owner))
                if not is_reentrant_checkpoint(node):
                    self.window(node, owner)
            todo.extend(nxt for nxt, _ in node.next_functions)


def roots(output: Any, leaves) -> list[torch.Tensor]:
    """The forward's outputs that a loss would backpropagate through."""
    return [t for t in leaves(output) if t.requires_grad and t.grad_fn is not None]


def replay(outputs: list[torch.Tensor]) -> str:
    """Run the graph's backward from zero gradients; "" or the error's first line."""
    try:
        torch.autograd.backward(outputs, [torch.zeros_like(t) for t in outputs])
    except Exception as exc:   # noqa: BLE001 - reported on the calls whose counts it leaves out
        return first_line(exc)
    return ""


def run_alone(node: Any) -> str:
    """Run one Function node's backward by itself, from zero gradients of its outputs
    (after a replay that failed before reaching it); "" or the error's first line."""
    try:
        grads = [torch.zeros(m.shape, dtype=m.dtype, device=m.device) for m in node._input_metadata]
        with torch.no_grad():
            node.apply(*grads)
    except Exception as exc:   # noqa: BLE001
        return first_line(exc)
    return ""


def pair(originals: list, recomputed: list) -> list:
    """Pair each recompute call with the original call it repeats: sets ``twin`` on
    the original; returns the recompute calls left unpaired.

    The rerun of one checkpointed region (an *episode*: recompute calls that start
    at the top of the replay with no engine op between them, ``episode``) repeats
    the region's calls in their forward order, possibly cut short (the
    non-reentrant variant stops at the last tensor it needs).  Regions rerun in
    reverse order, so an episode's first call pairs with the last unpaired original
    call of the same module and input shapes; the calls after it pair with the next
    original calls of their modules."""
    unpaired, cursor, last_episode = [], -1, None
    by_module: dict[int, list[int]] = {}
    for i, call in enumerate(originals):
        by_module.setdefault(id(call.module), []).append(i)
    for call in recomputed:
        candidates = [i for i in by_module.get(id(call.module), ()) if originals[i].twin is None]
        if call.episode is not None and call.episode != last_episode:
            last_episode = call.episode
            fits = [i for i in candidates if originals[i].inputs == call.inputs]
            found = fits[-1] if fits else None
        else:
            found = next((i for i in candidates if i > cursor), None)
        if found is None:
            unpaired.append(call)
            continue
        originals[found].twin = call
        cursor = found
    return unpaired
