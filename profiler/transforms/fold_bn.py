"""Fold inference-mode BatchNorm into the convolution or linear layer before it.

In eval mode a BatchNorm with running statistics is the per-channel affine map
y = x·s + t, with s = γ/√(var+ε) and t = β − mean·s.  When it reads the output of
a conv or linear layer z = W·x + b and nothing else reads z, then
y = (s·W)·x + (s·b + t): the layer's weights are scaled per output channel, its
bias becomes s·b + t (a bias is added if it had none), and the BatchNorm becomes
nn.Identity.  The products are formed in float64 and rounded once to the
layer's dtype.

"Directly follows" is read off a torch.fx trace of the model: the BatchNorm's
input is the output of a Conv*/ConvTranspose*/Linear call, that output has no
other user, and each of the two modules is called once.  A model that fx cannot
trace (data-dependent control flow, as in detection models) is searched part by
part: each child module is traced on its own, recursively, and the adjacent
children of an untraceable nn.Sequential pair up.  A Linear followed by BatchNorm1d is folded
only when their widths match; BatchNorm1d normalises dimension 1, which is the
Linear's feature dimension for the usual 2-D (batch, features) activations.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import fx, nn
from torchvision.ops import FrozenBatchNorm2d

from profiler.errors import ProfilerError, first_line
from profiler.transforms.outputs import max_output_difference

_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
_NORMS = (nn.modules.batchnorm._BatchNorm, FrozenBatchNorm2d)


@dataclass
class FoldResult:
    """``model``: the folded copy.  ``folded``: (batchnorm, layer it went into)
    names.  ``unfoldable``: (batchnorm, reason) for each one left in place.
    ``method``: "fx" when the whole model was traced, "fx by submodule" when
    only its parts could be (see ``_find_pairs``)."""

    model: nn.Module
    folded: list[tuple[str, str]] = field(default_factory=list)
    unfoldable: list[tuple[str, str]] = field(default_factory=list)
    method: str = "fx"


def _describe(node) -> str:
    if not isinstance(node, fx.Node):
        return f"a constant ({node!r})"
    if node.op == "call_module":
        return f"'{node.target}'"
    if node.op == "placeholder":
        return "the model input"
    return f"{getattr(node.target, '__name__', node.target)}"


class _Tracer(fx.Tracer):
    """Keeps torchvision's FrozenBatchNorm2d whole, as fx keeps torch.nn's own layers."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _NORMS) or super().is_leaf_module(m, qualname)


def _pairs_by_trace(model: nn.Module) -> tuple[dict[str, str], dict[str, str]]:
    """(batchnorm name → layer name) for the foldable pairs, and (batchnorm name →
    reason) for every other BatchNorm that the forward calls."""
    graph = _Tracer().trace(model)
    modules = dict(model.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    pairs, reasons = {}, {}
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _NORMS):
            continue
        name, src = node.target, node.args[0] if node.args else None
        if calls[name] > 1:
            reasons[name] = f"called {calls[name]} times"
        elif not (isinstance(src, fx.Node) and src.op == "call_module"
                  and isinstance(modules[src.target], _LAYERS)):
            reasons[name] = f"follows {_describe(src)}, not a convolution or linear layer"
        elif calls[src.target] > 1:
            reasons[name] = f"its input layer '{src.target}' is called {calls[src.target]} times"
        elif len(src.users) > 1:
            others = ", ".join(_describe(u) for u in src.users if u is not node)
            reasons[name] = f"the output of '{src.target}' is also read by {others}"
        else:
            pairs[name] = src.target
    return pairs, reasons


def _find_pairs(module: nn.Module, prefix: str = "") -> tuple[dict[str, str], dict[str, str], bool]:
    """Pairs and reasons as ``_pairs_by_trace``, names prefixed; a module that fx
    cannot trace is searched child by child (adjacent children of an nn.Sequential
    pair up too).  The flag says whether ``module`` itself was traced whole."""
    try:
        pairs, reasons = _pairs_by_trace(module)
        return ({prefix + k: prefix + v for k, v in pairs.items()},
                {prefix + k: r for k, r in reasons.items()}, True)
    except Exception as exc:  # untraceable forward: what its parts and nn.Sequential guarantee
        why = f"not after a conv/linear in a traceable part ({prefix.rstrip('.') or 'the model'}: {first_line(exc)})"
    pairs, reasons = {}, {}
    children = list(module.named_children())
    if isinstance(module, nn.Sequential):
        for (a_name, a), (b_name, b) in zip(children, children[1:]):
            if isinstance(a, _LAYERS) and isinstance(b, _NORMS):
                pairs[prefix + b_name] = prefix + a_name
    for name, child in children:
        if isinstance(child, _NORMS):
            reasons.setdefault(prefix + name, why)
        elif any(isinstance(m, _NORMS) for m in child.modules()):
            inner_pairs, inner_reasons, _ = _find_pairs(child, f"{prefix}{name}.")
            pairs.update(inner_pairs)
            reasons.update(inner_reasons)
    return pairs, reasons, False


