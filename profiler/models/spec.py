"""How to build one model (``ModelSpec``), and the meta-device build it uses.

Kept apart from the name resolution in profiler.models.resolve so that the builders of
profiler.models.hf (hf:), profiler.models.timm_models (timm:) and profiler.models.resolve can both make specs without
importing each other.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from profiler.errors import ProfilerError, first_line


@dataclass
class ModelSpec:
    """How to build one model, and what it eats by default."""

    name: str
    builder: Callable[..., Any]
    # classification, segmentation, detection, video, optical_flow, custom; hf: models
    # language, vision, vision-language, speech, audio (profiler.models.hf.HF_FAMILIES)
    family: str
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    config: Any = None                         # an hf: model's transformers config (inputs: hf.example_inputs)
    input_size: tuple[int, ...] | None = None  # the default per-sample input, where the model says (timm:)
    notes: list[str] = field(default_factory=list)   # for the report: what was built, and how
    # why the last meta build failed (its first line), for the real build's refusal
    meta_error: str | None = field(default=None, repr=False, compare=False)

    def build(self, meta: bool):
        """Build the model; on the meta device (no real weights) when ``meta``.

        A builder that needs real values for its own arithmetic (RegNet computes its
        block widths with torch ops and ``.tolist()``) fails when every tensor is
        meta; it is then built again with only the tensors that module constructors
        create on meta (see ``meta_in_constructors``).  If that fails too, the first
        error is raised, and its first line kept in ``meta_error``.

        The real build (``meta=False``) takes real memory: it is refused before it
        starts when the config shows it is above ``real_limit_bytes()`` (the input
        embedding alone, ``vocab_size * hidden_size``), and stopped with a
        ``ProfilerError`` the moment the parameters and buffers it has registered
        pass that limit (``RealBuildGuard``)."""
        import torch
        if not meta:
            return self._build_real()
        self.meta_error = None
        try:
            with torch.device("meta"):
                return self.builder(**self.build_kwargs)
        except Exception as exc:
            first = exc
        try:
            with meta_in_constructors():
                return self.builder(**self.build_kwargs)
        except Exception:
            self.meta_error = first_line(first)
            raise first from None

    def build_seeded(self):
        """Build the model with real weights drawn from seed 0 (the same weights every
        time), leaving the caller's torch random state as it was; within the memory
        limit, as ``build(meta=False)``."""
        import torch
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return self.build(meta=False)

    def _build_real(self):
        from profiler.arguments import real_limit_bytes
        limit = real_limit_bytes()
        why = f"the meta build failed ({self.meta_error}); " if self.meta_error else ""
        estimate = config_lower_bound(self.config)
        if estimate is not None and estimate[0] > limit:
            raise ProfilerError(f"{self.name}: {why}a real build would take at least {_gib(estimate[0])} "
                                f"({estimate[1]}), above the {_gib(limit)} limit: {REAL_BUILD_FIX}")
        guard = RealBuildGuard(limit)
        try:
            with guard:
                return self.builder(**self.build_kwargs)
        except RealBuildTooBig as exc:
            raise ProfilerError(f"{self.name}: {why}the real build stopped at {_gib(exc.reached)} of parameters "
                                f"and buffers, above the {_gib(limit)} limit: {REAL_BUILD_FIX}") from None


REAL_BUILD_FIX = "raise PROFILER_REAL_LIMIT_GB or shrink the config (config= overrides such as num_hidden_layers=2)"


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def config_lower_bound(config) -> tuple[int, str] | None:
    """(bytes, what) a real build of a transformers ``config`` takes at least, where
    the config says cheaply: its input embedding, ``vocab_size`` rows as wide as
    ``hidden_size`` (``embedding_size`` or ``word_embed_proj_dim`` where the config
    factorizes it: ALBERT, OPT), of 2 bytes or more (the smallest floating type a
    build uses); None where the config has no such fields.  A lower bound, so that
    it does not refuse a build that fits; the guard during the build catches the rest."""
    vocab = getattr(config, "vocab_size", None)
    hidden = next((w for w in (getattr(config, k, None) for k in ("embedding_size", "word_embed_proj_dim"))
                   if isinstance(w, int)), getattr(config, "hidden_size", None))
    if not (isinstance(vocab, int) and isinstance(hidden, int)) or isinstance(vocab, bool) \
            or isinstance(hidden, bool) or vocab <= 0 or hidden <= 0:
        return None
    return vocab * hidden * 2, f"an input embedding of {vocab} x {hidden} values"


class RealBuildTooBig(BaseException):
    """Raised inside a real build by ``RealBuildGuard`` past its limit.  Not an
    ``Exception``: a builder's own ``except Exception`` (a fallback, a retry) must
    not swallow it and go on allocating."""

    def __init__(self, reached: int, limit: int):
        super().__init__(f"{reached} bytes of parameters and buffers, above the limit of {limit}")
        self.reached, self.limit = reached, limit


class RealBuildGuard:
    """A context that counts the bytes of every parameter and buffer any module
    registers (torch's global registration hooks), and raises ``RealBuildTooBig``
    from the registration that takes the total past ``limit``: a real build stops
    one tensor past the limit, not when it has taken all it wants.  A storage is
    counted once (tied weights, a tensor registered twice); meta tensors are free.
    The hooks are removed on exit, whatever happened."""

    def __init__(self, limit: int):
        self.limit = limit
        self.reached = 0
        self._storages: dict[tuple, int] = {}
        self._handles: list = []

    def _count(self, module, name, tensor):
        if tensor is None or tensor.device.type == "meta":    # register_buffer(name, None)
            return None
        try:
            storage = tensor.untyped_storage()
            key, size = (storage.data_ptr(), storage.nbytes()), storage.nbytes()
        except Exception:          # a tensor subclass without one storage: its own size
            key, size = ("id", id(tensor)), tensor.numel() * tensor.element_size()
        if key not in self._storages:
            self._storages[key] = size
            self.reached += size
            if self.reached > self.limit:
                raise RealBuildTooBig(self.reached, self.limit)
        return None

    def __enter__(self):
        from torch.nn.modules import module
        self._handles = [module.register_module_parameter_registration_hook(self._count),
                         module.register_module_buffer_registration_hook(self._count)]
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False


def meta_in_constructors():
    """A context in which tensors made inside an ``nn.Module`` constructor (its
    parameters and buffers) go to the meta device, and tensors made anywhere else
    stay on the default device, so a builder can compute with real values before
    it constructs the modules."""
    import torch
    from torch.overrides import TorchFunctionMode

    def in_constructor() -> bool:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module):
                return True
            frame = frame.f_back
        return False

    class MetaInConstructors(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if in_constructor():
                with torch.device("meta"):
                    return func(*args, **kwargs)
            return func(*args, **kwargs)

    return MetaInConstructors()
