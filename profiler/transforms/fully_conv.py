"""Turn a Flatten → Linear … classifier into convolutions (a fully convolutional net).

The model is traced with torch.fx.  Everything before the last flatten (of all
dimensions after the batch) is the feature extractor; everything after it must be
a chain of Linear layers with elementwise activations, dropout, BatchNorm1d and a
final softmax over the classes between them.  At the window size the classifier
was built for, the features are C×h×w and the first Linear, of C·h·w inputs,
becomes Conv2d(C, n, kernel h×w) with its weight reshaped to (n, C, h, w) (the
flatten order); later Linears become 1×1 convolutions.

Adaptive pools in the feature extractor are fixed to what they do at the window
size: a pool from h to h is dropped; from h to 1 (global pooling) it becomes a
pool of kernel h and stride 1; from h to h/k a pool of kernel and stride k; any
other ratio cannot slide and is refused.

On a larger image the result is a score map.  Its position (i, j) is the
original network run on the window at (i·S_h, j·S_w), S the network's total
stride, exactly when no layer of the feature extractor pads: padding sees zeros
at the window's border but real pixels inside a larger image.
"""
from __future__ import annotations

import contextlib
import copy
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.shape_prop import ShapeProp

from profiler.errors import ProfilerError, first_line
from profiler.capture.modes import eval_state
from profiler.transforms.outputs import model_dtype

_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Threshold, nn.LeakyReLU, nn.PReLU, nn.RReLU,
              nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.Sigmoid, nn.LogSigmoid, nn.Tanh, nn.SiLU,
              nn.Mish, nn.Softplus, nn.Hardswish, nn.Hardsigmoid, nn.Identity)
_FUNCTIONS = {torch.relu: nn.ReLU, F.relu: nn.ReLU, F.relu6: nn.ReLU6, torch.sigmoid: nn.Sigmoid,
              F.sigmoid: nn.Sigmoid, torch.tanh: nn.Tanh, F.tanh: nn.Tanh, F.silu: nn.SiLU,
              F.gelu: nn.GELU, F.hardswish: nn.Hardswish, F.dropout: nn.Identity}
_METHODS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
_ADAPTIVE = {"adaptive_avg_pool2d": nn.AvgPool2d, "adaptive_max_pool2d": nn.MaxPool2d}


