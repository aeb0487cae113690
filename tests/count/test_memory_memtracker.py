"""The memory of a training step and of inference (profiler.count.memory) against
PyTorch's MemTracker (torch.distributed._tools.mem_tracker) run on real CPU tensors:
per category at the peak, and the peak itself.

The step both sides run: ``out = model(*inputs); out.sum().backward();
AdamW.step()`` (a first step: no gradients and no optimizer states before it), the
output held to the end; inference: one forward under no_grad in eval mode.  The
model's inputs are given to MemTracker with ``track_external`` (its "Other").

Categories: ours "saved" + "activations" + "kv_cache" are MemTracker's Activation,
"temporaries" its Temp, "inputs" its Other; the rest match by name.

Differences, each asserted to the byte and explained where it is asserted:
* a training peak inside the backward (resnet18 stepped by SGD, which keeps no
  state): 4 bytes move from Activation to Temp: the loss's seed gradient (one
  float32), which the engine makes before any module's backward starts, so MemTracker
  (whose backward flag is set by the first module backward hook) files it under
  Activation, and we under the backward's temporaries.
* resnet18 inference: +512 bytes of Activation at the peak (in bn1): on meta, eval-mode
  batch_norm returns its per-channel statistics (2 × 64 channels × 4 bytes), which
  the CPU kernel returns empty.
* tiny LLaMA inference: +128 bytes of Activation: transformers' mask code runs other
  ops on meta than on the CPU (it cannot read values there), and one more 16-token
  int64 index tensor made in the model's top level is live at the peak.  The engine
  itself is exact on the CPU's ops: ``test_engine_on_real_tensors`` runs it on real
  tensors and matches MemTracker to the byte for every model and step.

Attention: MemTracker runs torch's default SDPA backend (the fused flash kernel for
CPU); the meta device runs SDPA's math decomposition, which the trace counts as the
fused kernel (profiler.capture.saved._Fused): the tiny LLaMA's figures match to the
byte.  (Counted as the math path, inference would hold 8,192 bytes of scores more.)

resnet18 runs at batch 8 and 112 px (224 px: 257,487,336 bytes on both sides at the
training peak, the same 4 bytes filed apart; measured, too slow for the suite on 2 cores).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("torch.distributed._tools.mem_tracker")
from torch.distributed._tools.mem_tracker import MemTracker  # noqa: E402

import profiler  # noqa: E402
from profiler.capture.saved import Request  # noqa: E402
from profiler.capture.run import Run  # noqa: E402
from profiler.capture.session import captured  # noqa: E402
from profiler.count.memory import summarize  # noqa: E402
from memory_cases import Attention  # noqa: E402

OURS = {"Parameter": ("parameters",), "Buffer": ("buffers",), "Gradient": ("gradients",),
        "Optstate": ("optimizer",), "Other": ("inputs",), "Activation": ("saved", "activations", "kv_cache"),
        "Temp": ("temporaries",)}


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 10)), (torch.randn(8, 512),), {}


def _resnet18():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None), (torch.randn(8, 3, 112, 112),), {}


def _llama():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=128,
                                      attn_implementation="sdpa")
    return transformers.LlamaForCausalLM(config), (torch.randint(0, 128, (2, 16)),), {"use_cache": False}




def _attention():
    torch.manual_seed(0)
    return nn.Sequential(Attention(), Attention()), (torch.randn(2, 128, 64),), {}


MODELS = {"mlp": _mlp, "resnet18": _resnet18, "llama": _llama, "attention": _attention}


def _loss(out):
    return (out.logits if hasattr(out, "logits") else out).sum()


def memtracker(model, args, kwargs, training: bool, optimizer: str = "adamw") -> dict[str, int]:
    """MemTracker's categories at its peak, for the step (or inference) on real CPU tensors."""
    model.train(training)
    kind = torch.optim.AdamW if optimizer == "adamw" else torch.optim.SGD
    optimizer = kind(model.parameters(), lr=0.01) if training else None
    tracker = MemTracker()
    tracker.track_external(model, *([optimizer] if optimizer else []), *args)
    with tracker:
        if training:
            out = model(*args, **kwargs)
            _loss(out).backward()
            optimizer.step()
        else:
            with torch.no_grad():
                out = model(*args, **kwargs)
    snap = tracker.get_tracker_snapshot("peak")[torch.device("cpu")]
    model.zero_grad(set_to_none=True)
    return {getattr(k, "value", k): v for k, v in snap.items()}


def by_memtracker(memory) -> dict[str, int]:
    found = {name: sum(memory.at_peak[c] for c in ours) for name, ours in OURS.items()}
    found["Total"] = memory.peak_bytes
    assert sum(memory.at_peak.values()) == memory.peak_bytes
    return found


def _check(ours: dict, ref: dict, moved: dict[str, int]) -> None:
    expected = {k: ref.get(k, 0) + moved.get(k, 0) for k in ours}
    assert ours == expected, {k: ours[k] - ref.get(k, 0) for k in ours}


