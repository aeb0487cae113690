"""Cross-check our MACs against fvcore and torch's FlopCounterMode, layer by layer.

Only dot-product work is compared (conv, linear, matmul family): fvcore's
conv/linear/matmul/einsum/bmm handles count MACs without bias, and FlopCounterMode
counts 2 FLOPs per MAC.  Both run the way their users run them: on real CPU
tensors, in eval mode, under no_grad.  Every difference gets a reason, or the
check fails.

A transformers model (``hf:``) is built for real from its config (seeded), fed
``hf.example_inputs`` made on that model, and FlopCounterMode runs under the math
SDPA backend, whose attention it counts (it has no formula for the fused CPU
kernels).  fvcore gets the keyword inputs through a wrapper that passes them by
name; where it cannot trace the model, the table says so.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from profiler.errors import first_line

FVCORE_MAC_OPS = {"conv", "linear", "matmul", "einsum", "bmm", "addmm", "baddbmm", "mm"}
ATTENTION_REASON = ("FlopCounterMode does not count the fused CPU attention kernels "
                    "(_native_multi_head_attention on the no_grad fast path, "
                    "_scaled_dot_product_flash_attention_for_cpu otherwise)")

EINSUM_REASON = ("fvcore counts a general einsum by parsing numpy's einsum_path report, which prints "
                 "the FLOP count to 4 significant digits")


@dataclass
class CheckResult:
    model: str
    input_desc: str
    table: pd.DataFrame                      # layer, ours, fvcore, flop_counter, reasons
    totals: dict[str, float]
    notes: list[str] = field(default_factory=list)
    published_gmacs: float | None = None

    @property
    def unexplained(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "UNEXPLAINED"]

    @property
    def ok(self) -> bool:
        return self.unexplained.empty


def _subtree(values: dict[str, int], name: str) -> int:
    if name == "":
        return sum(values.values())
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "."))


def _error_line(exc: BaseException) -> str:
    """The exception's type and the first sentence of its message, in at most 120 characters."""
    first = re.split(r"(?<=\.)\s", first_line(exc, typed=False), maxsplit=1)[0]
    return f"{type(exc).__name__}: {first[:120]}"


class _ByName(nn.Module):
    """Calls ``model`` with keyword inputs given positionally (fvcore traces
    positional inputs only), asking a transformers model for plain tuples and no cache."""

    def __init__(self, model: nn.Module, keys: list[str]):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *values):
        return self.model(**{"use_cache": False, "return_dict": False, **dict(zip(self.keys, values))})


class _FvcoreCounts:
    """fvcore's analysis of a model, read by our module names (``prefix``: where the
    model sits inside the module fvcore traced)."""

    def __init__(self, analysis, prefix: str = ""):
        self.analysis, self.prefix = analysis, prefix
        by_module = analysis.by_module_and_operator()
        self.macs = {self._ours(name): sum(v for op, v in ops.items() if op in FVCORE_MAC_OPS)
                     for name, ops in by_module.items() if self._ours(name) is not None}

    def _ours(self, name: str) -> str | None:
        if not self.prefix:
            return name
        if name == self.prefix.rstrip("."):
            return ""
        return name[len(self.prefix):] if name.startswith(self.prefix) else None

    def _theirs(self, name: str) -> str:
        return self.prefix + name if name else self.prefix.rstrip(".")

    def __contains__(self, name: str) -> bool:
        return name in self.macs

    def get(self, name: str, default=None):
        return self.macs.get(name, default)

    def unsupported_ops(self, name: str) -> dict[str, int]:
        return self.analysis.unsupported_ops(self._theirs(name))

    def operator_counts(self, name: str) -> dict[str, int]:
        return self.analysis.by_module_and_operator().get(self._theirs(name), {})


def _fvcore_counts(model, args, kwargs=None):
    """fvcore's MACs of MAC-type ops per module subtree (a ``_FvcoreCounts``), or an error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's own deprecation chatter
            from fvcore.nn import FlopCountAnalysis
            prefix = ""
            if kwargs:
                model, args, prefix = _ByName(model, list(kwargs)), (*args, *kwargs.values()), "model."
            analysis = FlopCountAnalysis(model, args)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            return _FvcoreCounts(analysis, prefix), None
    except Exception as exc:
        return None, _error_line(exc)


def _flop_counter_counts(model, args, kwargs=None, math_sdpa: bool = False) -> tuple[dict[str, int], str | None]:
    """FlopCounterMode's MACs (its FLOPs / 2) per module subtree, by our names;
    ``math_sdpa``: under the math attention backend, whose matmuls it counts."""
    import contextlib

    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    backend = contextlib.nullcontext()
    if math_sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = sdpa_kernel(SDPBackend.MATH)
    try:
        with torch.no_grad(), backend, counter:
            model(*args, **(kwargs or {}))
    except Exception as exc:
        return {}, _error_line(exc)
    root = type(model).__name__
    out = {}
    for name, ops in counter.get_flop_counts().items():
        if name == root:
            out[""] = sum(ops.values()) // 2
        elif name.startswith(root + "."):
            out[name[len(root) + 1:]] = sum(ops.values()) // 2
    return out, None


def _has_attention(model: nn.Module, name: str) -> bool:
    module = model.get_submodule(name) if name else model
    return any(isinstance(m, nn.MultiheadAttention) for m in module.modules())


def _published_gap_notes(spec, size, batch, published) -> list[str]:
    """Why a non-classification model's figure can differ from the published one."""
    from profiler.api import profile
    if spec.family == "video" and size[1] != 16:
        at16 = profile(spec.name, input_size=(size[0], 16, *size[2:]), batch=batch, native=True)
        return [f"torchvision's video figures are per 16-frame clip: ours at 16 frames is "
                f"{at16.total['macs'] / 1e9:.3f} G"]
    if spec.family == "segmentation":
        return ["segmentation figures include the auxiliary head (aux_loss=True); `--input native` "
                "builds it, the default build does not"]
    if spec.family == "detection":
        return ["detection figures were counted by torchvision with the pretrained weights on one random "
                "512x512 image, which lets fewer boxes through than our bound (every candidate passes, "
                "NMS keeps every box); `--input native` uses that image"]
    if spec.family == "optical_flow":
        return ["the weights' metadata does not state the frame size of the published figure; "
                "RAFT's cost grows faster than the pixel count (all-pairs correlation)"]
    return []