@dataclass
class FullyConv:
    """``model``: Sequential(features, classifier), the features an fx GraphModule.
    ``window``: the per-sample input size (C, h, w) the classifier was built for.
    ``stride``: the total stride (S_h, S_w) of the feature extractor.
    ``converted``: (original layer, what it became).  ``padded``: layers of the
    feature extractor that pad, which make the sliding-window equality approximate."""

    model: nn.Sequential
    window: tuple[int, ...]
    stride: tuple[int, int]
    converted: list[tuple[str, str]] = field(default_factory=list)
    padded: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _quiet_fake():
    """FakeTensorMode logs a traceback for every op that fails; here failing is an answer."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _name(node: fx.Node) -> str:
    if node.op in ("call_module", "call_method"):
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target))


def _is_flatten(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """flatten(x, 1), x.flatten(1), nn.Flatten() or x.view/reshape(x.size(0), -1)."""
    args, kwargs = node.args, node.kwargs
    if node.op == "call_module":
        m = modules[node.target]
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    if (node.op == "call_function" and node.target is torch.flatten) or \
            (node.op == "call_method" and node.target == "flatten"):
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target in ("view", "reshape"):
        sizes = args[1:] if len(args) > 2 else (args[1] if len(args) == 2 else ())
        return len(sizes) == 2 and sizes[1] == -1
    return False


def _shape(node) -> tuple[int, ...]:
    return tuple(node.meta["tensor_meta"].shape)


def _fixed_pool(pool_class, x_shape, out_shape, where: str) -> nn.Module:
    """The fixed pool that an adaptive one equals at the window size."""
    kernel, stride = [], []
    for a, b in zip(x_shape[-2:], out_shape[-2:]):
        if b == 1:
            kernel.append(a), stride.append(1)
        elif a % b == 0:
            kernel.append(a // b), stride.append(a // b)
        else:
            raise ProfilerError(f"adaptive pool '{where}' maps {a} to {b} at this window size, which "
                                f"no sliding pool reproduces; choose a window where it divides evenly")
    if kernel == [1, 1] and stride == [1, 1]:
        return nn.Identity()
    return pool_class(kernel_size=tuple(kernel), stride=tuple(stride))


def _fix_adaptive_pools(gm: fx.GraphModule) -> None:
    modules = dict(gm.named_modules())
    for i, node in enumerate(list(gm.graph.nodes)):
        if node.op == "call_module" and isinstance(modules[node.target], nn.modules.pooling._AdaptiveAvgPoolNd):
            pool_class = nn.AvgPool2d
        elif node.op == "call_module" and isinstance(modules[node.target], nn.modules.pooling._AdaptiveMaxPoolNd):
            pool_class = nn.MaxPool2d
        elif node.op == "call_function" and _name(node) in _ADAPTIVE:
            pool_class = _ADAPTIVE[_name(node)]
        else:
            continue
        if len(_shape(node)) != 4:
            raise ProfilerError(f"adaptive pool '{_name(node)}' is not 2-D: only 2-D feature maps can slide")
        pool = _fixed_pool(pool_class, _shape(node.args[0]), _shape(node), _name(node))
        target = f"sliding_pool_{i}"
        gm.add_submodule(target, pool)
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(target, (node.args[0],))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _node_stride(node: fx.Node, modules) -> tuple[int, int]:
    """The stride this node applies to its input's spatial grid."""
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            raise ProfilerError(f"'{node.target}' is a transposed convolution: the features upsample")
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d)):
            return _pair(m.stride if m.stride is not None else m.kernel_size)
    elif node.op == "call_function" and _name(node) in ("max_pool2d", "_max_pool2d", "avg_pool2d",
                                                         "max_pool2d_with_indices", "conv2d"):
        conv = _name(node) == "conv2d"
        at = 3 if conv else 2  # conv2d(x, w, b, stride), max_pool2d(x, kernel, stride)
        stride = node.args[at] if len(node.args) > at else node.kwargs.get("stride")
        if not stride:
            stride = 1 if conv else (node.args[1] if len(node.args) > 1 else node.kwargs["kernel_size"])
        return _pair(stride)
    return (1, 1)


def _total_stride(gm: fx.GraphModule, end: fx.Node) -> tuple[int, int]:
    """Strides multiplied along the graph up to ``end`` (branches that meet, as
    in residual additions, have equal strides; the larger is taken)."""
    modules = dict(gm.named_modules())
    jumps: dict[fx.Node, tuple[int, int]] = {}
    for node in gm.graph.nodes:
        before = [jumps[a] for a in node.all_input_nodes if a in jumps]
        h = max((j[0] for j in before), default=1)
        w = max((j[1] for j in before), default=1)
        s = _node_stride(node, modules)
        jumps[node] = (h * s[0], w * s[1])
        if node is end:
            break
    return jumps[end]


def _pads(pad) -> bool:
    if isinstance(pad, str):
        return pad == "same"
    return any(_pair(pad))


def _padded(gm: fx.GraphModule) -> list[str]:
    """Layers of the feature extractor that pad their input."""
    found = [name for name, m in gm.named_modules()
             if (isinstance(m, (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd,
                                nn.modules.pooling._AvgPoolNd)) and _pads(m.padding))
             or isinstance(m, (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                               nn.modules.padding._ReplicationPadNd, nn.modules.padding._CircularPadNd))]
    return found + [n.name for n in gm.graph.nodes if n.op == "call_function" and _name(n) == "pad"]


