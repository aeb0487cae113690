"""Example tensors for a transformers model, and the small readers the input rules
share: config fields by any of their names, the token vocabulary, shapes as text."""
from __future__ import annotations

from typing import Any, Callable

from profiler.defaults import VALUE_LIMIT


def get(config, *names, default=None):
    """The first of ``names`` that ``config`` sets (not None), else ``default``."""
    for name in names:
        value = getattr(config, name, None) if config is not None else None
        if value is not None:
            return value
    return default


def vocab_size(model, config) -> int:
    try:
        return model.get_input_embeddings().num_embeddings
    except Exception:
        return int(get(config, "vocab_size", default=2) or 2)


class Maker:
    """Tensors for the model, holding seeded values: on a meta model they stay real
    CPU tensors, which the meta forward carries as values (profiler.capture.known),
    so that the model can read them (find its image tokens, cut its patches by grid
    sizes); floating inputs too large to carry are uninitialised meta tensors.

    ``run(model, kwargs, fn=None)`` runs the model's forward (or ``fn``) to make
    inputs from its outputs (a KV cache, a tower's feature count).  It is the
    caller's (profiler.capture.known.run_forward: on a meta model, the capture's
    meta replay), since models sit below capture and import nothing from it."""

    def __init__(self, model, run: Callable[..., Any]):
        import torch
        self.torch = torch
        self.run = run
        params = [*model.parameters(), *model.buffers()]
        self.device = params[0].device if params else torch.device("cpu")
        self.dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
        # a model of fake tensors (the profiler's fake retry) gets tensors made on its device, fake too
        fake = params and type(params[0]).__name__ == "FakeTensor"
        self.meta = self.device.type == "meta" and not fake
        # two streams, so that integers are the same on a meta model (where floats draw nothing) and a real one
        self.generator, self.int_generator = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
        self._int_device = torch.device("cpu") if self.meta else self.device

    def ids(self, shape, high: int, avoid: frozenset[int] = frozenset()):
        """Token ids below ``high``, none of them in ``avoid`` (special tokens)."""
        torch = self.torch
        ids = torch.randint(0, max(1, high), shape, generator=self.int_generator)
        if avoid:
            plain = next((i for i in range(max(1, high)) if i not in avoid), 0)
            ids[torch.isin(ids, torch.tensor(sorted(avoid), dtype=ids.dtype))] = plain
        return ids.to(self._int_device)

    def ints(self, values, dtype=None):
        """A tensor of the given integers (grid sizes, image sizes)."""
        torch = self.torch
        return torch.tensor(values, dtype=dtype or torch.int64, device=self._int_device)

    def full(self, shape, value, dtype=None):
        torch = self.torch
        return torch.full(shape, value, dtype=dtype or torch.int64, device=self._int_device)

    def floats(self, shape, dtype=None):
        """Seeded random values; on a meta model, uninitialised meta tensors, but for
        inputs small enough to carry (profiler.defaults.VALUE_LIMIT elements),
        which stay real CPU tensors: a model may test its pixels' values (Idefics
        drops all-zero padding images), and the values cost nothing past the first
        layer (an op with a weight has none)."""
        torch = self.torch
        dtype = dtype or self.dtype
        if self.meta and not self._small(shape):
            return torch.empty(shape, dtype=dtype, device=self.device)
        values = torch.randn(shape, generator=self.generator).to(dtype)
        return values if self.meta else values.to(self.device)

    def _small(self, shape) -> bool:
        count = 1
        for d in shape:
            count *= int(d)
        return count <= VALUE_LIMIT

    def positions(self, start: int, count: int, batch: int):
        torch = self.torch
        return torch.arange(start, start + count, device=self._int_device).unsqueeze(0).expand(batch, count)


def shape_text(t) -> str:
    return "x".join(map(str, t.shape))


def describe(kwargs: dict) -> str:
    """The inputs' shapes: ``name AxB``; a list of tensors (feature maps by level)
    as ``name [AxB, CxD]``; a Python int as ``name=N``."""
    def text(value) -> str | None:
        if hasattr(value, "shape"):
            return shape_text(value)
        if isinstance(value, (list, tuple)) and value and all(hasattr(v, "shape") for v in value):
            return "[" + ", ".join(shape_text(v) for v in value) + "]"
        return None
    parts = [f"{k} {t}" for k, v in kwargs.items() if (t := text(v)) is not None]
    parts += [f"{k}={v}" for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool)]
    return ", ".join(parts)
