"""The forward formulas of the ops added for transformers models (issue 19) against
independent counts: each op written out with tests/bruteforce.py's self-counting
scalars (+ and − adds, × mults; ÷, comparisons, transcendentals other), its values
checked against torch's, its tally against the formula.  (mv: dot products written
out; FlopCounterMode has no formula for mv, the FFTs or _euclidean_dist.)"""
from __future__ import annotations

import bruteforce as bf
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from formula_access import find_aten_formula
from elementwise_scalars import cos, equal, greater, less, maximum, power, sin, sqrt

aten = torch.ops.aten
RNG = np.random.default_rng(19)


def formula(op, out, *args, **kwargs):
    cost = find_aten_formula(op).fn(out, *args, **kwargs)
    return cost.mults, cost.adds, cost.other


def test_prod_multiplies_each_line():
    x = RNG.normal(size=(3, 4))
    t = bf.Tally()
    got = []
    for row in x:
        acc = t.num(row[0])
        for v in row[1:]:
            acc = acc * v
        got.append(acc.v)
    np.testing.assert_allclose(got, torch.tensor(x).prod(1).numpy())
    assert formula(aten.prod, (3,), (3, 4), 1) == t.as_tuple() == (9, 0, 0)


@pytest.mark.parametrize("op,better", [(aten.cummax, greater), (aten.cummin, less)])
def test_cummax_and_cummin_compare_each_element_with_the_extremum_so_far(op, better):
    x = RNG.normal(size=(3, 5))
    t = bf.Tally()
    got = np.empty_like(x)
    for i, row in enumerate(x):
        best = t.num(row[0])
        got[i, 0] = best.v
        for j in range(1, 5):
            v = t.num(row[j])
            if better(v, best):
                best = v
            got[i, j] = best.v
    np.testing.assert_allclose(got, op(torch.tensor(x), 1)[0].numpy())
    assert formula(op, ((3, 5), (3, 5)), (3, 5), 1) == t.as_tuple() == (0, 0, 12)


def _logical(t: bf.Tally, a: bool, b: bool, any_: bool) -> bool:
    t.other += 1
    return (a or b) if any_ else (a and b)


@pytest.mark.parametrize("op,any_", [(aten.all, False), (aten._is_all_true, False), (aten.any, True),
                                     (aten._is_any_true, True)])
def test_logical_reductions_combine_every_element(op, any_):
    x = RNG.normal(size=12) > -1.0
    t = bf.Tally()
    acc = bool(x[0])
    for v in x[1:]:
        acc = _logical(t, acc, bool(v), any_)
    assert acc == bool(op(torch.tensor(x)))
    assert formula(op, (), (12,)) == t.as_tuple() == (0, 0, 11)


def _lower_bound(t: bf.Tally, boundaries, x) -> int:
    """The first index whose boundary is ≥ x: torch.bucketize's (right=False)."""
    lo, hi = 0, len(boundaries)
    while lo < hi:
        mid = (lo + hi) // 2
        if less(t.num(boundaries[mid]), x):
            lo = mid + 1
        else:
            hi = mid
    return lo


@pytest.mark.parametrize("b", [1, 2, 3, 5, 7, 8, 9])
def test_bucketize_and_searchsorted_count_the_deepest_binary_search(b):
    """Every value's search tallied: none deeper than the formula's depth, the
    deepest as deep; the formula charges it to every value."""
    boundaries = np.sort(RNG.normal(size=b))
    values = np.concatenate([boundaries, boundaries + 1e-3, [-10.0, 10.0], RNG.normal(size=20)])
    tallies, got = [], []
    for v in values:
        t = bf.Tally()
        got.append(_lower_bound(t, boundaries, t.num(v)))
        tallies.append(t.other)
    expected = torch.bucketize(torch.tensor(values), torch.tensor(boundaries)).numpy()
    np.testing.assert_array_equal(got, expected)
    n = len(values)
    assert formula(aten.bucketize, (n,), (n,), (b,)) == (0, 0, n * max(tallies))
    assert formula(aten.searchsorted, (n,), (b,), (n,)) == (0, 0, n * max(tallies))


def test_isin_with_few_test_elements_compares_every_pair_on_the_deepest_path():
    test = np.array([0.0, 1.0, 2.0])
    elements = np.array([0.0, 5.0, 2.0, 1.0, 7.0, 2.0, 3.0, 0.0, 9.0, 1.0])
    tallies, got = [], []
    for e in elements:
        t = bf.Tally()
        got.append(any(equal(t.num(e), v) for v in test))   # stops at a match
        tallies.append(t.other)
    np.testing.assert_array_equal(got, torch.isin(torch.tensor(elements), torch.tensor(test)).numpy())
    assert max(tallies) == len(test)
    assert formula(aten.isin, (10,), (10,), (3,)) == (0, 0, 10 * max(tallies))


