"""The memory profile's peak (profiler.count.memory) against the CUDA caching
allocator's ``torch.cuda.max_memory_allocated``, for one training step and for
inference (issue 23's allocator acceptance), in one short run on a GPU (a minute).

    python scripts/memory_gpu_check.py           # from the repository root; exits 1 if a check fails
    python scripts/memory_gpu_check.py --cpu     # no GPU: the profile side only, a dry run

The step on both sides: ``out = model(*inputs); out.sum().backward(); opt.step()``
with AdamW at ``foreach=False`` (the single-tensor step the profile simulates; CUDA's
default is foreach, whose step makes temporaries for all parameters at once: its
figure is printed beside, not checked), gradients None before it, the output held.
The allocator's peak is measured from a reset after the model and inputs are on the
GPU (the reset sets the peak to the bytes held then: parameters, buffers, inputs),
so both sides count everything.

Tolerance: the profile counts each storage at its exact bytes; the allocator rounds
each block up to 512 bytes, and cuBLAS/cuDNN take workspaces from it (cuDNN's
convolution workspace can reach tens of MiB): ``TOLERANCE`` (5% of the peak, and at
least 64 MiB for the convolution nets) is the stated allowance; the table gives the
figures.  A prepared script: not yet run on a GPU.
"""
from __future__ import annotations

import sys

import torch
from torch import nn

import profiler

TOLERANCE = 0.05
WORKSPACE = 64 * 2**20   # cuDNN convolution workspaces (resnet50)


def _models(small: bool):
    import torchvision
    from transformers import LlamaConfig, LlamaForCausalLM
    batch = 2 if small else 32
    yield "resnet50", torchvision.models.resnet50(weights=None), (torch.randn(batch, 3, 224, 224),), {}, WORKSPACE
    config = LlamaConfig(hidden_size=256 if small else 1024, intermediate_size=512 if small else 2816,
                         num_hidden_layers=2 if small else 8, num_attention_heads=8, num_key_value_heads=4,
                         vocab_size=1000 if small else 32000)
    ids = torch.randint(0, config.vocab_size, (2 if small else 8, 128 if small else 1024))
    yield "llama", LlamaForCausalLM(config), (ids,), {"use_cache": False}, 0


def _logits(out):
    return out.logits if hasattr(out, "logits") else out


def measured(model, args, kwargs, training: bool, foreach: bool = False) -> int:
    """The allocator's peak for the step (or inference) on cuda, held bytes included."""
    model = model.cuda().train(training)
    args = tuple(a.cuda() for a in args)
    optimizer = torch.optim.AdamW(model.parameters(), foreach=foreach) if training else None
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    if training:
        out = model(*args, **kwargs)
        _logits(out).sum().backward()
        optimizer.step()
    else:
        with torch.no_grad():
            out = model(*args, **kwargs)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del out, optimizer
    model.zero_grad(set_to_none=True)
    model.cpu()
    torch.cuda.empty_cache()
    return peak   # the reset sets the peak to what is held: parameters, buffers, inputs included


def predicted(model, args, kwargs, training: bool) -> int:
    report = profiler.profile(model, inputs=args, kwargs=kwargs, training=training,
                              optimizer="adamw" if training else None, memory=True)
    return report.memory.peak_bytes


def main(argv: list[str]) -> int:
    cpu = "--cpu" in argv
    if not cpu and not torch.cuda.is_available():
        print("no GPU (torch.cuda.is_available() is False): nothing checked")
        return 0
    failed = 0
    print(f"{'model':10s} {'step':9s} {'predicted MiB':>14s} {'allocator MiB':>14s} {'diff':>7s} "
          f"{'foreach MiB':>12s}")
    for name, model, args, kwargs, workspace in _models(small=cpu):
        for training in (True, False):
            ours = predicted(model, args, kwargs, training)
            if cpu:
                print(f"{name:10s} {'training' if training else 'inference':9s} {ours / 2**20:14.1f}")
                continue
            theirs = measured(model, args, kwargs, training)
            foreach = measured(model, args, kwargs, training, foreach=True) if training else theirs
            diff = (ours - theirs) / theirs
            ok = abs(ours - theirs) <= max(TOLERANCE * theirs, workspace)
            failed += not ok
            print(f"{name:10s} {'training' if training else 'inference':9s} {ours / 2**20:14.1f} "
                  f"{theirs / 2**20:14.1f} {diff:+7.1%} {foreach / 2**20:12.1f}  {'ok' if ok else 'FAILED'}")
    print(f"device: {torch.cuda.get_device_name() if not cpu else 'cpu (dry run)'}; torch {torch.__version__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
