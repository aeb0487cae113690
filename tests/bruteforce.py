"""Independent counts: naive layers written with scalars that tally their own arithmetic.

Each function computes the layer's real output with plain Python loops over
``Num`` scalars, so the counts come from the operations actually performed, not
from a closed form.  Tests check the values against PyTorch (proving the loop is
the layer) and the tallies against the profiler's formulas.  Padding is
materialised (zeros for sums, -inf for max) so that products and comparisons with
padding are performed and tallied, which is the convention of the formulas.
"""
from __future__ import annotations

import cmath
import math
from itertools import product

import numpy as np


class Tally:
    """Counts of scalar operations, by the classes of ``profiler.formulas.cost.Cost``."""

    def __init__(self):
        self.mults = self.adds = self.other = 0

    def num(self, value) -> "Num":
        return Num(float(value), self)

    def as_tuple(self) -> tuple[int, int, int]:
        return self.mults, self.adds, self.other


def _v(x) -> float:
    return x.v if isinstance(x, Num) else float(x)


class Num:
    """A float that adds one to its tally for every arithmetic op it takes part in:
    + and − are adds, × is a mult, ÷, comparisons and transcendentals are other."""

    __slots__ = ("v", "t")

    def __init__(self, v: float, t: Tally):
        self.v, self.t = v, t

    def _add(self, v: float) -> "Num":
        self.t.adds += 1
        return Num(v, self.t)

    def __add__(self, o): return self._add(self.v + _v(o))
    def __radd__(self, o): return self._add(_v(o) + self.v)
    def __sub__(self, o): return self._add(self.v - _v(o))
    def __rsub__(self, o): return self._add(_v(o) - self.v)

    def __mul__(self, o):
        self.t.mults += 1
        return Num(self.v * _v(o), self.t)

    __rmul__ = __mul__

    def __truediv__(self, o):
        self.t.other += 1
        return Num(self.v / _v(o), self.t)

    def __rtruediv__(self, o):
        self.t.other += 1
        return Num(_v(o) / self.v, self.t)

    def __neg__(self):  # a sign flip is free
        return Num(-self.v, self.t)

    def _other(self, v: float) -> "Num":
        self.t.other += 1
        return Num(v, self.t)

    def exp(self): return self._other(math.exp(self.v))
    def log(self): return self._other(math.log(self.v))
    def tanh(self): return self._other(math.tanh(self.v))
    def rsqrt(self): return self._other(1.0 / math.sqrt(self.v))
    def max(self, o): return self._other(max(self.v, _v(o)))


def total(terms: list) -> Num:
    """Σ terms, left to right: len−1 additions."""
    acc = terms[0]
    for term in terms[1:]:
        acc = acc + term
    return acc


def values(array) -> np.ndarray:
    """The floats of an array of Num (or None, read as 0)."""
    return np.vectorize(lambda n: 0.0 if n is None else _v(n), otypes=[float])(array)