def check(model, input_size=None, batch: int = 1, native: bool = False, tokens: int | None = None,
          decode: int | None = None, config: dict | None = None) -> CheckResult:
    """Profile ``model`` and compare per-layer and total MACs with fvcore and
    FlopCounterMode.  Accepts what ``profile`` accepts (a name or an nn.Module);
    ``tokens``, ``decode`` and ``config`` as for ``profile`` (hf:/timm: models)."""
    from profiler.api import _build_real, profile
    from profiler.errors import ProfilerError
    from profiler.capture.inputs import example_args, materialize
    from profiler.capture.twins import real_maker
    from profiler.capture.modes import kept_modes
    from profiler.models.resolve import resolve
    from profiler.models.weights import weights_meta

    spec = resolve(model, config, native=native) if isinstance(model, str) else None
    hf = spec is not None and spec.config is not None
    if hf and (input_size is not None or native):
        raise ProfilerError(f"{spec.name}: check makes a transformers model's inputs itself; "
                            "give tokens= (or decode=) instead of input_size=")
    language = {k: v for k, v in (("tokens", tokens), ("decode", decode), ("config", config)) if v is not None}
    report = profile(model, input_size=input_size, batch=batch, native=native, **language)
    if spec is not None:
        real = _build_real(spec)
        family = spec.family
    else:
        real, family = model, "custom"
    size = report.input_size
    with kept_modes(real):
        real.eval()
        if hf:
            from profiler.capture.known import run_forward
            from profiler.models.hf import example_inputs
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                args, kwargs, _ = example_inputs(real, spec.config, batch, tokens=tokens, decode=decode,
                                                 run=run_forward)
        else:
            args = materialize(example_args(family, size, batch), real_maker(), torch.float32,
                               torch.Generator().manual_seed(0), device="cpu")
            kwargs = {}
        fv, fv_error = _fvcore_counts(real, args, kwargs)
        fc, fc_error = _flop_counter_counts(real, args, kwargs, math_sdpa=hf)

    layers = report.layers
    ours_by_name = layers.groupby("name", sort=False)["macs"].sum()
    ours = {("" if k == "(model)" else k): int(v) for k, v in ours_by_name.items()}
    names = [n for n in ours if ours[n]] + [""]
    rows = []
    for name in names:
        mine = _subtree(ours, name)
        theirs_fv = fv.get(name) if fv is not None else None
        theirs_fc = fc.get(name, 0) if fc_error is None else None
        reasons, status = [], "match"
        if fv_error:
            reasons.append(f"fvcore cannot trace this model ({fv_error})")
        elif theirs_fv is not None and theirs_fv != mine:
            skipped = fv.unsupported_ops(name) if name in fv else {}
            mac_like = {op: n for op, n in skipped.items()
                        if any(k in op for k in ("attention", "matmul", "einsum", "bmm", "conv", "linear"))}
            einsum = fv.operator_counts(name).get("einsum", 0)
            if mac_like:
                reasons.append("fvcore has no handle for " + ", ".join(f"{op}×{n}" for op, n in mac_like.items()))
            elif einsum and abs(theirs_fv - mine) * 1000 < einsum:
                reasons.append(EINSUM_REASON)
            else:
                status = "UNEXPLAINED"
        if fc_error:
            reasons.append(f"FlopCounterMode failed ({fc_error})")
        elif theirs_fc is not None and theirs_fc != mine:
            if _has_attention(real, name):
                reasons.append(ATTENTION_REASON)
            else:
                status = "UNEXPLAINED"
        if reasons and status == "match":
            status = "explained"
        rows.append(dict(layer=name or "(total)", ours=mine, fvcore=theirs_fv, flop_counter=theirs_fc,
                         fvcore_diff=None if theirs_fv is None else mine - theirs_fv,
                         flop_counter_diff=None if theirs_fc is None else mine - theirs_fc,
                         status=status, reason="; ".join(reasons)))
    table = pd.DataFrame(rows)
    total = table.iloc[-1]
    published = weights_meta(spec.name).get("_ops") if spec is not None and spec.family != "custom" else None
    notes = list(report.notes)
    if hf:
        notes.append("FlopCounterMode ran under the math SDPA backend (sdpa_kernel(SDPBackend.MATH)), "
                     "whose attention matmuls it counts")
    if published is not None:
        notes.append(f"torchvision publishes {published} GMACs (\"GFLOPS\") for the DEFAULT weights at their "
                     f"own input; ours here: {total['ours'] / 1e9:.3f} G at {report.input_desc}")
        notes += _published_gap_notes(spec, size, batch, published)
    return CheckResult(report.model, report.input_desc, table,
                       {"ours": total["ours"], "fvcore": total["fvcore"], "flop_counter": total["flop_counter"]},
                       notes, published)
