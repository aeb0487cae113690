"""Every module class with a registered forward formula, on one small concrete call,
against its expected cost written out as literal arithmetic (derived in a comment
from the convention in the formula's docstring), and, where a naive loop is
cheap, against an independent tally (tests/bruteforce.py) of the layer's actual
arithmetic whose values are checked against the module's own output.

Formulas are reached only through find_module_formula; the Call is built by
running the module on real tiny inputs, as the capture records it: the shapes of
the tensor leaves of the arguments and of the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub
from torch.utils._pytree import tree_leaves
from torchvision.models.maxvit import SwapAxes, WindowDepartition, WindowPartition
from torchvision.ops import FrozenBatchNorm2d, StochasticDepth
from torchvision.ops.misc import Permute

import bruteforce as bf
from formula_access import Call, find_module_formula, module_formula_keys, registered_class_of
from pointwise_scalars import power



@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    args: Callable[[], tuple]                  # the call's positional arguments
    expected: tuple[int, int, int, int]        # mults, adds, other, macs
    check: Callable | None = None              # independent tally: (module, args, output) -> Tally


def t(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def pos(*shape):
    return torch.rand(*shape, dtype=torch.float64) + 0.5


def run(m: nn.Module, args: tuple):
    with torch.no_grad():
        out = m(*args)
    leaves = lambda tree: [x for x in tree_leaves(tree) if isinstance(x, torch.Tensor)]
    call = Call(inputs=tuple(tuple(x.shape) for x in leaves(args)),
                outputs=tuple(tuple(x.shape) for x in leaves(out)), kwargs={})
    return call, out


def np_(x):
    return None if x is None else x.detach().double().numpy()


def close(values, expected):
    np.testing.assert_allclose(np.asarray(values, dtype=float), np_(expected), rtol=1e-9, atol=1e-12)


# --- independent tallies ----------------------------------------------------------

def conv_check(m, args, out):
    values, tally = bf.conv(np_(args[0]), np_(m.weight), np_(m.bias), m.stride, m.padding,
                            m.dilation, m.groups)
    close(values, out)
    return tally


def conv_transpose_check(m, args, out):
    values, tally = bf.conv_transpose(np_(args[0]), np_(m.weight), np_(m.bias), m.stride, m.padding,
                                      m.output_padding, m.dilation, m.groups)
    close(values, out)
    return tally


def linear_check(m, args, out):
    values, tally = bf.linear(np_(args[0]), np_(m.weight), np_(m.bias))
    close(values, out)
    return tally


def bilinear_check(m, args, out):
    """y_k = Σ_j (Σ_i x1_i·A_kij)·x2_j + b_k, inner sums first."""
    tally = bf.Tally()
    x1, x2, a, b = np_(args[0]), np_(args[1]), np_(m.weight), np_(m.bias)
    values = np.empty(out.shape)
    for n, k in np.ndindex(*out.shape):
        u = [bf.total([tally.num(x1[n, i]) * a[k, i, j] for i in range(a.shape[1])])
             for j in range(a.shape[2])]
        y = bf.total([u[j] * x2[n, j] for j in range(a.shape[2])])
        values[n, k] = (y + b[k]).v
    close(values, out)
    return tally


def embedding_bag_check(m, args, out):
    """Each bag: its rows (scaled by their weights, if given) summed, maxed or
    averaged by a multiplication with 1/size.  1-D indices are cut into bags at
    the offsets; 2-D indices are one bag a row (offsets None)."""
    tally = bf.Tally()
    if args[0].dim() == 2:
        rows, width = args[0].shape
        idx, offsets = args[0].flatten().tolist(), list(range(0, rows * width + 1, width))
    else:
        idx, offsets = args[0].tolist(), args[1].tolist() + [len(args[0])]
    weights = args[2].flatten().tolist() if len(args) > 2 and args[2] is not None else None
    table = np_(m.weight)
    values = np.empty(out.shape)
    for bag in range(len(offsets) - 1):
        members = range(offsets[bag], offsets[bag + 1])
        for d in range(table.shape[1]):
            rows = [tally.num(table[idx[i], d]) for i in members]
            if weights is not None:
                rows = [r * weights[i] for r, i in zip(rows, members)]
            if m.mode == "max":
                acc = rows[0]
                for r in rows[1:]:
                    acc = acc.max(r)
            else:
                acc = bf.total(rows)
                if m.mode == "mean":
                    acc = acc * (1.0 / len(rows))
            values[bag, d] = acc.v
    close(values, out)
    return tally


def max_pool_check(m, args, out):
    values, tally = bf.max_pool(np_(args[0]), m.kernel_size, m.stride, m.padding, m.dilation,
                                m.ceil_mode)
    close(values, out)
    return tally


def avg_pool_check(m, args, out):
    values, tally = bf.avg_pool(np_(args[0]), m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                m.count_include_pad, getattr(m, "divisor_override", None))
    close(values, out)
    return tally


def adaptive_check(mode: str, d: int):
    def check(m, args, out):
        size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * d
        values, tally = bf.adaptive_pool(np_(args[0]), size, mode)
        close(values, out)
        return tally
    return check


def lp_pool_check(m, args, out):
    """(Σ_window x^p)^(1/p) over non-overlapping windows (stride = kernel):
    w pows, w − 1 adds, 1 root per output."""
    x, p = np_(args[0]), m.norm_type
    d = x.ndim - 2
    k = (m.kernel_size,) * d if isinstance(m.kernel_size, int) else tuple(m.kernel_size)
    tally = bf.Tally()
    values = np.empty(out.shape)
    for n, c, *o in np.ndindex(*out.shape):
        cells = [power(tally.num(x[(n, c, *(o[i] * k[i] + tap[i] for i in range(d)))]), p)
                 for tap in np.ndindex(*k)]
        values[(n, c, *o)] = power(bf.total(cells), 1.0 / p).v
    close(values, out)
    return tally


def norm_check(group_of, channel_of=None):
    def check(m, args, out):
        weight = getattr(m, "weight", None)
        values, tally = bf.norm_over(np_(args[0]), group_of, m.eps, np_(weight),
                                     np_(getattr(m, "bias", None)), channel_of)
        close(values, out)
        return tally
    return check


def folded_check(m, args, out):
    scale = np_(m.weight) / np.sqrt(np_(m.running_var) + m.eps)
    values, tally = bf.folded_affine(np_(args[0]), scale, np_(m.bias) - np_(m.running_mean) * scale)
    close(values, out)
    return tally


def rms_check(m, args, out):
    """x·1/√(Σx²/n + ε)·γ over the last dim: squares, sum, mean (a division, as in
    bruteforce.normalize), + ε, rsqrt, scale, weight."""
    x, w = np_(args[0]), np_(m.weight)
    tally = bf.Tally()
    values = np.empty(x.shape)
    for row in np.ndindex(*x.shape[:-1]):
        v = [tally.num(a) for a in x[row]]
        r = (bf.total([a * a for a in v]) / len(v) + m.eps).rsqrt()
        values[row] = [(a * r * w[i]).v for i, a in enumerate(v)]
    close(values, out)
    return tally


def lrn_check(m, args, out):
    """b_c = a_c / (k + α/n·Σ_{window around c} a²)^β: each a² once, the window of
    ``size`` channels zero-padded at the edges summed whole."""
    x = np_(args[0])
    tally = bf.Tally()
    sq = np.empty(x.shape, dtype=object)
    for i in np.ndindex(*x.shape):
        v = tally.num(x[i])
        sq[i] = (v, v * v)
    half_lo, channels = m.size // 2, x.shape[1]
    values = np.empty(x.shape)
    for n, c, *s in np.ndindex(*x.shape):
        terms = [sq[(n, j, *s)][1] if 0 <= j < channels else tally.num(0.0)
                 for j in range(c - half_lo, c - half_lo + m.size)]
        denom = power(bf.total(terms) * (m.alpha / m.size) + m.k, m.beta)
        values[(n, c, *s)] = (sq[(n, c, *s)][0] / denom).v
    close(values, out)
    return tally


def softmax_check(dim, log=False):
    def check(m, args, out):
        values, tally = bf.softmax(np_(args[0]), dim, log)
        close(values, out)
        return tally
    return check


def glu_check(m, args, out):
    """a·σ(b), σ(b) = 1/(1 + exp(−b)), the halves split along the last dim."""
    x = np_(args[0])
    half = x.shape[-1] // 2
    tally = bf.Tally()
    values = np.empty(out.shape)
    for i in np.ndindex(*out.shape):
        a, b = tally.num(x[(*i[:-1], i[-1])]), tally.num(x[(*i[:-1], i[-1] + half)])
        values[i] = (a * bf.sigmoid(b)).v
    close(values, out)
    return tally


def _rnn_params(m, suffix="", proj=False):
    get = lambda name: np_(getattr(m, name + suffix, None))
    return {"w_ih": get("weight_ih"), "w_hh": get("weight_hh"), "b_ih": get("bias_ih"),
            "b_hh": get("bias_hh"), "w_hr": get("weight_hr") if proj else None}


def recurrent_check(m, args, out):
    layers = [[_rnn_params(m, f"_l{layer}{'_reverse' * k}") for k in range(1 + m.bidirectional)]
              for layer in range(m.num_layers)]
    values, tally = bf.recurrent(m.mode, np_(args[0]), layers)
    close(values, out[0])
    return tally


def cell_check(mode):
    def check(m, args, out):
        values, tally = bf.recurrent(mode, np_(args[0])[None], [[_rnn_params(m)]])
        close(values[0], out[0] if isinstance(out, tuple) else out)
        return tally
    return check


def flop_counter_macs(m, args, out):
    """The layer's MACs from torch's own FlopCounterMode: flops/2 for conv/matmul."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        m(*args)
    return counter.get_total_flops() // 2