def test_multinomial_of_one_sample_keys_each_weight_and_takes_the_largest():
    """Without replacement: the key p/(−log u) per weight (1 log, 1 division), the
    row's argmax (C − 1 comparisons)."""
    p = RNG.random((2, 5))
    u = RNG.random((2, 5))
    t = bf.Tally()
    picks = []
    for row, draws in zip(p, u):
        keys = [t.num(w) / (-t.num(d).log()) for w, d in zip(row, draws)]
        best, at = keys[0], 0
        for j, k in enumerate(keys[1:], 1):
            if greater(k, best):
                best, at = k, j
        picks.append(at)
    np.testing.assert_array_equal(picks, np.argmax(p / -np.log(u), axis=1))
    assert formula(aten.multinomial, (2, 1), (2, 5), 1) == t.as_tuple() == (0, 0, 28)


def test_glu_is_a_sigmoid_and_a_product_per_output():
    x = RNG.normal(size=(2, 6))
    t = bf.Tally()
    got = [[(t.num(a) * (1.0 / (1.0 + (-t.num(b)).exp()))).v for a, b in zip(row[:3], row[3:])] for row in x]
    np.testing.assert_allclose(got, F.glu(torch.tensor(x), -1).numpy())
    assert formula(aten.glu, (2, 3), (2, 6), -1) == t.as_tuple() == (6, 6, 12)


def test_polar_is_a_cosine_a_sine_and_two_products():
    r, th = RNG.random(5), RNG.normal(size=5)
    t = bf.Tally()
    got = [complex((t.num(a) * cos(t.num(b))).v, (t.num(a) * sin(t.num(b))).v) for a, b in zip(r, th)]
    np.testing.assert_allclose(got, torch.polar(torch.tensor(r), torch.tensor(th)).numpy())
    assert formula(aten.polar, (5,), (5,), (5,)) == t.as_tuple() == (10, 0, 10)


def test_mv_is_one_dot_product_per_row():
    a, v = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    t = bf.Tally()
    got = [bf.total([t.num(a[i, j]) * v[j] for j in range(4)]).v for i in range(3)]
    np.testing.assert_allclose(got, torch.mv(torch.tensor(a), torch.tensor(v)).numpy())
    assert formula(aten.mv, (3,), (3, 4), (4,)) == t.as_tuple() == (12, 9, 0)


def substitute(t: bf.Tally, a: np.ndarray, b: np.ndarray, upper: bool, unit: bool) -> np.ndarray:
    """Solve a·x = b column by column: each row subtracts its known terms, then
    divides by the diagonal (not when unitriangular)."""
    n, k = b.shape
    x = np.empty((n, k), dtype=object)
    rows = range(n - 1, -1, -1) if upper else range(n)
    for c in range(k):
        for i in rows:
            known = [j for j in (range(i + 1, n) if upper else range(i))]
            acc = t.num(b[i, c])
            for j in known:
                acc = acc - t.num(a[i, j]) * x[j, c]
            x[i, c] = acc if unit else acc / a[i, i]
    return bf.values(x)


@pytest.mark.parametrize("upper,unit", [(True, False), (False, False), (False, True)])
def test_triangular_solve_is_substitution(upper, unit):
    a = RNG.normal(size=(4, 4)) + 4 * np.eye(4)
    a = np.triu(a) if upper else np.tril(a)
    b = RNG.normal(size=(4, 3))
    t = bf.Tally()
    got = substitute(t, a, b, upper, unit)
    expected = torch.linalg.solve_triangular(torch.tensor(a), torch.tensor(b), upper=upper, unitriangular=unit)
    np.testing.assert_allclose(got, expected.numpy())
    assert formula(aten.linalg_solve_triangular, (4, 3), (4, 4), (4, 3), upper=upper,
                   unitriangular=unit) == t.as_tuple()


def test_c2c_is_a_radix_2_fft_of_each_line():
    x = RNG.normal(size=(2, 8)) + 1j * RNG.normal(size=(2, 8))
    t = bf.Tally()
    got = [[c.value for c in bf.radix2([bf.Cx(t.num(v.real), t.num(v.imag)) for v in row])] for row in x]
    np.testing.assert_allclose(got, torch.fft.fft(torch.tensor(x)).numpy(), atol=1e-12)
    assert formula(aten._fft_c2c, (2, 8), (2, 8), [1], 0, True) == t.as_tuple() == (96, 144, 0)


def test_r2c_runs_the_real_input_through_the_same_butterflies():
    x = RNG.normal(size=(2, 8))
    t = bf.Tally()
    got = [[c.value for c in bf.radix2([bf.Cx(t.num(v), t.num(0.0)) for v in row])][:5] for row in x]
    np.testing.assert_allclose(got, torch.fft.rfft(torch.tensor(x)).numpy(), atol=1e-12)
    assert formula(aten._fft_r2c, (2, 5), (2, 8), [1], 0, True) == t.as_tuple()


