"""Example tensors for a transformers model, and the small readers the input
rules share: config fields by any of their names, the token vocabulary, shapes as text."""
from __future__ import annotations



def get(config, *names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def vocab_size(model, config) -> int:
    try:
        return model.get_input_embeddings().num_embeddings
    except Exception:
        return int(get(config, "vocab_size", default=2) or 2)


class Maker:
    """Tensors on the model's device: uninitialised on meta, seeded random elsewhere."""

    def __init__(self, model):
        import torch
        self.torch = torch
        params = [*model.parameters(), *model.buffers()]
        self.device = params[0].device if params else torch.device("cpu")
        self.dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
        self.meta = self.device.type == "meta"
        self.generator = None if self.meta else torch.Generator().manual_seed(0)

    def ids(self, shape, high: int):
        torch = self.torch
        if self.meta:
            return torch.empty(shape, dtype=torch.int64, device=self.device)
        return torch.randint(0, max(1, high), shape, generator=self.generator).to(self.device)

    def floats(self, shape):
        torch = self.torch
        if self.meta:
            return torch.empty(shape, dtype=self.dtype, device=self.device)
        return torch.randn(shape, generator=self.generator).to(self.device, self.dtype)

    def positions(self, start: int, count: int, batch: int):
        torch = self.torch
        return torch.arange(start, start + count, device=self.device).unsqueeze(0).expand(batch, count)


def shape_text(t) -> str:
    return "x".join(map(str, t.shape))


def describe(kwargs: dict) -> str:
    return ", ".join(f"{k} {shape_text(v)}" for k, v in kwargs.items() if hasattr(v, "shape"))
