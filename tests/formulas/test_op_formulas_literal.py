"""Every registered aten (and torchvision) op packet, on one small concrete call,
against its expected cost written out as literal arithmetic, derived in a comment
from the formula's docstring convention (and for the pointwise ops from the
per-element rows that test_pointwise_table checks independently).

The op is run for real, on meta tensors (CPU tensors where its output shape
depends on the data or it has no meta kernel), and the formula gets what the
capture hands it: the output and the tensor arguments as shapes, everything else
as given.  The matmul, convolution and attention cases are also checked against
torch's FlopCounterMode (MACs = flops / 2).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil, log2
from typing import Callable

import pytest
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torch.utils.flop_counter import FlopCounterMode

from formula_access import aten_formula_keys, find_aten_formula

aten = torch.ops.aten


def M(*shape, dtype=torch.float32):
    """A meta tensor: shapes without data."""
    return torch.empty(*shape, device="meta", dtype=dtype)


def B(*shape):
    return M(*shape, dtype=torch.bool)


def L(*values):
    """A CPU long tensor of index values (meta has no values to index with)."""
    return torch.tensor(values, dtype=torch.long)


def LM(*shape):
    return M(*shape, dtype=torch.long)


def shapes(tree):
    if isinstance(tree, torch.Tensor):
        return tuple(tree.shape)
    if isinstance(tree, (tuple, list)):
        return type(tree)(shapes(x) for x in tree)
    if isinstance(tree, dict):
        return {k: shapes(v) for k, v in tree.items()}
    return tree


@dataclass
class Op:
    names: list[str]                 # packets sharing the call and the cost (in-place variants)
    args: Callable[[], tuple]        # fresh positional arguments for each run
    expected: tuple                  # mults, adds, other, macs
    kwargs: dict | None = None
    id: str = ""
    ns: str = "aten"
    xfail: str = ""                  # why an honest count disagrees with the formula


def cost_of(packet, args: tuple, kwargs: dict):
    out = packet(*args, **kwargs)
    formula = find_aten_formula(packet)
    assert formula is not None, packet
    return formula.fn(shapes(out), *shapes(args), **shapes(kwargs))


def unary(names, per_element, make=lambda: (M(2, 3),), kwargs=None, id=""):
    """A pointwise op on 6 elements (a (2, 3) tensor): 6 × its per-element cost."""
    m, a, o = per_element
    return Op(names, make, (6 * m, 6 * a, 6 * o, 0), kwargs, id)


def binary(names, per_element, kwargs=None, id=""):
    return unary(names, per_element, lambda: (M(2, 3), M(2, 3)), kwargs, id)


def boolean(names, unary_op=False):
    return unary(names, (0, 0, 1), (lambda: (B(2, 3),)) if unary_op else (lambda: (B(2, 3), B(2, 3))))


Q, K, V = (1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 6)
# attention with B=1, H=2, L=3, S=5, E=4, Ev=6: scores 1·2·3·5 = 30 dot products of 4
# (120 mults, 90 adds) + 30 scaling mults; softmax over 6 rows of 5 (6·4 adds, 60 other);
# ·V 1·2·3·6 = 36 dot products of 5 (180 mults, 144 adds)
SDPA = (120 + 30 + 180, 90 + 6 * 4 + 144, 60, 120 + 180)
SDPA_MASKED = (SDPA[0], SDPA[1] + 30, SDPA[2], SDPA[3])   # + 1 add per score
SDPA_SAME_V = (120 + 30 + 120, 90 + 24 + 96, 60, 240)       # Ev = 4: ·V is 24 dots of 5

X = (2, 3, 4)   # the reductions' input: n = 24
# sort of lines of n: n·⌈log₂ n⌉ comparisons a line; a heap of k: n·⌈log₂ max(k, 2)⌉
SORT_LINES_OF_4 = 6 * 4 * ceil(log2(4))

OPS: list[Op] = [
    # --- matmul family: M·N dot products of K = M·N·K mults, M·N·(K−1) adds
    Op(["mm"], lambda: (M(2, 3), M(3, 4)), (8 * 3, 8 * 2, 0, 8 * 3)),
    Op(["addmm"], lambda: (M(4), M(2, 3), M(3, 4)), (8 * 3, 8 * 2 + 8, 0, 8 * 3)),   # +1 bias add each
    Op(["addmm"], lambda: (M(4), M(2, 3), M(3, 4)), (8 * 3 + 8 * 2, 8 * 2 + 8, 0, 8 * 3),
       kwargs={"beta": 0.5, "alpha": 2.0}, id="scaled"),   # beta, alpha ≠ 1: 1 mult each
    Op(["bmm"], lambda: (M(2, 2, 3), M(2, 3, 4)), (16 * 3, 16 * 2, 0, 16 * 3)),
    Op(["matmul"], lambda: (M(2, 3), M(3, 4)), (8 * 3, 8 * 2, 0, 8 * 3)),
    Op(["matmul"], lambda: (M(3), M(3, 4)), (4 * 3, 4 * 2, 0, 4 * 3), id="vector"),
    Op(["baddbmm"], lambda: (M(2, 2, 4), M(2, 2, 3), M(2, 3, 4)), (16 * 3, 16 * 2 + 16, 0, 16 * 3)),
    # addbmm: 16 dot products of 3, summed over the batch of 2 into 8 outputs (16 − 8
    # adds), + 8 bias adds
    Op(["addbmm"], lambda: (M(2, 4), M(2, 2, 3), M(2, 3, 4)), (48, 16 * 2 + (16 - 8) + 8, 0, 48)),
    # MoE forward: 4 routed rows × 2 experts' 8×8 weights (the kernel wants 16-byte
    # strides): each row meets one expert, 4·8 dot products of 8
    Op(["_grouped_mm"], lambda: (M(4, 8, dtype=torch.bfloat16), M(2, 8, 8, dtype=torch.bfloat16),
                                 torch.tensor([2, 4], dtype=torch.int32, device="meta")),
       (32 * 8, 32 * 7, 0, 32 * 8)),
    # MoE weight gradient: K = 16 split in 2 groups, output (2, 2, 8): M·N·K = 2·8·16
    # products, less the 2·2·8 outputs in adds
    Op(["_grouped_mm"], lambda: (M(2, 16, dtype=torch.bfloat16), M(16, 8, dtype=torch.bfloat16),
                                 torch.tensor([8, 16], dtype=torch.int32, device="meta")),
       (2 * 8 * 16, 2 * 8 * 16 - 2 * 2 * 8, 0, 2 * 8 * 16), id="2d-2d"),
    Op(["mv"], lambda: (M(2, 3), M(3)), (2 * 3, 2 * 2, 0, 2 * 3)),
    Op(["dot"], lambda: (M(3), M(3)), (3, 2, 0, 3)),
    Op(["vdot"], lambda: (M(3), M(3)), (3, 2, 0, 3)),
    Op(["addmv"], lambda: (M(2), M(2, 3), M(3)), (2 * 3, 2 * 2 + 2, 0, 2 * 3)),
    # --- attention
    Op(["scaled_dot_product_attention"], lambda: (M(*Q), M(*K), M(*V)), SDPA),
    Op(["scaled_dot_product_attention"], lambda: (M(*Q), M(*K), M(*V)), SDPA_MASKED,
       kwargs={"attn_mask": M(3, 5)}, id="masked"),
    Op(["_scaled_dot_product_flash_attention_for_cpu"], lambda: (M(*Q), M(*K), M(*V)), SDPA),
    Op(["_scaled_dot_product_flash_attention"], lambda: (M(*Q), M(*K), M(*K)), SDPA_SAME_V),
    Op(["_scaled_dot_product_efficient_attention"], lambda: (M(*Q), M(*K), M(*V), None, False), SDPA),
    Op(["_scaled_dot_product_efficient_attention"], lambda: (M(*Q), M(*K), M(*V), M(1, 2, 3, 5), False),
       SDPA_MASKED, id="bias"),
    Op(["_scaled_dot_product_cudnn_attention"], lambda: (M(*Q), M(*K), M(*V), None, False), SDPA),
    # --- convolution: out (1,3,3,3) = 27 outputs × K = 2·3·3 = 18, + bias
    Op(["convolution"], lambda: (M(1, 2, 5, 5), M(3, 2, 3, 3), M(3), [1, 1], [0, 0], [1, 1], False,
                                 [0, 0], 1), (27 * 18, 27 * 17 + 27, 0, 27 * 18)),
    Op(["_convolution"], lambda: (M(1, 2, 5, 5), M(3, 2, 3, 3), M(3), [1, 1], [0, 0], [1, 1], False,
                                  [0, 0], 1, False, False, True, True), (27 * 18, 27 * 17 + 27, 0, 27 * 18)),
    # transposed 1d, stride 2, k 3, 2 → 3 channels, length 4 → 9: 8·3·3 = 72 products,
    # all landing, on 3·9 = 27 positions: 72 − 27 adds + 27 bias
    Op(["convolution"], lambda: (M(1, 2, 4), M(2, 3, 3), M(3), [2], [0], [1], True, [0], 1),
       (72, 72 - 27 + 27, 0, 72), id="transposed"),
    # --- pointwise, 6 elements × the row
    binary(["add", "add_", "sub", "sub_"], (0, 1, 0)),
    binary(["add", "sub"], (1, 1, 0), kwargs={"alpha": 2}, id="alpha"),   # alpha ≠ 1: + 1 mult
    unary(["rsub"], (0, 1, 0), lambda: (M(2, 3), 1.0)),
    binary(["mul", "mul_"], (1, 0, 0)),
    binary(["div", "div_", "true_divide", "true_divide_", "floor_divide", "floor_divide_",
            "remainder", "remainder_", "fmod", "fmod_"], (0, 0, 1)),       # one division-class op
    unary(["neg", "neg_"], (0, 0, 0)),                                    # free
    unary(["exp", "exp_", "log", "log_", "log2", "log2_", "log10", "log10_", "log1p", "log1p_",
           "expm1", "expm1_", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "erf", "erf_", "abs", "abs_",
           "sin", "sin_", "cos", "cos_", "reciprocal", "reciprocal_", "floor", "floor_", "ceil",
           "ceil_", "round", "round_", "tanh", "tanh_", "relu", "relu_",
           "isnan", "isinf"], (0, 0, 1)),                                # one op each
    unary(["sign", "sign_"], (0, 0, 2)),                                  # x > 0, x < 0
    unary(["pow", "pow_"], (0, 0, 1), lambda: (M(2, 3), 2.5)),
    unary(["square", "square_"], (1, 0, 0)),
    unary(["sigmoid", "sigmoid_"], (0, 1, 2)),
    unary(["relu6", "relu6_"], (0, 0, 2)),
    unary(["hardtanh", "hardtanh_"], (0, 0, 2), lambda: (M(2, 3), -0.5, 0.5)),
    unary(["clamp", "clamp_", "clip", "clip_"], (0, 0, 2), lambda: (M(2, 3), -0.5, 0.5)),
    unary(["clamp_min", "clamp_min_", "clamp_max", "clamp_max_"], (0, 0, 1), lambda: (M(2, 3), 0.5)),
    binary(["eq", "eq_", "ne", "ne_", "lt", "lt_", "le", "le_", "gt", "gt_", "ge", "ge_",
            "maximum", "minimum"], (0, 0, 1)),
    boolean(["logical_and", "logical_and_", "logical_or", "logical_or_", "bitwise_and",
             "bitwise_and_", "bitwise_or", "bitwise_or_"]),
    boolean(["logical_not", "logical_not_", "bitwise_not", "bitwise_not_"], unary_op=True),
    unary(["leaky_relu", "leaky_relu_"], (1, 0, 1)),
    unary(["celu", "celu_"], (2, 1, 2)),     # x·(1/α) a mult, 1/α precomputed
    unary(["selu", "selu_"], (1, 1, 2)),     # scale·α one precomputed constant
    unary(["silu", "silu_"], (1, 1, 2)),
    unary(["mish", "mish_"], (1, 1, 3)),
    unary(["softplus"], (2, 1, 3)),
    unary(["hardswish", "hardswish_"], (2, 1, 2)),
    unary(["hardsigmoid", "hardsigmoid_"], (1, 1, 2)),
    unary(["hardshrink"], (0, 0, 2)),
    unary(["softshrink"], (0, 1, 2)),
    unary(["log_sigmoid_forward"], (0, 1, 3)),
    unary(["threshold", "threshold_"], (0, 0, 1), lambda: (M(2, 3), 0.1, 0.0)),
    unary(["_prelu_kernel"], (1, 0, 1), lambda: (M(2, 3), M(1))),
    unary(["rrelu_with_noise", "rrelu_with_noise_"], (1, 0, 1),
          lambda: (M(2, 3), M(2, 3), 0.125, 0.25, False)),
    unary(["addcmul", "addcmul_"], (2, 1, 0), lambda: (M(2, 3), M(2, 3), M(2, 3)), {"value": 0.5}),
    unary(["addcdiv", "addcdiv_"], (1, 1, 1), lambda: (M(2, 3), M(2, 3), M(2, 3)), {"value": 0.5}),
    unary(["lerp", "lerp_"], (1, 2, 0), lambda: (M(2, 3), M(2, 3), 0.3)),
    unary(["elu", "elu_"], (1, 1, 2)),
    # SELU as torch runs it, elu with scale ≠ 1: scale·x on one branch, (scale·α)·(exp(x) − 1)
    # on the other, scale·α one precomputed constant: still 1 mult per element
    Op(["elu", "elu_"], lambda: (M(2, 3), 1.67, 1.05), (6 * 1, 6 * 1, 6 * 2, 0), id="selu-scale"),
    # CELU as torch runs it, elu with input_scale = 1/α: x·(1/α) is a multiplication
    Op(["elu", "elu_"], lambda: (M(2, 3), 1.3, 1.0, 1 / 1.3), (6 * 2, 6 * 1, 6 * 2, 0),
       id="celu-input-scale"),
    unary(["gelu", "gelu_"], (3, 1, 1)),
    unary(["gelu", "gelu_"], (6, 2, 1), kwargs={"approximate": "tanh"}, id="tanh"),
    # --- reductions over X = (2, 3, 4), n = 24 inputs into m outputs
    Op(["sum"], lambda: (M(*X), [2]), (0, 24 - 6, 0, 0)),
    Op(["sum"], lambda: (M(*X),), (0, 24 - 1, 0, 0), id="all"),
    Op(["nansum"], lambda: (M(*X), [1]), (0, 24 - 8, 0, 0)),
    Op(["cumsum"], lambda: (M(*X), 1), (0, 8 * (3 - 1), 0, 0)),     # 8 lines of 3
    Op(["cumprod"], lambda: (M(*X), 2), (6 * (4 - 1), 0, 0, 0)),    # 6 lines of 4
    Op(["mean"], lambda: (M(*X), [2]), (6, 24 - 6, 0, 0)),          # + 1 mult by 1/4 each
    Op(["amax", "amin"], lambda: (M(*X), [2]), (0, 0, 24 - 6, 0)),
    Op(["max", "min"], lambda: (M(*X),), (0, 0, 24 - 1, 0)),
    Op(["max", "min"], lambda: (M(*X), 1), (0, 0, 24 - 8, 0), id="dim"),
    Op(["max", "min"], lambda: (M(*X), M(*X)), (0, 0, 24, 0), id="binary"),   # 1 per element
    Op(["argmax", "argmin"], lambda: (M(*X), 2), (0, 0, 24 - 6, 0)),
    Op(["aminmax"], lambda: (M(*X),), (0, 0, 2 * (24 - 1), 0), kwargs={"dim": None}),
    # histc, 10 inputs each: range test (2), (x − lo)·bins/(hi − lo) (1 sub, 1 mult, 1 div,
    # 1 floor), the x = hi test (1), the count (1 add); a data range adds 2·(10 − 1)
    Op(["histc"], lambda: (torch.rand(10), 4, 0.0, 1.0), (10, 10 * 2, 10 * 5, 0)),
    Op(["histc"], lambda: (torch.rand(10), 4), (10, 10 * 2, 10 * 5 + 2 * 9, 0), id="data-range"),
    Op(["bincount"], lambda: (L(0, 1, 1, 3, 2),), (0, 5, 2 * (5 - 1), 0)),   # min & max, 1 add each
    Op(["index_add", "index_add_"], lambda: (M(3, 4), 0, L(0, 2).to("meta"), M(2, 4)), (0, 8, 0, 0)),
    Op(["index_add"], lambda: (M(3, 4), 0, L(0, 2).to("meta"), M(2, 4)), (8, 8, 0, 0),
       kwargs={"alpha": 2.0}, id="alpha"),
    Op(["scatter_add", "scatter_add_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 8, 0, 0)),
    Op(["scatter", "scatter_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 0, 0, 0)),
    Op(["scatter", "scatter_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (0, 8, 0, 0),
       kwargs={"reduce": "add"}, id="add"),
    Op(["scatter"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4)), (8, 0, 0, 0),
       kwargs={"reduce": "multiply"}, id="multiply"),
    Op(["scatter_reduce", "scatter_reduce_"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "sum"), (0, 8, 0, 0)),
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "prod"), (8, 0, 0, 0), id="prod"),
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "amax"), (0, 0, 8, 0), id="amax"),
    # mean: 2 adds per scattered value, then 1 empty-count test and 1 division per output (12)
    Op(["scatter_reduce"], lambda: (M(3, 4), 0, LM(2, 4), M(2, 4), "mean"), (0, 16, 2 * 12, 0), id="mean"),
    # variance over the last dim, m = 6: mean (18 adds, 6 divisions), centre (24 adds),
    # squares (24 mults), sum (18 adds), divide (6)
    Op(["var", "var_mean"], lambda: (M(*X), [2]), (24, 18 + 24 + 18, 6 + 6, 0)),
    # std: the variance's count and, as the docstring says, 6 square roots
    Op(["std", "std_mean"], lambda: (M(*X), [2]), (24, 18 + 24 + 18, 6 + 6 + 6, 0)),
    # 2-norm over the last dim: 24 squares, 18 adds, 6 square roots
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 2, [2]), (24, 18, 6, 0)),
    # 1-norm: |x| (24 other) summed (18 adds), no squares, no roots
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 1, [2]), (0, 18, 24, 0), id="ord1"),
    # ∞-norm: |x| (24 other), the largest of each 4 (18 comparisons); −∞ the smallest
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), float("inf"), [2]), (0, 0, 24 + 18, 0),
       id="ord-inf"),
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), float("-inf"), [2]), (0, 0, 24 + 18, 0),
       id="ord-neg-inf"),
    # 0-"norm", the count of nonzeros: 24 comparisons x ≠ 0, their 0/1 summed (18 adds)
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 0, [2]), (0, 18, 24, 0), id="ord0"),
    # 3-norm: |x| and |x|³ (48 other), summed (18 adds), 6 roots s^(1/3)
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X), 3, [2]), (0, 18, 24 + 24 + 6, 0), id="ord3"),
    # the defaults are the 2-norm: linalg_vector_norm(x) and norm(x) over all 24 into 1
    Op(["linalg_vector_norm", "norm"], lambda: (M(*X),), (24, 23, 1, 0), id="default"),
    # norm's dim overloads take p=None for the 2-norm
    Op(["norm"], lambda: (M(*X), None, [2]), (24, 18, 6, 0), id="p-none"),
    Op(["logsumexp"], lambda: (M(*X), [2]), (0, 24 - 6, 24 + 6, 0)),   # 24 exps, 18 adds, 6 logs
    Op(["sort"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0)),
    Op(["argsort"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0)),
    Op(["argsort"], lambda: (M(*X),), (0, 0, SORT_LINES_OF_4, 0), kwargs={"stable": True, "dim": 2},
       id="stable"),
    Op(["topk"], lambda: (M(*X), 2, 2), (0, 0, 6 * 4 * 1, 0)),          # heap of 2: ⌈log₂ 2⌉ = 1
    Op(["kthvalue"], lambda: (M(*X), 3, 2), (0, 0, 6 * 4 * 2, 0)),      # heap of 3: ⌈log₂ 3⌉ = 2
    Op(["median", "nanmedian"], lambda: (M(*X),), (0, 0, 24 * 5, 0)),   # one line of 24: ⌈log₂ 24⌉ = 5
    Op(["median", "nanmedian"], lambda: (M(*X), 2), (0, 0, SORT_LINES_OF_4, 0), id="dim"),
    # --- softmax: 6 rows of 4, each 4 exps, 3 adds, 4 divisions
    Op(["_softmax"], lambda: (M(*X), 2, False), (0, 6 * 3, 24 * 2, 0)),
    Op(["_safe_softmax", "softmax"], lambda: (M(*X), 2), (0, 6 * 3, 24 * 2, 0)),
    # log-softmax: 4 exps, 3 adds, 1 log, 4 subtractions a row
    Op(["_log_softmax"], lambda: (M(*X), 2, False), (0, 6 * (3 + 4), 6 * (4 + 1), 0)),
    Op(["log_softmax"], lambda: (M(*X), 2), (0, 6 * (3 + 4), 6 * (4 + 1), 0)),
    # --- norms: statistics from the input over g groups of s: 2·g·s mults, g·(3s − 1) adds,
    # 3·g other, then γ and β: 1 mult and 1 add per element
    Op(["native_layer_norm"], lambda: (M(*X), [4], M(4), M(4), 1e-5),
       (6 * 2 * 4 + 24, 6 * (3 * 4 - 1) + 24, 6 * 3, 0)),
    Op(["native_group_norm"], lambda: (M(2, 4, 3), M(4), M(4), 2, 4, 3, 2, 1e-5),
       (4 * 2 * 6 + 24, 4 * (3 * 6 - 1) + 24, 4 * 3, 0)),   # 2 samples × 2 groups of 6
    # RMS over 2 rows of 4: squares 4, scale 4, γ 4 mults; sum 3 and + ε 1 adds; mean, rsqrt
    Op(["_fused_rms_norm"], lambda: (M(2, 4), [4], M(4), 1e-5), (2 * 12, 2 * 4, 2 * 2, 0)),
    Op(["rms_norm"], lambda: (M(2, 4), [4], M(4), 1e-5), (2 * 12, 2 * 4, 2 * 2, 0)),
    Op(["rms_norm"], lambda: (M(2, 4), [4]), (2 * 8, 2 * 4, 2 * 2, 0), id="no-weight"),
    # batch norm on (2,3,2,2): stored statistics fold to 1 mult + 1 add on 24 elements;
    # batch statistics are 3 channel groups of 8
    Op(["native_batch_norm", "_native_batch_norm_legit"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), False, 0.1, 1e-5), (24, 24, 0, 0)),
    Op(["native_batch_norm", "_native_batch_norm_legit"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), True, 0.1, 1e-5),
       (3 * 2 * 8 + 24, 3 * (3 * 8 - 1) + 24, 3 * 3, 0), id="train"),
    # the no_stats overload (weight, bias, training, momentum, eps): batch statistics always
    Op(["_native_batch_norm_legit"], lambda: (M(2, 3, 2, 2), M(3), M(3), True, 0.1, 1e-5),
       (3 * 2 * 8 + 24, 3 * (3 * 8 - 1) + 24, 3 * 3, 0), id="no-stats"),
    Op(["_native_batch_norm_legit_no_training"],
       lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), 0.1, 1e-5), (24, 24, 0, 0)),
    Op(["batch_norm"], lambda: (M(2, 3, 2, 2), M(3), M(3), M(3), M(3), False, 0.1, 1e-5, False),
       (24, 24, 0, 0)),
    # --- pooling, windows counted whole
    Op(["max_pool1d"], lambda: (M(1, 2, 7), [3], [2]), (0, 0, 6 * 2, 0)),   # 6 outputs × (3 − 1)
    Op(["max_pool2d", "max_pool2d_with_indices"], lambda: (M(1, 1, 4, 4), [2, 2]), (0, 0, 4 * 3, 0)),
    Op(["max_pool2d"], lambda: (M(1, 1, 4, 4), [2]), (0, 0, 4 * 3, 0), id="one-size"),  # [2] is 2×2
    Op(["max_pool3d", "max_pool3d_with_indices"], lambda: (M(1, 1, 2, 2, 4), [2, 2, 2]), (0, 0, 2 * 7, 0)),
    Op(["avg_pool1d"], lambda: (M(1, 2, 6), [3]), (4, 4 * 2, 0, 0)),          # 4 × (2 adds, 1 mult)
    Op(["avg_pool2d"], lambda: (M(1, 1, 3, 3), [2, 2], [2, 2], [1, 1]), (4, 4 * 3, 0, 0)),
    Op(["avg_pool3d"], lambda: (M(1, 1, 2, 2, 2), [2, 2, 2]), (1, 7, 0, 0)),
    # adaptive windows: 3 → 2 sizes 2, 2; 5 → 3 sizes 2, 3, 2: Σ 4·7 = 28 over 6 outputs
    Op(["_adaptive_avg_pool2d"], lambda: (M(1, 1, 3, 5), [2, 3]), (6, 28 - 6, 0, 0)),
    Op(["_adaptive_avg_pool3d"], lambda: (M(1, 2, 2, 2, 2), [1, 1, 1]), (2, 16 - 2, 0, 0)),
    Op(["adaptive_avg_pool1d"], lambda: (M(1, 2, 5), [3]), (6, 2 * 7 - 6, 0, 0)),
    Op(["adaptive_max_pool2d"], lambda: (M(1, 1, 3, 5), [2, 3]), (0, 0, 28 - 6, 0)),
    Op(["adaptive_max_pool3d"], lambda: (M(1, 2, 2, 2, 2), [1, 1, 1]), (0, 0, 16 - 2, 0)),
    # --- interpolation: nearest copies; t^d taps per output, t^d mults and t^d − 1 adds
    Op(["upsample_nearest1d", "_upsample_nearest_exact1d"], lambda: (M(1, 1, 3), [6]), (0, 0, 0, 0)),
    Op(["upsample_nearest2d", "_upsample_nearest_exact2d"], lambda: (M(1, 1, 2, 2), [4, 4]), (0, 0, 0, 0)),
    Op(["upsample_nearest3d", "_upsample_nearest_exact3d"], lambda: (M(1, 1, 1, 2, 2), [2, 4, 4]),
       (0, 0, 0, 0)),
    Op(["upsample_linear1d"], lambda: (M(1, 1, 3), [6], False), (6 * 2, 6 * 1, 0, 0)),
    Op(["upsample_bilinear2d", "_upsample_bilinear2d_aa"], lambda: (M(1, 1, 2, 2), [4, 4], False),
       (16 * 4, 16 * 3, 0, 0)),
    Op(["upsample_trilinear3d"], lambda: (M(1, 1, 1, 2, 2), [2, 4, 4], False), (32 * 8, 32 * 7, 0, 0)),
    Op(["upsample_bicubic2d", "_upsample_bicubic2d_aa"], lambda: (M(1, 1, 2, 2), [4, 4], False),
       (16 * 16, 16 * 15, 0, 0)),
    # grid sample of (1,2,3,3) at 2×2 locations: per location 6 mults, 6 adds, 2 floors;
    # bilinear, per output element (8): 4 mults, 3 adds
    Op(["grid_sampler_2d"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 0, 0, False),
       (4 * 6 + 8 * 4, 4 * 6 + 8 * 3, 4 * 2, 0)),
    Op(["grid_sampler_2d"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 1, 0, False),
       (4 * 6, 4 * 6, 4 * 2, 0), id="nearest"),
    Op(["grid_sampler"], lambda: (M(1, 2, 3, 3), M(1, 2, 2, 2), 0, 0, False),
       (4 * 6 + 8 * 4, 4 * 6 + 8 * 3, 4 * 2, 0)),
    # --- torchvision: RoIAlign, 3 boxes × 2 channels × 2×2 bins = 24 bins of 2×2 samples:
    # each sample 4 mults, 3 adds; each bin 3 adds + 1 mult to average its 4
    Op(["roi_align"], lambda: (torch.rand(1, 2, 5, 5), torch.tensor([[0, 0, 0, 3, 3.]] * 3), 1.0, 2, 2, 2,
                               False), (24 * (4 * 4 + 1), 24 * (3 * 4 + 3), 0, 0), ns="torchvision"),
    # NMS of 4 boxes, worst case: areas (4 mults, 8 subs), 6 pairs × (1 mult, 4 adds,
    # 8 other), a sort of 4 scores (4·2 comparisons)
    Op(["nms"], lambda: (torch.tensor([[0, 0, 2, 2.], [1, 1, 3, 3], [0, 0, 2, 2.1], [5, 5, 6, 6]]),
                         torch.tensor([0.9, 0.8, 0.7, 0.6]), 0.5),
       (4 + 6, 2 * 4 + 4 * 6, 8 * 6 + 4 * 2, 0), ns="torchvision"),
]


def _params():
    for op in OPS:
        for name in op.names:
            marks = [pytest.mark.xfail(strict=True, reason=op.xfail)] if op.xfail else []
            yield pytest.param(op, name, id=f"{name}[{op.id}]" if op.id else name, marks=marks)


def _packet(op: Op, name: str):
    return getattr(getattr(torch.ops, op.ns), name)


@pytest.mark.parametrize("op,name", list(_params()))
def test_literal_cost(op: Op, name: str):
    cost = cost_of(_packet(op, name), op.args(), op.kwargs or {})
    assert (cost.mults, cost.adds, cost.other, cost.macs) == op.expected
    assert cost.flops == sum(op.expected[:3])


FLOP_COUNTED = ["mm", "addmm", "bmm", "baddbmm", "convolution",
                "_scaled_dot_product_efficient_attention"]


@pytest.mark.parametrize("op,name", [p for p in _params() if p.values[1] in FLOP_COUNTED
                                     and not p.values[0].id], ids=lambda v: getattr(v, "id", v))
def test_macs_equal_flop_counter_half(op: Op, name: str):
    """torch's FlopCounterMode on the same call: 2 flops per MAC."""
    with FlopCounterMode(display=False) as counter:
        _packet(op, name)(*op.args(), **(op.kwargs or {}))
    assert counter.get_total_flops() == 2 * op.expected[3]


def test_every_registered_op_packet_has_a_literal_case():
    covered = {_packet(op, name) for op in OPS for name in op.names}
    missing = sorted(str(p) for p in aten_formula_keys() if p not in covered)
    assert not missing, f"registered op formulas without a literal case: {missing}"