def test_c2r_inverts_the_hermitian_extension_and_scales_the_real_outputs():
    """irfft (norm "backward": by 1/n): the onesided line extended by conjugates
    (free), an inverse radix-2 transform, the 8 real outputs times 1/8."""
    y = np.fft.rfft(RNG.normal(size=(2, 8)))
    t = bf.Tally()
    got = []
    for row in y:
        full = list(row) + [v.conjugate() for v in row[1:-1][::-1]]
        out = bf.radix2([bf.Cx(t.num(v.real), t.num(v.imag)) for v in full], sign=1)
        got.append([(c.re * (1 / 8)).v for c in out])
    np.testing.assert_allclose(got, torch.fft.irfft(torch.tensor(y)).numpy(), atol=1e-12)
    assert formula(aten._fft_c2r, (2, 8), (2, 5), [1], 2, 8) == t.as_tuple() == (96 + 16, 144, 0)


@pytest.mark.parametrize("size,kernel,dilation,padding,stride", [
    ((4, 5), (2, 2), (1, 1), (0, 0), (1, 1)),
    ((5, 5), (3, 2), (1, 2), (1, 0), (2, 1)),
    ((3, 3), (2, 2), (1, 1), (1, 1), (2, 2)),
])
def test_col2im_adds_every_block_element_into_its_position(size, kernel, dilation, padding, stride):
    """F.fold written out: each block element lands on its position (the padding's
    are dropped); the first on a position is written, the others added."""
    blocks = [(size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1)]
    c = 2
    x = RNG.normal(size=(1, c * kernel[0] * kernel[1], blocks[0] * blocks[1]))
    t = bf.Tally()
    out = np.full((1, c, *size), None, dtype=object)
    for ch in range(c):
        for ki in range(kernel[0]):
            for kj in range(kernel[1]):
                row = (ch * kernel[0] + ki) * kernel[1] + kj
                for bi in range(blocks[0]):
                    for bj in range(blocks[1]):
                        p = bi * stride[0] + ki * dilation[0] - padding[0]
                        q = bj * stride[1] + kj * dilation[1] - padding[1]
                        if 0 <= p < size[0] and 0 <= q < size[1]:
                            v = t.num(x[0, row, bi * blocks[1] + bj])
                            out[0, ch, p, q] = v if out[0, ch, p, q] is None else out[0, ch, p, q] + v
    expected = F.fold(torch.tensor(x), size, kernel, dilation, padding, stride)
    np.testing.assert_allclose(bf.values(out), expected.numpy())
    assert formula(aten.col2im, (1, c, *size), x.shape, list(size), list(kernel), list(dilation),
                   list(padding), list(stride)) == t.as_tuple()


@pytest.mark.parametrize("counts", [False, True])
def test_unique_consecutive_compares_each_value_with_the_last_kept(counts):
    """The CPU kernel's loop: each value after the first against the last one kept;
    with counts, each run's length as a difference of positions."""
    x = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 1.0, 1.0, 0.0])
    t = bf.Tally()
    kept, lengths, last = [x[0]], [], 0
    for i in range(1, len(x)):
        if not equal(t.num(x[i]), kept[-1]):
            kept.append(x[i])
            if counts:
                lengths.append((t.num(i) - last).v)
                last = i
    if counts:
        lengths.append((t.num(len(x)) - last).v)
    values, _, got_counts = torch.unique_consecutive(torch.tensor(x), return_counts=True, return_inverse=True)
    np.testing.assert_array_equal(kept, values.numpy())
    if counts:
        np.testing.assert_array_equal(lengths, got_counts.numpy())
    out = ((len(kept),), (len(x),), (len(kept),) if counts else (0,))
    assert formula(aten.unique_consecutive, out, x.shape, True, counts) == t.as_tuple()


def test_unique_consecutive_along_a_dimension_compares_whole_slices():
    """dim=1 of (2, 5): the 5 columns of 2, each after the first compared with the
    last kept element by element (at::equal; its deepest path, every element, taken
    here: the columns that differ do so in their last element), then the run
    lengths, always computed."""
    x = np.array([[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0, 0.0]])
    t = bf.Tally()
    kept, lengths, last = [0], [], 0
    for j in range(1, 5):
        same = all([equal(t.num(x[i, j]), x[i, kept[-1]]) for i in range(2)])
        if not same:
            kept.append(j)
            lengths.append((t.num(j) - last).v)
            last = j
    lengths.append((t.num(5) - last).v)
    values, counts = torch.unique_consecutive(torch.tensor(x), return_counts=True, dim=1)
    np.testing.assert_array_equal(x[:, kept], values.numpy())
    np.testing.assert_array_equal(lengths, counts.numpy())
    out = ((2, len(kept)), (0,), (0,))
    assert formula(aten.unique_consecutive, out, x.shape, False, False, 1) == t.as_tuple() == (0, 3, 4 * 2)