def _tuple(v, d: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * d


# --- convolution ---------------------------------------------------------------------

def conv(x: np.ndarray, w: np.ndarray, b, stride=1, padding=0, dilation=1, groups=1):
    """Direct N-d convolution of x (N, C_in, *S) with w (C_out, C_in/groups, *k):
    each output is Σ products over the window of the zero-padded input, then + bias."""
    t, d = Tally(), w.ndim - 2
    s, p, dl = _tuple(stride, d), _tuple(padding, d), _tuple(dilation, d)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    c_out, c_in_g, kernel = w.shape[0], w.shape[1], w.shape[2:]
    spatial = [(n - dl[i] * (kernel[i] - 1) - 1) // s[i] + 1 for i, n in enumerate(xp.shape[2:])]
    out = np.empty((x.shape[0], c_out, *spatial), dtype=object)
    per_group = c_out // groups
    for n, co, *pos in product(range(x.shape[0]), range(c_out), *map(range, spatial)):
        g = co // per_group
        terms = []
        for ci, *tap in product(range(c_in_g), *map(range, kernel)):
            where = tuple(pos[i] * s[i] + tap[i] * dl[i] for i in range(d))
            terms.append(t.num(xp[(n, g * c_in_g + ci, *where)]) * w[(co, ci, *tap)])
        acc = total(terms)
        out[(n, co, *pos)] = acc + b[co] if b is not None else acc
    return values(out), t


def conv_transpose(x: np.ndarray, w: np.ndarray, b, stride=1, padding=0, output_padding=0,
                   dilation=1, groups=1):
    """Transposed N-d convolution by scattering: every input element times every
    weight of its group (C_in, C_out/groups, *k) is one product; products landing
    inside the output are summed into it (the first one lands free, each further
    one is an add), products cropped by ``padding`` are computed and dropped; then
    + bias on every output element, reached or not."""
    t, d = Tally(), w.ndim - 2
    s, p, op, dl = (_tuple(v, d) for v in (stride, padding, output_padding, dilation))
    c_in, per_group, kernel = w.shape[0], w.shape[1], w.shape[2:]
    c_in_g = c_in // groups
    spatial = [(n - 1) * s[i] - 2 * p[i] + dl[i] * (kernel[i] - 1) + op[i] + 1
               for i, n in enumerate(x.shape[2:])]
    out = np.full((x.shape[0], per_group * groups, *spatial), None, dtype=object)
    for n, ci, *pos in product(range(x.shape[0]), range(c_in), *map(range, x.shape[2:])):
        g = ci // c_in_g
        for co, *tap in product(range(per_group), *map(range, kernel)):
            prod_ = t.num(x[(n, ci, *pos)]) * w[(ci, co, *tap)]
            where = tuple(pos[i] * s[i] + tap[i] * dl[i] - p[i] for i in range(d))
            if all(0 <= where[i] < spatial[i] for i in range(d)):
                cell = (n, g * per_group + co, *where)
                out[cell] = prod_ if out[cell] is None else out[cell] + prod_
    if b is not None:
        for idx in np.ndindex(out.shape):
            cell = out[idx] if out[idx] is not None else t.num(0.0)
            out[idx] = cell + b[idx[1]]
    return values(out), t


def linear(x: np.ndarray, w: np.ndarray, b):
    """y = x·Wᵀ + b over all leading dimensions, one dot product per output."""
    t = Tally()
    lead, (n_out, n_in) = x.shape[:-1], w.shape
    out = np.empty((*lead, n_out), dtype=object)
    for idx in np.ndindex(*lead):
        for o in range(n_out):
            acc = total([t.num(x[(*idx, i)]) * w[o, i] for i in range(n_in)])
            out[(*idx, o)] = acc + b[o] if b is not None else acc
    return values(out), t


# --- pooling -------------------------------------------------------------------------

def _pool_out(n: int, k: int, s: int, p: int, dl: int, ceil_mode: bool) -> int:
    """Output length as PyTorch defines it, ceil_mode's last window starting inside
    the input or left padding."""
    span = n + 2 * p - dl * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool(x: np.ndarray, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over each whole window of the -inf-padded input: window−1 comparisons."""
    t, d = Tally(), x.ndim - 2
    k = _tuple(kernel, d)
    s, p, dl = _tuple(stride or kernel, d), _tuple(padding, d), _tuple(dilation, d)
    spatial = [_pool_out(n, k[i], s[i], p[i], dl[i], ceil_mode) for i, n in enumerate(x.shape[2:])]
    right = [max(0, (spatial[i] - 1) * s[i] + dl[i] * (k[i] - 1) - p[i] - x.shape[2 + i] + 1)
             for i in range(d)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p[i], right[i]) for i in range(d)], constant_values=-np.inf)
    out = np.empty((*x.shape[:2], *spatial))
    for n, c, *pos in product(*map(range, out.shape)):
        best = None
        for tap in product(*map(range, k)):
            v = t.num(xp[(n, c, *(pos[i] * s[i] + tap[i] * dl[i] for i in range(d)))])
            best = v if best is None else best.max(v)
        out[(n, c, *pos)] = best.v
    return out, t


def avg_pool(x: np.ndarray, kernel, stride=None, padding=0, ceil_mode=False,
             count_include_pad=True, divisor_override=None):
    """Sum over each whole window of the zero-padded input (window−1 adds), times
    1/divisor (1 mult); the divisor as PyTorch takes it: the window clipped to the
    padded input, or to the input itself without count_include_pad."""
    t, d = Tally(), x.ndim - 2
    k = _tuple(kernel, d)
    s, p = _tuple(stride or kernel, d), _tuple(padding, d)
    size = x.shape[2:]
    spatial = [_pool_out(n, k[i], s[i], p[i], 1, ceil_mode) for i, n in enumerate(size)]
    right = [max(0, (spatial[i] - 1) * s[i] + k[i] - p[i] - size[i]) for i in range(d)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p[i], right[i]) for i in range(d)])
    out = np.empty((*x.shape[:2], *spatial))
    for n, c, *pos in product(*map(range, out.shape)):
        terms = [t.num(xp[(n, c, *(pos[i] * s[i] + tap[i] for i in range(d)))])
                 for tap in product(*map(range, k))]
        divisor = divisor_override
        if divisor is None:
            divisor = 1
            for i in range(d):
                start = pos[i] * s[i] - p[i]
                end = min(start + k[i], size[i] + p[i])
                if not count_include_pad:
                    start, end = max(start, 0), min(end, size[i])
                divisor *= end - start
        out[(n, c, *pos)] = (total(terms) * (1.0 / divisor)).v
    return out, t


def adaptive_windows(n_in: int, n_out: int) -> list[range]:
    """PyTorch's adaptive pooling windows: output i reads [⌊i·in/out⌋, ⌈(i+1)·in/out⌉)."""
    return [range(i * n_in // n_out, -(-(i + 1) * n_in // n_out)) for i in range(n_out)]


def adaptive_pool(x: np.ndarray, output_size, mode: str):
    """Adaptive avg (window−1 adds, 1 mult by 1/size) or max (window−1 comparisons)
    over the last len(output_size) dims, window by window."""
    t = Tally()
    d = len(output_size)
    lead, size = x.shape[:-d], x.shape[-d:]
    windows = [adaptive_windows(size[i], output_size[i]) for i in range(d)]
    out = np.empty((*lead, *output_size))
    for idx in np.ndindex(*lead):
        for pos in product(*map(range, output_size)):
            cells = [t.num(x[(*idx, *where)]) for where in product(*(windows[i][pos[i]] for i in range(d)))]
            if mode == "max":
                best = cells[0]
                for c in cells[1:]:
                    best = best.max(c)
                out[(*idx, *pos)] = best.v
            else:
                out[(*idx, *pos)] = (total(cells) * (1.0 / len(cells))).v
    return out, t


# --- normalisation and softmax ---------------------------------------------------------

def normalize(group: list[Num], eps: float) -> list[Num]:
    """(x − mean)·1/√(var + ε) with the biased variance, step by step."""
    n = len(group)
    mean = total(group) / n
    centred = [v - mean for v in group]
    var = total([c * c for c in centred]) / n
    rstd = (var + eps).rsqrt()
    return [c * rstd for c in centred]


def norm_over(x: np.ndarray, group_of, eps: float, weight=None, bias=None, channel_of=None):
    """Normalise x over the groups ``group_of(index)`` names, then the optional
    per-channel (``channel_of(index)``) affine γ·x̂ + β (or γ·x̂ without β)."""
    t = Tally()
    groups: dict = {}
    for idx in np.ndindex(x.shape):
        groups.setdefault(group_of(idx), []).append(idx)
    out = np.empty(x.shape)
    for members in groups.values():
        normed = normalize([t.num(x[i]) for i in members], eps)
        for i, v in zip(members, normed):
            if weight is not None:
                c = channel_of(i)
                v = v * weight[c] if bias is None else v * weight[c] + bias[c]
            out[i] = v.v
    return out, t


def folded_affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, channel_axis: int = 1):
    """Stored statistics folded into a per-channel scale and shift: x·scale + shift."""
    t = Tally()
    out = np.empty(x.shape)
    for idx in np.ndindex(x.shape):
        c = idx[channel_axis]
        out[idx] = (t.num(x[idx]) * scale[c] + shift[c]).v
    return out, t


def softmax(x: np.ndarray, dim: int, log: bool = False):
    """exp of each element, their sum, then a division each (softmax) or
    x − log Σ (log-softmax)."""
    t = Tally()
    moved = np.moveaxis(x, dim, -1)
    out = np.empty(moved.shape)
    for idx in np.ndindex(*moved.shape[:-1]):
        row = [t.num(v) for v in moved[idx]]
        exps = [v.exp() for v in row]
        s = total(exps)
        if log:
            log_s = s.log()
            out[idx] = [(v - log_s).v for v in row]
        else:
            out[idx] = [(e / s).v for e in exps]
    return np.moveaxis(out, -1, dim), t


# --- recurrent -------------------------------------------------------------------------

def sigmoid(v: Num) -> Num:
    return 1.0 / (1.0 + (-v).exp())


def _affine(w: np.ndarray, b, vec: list) -> list[Num]:
    """W·vec (+ b): one dot product per row of W."""
    rows = [total([vec[j] * w[r, j] for j in range(w.shape[1])]) for r in range(w.shape[0])]
    return [r + b[i] for i, r in enumerate(rows)] if b is not None else rows


def recurrent_step(mode: str, x: list, h: list, c: list | None, p: dict):
    """One time step of one layer and direction, PyTorch's gate order (LSTM i,f,g,o;
    GRU r,z,n).  ``p`` holds numpy w_ih, w_hh, b_ih, b_hh (or None) and w_hr."""
    hidden = p["w_hh"].shape[0] // {"LSTM": 4, "GRU": 3}.get(mode, 1)
    a_x, a_h = _affine(p["w_ih"], p["b_ih"], x), _affine(p["w_hh"], p["b_hh"], h)
    part = lambda a, k: a[k * hidden:(k + 1) * hidden]
    if mode == "GRU":
        r = [sigmoid(u + v) for u, v in zip(part(a_x, 0), part(a_h, 0))]
        z = [sigmoid(u + v) for u, v in zip(part(a_x, 1), part(a_h, 1))]
        n = [(u + g * v).tanh() for u, g, v in zip(part(a_x, 2), r, part(a_h, 2))]
        return [(1.0 - zi) * ni + zi * hi for zi, ni, hi in zip(z, n, h)], None
    pre = [u + v for u, v in zip(a_x, a_h)]
    if mode == "RNN_TANH":
        return [v.tanh() for v in pre], None
    if mode == "RNN_RELU":
        return [v.max(0.0) for v in pre], None
    i, f = [sigmoid(v) for v in part(pre, 0)], [sigmoid(v) for v in part(pre, 1)]
    g, o = [v.tanh() for v in part(pre, 2)], [sigmoid(v) for v in part(pre, 3)]
    c = [fi * ci + ii * gi for fi, ci, ii, gi in zip(f, c, i, g)]
    h = [oi * ci.tanh() for oi, ci in zip(o, c)]
    if p.get("w_hr") is not None:
        h = _affine(p["w_hr"], None, h)
    return h, c


def recurrent(mode: str, x: np.ndarray, layers: list[list[dict]]):
    """A stacked (bi)directional RNN over x (L, N, I) from zero states; ``layers``
    holds, per layer, one parameter dict per direction.  Returns the last layer's
    output (L, N, dirs·state) and the tally."""
    t = Tally()
    seq = [[[t.num(v) for v in x[s, n]] for n in range(x.shape[1])] for s in range(x.shape[0])]
    for directions in layers:
        outs = []
        for k, p in enumerate(directions):
            state = p["w_hh"].shape[1]
            hidden = p["w_hh"].shape[0] // {"LSTM": 4, "GRU": 3}.get(mode, 1)
            order = range(len(seq)) if k == 0 else range(len(seq) - 1, -1, -1)
            out = [None] * len(seq)
            for n in range(x.shape[1]):
                h, c = [t.num(0.0)] * state, [t.num(0.0)] * hidden
                for s in order:
                    h, c = recurrent_step(mode, seq[s][n], h, c, p)
                    out[s] = (out[s] or {}) | {n: h}
            outs.append(out)
        seq = [[sum((outs[k][s][n] for k in range(len(directions))), []) for n in range(x.shape[1])]
               for s in range(len(seq))]
    return np.array([[[v.v for v in row] for row in step] for step in seq]), t


# --- comparing a naive loop with torch and with the profiler ---------------------------

def numpy_of(t):
    """A tensor's values as float64 NumPy (None stays None), to compare with a naive loop's."""
    return None if t is None else t.detach().double().numpy()


def assert_same(out: np.ndarray, expected) -> None:
    """The naive loop computed the layer: its values equal torch's."""
    np.testing.assert_allclose(out, numpy_of(expected), rtol=1e-7, atol=1e-9)


def assert_counts(got: dict, tally: Tally, macs: int = 0) -> None:
    """A profiled row's counts (``layer_cost``) equal what the loop tallied."""
    assert (got["mults"], got["adds"], got["other"], got["macs"]) == (*tally.as_tuple(), macs)


# --- complex numbers of counted reals, and the FFT they make ---------------------------------

class Cx:
    """A complex number of two counted reals."""

    def __init__(self, re, im):
        self.re, self.im = re, im

    def __add__(self, o): return Cx(self.re + o.re, self.im + o.im)
    def __sub__(self, o): return Cx(self.re - o.re, self.im - o.im)

    def twiddle(self, w: complex) -> Cx:
        """self·w, w a precomputed constant: 4 mults, 2 adds."""
        return Cx(self.re * w.real - self.im * w.imag, self.re * w.imag + self.im * w.real)

    @property
    def value(self) -> complex:
        return complex(values(np.array([self.re]))[0], values(np.array([self.im]))[0])


def radix2(xs: list, sign: int = -1) -> list:
    """Recursive radix-2 Cooley-Tukey of a power-of-two length."""
    n = len(xs)
    if n == 1:
        return xs
    even, odd = radix2(xs[0::2], sign), radix2(xs[1::2], sign)
    out = [None] * n
    for k in range(n // 2):
        w = odd[k].twiddle(cmath.exp(sign * 2j * math.pi * k / n))
        out[k], out[k + n // 2] = even[k] + w, even[k] - w
    return out