def _unfit(bn: nn.Module, layer: nn.Module) -> str:
    """Why this BatchNorm cannot be folded into this layer, or ''."""
    if isinstance(bn, nn.modules.batchnorm._BatchNorm):
        if bn.training:
            return "in training mode: it normalises with batch statistics"
        if bn.running_mean is None or bn.running_var is None:
            return "no running statistics (track_running_stats=False)"
    if any(isinstance(t, nn.parameter.UninitializedTensorMixin)
           for t in (*layer.parameters(), *bn.parameters(), *bn.buffers())):
        return "uninitialized lazy parameters"
    out_channels = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
    if bn.running_mean.numel() != out_channels:
        return f"{bn.running_mean.numel()} channels after a layer with {out_channels} outputs"
    return ""


def _fold_into(layer: nn.Module, bn: nn.Module) -> None:
    """Scale the layer's output channels by s and set its bias to s·b + t."""
    mean, var = bn.running_mean.double(), bn.running_var.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
    scale = gamma / torch.sqrt(var + bn.eps)
    shift = beta - mean * scale
    weight = layer.weight.detach().double()
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        # weight is (C_in, C_out/groups, *k): output channel = group·(C_out/groups) + column
        g, rest = layer.groups, weight.shape[2:]
        folded = (weight.view(g, -1, weight.shape[1], *rest)
                  * scale.view(g, 1, -1, *[1] * len(rest))).view(weight.shape)
    else:
        folded = weight * scale.view(-1, *[1] * (weight.dim() - 1))
    bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros_like(mean)
    new_bias = bias * scale + shift
    with torch.no_grad():
        layer.weight.copy_(folded.to(layer.weight.dtype))
        if layer.bias is None:
            layer.bias = nn.Parameter(new_bias.to(layer.weight.dtype),
                                      requires_grad=layer.weight.requires_grad)
        else:
            layer.bias.copy_(new_bias.to(layer.bias.dtype))


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, new)


def fold_batchnorm(model: nn.Module) -> FoldResult:
    """A copy of ``model`` with every foldable BatchNorm folded (see the module
    docstring); the input model is not modified.  Raises ProfilerError for a model
    in training mode, where BatchNorm uses batch statistics that no fixed weights
    can reproduce."""
    if not isinstance(model, nn.Module):
        raise ProfilerError(f"expected an nn.Module, got {type(model).__name__}")
    if model.training:
        raise ProfilerError("cannot fold BatchNorm: the model is in training mode, where "
                            "BatchNorm normalises with batch statistics; call model.eval() first")
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise ProfilerError("cannot fold BatchNorm: the model is on the meta device (no weights)")
    new = copy.deepcopy(model)
    norms = {name: m for name, m in new.named_modules(remove_duplicate=False) if isinstance(m, _NORMS)}
    shared = {name for name, m in norms.items() if sum(x is m for x in norms.values()) > 1}
    pairs, reasons, whole = _find_pairs(new)
    method = "fx" if whole else "fx by submodule"
    result = FoldResult(new, method=method)
    modules = dict(new.named_modules())
    for name in norms:
        reason = "the same module is reachable under several names" if name in shared else ""
        if not reason and name not in pairs:
            reason = reasons.get(name, "not called by the forward")
        layer = modules.get(pairs.get(name, ""))
        reason = reason or _unfit(norms[name], layer)
        if reason:
            result.unfoldable.append((name, reason))
            continue
        _fold_into(layer, norms[name])
        _replace(new, name, nn.Identity())
        result.folded.append((name, pairs[name]))
    return result


def fold_difference(result: FoldResult, original: nn.Module, input_size: tuple[int, ...],
                    batch: int = 1, seed: int = 0) -> float:
    """Max |original(x) − folded(x)| on one seeded random input."""
    return max_output_difference(original, result.model, input_size, batch, seed)
