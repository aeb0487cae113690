"""A generation step's inputs: the KV cache from the model's own prefill forward
(see ``inputs.example_inputs``)."""
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


def decode_enc_dec(model, params, make, config, batch, new, decode, encoder_input, encoder_desc):
    vocab = vocab_size(model, config)
    out = make.run(model, {**encoder_input, "decoder_input_ids": make.ids((batch, decode), vocab), "use_cache": True})
    cache = output_cache(out)
    encoder = getattr(out, "encoder_last_hidden_state", None)
    if cache is None or encoder is None:
        raise ProfilerError(f"{type(model).__name__}: decode: the prefill returned no cache or encoder output")
    kwargs = {"encoder_outputs": (encoder,), "decoder_input_ids": make.ids((batch, new), vocab),
              cache_name(params): cache, "use_cache": True}
    return (), kwargs, (f"decoder_input_ids {shape_text(kwargs['decoder_input_ids'])} after a self-attention cache of "
                        f"{decode} and a {encoder_desc} encoder output {shape_text(encoder)} ({cache_desc(cache)})")


def cache_desc(cache) -> str:
    layers = getattr(cache, "layers", None)
    if layers is None and hasattr(cache, "self_attention_cache"):
        return f"{type(cache).__name__} of {cache_desc(cache.self_attention_cache)}"
    if not layers:
        return type(cache).__name__
    kinds = sorted({type(layer).__name__ for layer in layers})
    return f"{type(cache).__name__}, {len(layers)} layers: {', '.join(kinds)}"