def _convert(node: fx.Node, modules, first: bool, flat_shape) -> nn.Module:
    """The 4-D equivalent of one classifier op."""
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Linear):
            c, h, w = flat_shape[1:] if first else (m.in_features, 1, 1)
            if first and m.in_features != c * h * w:
                raise ProfilerError(f"'{node.target}' takes {m.in_features} features but the "
                                    f"flattened map is {c}×{h}×{w}")
            conv = nn.Conv2d(c, m.out_features, (h, w), bias=m.bias is not None,
                             device=m.weight.device, dtype=m.weight.dtype)
            with torch.no_grad():
                conv.weight.copy_(m.weight.reshape(m.out_features, c, h, w))
                if m.bias is not None:
                    conv.bias.copy_(m.bias)
            return conv
        if isinstance(m, _ELEMENTWISE):
            return copy.deepcopy(m)
        if isinstance(m, nn.modules.dropout._DropoutNd):
            return nn.Dropout(m.p)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)) and m.dim in (1, -1):
            return type(m)(dim=1)
        if isinstance(m, nn.BatchNorm1d):
            bn = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                                device=m.running_mean.device if m.running_mean is not None else None)
            bn.load_state_dict(m.state_dict())
            return bn
    elif node.op == "call_function" and node.target in _FUNCTIONS:
        return _FUNCTIONS[node.target]()
    elif node.op in ("call_function", "call_method") and _name(node) in ("softmax", "log_softmax"):
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if dim in (1, -1):
            return (nn.Softmax if _name(node) == "softmax" else nn.LogSoftmax)(dim=1)
    elif node.op == "call_method" and node.target in _METHODS:
        return _METHODS[node.target]()
    raise ProfilerError(f"the classifier's '{_name(node)}' has no convolutional equivalent "
                        f"(supported after the flatten: Linear, elementwise activations, dropout, "
                        f"BatchNorm1d, softmax over the classes)")


def _classifier_chain(flat: fx.Node) -> list[fx.Node]:
    """The nodes from the flatten to the output, each reading only the one before."""
    chain, node = [], flat
    while True:
        users = list(node.users)
        if len(users) != 1:
            raise ProfilerError(f"the flattened features are read by {len(users)} ops, not one chain")
        user = users[0]
        if user.op == "output":
            if user.args[0] is not node:
                raise ProfilerError("the model returns more than the classifier's output")
            return chain
        others = [a for a in user.all_input_nodes if a is not node]
        if others:
            raise ProfilerError(f"the classifier's '{_name(user)}' also reads '{_name(others[0])}'")
        chain.append(user)
        node = user


def _classifier(model: nn.Module) -> tuple[fx.GraphModule, fx.Node, list[fx.Node], list[fx.Node]]:
    """A traced copy of ``model``, its last flatten, the classifier chain after it
    and the chain's Linear nodes; ProfilerError naming why when there is none."""
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ProfilerError(f"{type(model).__name__} has no Linear layer: there is no "
                            f"classifier to make convolutional")
    try:
        gm = fx.symbolic_trace(copy.deepcopy(model))
    except Exception as exc:
        raise ProfilerError(f"cannot trace {type(model).__name__} with torch.fx: {first_line(exc)}") from exc
    modules = dict(gm.named_modules())
    flats = [n for n in gm.graph.nodes if _is_flatten(n, modules)]
    if not flats:
        raise ProfilerError(f"{type(model).__name__} has no flatten before a Linear classifier "
                            f"(its Linear layers read something else than flattened feature maps)")
    chain = _classifier_chain(flats[-1])
    linears = [n for n in chain if n.op == "call_module" and isinstance(modules[n.target], nn.Linear)]
    if not linears:
        raise ProfilerError("no Linear layer follows the last flatten")
    return gm, flats[-1], chain, linears