@pytest.mark.parametrize("reduction,name", [(0, "none"), (1, "mean"), (2, "sum")])
def test_mse_loss_squares_each_difference_then_reduces(reduction, name):
    x, y = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4))
    t = bf.Tally()
    squares = []
    for a, b in zip(x.ravel(), y.ravel()):
        d = t.num(a) - b
        squares.append(d * d)
    if reduction == 0:
        got = [s.v for s in squares]
    else:
        total = bf.total(squares)
        got = (total * (1 / 12)).v if reduction == 1 else total.v
    np.testing.assert_allclose(got, F.mse_loss(torch.tensor(x), torch.tensor(y), reduction=name).numpy().ravel()
                               if reduction == 0 else float(F.mse_loss(torch.tensor(x), torch.tensor(y),
                                                                       reduction=name)))
    out = (3, 4) if reduction == 0 else ()
    assert formula(aten.mse_loss, out, (3, 4), (3, 4), reduction) == t.as_tuple()


def euclidean_dist(t: bf.Tally, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """ATen's _euclidean_dist of one batch: the squared norms (pow(2), ``other``,
    and sums), x1·(−2), rows [−2·x1, ‖x1‖², 1] times rows [x2, 1, ‖x2‖²], then
    clamp_min(0) and sqrt."""
    def norms(x):
        return [bf.total([power(t.num(v), 2.0) for v in row]) for row in x]
    left = [[t.num(v) * -2.0 for v in row] + [n, 1.0] for row, n in zip(x1, norms(x1))]
    right = [list(row) + [1.0, n] for row, n in zip(x2, norms(x2))]
    out = np.empty((len(x1), len(x2)))
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            # every one of the m + 2 terms is a product, the ones' included (the kernel multiplies them)
            d = bf.total([t.num(p) * q if not isinstance(p, bf.Num) else p * q for p, q in zip(a, b)])
            out[i, j] = sqrt(maximum(d, 0.0)).v
    return out


def test_euclidean_dist_is_one_product_of_padded_rows():
    """x1 (2, 3, 4) and x2 (2, 5, 4), both batches written out; the values are
    torch.cdist's through a matrix product (the mode that calls _euclidean_dist)."""
    x1, x2 = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 5, 4))
    t = bf.Tally()
    got = np.stack([euclidean_dist(t, a, b) for a, b in zip(x1, x2)])
    expected = torch.cdist(torch.tensor(x1), torch.tensor(x2), compute_mode="use_mm_for_euclid_dist").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    mults, adds, other = t.as_tuple()
    cost = find_aten_formula(aten._euclidean_dist).fn((2, 3, 5), (2, 3, 4), (2, 5, 4))
    assert (cost.mults, cost.adds, cost.other) == (mults, adds, other)
    assert cost.macs == 2 * 3 * 5 * (4 + 2)     # the dot products' terms, the norms' and ones' included


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("weighted", [False, True])
def test_embedding_bag_as_a_function_sums_weighs_and_averages_each_bag(mode, weighted):
    """Each bag, row by row: a weight times each row, then the running sum (max),
    then 1/size for the mean; F.embedding_bag is what Kimi-K2.5's position table calls."""
    if weighted and mode != "sum":
        return                                  # torch takes per_sample_weights with mode "sum" only
    table = RNG.normal(size=(10, 3))
    indices, offsets = [1, 4, 4, 7, 0, 2, 9], [0, 3, 4]
    weights = RNG.normal(size=len(indices))
    t = bf.Tally()
    bags = []
    for b, start in enumerate(offsets):
        stop = offsets[b + 1] if b + 1 < len(offsets) else len(indices)
        rows = [[t.num(v) for v in table[i]] for i in indices[start:stop]]
        if weighted:
            rows = [[v * weights[start + k] for v in row] for k, row in enumerate(rows)]
        acc = rows[0]
        for row in rows[1:]:
            acc = [maximum(a, v) if mode == "max" else a + v for a, v in zip(acc, row)]
        if mode == "mean":
            acc = [a * (1 / (stop - start)) for a in acc]
        bags.append(acc)
    expected = F.embedding_bag(torch.tensor(indices), torch.tensor(table), torch.tensor(offsets), mode=mode,
                               per_sample_weights=torch.tensor(weights) if weighted else None)
    np.testing.assert_allclose([bf.values(np.array(b)) for b in bags], expected.numpy())
    out = [(3, 3), (0,), (3,), (3,)]
    code = {"sum": 0, "mean": 1, "max": 2}[mode]
    assert formula(aten._embedding_bag, out, (10, 3), (7,), (3,), False, code, False,
                   (7,) if weighted else None) == t.as_tuple()