# --- the cases --------------------------------------------------------------------
# expected = (mults, adds, other, macs); a dot product of K terms is K mults and
# K − 1 adds (+1 add for a bias), its K mults are also its MACs.

def act(cls, row: tuple[int, int, int], *ctor, n=6):
    """A pointwise activation on a (2, 3) input: n = 6 elements × the row's
    per-element (mults, adds, other), independently tallied in test_pointwise_table."""
    m, a, o = row
    return Case(cls.__name__, lambda: cls(*ctor), lambda: (t(2, 3),), (n * m, n * a, n * o, 0))


CASES: list[Case] = [
    # --- convolution: K = C_in/groups·∏k terms per output element
    Case("Conv1d", lambda: nn.Conv1d(2, 3, 3), lambda: (t(1, 2, 5),),
         # out (1,3,3): 9 outputs × K = 2·3 = 6; adds 9·(6−1) + 9 bias
         (9 * 6, 9 * 5 + 9, 0, 9 * 6), conv_check),
    Case("Conv2d-groups-pad", lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False),
         lambda: (t(1, 4, 5, 5),),
         # out (1,6,5,5) = 150 outputs × K = 4/2·3·3 = 18; no bias
         (150 * 18, 150 * 17, 0, 150 * 18), conv_check),
    Case("Conv3d", lambda: nn.Conv3d(2, 2, 2), lambda: (t(1, 2, 3, 3, 3),),
         # out (1,2,2,2,2) = 16 × K = 2·2·2·2 = 16; adds 16·15 + 16 bias
         (16 * 16, 16 * 15 + 16, 0, 16 * 16), conv_check),
    Case("ConvTranspose1d", lambda: nn.ConvTranspose1d(2, 3, 3, stride=2), lambda: (t(1, 2, 4),),
         # out (1,3,9); products: 8 inputs × 3 out channels × 3 taps = 72; positions i·2+j
         # (i<4, j<3) all land, 9 distinct: landed 3·2·12 = 72, reached 3·9 = 27;
         # adds 72 − 27 + 27 bias
         (72, 72 - 27 + 27, 0, 72), conv_transpose_check),
    Case("ConvTranspose2d-pad", lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1),
         lambda: (t(1, 2, 2, 2),),
         # out (1,2,3,3); products 8·2·9 = 144; per dim i·2+j−1 (i<2, j<3) is
         # {−1,0,1,1,2,3}: 4 land in [0,3), 3 distinct; landed 2·2·4·4 = 64,
         # reached 2·3·3 = 18; adds 64 − 18 + 18 bias
         (144, 64 - 18 + 18, 0, 144), conv_transpose_check),
    Case("ConvTranspose3d", lambda: nn.ConvTranspose3d(1, 1, 2, bias=False), lambda: (t(1, 1, 2, 2, 2),),
         # out (1,1,3,3,3); products 8·1·8 = 64; per dim i+j (i,j<2): 4 land, 3 distinct;
         # adds 4³ − 3³
         (64, 4 ** 3 - 3 ** 3, 0, 64), conv_transpose_check),
    # --- dense and lookup
    Case("Linear", lambda: nn.Linear(4, 3), lambda: (t(2, 4),),
         # 6 outputs × 4 terms; adds 6·3 + 6 bias
         (6 * 4, 6 * 3 + 6, 0, 6 * 4), linear_check),
    Case("Bilinear", lambda: nn.Bilinear(2, 3, 4), lambda: (t(2, 2), t(2, 3)),
         # 8 outputs, each 3 inner sums of 2 products and one outer of 3:
         # mults 8·(2·3 + 3), adds 8·(3·1 + 2 + 1 bias)
         (8 * (2 * 3 + 3), 8 * (3 * 1 + 2 + 1), 0, 8 * (2 * 3 + 3)), bilinear_check),
    Case("Embedding", lambda: nn.Embedding(10, 3), lambda: (torch.tensor([[1, 2], [3, 4]]),),
         (0, 0, 0, 0)),  # a lookup
    Case("EmbeddingBag-sum", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # 2 bags of 2 and 4 rows, width 3: (6 − 2)·3 adds
         (0, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-mean", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         # the sum's (6 − 2)·3 adds and 2·3 mults by 1/size
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-max", lambda: nn.EmbeddingBag(10, 3, mode="max"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2])),
         (0, 0, (6 - 2) * 3, 0), embedding_bag_check),   # (6 − 2)·3 comparisons
    Case("EmbeddingBag-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([1, 2, 4, 5, 4, 3]), torch.tensor([0, 2]),
                  torch.rand(6, dtype=torch.float64)),
         # 6·3 weight mults, then the sum's (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    # 2-D indices take no offsets: the call's tensors are just (indices, weights)
    Case("EmbeddingBag-2d-weights", lambda: nn.EmbeddingBag(10, 3, mode="sum"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]), None, torch.rand(2, 3, dtype=torch.float64)),
         # 2 bags of 3 rows, width 3: 6·3 weight mults, (6 − 2)·3 adds
         (6 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),
    Case("EmbeddingBag-2d", lambda: nn.EmbeddingBag(10, 3, mode="mean"),
         lambda: (torch.tensor([[1, 2, 4], [5, 4, 3]]),),
         (2 * 3, (6 - 2) * 3, 0, 0), embedding_bag_check),   # the sum's adds, 2·3 mults by 1/3
    # --- normalisation
    Case("BatchNorm2d-eval", lambda: nn.BatchNorm2d(3).eval(), lambda: (t(2, 3, 2, 2),),
         (24, 24, 0, 0), folded_check),   # folded x·scale + shift on 24 elements
    Case("BatchNorm1d-train", lambda: nn.BatchNorm1d(3).train(), lambda: (t(4, 3),),
         # 3 channel groups of 4: per group 2·4 mults, 3·4 − 1 adds, 3 other; affine +1, +1 each
         (3 * 2 * 4 + 12, 3 * (3 * 4 - 1) + 12, 3 * 3, 0),
         norm_check(lambda i: i[1], lambda i: i[1])),
    Case("InstanceNorm2d", lambda: nn.InstanceNorm2d(2), lambda: (t(2, 2, 3, 3),),
         # 4 (sample, channel) groups of 9, no affine
         (4 * 2 * 9, 4 * (3 * 9 - 1), 4 * 3, 0), norm_check(lambda i: i[:2])),
    Case("LayerNorm", lambda: nn.LayerNorm(4), lambda: (t(2, 3, 4),),
         # 6 groups of 4, with γ and β: +24 mults, +24 adds
         (6 * 2 * 4 + 24, 6 * (3 * 4 - 1) + 24, 6 * 3, 0),
         norm_check(lambda i: i[:2], lambda i: i[2])),
    Case("LayerNorm-nobias", lambda: nn.LayerNorm(4, bias=False), lambda: (t(2, 3, 4),),
         (6 * 2 * 4 + 24, 6 * (3 * 4 - 1), 6 * 3, 0),   # γ only: +24 mults
         norm_check(lambda i: i[:2], lambda i: i[2])),
    Case("GroupNorm", lambda: nn.GroupNorm(2, 4), lambda: (t(2, 4, 3),),
         # 2 samples × 2 groups = 4 groups of 2·3 = 6, affine
         (4 * 2 * 6 + 24, 4 * (3 * 6 - 1) + 24, 4 * 3, 0),
         norm_check(lambda i: (i[0], i[1] // 2), lambda i: i[1])),
    Case("RMSNorm", lambda: nn.RMSNorm(4, eps=1e-6), lambda: (t(2, 4),),
         # 2 groups of 4: squares 4 + scale 4 + weight 4 mults; 3 + 1 (ε) adds;
         # the mean's division and the rsqrt
         (2 * (4 + 4 + 4), 2 * (3 + 1), 2 * 2, 0), rms_check),
    Case("LocalResponseNorm", lambda: nn.LocalResponseNorm(3), lambda: (pos(1, 4, 2, 2),),
         # 16 elements × (square + α/n, size − 1 = 2 window adds + k, pow + division)
         (16 * 2, 16 * 3, 16 * 2, 0), lrn_check),
    Case("CrossMapLRN2d", lambda: nn.CrossMapLRN2d(3), lambda: (pos(1, 4, 2, 2),),
         # the same count as LocalResponseNorm (its legacy kernel slides the window
         # and places it differently at the edges, so the loop above is not its value)
         (16 * 2, 16 * 3, 16 * 2, 0)),
    Case("FrozenBatchNorm2d", lambda: FrozenBatchNorm2d(3), lambda: (t(1, 3, 2, 2),),
         (12, 12, 0, 0), folded_check),   # folded, 12 elements
    # --- pooling: windows counted whole
    Case("MaxPool1d", lambda: nn.MaxPool1d(3, stride=2), lambda: (t(1, 2, 7),),
         (0, 0, 6 * (3 - 1), 0), max_pool_check),   # out (1,2,3): 6 × (3 − 1) comparisons
    Case("MaxPool2d", lambda: nn.MaxPool2d(2), lambda: (t(1, 1, 4, 4),),
         (0, 0, 4 * (4 - 1), 0), max_pool_check),   # 4 outputs × (2·2 − 1)
    Case("MaxPool3d", lambda: nn.MaxPool3d(2), lambda: (t(1, 1, 2, 2, 4),),
         (0, 0, 2 * (8 - 1), 0), max_pool_check),   # 2 outputs × (8 − 1)
    Case("AvgPool1d", lambda: nn.AvgPool1d(3), lambda: (t(1, 2, 6),),
         (4, 4 * (3 - 1), 0, 0), avg_pool_check),   # 4 outputs: 2 adds + 1 mult each
    Case("AvgPool2d-pad", lambda: nn.AvgPool2d(2, padding=1), lambda: (t(1, 1, 3, 3),),
         (4, 4 * 3, 0, 0), avg_pool_check),         # out 2×2, padded windows of 4 counted whole
    Case("AvgPool3d", lambda: nn.AvgPool3d(2), lambda: (t(1, 1, 2, 2, 2),),
         (1, 7, 0, 0), avg_pool_check),
    Case("LPPool1d", lambda: nn.LPPool1d(2, 3), lambda: (pos(1, 2, 6),),
         (0, 4 * 2, 4 * (3 + 1), 0), lp_pool_check),   # 4 outputs: 3 pows, 2 adds, 1 root
    Case("LPPool2d", lambda: nn.LPPool2d(3, 2), lambda: (pos(1, 1, 4, 4),),
         (0, 4 * 3, 4 * (4 + 1), 0), lp_pool_check),   # 4 outputs of windows of 4
    Case("LPPool3d", lambda: nn.LPPool3d(2, 2), lambda: (pos(1, 1, 2, 2, 2),),
         (0, 7, 8 + 1, 0), lp_pool_check),             # 1 output, a window of 8
    Case("FractionalMaxPool2d", lambda: nn.FractionalMaxPool2d(2, output_size=(2, 2)),
         lambda: (t(1, 1, 5, 5),), (0, 0, 4 * 3, 0)),     # 4 outputs × (2·2 − 1)
    Case("FractionalMaxPool3d", lambda: nn.FractionalMaxPool3d(2, output_size=(2, 2, 2)),
         lambda: (t(1, 1, 4, 4, 4),), (0, 0, 8 * 7, 0)),  # 8 outputs × (8 − 1)
    # adaptive windows [⌊i·in/out⌋, ⌈(i+1)·in/out⌉): 5 → 3 gives sizes 2, 3, 2 (Σ 7)
    Case("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(3), lambda: (t(1, 2, 5),),
         (6, 2 * 7 - 6, 0, 0), adaptive_check("avg", 1)),   # 6 outputs, Σ windows 2·7
    # 3 → 2 gives sizes 2, 2 (Σ 4); 5 → 3 Σ 7: Σ windows 4·7 = 28 over 6 outputs
    Case("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), lambda: (t(1, 1, 3, 5),),
         (6, 28 - 6, 0, 0), adaptive_check("avg", 2)),
    Case("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d(1), lambda: (t(1, 2, 2, 2, 2),),
         (2, 2 * 8 - 2, 0, 0), adaptive_check("avg", 3)),
    Case("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), lambda: (t(1, 2, 5),),
         (0, 0, 2 * 7 - 6, 0), adaptive_check("max", 1)),
    Case("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3)), lambda: (t(1, 1, 3, 5),),
         (0, 0, 28 - 6, 0), adaptive_check("max", 2)),
    Case("AdaptiveMaxPool3d", lambda: nn.AdaptiveMaxPool3d(1), lambda: (t(1, 2, 2, 2, 2),),
         (0, 0, 2 * 8 - 2, 0), adaptive_check("max", 3)),
    Case("MaxUnpool2d", lambda: nn.MaxUnpool2d(2),
         lambda: nn.functional.max_pool2d(t(1, 1, 4, 4), 2, return_indices=True),
         (0, 0, 0, 0)),   # scatters values back
    # --- activations: n = 6 elements × the per-element row
    act(nn.ReLU, (0, 0, 1)), act(nn.ReLU6, (0, 0, 2)), act(nn.Hardtanh, (0, 0, 2)),
    act(nn.Threshold, (0, 0, 1), 0.1, 0.0), act(nn.LeakyReLU, (1, 0, 1)), act(nn.PReLU, (1, 0, 1)),
    act(nn.RReLU, (1, 0, 1)), act(nn.ELU, (1, 1, 2)), act(nn.CELU, (2, 1, 2)), act(nn.SELU, (1, 1, 2)),
    act(nn.Sigmoid, (0, 1, 2)), act(nn.LogSigmoid, (0, 1, 3)), act(nn.Tanh, (0, 0, 1)),
    act(nn.SiLU, (1, 1, 2)), act(nn.Mish, (1, 1, 3)), act(nn.Softplus, (2, 1, 3)),
    act(nn.Hardswish, (2, 1, 2)), act(nn.Hardsigmoid, (1, 1, 2)), act(nn.Hardshrink, (0, 0, 2)),
    act(nn.Softshrink, (0, 1, 2)), act(nn.Tanhshrink, (0, 1, 1)), act(nn.Softsign, (0, 1, 2)),
    act(nn.GELU, (3, 1, 1)),
    Case("GELU-tanh", lambda: nn.GELU(approximate="tanh"), lambda: (t(2, 3),), (6 * 6, 6 * 2, 6 * 1, 0)),
    Case("Softmax", lambda: nn.Softmax(dim=1), lambda: (t(2, 3),),
         (0, 2 * (3 - 1), 2 * 3 * 2, 0), softmax_check(1)),   # 2 rows of 3: exps, sum, divisions
    Case("Softmin", lambda: nn.Softmin(dim=1), lambda: (t(2, 3),),
         (0, 2 * (3 - 1), 2 * 3 * 2, 0)),                     # softmax of −x: the negation is free
    Case("Softmax2d", lambda: nn.Softmax2d(), lambda: (t(1, 3, 2, 2),),
         (0, 4 * (3 - 1), 12 * 2, 0), softmax_check(1)),      # 4 rows over the 3 channels
    Case("LogSoftmax", lambda: nn.LogSoftmax(dim=-1), lambda: (t(2, 3),),
         # per row of 3: 3 exps, 2 adds, 1 log, 3 subtractions
         (0, 2 * (2 + 3), 2 * (3 + 1), 0), softmax_check(-1, log=True)),
    Case("GLU", lambda: nn.GLU(), lambda: (t(2, 4),),
         (4 * 1, 4 * 1, 4 * 2, 0), glu_check),   # 4 outputs: sigmoid (1 add, 2 other) + 1 mult
    # --- resampling: t^d taps blended per output element
    Case("Upsample-nearest", lambda: nn.Upsample(scale_factor=2), lambda: (t(1, 1, 2, 2),), (0, 0, 0, 0)),
    Case("Upsample-linear", lambda: nn.Upsample(scale_factor=2, mode="linear"), lambda: (t(1, 1, 3),),
         (6 * 2, 6 * 1, 0, 0)),      # 6 outputs × 2 taps
    Case("Upsample-bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
         lambda: (t(1, 1, 2, 2),), (16 * 4, 16 * 3, 0, 0)),     # 16 outputs × 2² taps
    Case("Upsample-bicubic", lambda: nn.Upsample(scale_factor=2, mode="bicubic"),
         lambda: (t(1, 1, 2, 2),), (16 * 16, 16 * 15, 0, 0)),   # 16 outputs × 4² taps
    Case("Upsample-trilinear", lambda: nn.Upsample(scale_factor=2, mode="trilinear"),
         lambda: (t(1, 1, 1, 2, 2),), (32 * 8, 32 * 7, 0, 0)),  # 32 outputs × 2³ taps
    # --- attention: L = S = 3, N = 1, E = 4, h = 2 heads of d = 2, biases, head-averaged weights
    Case("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2).eval(),
         lambda: (t(3, 1, 4), t(3, 1, 4), t(3, 1, 4)),
         # q, k, v, out projections: 4 × (12 dot products of 4, + bias): 48 mults, 48 adds each;
         # query scaling 12 mults; scores 2·3·3 = 18 dot products of 2: 36 mults, 18 adds;
         # softmax 6 rows of 3: 12 adds, 36 other; weights·V 12 dot products of 3: 36, 24;
         # averaging the weights over 2 heads: 9 mults, 9·(2 − 1) adds
         (4 * 48 + 12 + 36 + 36 + 9, 4 * 48 + 18 + 12 + 24 + 9, 36, 4 * 48 + 36 + 36)),
    # --- recurrent: per step, G·H dot products over x and over h (+bias each), their sum, gates
    Case("RNN", lambda: nn.RNN(3, 2), lambda: (t(4, 1, 3),),
         # 4 steps × 2: dots of 3 (+b) and of 2 (+b): 8·3 + 8·2 mults; 8·3 + 8·2 + 8 adds; 8 tanh
         (8 * 3 + 8 * 2, 8 * 3 + 8 * 2 + 8, 8, 8 * 3 + 8 * 2), recurrent_check),
    Case("LSTM", lambda: nn.LSTM(2, 2), lambda: (t(3, 1, 2),),
         # 3 steps: 24 gate values, dots of 2 (+b) twice: 96 mults, 96 adds, +24 adds;
         # 6 hidden values × (3 sigmoids: 3 adds, 6 other; 2 tanh; c, h: 3 mults, 1 add)
         (96 + 6 * 3, 96 + 24 + 6 * (3 + 1), 6 * (6 + 2), 96), recurrent_check),
    Case("GRU", lambda: nn.GRU(2, 2), lambda: (t(3, 1, 2),),
         # 3 steps: 18 gate values, dots of 2 (+b) twice: 72, 72, +18 adds;
         # 6 hidden × (2 sigmoids: 2 adds, 4 other; 1 tanh; r·, (1−z)·n + z·h: 3 mults, 2 adds)
         (72 + 6 * 3, 72 + 18 + 6 * (2 + 2), 6 * (4 + 1), 72), recurrent_check),
    Case("RNNCell", lambda: nn.RNNCell(3, 2), lambda: (t(1, 3),),
         (2 * 3 + 2 * 2, 2 * 3 + 2 * 2 + 2, 2, 10), cell_check("RNN_TANH")),
    Case("LSTMCell", lambda: nn.LSTMCell(2, 2), lambda: (t(1, 2),),
         # 8 gate values: 32 mults, 32 adds, +8; 2 hidden × (3 sigmoids, 2 tanh, 3 mults, 1 add)
         (32 + 2 * 3, 32 + 8 + 2 * (3 + 1), 2 * (6 + 2), 32), cell_check("LSTM")),
    Case("GRUCell", lambda: nn.GRUCell(2, 2), lambda: (t(1, 2),),
         (24 + 2 * 3, 24 + 6 + 2 * (2 + 2), 2 * (4 + 1), 24), cell_check("GRU")),
    # --- data movement only: 0
    *[Case(name, make, args, (0, 0, 0, 0)) for name, make, args in [
        ("Identity", nn.Identity, lambda: (t(2, 3),)),
        ("Flatten", nn.Flatten, lambda: (t(2, 3, 2),)),
        ("Unflatten", lambda: nn.Unflatten(1, (2, 2)), lambda: (t(3, 4),)),
        ("Dropout", lambda: nn.Dropout().eval(), lambda: (t(2, 3),)),
        ("PixelShuffle", lambda: nn.PixelShuffle(2), lambda: (t(1, 4, 2, 2),)),
        ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), lambda: (t(1, 1, 4, 4),)),
        ("ChannelShuffle", lambda: nn.ChannelShuffle(2), lambda: (t(1, 4, 2, 2),)),
        ("Unfold", lambda: nn.Unfold(2), lambda: (t(1, 1, 3, 3),)),
        ("ConstantPad1d", lambda: nn.ConstantPad1d(1, 0.5), lambda: (t(1, 2, 3),)),
        ("ReflectionPad1d", lambda: nn.ReflectionPad1d(1), lambda: (t(1, 2, 3),)),
        ("ReplicationPad1d", lambda: nn.ReplicationPad1d(1), lambda: (t(1, 2, 3),)),
        ("CircularPad1d", lambda: nn.CircularPad1d(1), lambda: (t(1, 2, 3),)),
        ("QuantStub", QuantStub, lambda: (t(2, 3),)),
        ("DeQuantStub", DeQuantStub, lambda: (t(2, 3),)),
        ("StochasticDepth", lambda: StochasticDepth(0.5, "row").eval(), lambda: (t(2, 3),)),
        ("Permute", lambda: Permute([0, 2, 1]), lambda: (t(1, 2, 3),)),
        ("SwapAxes", lambda: SwapAxes(1, 2), lambda: (t(1, 2, 3),)),
        ("WindowPartition", WindowPartition, lambda: (t(1, 2, 4, 4), 2)),
        ("WindowDepartition", WindowDepartition, lambda: (t(1, 4, 4, 2), 2, 2, 2)),
    ]],
]