# the differences explained in the module docstring: a training peak in the backward,
# and inference by model
SEED = {"Activation": -4, "Temp": +4}
MOVED = {"mlp": {}, "resnet18": {"Activation": +512, "Total": +512}, "llama": {"Activation": +128, "Total": +128},
         "attention": {}}


@pytest.mark.parametrize("name", list(MODELS))
def test_training_step_on_meta(name):
    model, args, kwargs = MODELS[name]()
    ref = memtracker(model, args, kwargs, training=True)
    report = profiler.profile(model, inputs=args, kwargs=kwargs, training=True, optimizer="adamw")
    # AdamW's two states per parameter, made at the first step, put the peak in the step
    # (but for the attention, whose (B, H, L, D) activations outweigh its parameters)
    assert report.memory.peak_phase == ("backward" if name == "attention" else "optimizer")
    _check(by_memtracker(report.memory), ref, SEED if report.memory.peak_phase == "backward" else {})
    assert report.memory.optimizer == "adamw"


@pytest.mark.parametrize("name", ["resnet18", "attention"])
def test_training_peak_inside_the_backward(name):
    """SGD keeps no state: the peak falls in the backward, where the saved
    activations of the layers not yet reached are live beside the gradients made so
    far: liveness, not a sum of categories, gives it."""
    model, args, kwargs = MODELS[name]()
    ref = memtracker(model, args, kwargs, training=True, optimizer="sgd")
    memory = profiler.profile(model, inputs=args, kwargs=kwargs, training=True, optimizer="sgd").memory
    assert memory.peak_phase == "backward"
    assert 0 < memory.at_peak["gradients"] < memory.totals["gradients"]   # not all made yet
    if name == "resnet18":
        assert 0 < memory.at_peak["saved"] < memory.totals["saved"]       # some freed already
    _check(by_memtracker(memory), ref, SEED)


@pytest.mark.parametrize("name", list(MODELS))
def test_inference_on_meta(name):
    model, args, kwargs = MODELS[name]()
    ref = memtracker(model, args, kwargs, training=False)
    report = profiler.profile(model, inputs=args, kwargs=kwargs, memory=True)
    _check(by_memtracker(report.memory), ref, MOVED[name])


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("name", list(MODELS))
def test_engine_on_real_tensors(name, training):
    """The trace on real CPU tensors (the profile's real execution: clones of the
    weights) runs the very ops MemTracker sees, and matches it to the byte, but for the
    loss's seed gradient (4 bytes filed as Temp where MemTracker says Activation, when the
    peak falls in the backward)."""
    model, args, kwargs = MODELS[name]()
    ref = memtracker(model, args, kwargs, training)
    request = Request("adamw" if training else None)
    with captured(Run("model", model, args=args, kwargs=kwargs, training=training, memory=request), "real"):
        pass
    memory = summarize(request.trace)
    _check(by_memtracker(memory), ref, SEED if training and memory.peak_phase == "backward" else {})


def test_decode_with_a_kv_cache():
    """One decode step of the tiny LLaMA after a 64-token cache, batch 2: the given
    cache is live from the start (``kv_cache``), each layer's old keys and values die
    as the layer's update makes the new ones.  MemTracker sees the given cache's
    tensors as Other (given with ``track_external``); at the peak both sides hold the
    same 16,384 bytes of the old cache (one (2, 2, 64, 16) float32 tensor: the last
    layer's values, being replaced) and all four new ones (65 tokens).  The rest differs by
    2,568 bytes (0.6%): transformers' mask code runs other ops on meta than on the CPU
    (see test_inference_on_meta)."""
    import copy
    model, _, _ = _llama()
    model.eval()
    with torch.no_grad():
        cache = model(torch.randint(0, 128, (2, 64))).past_key_values
    ids = torch.randint(0, 128, (2, 1))
    given = copy.deepcopy(cache)   # the step updates its cache in place
    tracker = MemTracker()
    tracker.track_external(model, ids, *[t for layer in given.layers for t in (layer.keys, layer.values)])
    with tracker, torch.no_grad():
        out = model(ids, past_key_values=given)
    ref = {getattr(k, "value", k): v for k, v in tracker.get_tracker_snapshot("peak")[torch.device("cpu")].items()}
    del out
    memory = profiler.profile(model, inputs=(ids,), kwargs={"past_key_values": cache}, memory=True).memory
    old, new = 2 * 2 * 64 * 16 * 4, 4 * (2 * 2 * 65 * 16 * 4)
    assert ref["Other"] == old + ids.numel() * 8
    assert memory.at_peak["kv_cache"] == old + new
    assert memory.totals["kv_cache"] == new   # the cache returned
    assert memory.at_peak["parameters"] == ref["Parameter"] and memory.at_peak["buffers"] == ref["Buffer"]
    assert memory.peak_bytes - ref["Total"] == 2568