def infer_window(model: nn.Module, channels: int, largest: int = 4096) -> tuple[int, int, int]:
    """The smallest square input (channels, s, s) whose flattened features fill the
    first Linear exactly: the window a classifier without adaptive pooling was
    built for.  With adaptive pooling any input fits, and ProfilerError asks for
    the window."""
    gm, flat, _, linears = _classifier(model)
    modules = dict(gm.named_modules())
    adaptive = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
    if any((n.op == "call_module" and isinstance(modules[n.target], adaptive))
           or (n.op == "call_function" and _name(n).startswith("adaptive_")) for n in gm.graph.nodes):
        raise ProfilerError(f"{type(model).__name__} pools adaptively, so any input size fits its "
                            f"classifier: give the window it was built for (window=(C, H, W))")
    want = modules[linears[0].target].in_features
    next(n for n in gm.graph.nodes if n.op == "output").args = (flat.args[0],)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    dtype = model_dtype(model)

    def features(side: int) -> int:
        try:
            with _quiet_fake(), FakeTensorMode(allow_non_fake_inputs=True), eval_state(gm):
                return gm(torch.empty(1, channels, side, side, dtype=dtype)).numel()
        except Exception:  # too small for some layer
            return 0

    lo, hi = 1, largest
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if features(mid) < want else (lo, mid)
    if features(lo) != want:
        raise ProfilerError(f"no square input up to {largest} gives the first Linear its {want} "
                            f"features: give the window (window=(C, H, W))")
    return (channels, lo, lo)


def to_fully_convolutional(model: nn.Module, input_size: tuple[int, ...]) -> FullyConv:
    """Convert ``model``'s Flatten → Linear … classifier into convolutions (see the
    module docstring).  ``input_size`` is the per-sample window (C, h, w) the
    classifier was built for.  The input model is not modified.  Raises
    ProfilerError naming why a model cannot be converted."""
    if len(input_size) != 3:
        raise ProfilerError(f"the window must be C×H×W, got {'x'.join(map(str, input_size))}")
    gm, flat, chain, linears = _classifier(model)
    modules = dict(gm.named_modules())

    fake = FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        x = torch.empty((1, *input_size), dtype=model_dtype(model))
    with eval_state(gm):
        try:  # a plain run first: ShapeProp prints a traceback of its own on failure
            with _quiet_fake(), fake:
                gm(x)
        except Exception as exc:
            raise ProfilerError(f"{type(model).__name__} does not run on a {'x'.join(map(str, input_size))} "
                                f"window: {first_line(exc)}") from exc
        ShapeProp(gm, fake_mode=fake).propagate(x)
    features = flat.args[0]
    flat_shape = _shape(features)
    if len(flat_shape) != 4:
        raise ProfilerError(f"the flatten reads a {len(flat_shape)}-D tensor, not a 4-D feature map")

    layers, converted, seen_linear = OrderedDict(), [], False
    for node in chain:
        if not seen_linear and node.op == "call_module" and isinstance(modules[node.target], nn.BatchNorm1d):
            raise ProfilerError(f"'{node.target}' normalises the flattened features one by one: "
                                f"fold it into the layer before it first")
        layer = _convert(node, modules, node is linears[0], flat_shape)
        seen_linear = seen_linear or node in linears
        name = str(node.target).replace(".", "_") if node.op == "call_module" else node.name
        layers[name] = layer
        converted.append((_name(node), repr(layer)))

    _fix_adaptive_pools(gm)
    features = flat.args[0]  # the node feeding the flatten may have been a replaced pool
    output = next(n for n in gm.graph.nodes if n.op == "output")
    output.args = (features,)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    stride = _total_stride(gm, features)
    result = FullyConv(nn.Sequential(OrderedDict(features=gm, classifier=nn.Sequential(layers))),
                       tuple(input_size), stride, converted, _padded(gm))
    result.model.train(model.training)
    _check_stride(result, flat_shape)
    return result


def _check_stride(result: FullyConv, flat_shape) -> None:
    """One stride more of input must give exactly one more feature position."""
    c, h, w = result.window
    (sh, sw), features = result.stride, result.model.features
    with FakeTensorMode(allow_non_fake_inputs=True), eval_state(features):
        out = features(torch.empty(1, c, h + sh, w + sw, dtype=model_dtype(features)))
    if tuple(out.shape[-2:]) != (flat_shape[-2] + 1, flat_shape[-1] + 1):
        raise ProfilerError(f"cannot tell the feature extractor's stride: a window {sh}×{sw} larger "
                            f"gives features {tuple(out.shape[-2:])}, not one position more than "
                            f"{tuple(flat_shape[-2:])}")