def _double(m: nn.Module) -> nn.Module:
    return m.double() if any(True for _ in m.parameters()) or any(True for _ in m.buffers()) else m


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_literal_cost(case: Case):
    m = _double(case.make())
    call, out = run(m, case.args())
    formula = find_module_formula(m)
    assert formula is not None, case.id
    cost = formula.fn(m, call)
    assert (cost.mults, cost.adds, cost.other, cost.macs) == case.expected
    assert cost.flops == sum(case.expected[:3])


CHECKED = [c for c in CASES if c.check is not None]


@pytest.mark.parametrize("case", CHECKED, ids=[c.id for c in CHECKED])
def test_literal_cost_equals_an_independent_tally(case: Case):
    """The naive loop computes the module's output (values checked inside the
    check) and tallies the same mults, adds and other as the literal."""
    m = _double(case.make())
    args = case.args()
    _, out = run(m, args)
    tally = case.check(m, args, out)
    assert tally.as_tuple() == case.expected[:3]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("Conv2d-groups-pad", "Linear",
                                                                 "Conv1d", "ConvTranspose2d-pad")],
                         ids=lambda c: c.id)
def test_macs_equal_flop_counter_half(case: Case):
    m = _double(case.make())
    assert flop_counter_macs(m, case.args(), None) == case.expected[3]


def test_every_registered_module_class_has_a_literal_case():
    covered = {registered_class_of(_double(c.make())) for c in CASES}
    missing = [f"{k.__module__}.{k.__qualname__}" for k in module_formula_keys() if k not in covered]
    assert not missing, f"registered module formulas without a literal case: {missing}"
