"""A generation step's inputs: the KV cache from the model's own prefill forward,
and the decoder mask the BART family needs on meta (see ``inputs.example_inputs``)."""
from __future__ import annotations

from profiler.errors import ProfilerError
from profiler.models.hf.make import shape_text, vocab_size


def cache_name(params) -> str:
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out):
    for name in ("cache", "past_key_values"):
        value = getattr(out, name, None) if not isinstance(out, tuple) else None
        if value is not None:
            return value
    return None


def run_prefill(model, kwargs: dict):
    """The model's own forward on the prefill, under no_grad and in eval mode (the
    modes restored); on meta, under the profiler's meta replay, which also lets
    meta MoE experts run (torch._grouped_mm)."""
    import contextlib

    from profiler.capture.modes import eval_state
    replay = contextlib.nullcontext()
    if all(t.device.type == "meta" for t in model.parameters()):
        try:
            from torch.utils._python_dispatch import TorchDispatchMode

            from profiler.capture.metacache import MetaReplay

            class _Replay(TorchDispatchMode):
                def __init__(self):
                    super().__init__()
                    self.replay = MetaReplay()

                def __torch_dispatch__(self, func, types, args=(), kw=None):
                    return self.replay(func, args, kw or {})
            replay = _Replay()
        except ImportError:
            pass
    with eval_state(model), replay:
        return model(**kwargs)


def decode_enc_dec(model, params, make, config, batch, new, decode, encoder_input, encoder_desc):
    vocab = vocab_size(model, config)
    probe = {k: v[:1, :2] if k == "input_ids" else v[:1] for k, v in encoder_input.items()}
    out = run_prefill(model, {**encoder_input, "decoder_input_ids": make.ids((batch, decode), vocab),
                               **decoder_mask(model, params, make, probe, batch, decode, 0), "use_cache": True})
    cache = output_cache(out)
    encoder = getattr(out, "encoder_last_hidden_state", None)
    if cache is None or encoder is None:
        raise ProfilerError(f"{type(model).__name__}: decode: the prefill returned no cache or encoder output")
    kwargs = {"encoder_outputs": (encoder,), "decoder_input_ids": make.ids((batch, new), vocab),
              **decoder_mask(model, params, make, probe, batch, new, decode),
              cache_name(params): cache, "use_cache": True}
    return (), kwargs, (f"decoder_input_ids {shape_text(kwargs['decoder_input_ids'])} after a self-attention cache of "
                        f"{decode} and a {encoder_desc} encoder output {shape_text(encoder)} ({cache_desc(cache)})"
                        + mask_desc(kwargs))


_MASK_NEEDED: dict[tuple, bool] = {}   # (class, attention implementation)


def decoder_mask(model, params, make, probe: dict, batch: int, new: int, past: int) -> dict:
    """``{"decoder_attention_mask": 4D mask}`` for a decoder that, given no mask,
    makes one of ones and has transformers read its values (BART, mBART, Marian,
    Pegasus, Blenderbot, M2M-100: SDPA's mask-skip test, which a meta tensor cannot
    answer); ``{}`` for every other model.  Found once per class by a small meta
    forward (batch 1, two decoder tokens).  The 4D mask is taken as given: batch x 1
    x new x (past + new), additive (0 where a token may attend, the dtype's minimum
    above the causal diagonal), so SDPA and eager attention both apply it; it
    costs one addition per attention score, as an eager mask does.  Only meta
    models need it: a real model gets none."""
    if not make.meta or "decoder_attention_mask" not in params:
        return {}
    cls = (type(model), getattr(getattr(model, "config", None), "_attn_implementation", None))
    if cls not in _MASK_NEEDED:
        try:
            run_prefill(model, {**probe, "decoder_input_ids": make.ids((1, 2), 2)})   # as the prefill runs
            _MASK_NEEDED[cls] = False
        except RuntimeError as exc:
            _MASK_NEEDED[cls] = "meta tensors" in str(exc)
    if not _MASK_NEEDED[cls]:
        return {}
    return {"decoder_attention_mask": causal_mask(batch, new, past, make.dtype, make.device)}



def causal_mask(batch: int, new: int, past: int, dtype, device):
    """An additive causal mask, batch x 1 x new x (past + new): query i (at
    position past + i) sees keys 0 … past + i.  On meta, its shape only."""
    import torch
    shape = (batch, 1, new, past + new)
    if torch.device(device).type == "meta":
        return torch.empty(shape, dtype=dtype, device=device)
    mask = torch.full((new, past + new), torch.finfo(dtype).min, dtype=dtype).triu(past + 1)
    return mask.expand(shape).to(device)


def mask_desc(kwargs: dict) -> str:
    mask = kwargs.get("decoder_attention_mask")
    return "" if mask is None else f", 4D decoder_attention_mask {shape_text(mask)}"


def cache_desc(cache) -> str:
    layers = getattr(cache, "layers", None)
    if layers is None and hasattr(cache, "self_attention_cache"):
        return f"{type(cache).__name__} of {cache_desc(cache.self_attention_cache)}"
    if not layers:
        return type(cache).__name__
    kinds = sorted({type(layer).__name__ for layer in layers})
    return f"{type(cache).__name__}, {len(layers)} layers: {', '.join(kinds)}"