class _Block(nn.Module):
    """A residual MLP block whose inner part runs under torch.utils.checkpoint."""

    def __init__(self, dim: int, reentrant: bool):
        super().__init__()
        self.a, self.b, self.reentrant = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim), reentrant

    def inner(self, x):
        return self.b(torch.relu(self.a(x)))

    def forward(self, x):
        from torch.utils.checkpoint import checkpoint
        return x + checkpoint(self.inner, x, use_reentrant=self.reentrant)


def _checkpointed(reentrant: bool):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), *[_Block(64, reentrant) for _ in range(3)], nn.Linear(64, 10)), \
        (torch.randn(16, 32),), {}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_checkpointed_training_step(reentrant, optimizer):
    """Activation checkpointing: what is saved (each block's input only) and what is
    recomputed in the backward (the block's inner activations, made and freed there),
    against MemTracker on the CPU, at an AdamW peak (after the backward) and an SGD
    peak (inside it).  The recompute's graph is never held past the moment autograd
    frees it (its saved tensors, a reentrant recompute's detached inputs and their
    gradients).  Beyond the loss's seed (see the module docstring): under reentrant
    checkpointing MemTracker files what the recompute makes inside a module's forward
    as Activation (its forward hooks run again), we as the backward's temporaries:
    at the SGD peak one such tensor, a recomputed block output (16 × 64 float32,
    4,096 bytes), is live."""
    model, args, kwargs = _checkpointed(reentrant)
    ref = memtracker(model, args, kwargs, training=True, optimizer=optimizer)
    report = profiler.profile(model, inputs=args, training=True, optimizer=optimizer)
    memory = report.memory
    moved = {} if memory.peak_phase == "optimizer" else dict(SEED)
    if memory.peak_phase == "backward" and reentrant:
        moved = {"Activation": -4 - 4096, "Temp": 4 + 4096}
    assert memory.peak_phase == ("optimizer" if optimizer == "adamw" else "backward")
    _check(by_memtracker(memory), ref, moved)
    # saved in the forward: each block's input (16 × 64 float32, by the checkpoint) and the
    # last Linear's; the blocks' Linears save nothing (their activations are recomputed)
    saved = report.layers.set_index("name")["saved_bytes"].to_dict()
    assert saved == {"(model)": 0, "0": 0, "4": 16 * 64 * 4,
                     **{f"{i}": 16 * 64 * 4 for i in (1, 2, 3)}, **{f"{i}.{l}": 0 for i in (1, 2, 3) for l in "ab"}}
    assert memory.totals["saved"] == 4 * 16 * 64 * 4


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_checkpointed_llama(reentrant, optimizer):
    """The tiny LLaMA with transformers' own gradient checkpointing (each decoder layer
    recomputed in the backward), against MemTracker: the recompute's attention counted
    as the fused kernel too, and its saved set held as autograd holds it
    (profiler.capture.saved._Fused): for the recompute's own backward (reentrant), or
    for the original call's backward (non-reentrant, whose forward under
    checkpointing's hooks holds none of it).  The step's peak is MemTracker's to the
    byte on real tensors (the engine) and on meta but for one 16-token int64 index
    tensor (128 bytes of Activation: transformers' mask code on meta, see the module
    docstring), wherever it falls in the backward (SGD) or the step (AdamW; none then
    under non-reentrant checkpointing, whose peak falls where the tensor is gone).

    Filed apart at an SGD peak (inside layer 0's backward), beside the loss's seed:
    107,264 bytes that the recompute made and that are live there (among them the
    recomputed attention's log-sum-exp, 2 × 4 × 16 float32, and two 16-token int64
    index tensors), which MemTracker files as Activation (its module forward hooks run
    again in the recompute) and we as the backward's temporaries (the backward made
    them).  (Before the recompute's attention was counted as the fused kernel, the
    math path's scores made the peak 16,000 bytes (reentrant) and 41,088 bytes
    (non-reentrant) too high.)"""
    from profiler.models.checkpointing import enable
    model, args, kwargs = _llama()
    enable(model, "reentrant" if reentrant else "non-reentrant", "llama")
    ref = memtracker(model, args, kwargs, training=True, optimizer=optimizer)
    memory = profiler.profile(model, inputs=args, kwargs=kwargs, training=True, optimizer=optimizer).memory
    recomputed = 107264
    if optimizer == "sgd":
        assert memory.peak_phase == "backward"
        moved = {"Activation": SEED["Activation"] - recomputed + 128, "Temp": SEED["Temp"] + recomputed, "Total": 128}
    else:
        assert memory.peak_phase == "optimizer"
        moved = {"Activation": 128, "Total": 128} if reentrant else {}
    _check(by_memtracker(memory), ref, moved)
    request = Request(optimizer)   # the engine on real tensors: the same, but for the 128 bytes
    with captured(Run("model", model, args=args, kwargs=kwargs, training=True, memory=request), "real"):
        pass
    real = {k: v - 128 if k in ("Activation", "Total") and v else v for k, v in moved.items()}
    _check(by_memtracker(summarize(request.trace)), ref, {k: v for k, v in real.items() if v})
