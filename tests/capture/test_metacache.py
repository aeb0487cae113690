"""The meta-op replay and shortcuts give exactly the metadata the real meta kernels give."""
import itertools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.models import get_model

from layouts import layouts
from profiler.capture.metacache import SHORTCUTS, MetaReplay

aten = torch.ops.aten
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def metadata(out):
    outs = out if isinstance(out, tuple) else (out,)
    return [(tuple(t.shape), t.stride(), t.dtype, t.storage_offset(), t.device.type) for t in outs]


class CheckEveryOp(TorchDispatchMode):
    """Runs each op through MetaReplay and through its real kernel; records mismatches."""

    def __init__(self):
        super().__init__()
        self.replay = MetaReplay()
        self.mismatches, self.ops = [], 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        real = func(*args, **kwargs)
        replayed = self.replay(func, args, kwargs)
        self.ops += 1
        if isinstance(real, torch.Tensor) or (isinstance(real, tuple) and real
                                               and all(isinstance(t, torch.Tensor) for t in real)):
            if metadata(real) != metadata(replayed):
                self.mismatches.append((str(func), metadata(real), metadata(replayed)))
        return real


@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "swin_t", "efficientnet_b0"])
def test_replayed_forward_matches_real_meta_kernels_op_by_op(name):
    with torch.device("meta"):
        model = get_model(name, weights=None).eval()
    check = CheckEveryOp()
    with torch.no_grad(), check:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert check.ops > 50
    assert check.mismatches == []


def test_addmm_shortcut_matches_the_kernel_for_every_layout_and_scalar():
    checked = 0
    for dtype, (m, k, n) in itertools.product(DTYPES, [(1, 4, 5), (3, 4, 5), (3, 4, 1), (1, 1, 1)]):
        for mat1, mat2 in itertools.product(layouts((m, k), dtype), layouts((k, n), dtype)):
            for self_shape in [(n,), (1, n), (m, 1), (m, n), (), (1,)]:
                for beta, alpha in ((1, 1), (0, 1), (0.5, 2)):
                    bias = torch.empty(self_shape, device="meta", dtype=dtype)
                    fast = SHORTCUTS[aten.addmm.default](bias, mat1, mat2, beta=beta, alpha=alpha)
                    real = aten.addmm.default(bias, mat1, mat2, beta=beta, alpha=alpha)
                    assert fast is not None
                    assert metadata(fast) == metadata(real)
                    checked += 1
    assert checked > 1000


def test_addmm_shortcut_declines_what_the_kernel_would_reject():
    mat1, mat2 = torch.empty(3, 4, device="meta"), torch.empty(4, 5, device="meta")
    assert SHORTCUTS[aten.addmm.default](torch.empty(7, device="meta"), mat1, mat2) is None
    assert SHORTCUTS[aten.addmm.default](torch.empty(5, device="meta", dtype=torch.float16), mat1, mat2) is None
    assert SHORTCUTS[aten.addmm.default](torch.empty(5, device="meta"), mat1, torch.empty(3, 5, device="meta")) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_shortcuts_match_the_kernels_or_decline(dtype):
    used = 0
    for shape in [(2, 8), (1, 8), (2, 8, 7), (2, 8, 5, 5), (1, 16, 1, 1), (2, 4, 3, 5, 5), (3, 1, 4)]:
        for x in layouts(shape, dtype):
            channel = torch.empty(shape[1], device="meta", dtype=dtype)
            for training, params in itertools.product((False, True), [(channel,) * 4, (None, None, channel, channel)]):
                args = (x, *params, training, 0.1, 1e-5)
                fast = SHORTCUTS[aten.native_batch_norm.default](*args)
                if fast is not None:
                    assert metadata(fast) == metadata(aten.native_batch_norm.default(*args))
                    used += 1
            for k in range(1, len(shape) + 1):
                normalized = list(shape[-k:])
                weight = torch.empty(normalized, device="meta", dtype=dtype)
                for w, b in ((weight, weight), (None, None), (weight, None)):
                    fast = SHORTCUTS[aten.native_layer_norm.default](x, normalized, w, b, 1e-5)
                    if fast is not None:
                        real = aten.native_layer_norm.default(x, normalized, w, b, 1e-5)
                        assert metadata(fast) == metadata(real)
                        used += 1
    assert used > 50


def test_batch_norm_shortcut_leaves_training_mode_to_the_kernel():
    x, c = torch.empty(1, 4, 1, 1, device="meta"), torch.empty(4, device="meta")
    assert SHORTCUTS[aten.native_batch_norm.default](x, c, c, c, c, True, 0.1, 1e-5) is None


def test_replay_keeps_python_scalar_types_apart():
    replay = MetaReplay()
    x = torch.empty(2, 3, device="meta", dtype=torch.int64)
    assert replay(aten.mul.Scalar, (x, 2), {}).dtype == torch.int64
    assert replay(aten.mul.Scalar, (x, 2.0), {}).dtype == torch.float32
    assert replay(aten.mul.Scalar, (x, 2), {}).dtype == torch.int64


def test_replay_returns_a_fresh_tensor_and_leaves_view_ops_alone():
    replay = MetaReplay()
    x = torch.empty(2, 3, device="meta")
    first, second = replay(aten.add.Tensor, (x, x), {}), replay(aten.add.Tensor, (x, x), {})
    assert first is not second and metadata(first) == metadata(second)
    view = replay(aten.view.default, (x, [3, 2]), {})
    assert view._base is x
    assert replay(aten.view.default, (x, [3, 2]), {}) is not view


def test_inplace_ops_return_their_argument_and_still_raise_where_the_kernel_does():
    replay = MetaReplay()
    x, row = torch.empty(2, 3, device="meta"), torch.empty(3, device="meta")
    for _ in range(2):  # the first call runs the kernel, the second is replayed
        assert replay(aten.add_.Tensor, (x, row), {}) is x
        assert replay(aten.relu_.default, (x,), {}) is x
    # a row cannot be broadcast into: the kernel's error, every time
    for _ in range(2):
        with pytest.raises(RuntimeError):
            replay(aten.add_.Tensor, (row, x), {})
    # in-place ops that change metadata always run their kernels
    y = torch.empty(2, 3, device="meta")
    for expected in ((3, 2), (2, 3)):
        assert replay(aten.t_.default, (y,), {}) is y and tuple(y.shape) == expected
    z = torch.empty(2, 3, device="meta")
    replay(aten.unsqueeze_.default, (z, 0), {})
    replay(aten.unsqueeze_.default, (z, 0), {})
    assert tuple(z.shape) == (1, 1, 2, 3)


def test_convolution_shortcut_matches_the_kernel_or_declines():
    checked = 0
    conv = SHORTCUTS[aten.convolution.default]
    for k, dtype, groups, (s, p, d), bias in itertools.product(
            (1, 2, 3), DTYPES, (1, 2), [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 0, 1)], (True, False)):
        shape = (2, 4, *(7, 6, 5)[:k])
        weight = torch.empty((6, 4 // groups, *(3, 2, 1)[:k]), device="meta", dtype=dtype)
        b = torch.empty(6, device="meta", dtype=dtype) if bias else None
        for x in layouts(shape, dtype):
            args = (x, weight, b, [s] * k, [p] * k, [d] * k, False, [0] * k, groups)
            fast = conv(*args)
            assert fast is not None
            assert metadata(fast) == metadata(aten.convolution.default(*args))
            checked += 1
    assert checked > 300
    x, w = torch.empty(1, 4, 5, 5, device="meta"), torch.empty(6, 4, 3, 3, device="meta")
    assert conv(x, w, None, [1, 1], [0, 0], [1, 1], True, [0, 0], 1) is None      # transposed
    assert conv(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 3) is None     # channels vs groups
    assert conv(x, w.half(), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1) is None  # dtypes differ
    assert conv(x, w, None, [1, 1], [0, 0], [4, 4], False, [0, 0], 1) is None     # kernel larger than input
    small = torch.empty(1, 4, 2, 2, device="meta")   # an output of size 0: the kernel raises
    with pytest.raises(RuntimeError, match="Kernel size"):
        aten.convolution.default(small, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    assert conv(small, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1) is None
    with pytest.raises(Exception):   # the meta kernel's own error (today a ZeroDivisionError of its own)
        aten.convolution.default(x, w, None, [0, 1], [0, 0], [1, 1], False, [0, 0], 1)
    assert conv(x, w, None, [0, 1], [0, 0], [1, 1], False, [0, 0], 1) is None   # the kernel's error, not ours
    assert conv(x, w, torch.empty(5, device="meta"), [1, 1], [0, 0], [1, 1], False, [0, 0], 1) is None


def test_max_pool_shortcut_matches_the_kernel_or_declines():
    pool = SHORTCUTS[aten.max_pool2d_with_indices.default]
    checked = declined = 0
    for shape, dtype, (k, s, p, d), ceil in itertools.product(
            [(2, 4, 7, 6), (1, 3, 13, 13), (1, 1, 5, 5), (1, 4, 1, 1), (1, 4, 1, 6), (0, 4, 5, 5), (1, 4, 2, 2)],
            DTYPES, [([3, 3], [2, 2], [0, 0], [1, 1]), ([2, 3], [], [1, 1], [1, 1]), ([3, 3], [1, 2], [1, 0], [2, 1]),
                     ([3], [2], [0], [1]), ([3, 3], [2, 2], (0,), (1,)), ([3], [], [1], [2]),
                     ([5, 5], [3, 3], [2, 2], [1, 1]), ([2, 2], [2, 2], [2, 0], [1, 1]), ([4, 4], [1, 1], [0, 0], [2, 2]),
                     ([3, 3], [0, 1], [0, 0], [1, 1])], (False, True)):
        for x in layouts(shape, dtype):
            args = (x, k, s, p, d, ceil)
            fast = pool(*args)
            try:
                real = aten.max_pool2d_with_indices.default(*args)
            except RuntimeError:
                assert fast is None, args
                declined += 1
                continue
            if fast is None:
                declined += 1
                continue
            assert metadata(fast) == metadata(real), args
            checked += 1
    assert checked > 100 and declined > 500
    x = torch.empty(1, 4, 7, 7, device="meta")
    assert metadata(pool(x, [3], [2])) == metadata(aten.max_pool2d_with_indices.default(x, [3], [2]))  # defaults
    assert pool(x, [3, 3], [2, 2], [0, 0], [1, 1], 1) is None      # ceil_mode not a bool
    assert pool(x, [3, 3, 3], [2, 2], [0, 0], [1, 1], False) is None


def test_adaptive_average_pool_shortcut_matches_the_kernel_or_declines():
    pool = SHORTCUTS[aten._adaptive_avg_pool2d.default]
    checked = declined = 0
    for shape, dtype, size in itertools.product(
            [(2, 4, 7, 6), (1, 3, 13, 13), (1, 1, 5, 5), (1, 4, 1, 1), (1, 4, 1, 6), (0, 4, 5, 5)],
            DTYPES, [[1, 1], [6, 6], [3, 2], [0, 4], [9, 9]]):
        for x in layouts(shape, dtype):
            fast = pool(x, size)
            if fast is None:
                declined += 1
                continue
            assert metadata(fast) == metadata(aten._adaptive_avg_pool2d.default(x, size)), (shape, size)
            checked += 1
    assert checked > 50 and declined > 300
    x = torch.empty(1, 4, 7, 7, device="meta")
    assert pool(x, [3]) is None and pool(x, [3, -1]) is None and pool(torch.empty(4, 7, 7, device="meta"), [3, 3]) is None


def test_mean_shortcut_matches_the_kernel_or_declines():
    """mean.dim (a global average pool: adaptive_avg_pool2d to 1x1 is a mean) against
    its meta kernel on every layout, dtype, set of dims and keepdim."""
    mean = SHORTCUTS[aten.mean.dim]
    checked = declined = 0
    for shape, dtype, dims, keep in itertools.product(
            [(2, 4, 7, 6), (1, 3, 1, 1), (5,), (3, 1, 4), (0, 4, 5, 5)], DTYPES,
            [[-1, -2], [2, 3], [0], [1], [-1], [0, 1, 2], [1, 1], [3, 4], []], [True, False]):
        for x in layouts(shape, dtype):
            fast = mean(x, dims, keep)
            if fast is None:
                declined += 1
                continue
            assert metadata(fast) == metadata(aten.mean.dim(x, dims, keep)), (shape, dtype, dims, keep)
            checked += 1
    assert checked == 200 and declined > 300
    x = torch.empty(2, 3, 4, device="meta")
    assert mean(x, [1], True, dtype=torch.float64) is None and mean(x, None) is None and mean(x, [1], 1) is None
    assert mean(torch.empty(2, 3, device="meta", dtype=torch.int64), [1]) is None


def test_replay_runs_real_tensors_through_their_kernels():
    replay = MetaReplay()
    x = torch.ones(2, 2)
    assert torch.equal(replay(aten.add.Tensor, (x, x), {}), torch.full((2, 2), 2.0))
    assert torch.equal(replay(aten.add.Tensor, (x, x), {}), torch.full((2, 2), 2.0))


def _grouped_operands(shape, dtype):
    """Operands of torch._grouped_mm in the layouts its CPU kernel accepts or refuses:
    row-major, column-major in the last two dimensions, row-major with padded rows,
    and every other column (refused)."""
    *lead, r, c = shape
    yield "row", torch.zeros(shape, dtype=dtype)
    yield "col", torch.zeros((*lead, c, r), dtype=dtype).transpose(-2, -1)
    yield "padded", torch.zeros((*lead, r, c + 8), dtype=dtype)[..., :c]
    yield "strided", torch.zeros((*lead, r, 2 * c), dtype=dtype)[..., ::2]


def _outcome(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except RuntimeError as exc:
        return "error", str(exc).splitlines()[0]
    return "ok", None if out is None else [m[:4] for m in metadata(out)]


def _on_meta(t):
    return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta") if t is not None else None


GROUPED_CASES = [  # (a shape, b shape, number of groups or None for 3D×3D)
    ((10, 8), (3, 8, 16), 3), ((10, 8), (3, 8, 6), 3), ((0, 8), (2, 8, 8), 2), ((7, 24), (1, 24, 12), 1),
    ((3, 6, 8), (3, 8, 16), None), ((2, 5, 8), (2, 8, 6), None), ((2, 5, 8), (3, 8, 16), None),
    ((3, 5, 8), (8, 16), 3), ((3, 5, 8), (8, 6), 3), ((6, 16), (16, 8), 3), ((5, 16), (16, 6), 2),
    ((10, 8), (3, 4, 16), 3), ((10, 8), (2, 8, 16), 3),
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_mm_shortcut_gives_what_the_cpu_kernel_gives(dtype):
    """torch._grouped_mm's meta kernel follows the CUDA one and refuses float32; the
    shortcut gives the CPU kernel's output (shape, padded strides, dtype) or raises
    its error, over dtypes, operand layouts and 2D/3D combinations.  float64 is
    refused by the CPU kernel, so by the shortcut, with the kernel's message."""
    shortcut = SHORTCUTS[aten._grouped_mm.default]
    outcomes = {"ok": 0, "error": 0}
    for a_shape, b_shape, groups in GROUPED_CASES:
        operands = itertools.product(_grouped_operands(a_shape, dtype), _grouped_operands(b_shape, dtype))
        for (_, a), (_, b) in operands:
            offs = None
            if groups is not None:  # ends of equal groups along the jagged dimension
                jagged = a_shape[0] if len(a_shape) == 2 and len(b_shape) == 3 else \
                    b_shape[-1] if len(b_shape) == 2 and len(a_shape) == 3 else a_shape[-1]
                offs = torch.tensor([jagged * (g + 1) // groups for g in range(groups)], dtype=torch.int32)
            real = _outcome(aten._grouped_mm.default, a, b, offs)
            fast = _outcome(shortcut, _on_meta(a), _on_meta(b), _on_meta(offs))
            assert fast == real, (a_shape, a.stride(), b_shape, b.stride(), dtype)
            outcomes[real[0]] += 1
    if dtype == torch.float64:
        assert outcomes["ok"] == 0
    else:
        assert outcomes["ok"] > 30 and outcomes["error"] > 30


def test_grouped_mm_shortcut_checks_offsets_bias_and_output_dtype_as_the_cpu_kernel():
    shortcut = SHORTCUTS[aten._grouped_mm.default]
    a, b = torch.zeros(10, 8), torch.zeros(3, 8, 16)
    offs = torch.tensor([3, 7, 10], dtype=torch.int32)
    cases = [
        ((a, b), {}), ((a, b, offs.long()), {}), ((a, b, offs[None]), {}), ((a, b, offs[:2]), {}),
        ((torch.zeros(3, 4, 8), b, offs), {}), ((a, b, offs), {"bias": torch.zeros(3, 16)}),
        ((a, b, offs), {"out_dtype": torch.bfloat16}), ((a, b, offs), {"out_dtype": torch.float32}),
        ((torch.zeros(8), b, offs), {}),
    ]
    for args, kwargs in cases:
        real = _outcome(aten._grouped_mm.default, *args, **kwargs)
        fast = _outcome(shortcut, *map(_on_meta, args), **{k: _on_meta(v) if isinstance(v, torch.Tensor) else v
                                                          for k, v in kwargs.items()})
        assert fast == real, (args, kwargs)
    # mixed dtypes fail inside the CPU kernel's matmul, and 2D×2D operands whose grouped
    # dimensions differ fail there or not depending on the offsets: left to the meta kernel
    assert shortcut(_on_meta(a), _on_meta(b.bfloat16()), _on_meta(offs)) is None
    assert shortcut(*map(_on_meta, (torch.zeros(8, 16), torch.zeros(12, 8), offs))) is None
    mixed = (a.double(), b, offs)
    assert _outcome(shortcut, *map(_on_meta, mixed)) == _outcome(aten._grouped_mm.default, *mixed)


def test_replayed_grouped_mm_runs_float32_on_meta():
    replay = MetaReplay()
    a, b = torch.empty(32, 64, device="meta"), torch.empty(4, 256, 64, device="meta").transpose(-2, -1)
    offs = torch.empty(4, dtype=torch.int32, device="meta")
    with pytest.raises(RuntimeError, match="BFloat16"):  # the meta kernel alone
        aten._grouped_mm.default(a, b, offs)
    for _ in range(2):  # the shortcut, then the replay
        out = replay(aten._grouped_mm.default, (a, b, offs), {})
        assert metadata(out) == [((32, 256), (256, 1), torch.float32, 0, "meta")]


# -- the backward's shortcuts (a training profile's memory trace runs the backward on meta) --

def _agree(op, args) -> bool:
    """The shortcut gives the real meta kernel's metadata (None where the kernel gives
    None), or declines; True where it answered."""
    fast = SHORTCUTS[op](*args)
    if fast is None:
        return False
    real = op(*args)
    fast, real = (fast if isinstance(fast, tuple) else (fast,)), (real if isinstance(real, tuple) else (real,))
    assert [f is None for f in fast] == [r is None for r in real]
    assert metadata(tuple(f for f in fast if f is not None)) == metadata(tuple(r for r in real if r is not None))
    return True


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_backward_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.native_batch_norm_backward.default, 0
    masks = list(itertools.product((True, False), repeat=3))
    for shape in [(2, 8), (1, 8), (2, 8, 7), (2, 8, 5, 5), (1, 16, 1, 1), (2, 4, 3, 5, 5), (3, 1, 4)]:
        for x, g in itertools.product(list(layouts(shape, dtype)), list(layouts(shape, dtype))[:2]):
            for wdtype, sdtype in ((dtype, dtype), (torch.float32, torch.float32), (dtype, torch.float32)):
                w = torch.empty(shape[1], device="meta", dtype=wdtype)
                s = torch.empty(shape[1], device="meta", dtype=sdtype)
                for train, weight, mask in itertools.product((True, False), (w, None), masks):
                    stats = (None, None, s, s) if train else (s, s, None, None)
                    used += _agree(op, (g, x, weight, *stats, train, 1e-5, list(mask)))
    assert used > 500
    x = torch.empty(2, 4, 3, device="meta", dtype=dtype)
    c = torch.empty(4, device="meta", dtype=dtype)
    assert SHORTCUTS[op](x, x, c, None, None, None, None, True, 1e-5, [True] * 3) is None   # no saved statistics
    assert SHORTCUTS[op](x[:1], x, c, None, None, c, c, True, 1e-5, [True] * 3) is None    # shapes differ
    assert SHORTCUTS[op](x, x, c[:3], None, None, c, c, True, 1e-5, [True] * 3) is None    # channels differ


@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_backward_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.threshold_backward.default, 0
    for shape in [(5,), (2, 8), (1, 1), (2, 8, 5, 5), (2, 3, 4, 5, 6)]:
        for g, x in itertools.product(list(layouts(shape, dtype)), list(layouts(shape, dtype))):
            for threshold in (0, 0.5, -1):
                used += _agree(op, (g, x, threshold))
    assert used >= 15
    g = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[op](g, torch.empty(3, device="meta", dtype=dtype), 0) is None   # broadcast: the kernel
    assert SHORTCUTS[op](g, g.to(torch.float64 if dtype != torch.float64 else torch.float32), 0) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_convolution_backward_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.convolution_backward.default, 0
    masks = list(itertools.product((True, False), repeat=3))
    for k, groups, (s, p, d), mask in itertools.product(
            (1, 2, 3), (1, 2), [(1, 0, 1), (2, 1, 1), (1, 2, 2)], masks):
        shape = (2, 4, *(7, 6, 5)[:k])
        x = torch.empty(shape, device="meta", dtype=dtype)
        for kernel in ((3, 2, 1)[:k], (1,) * k):
            w = torch.empty((6, 4 // groups, *kernel), device="meta", dtype=dtype)
            out = aten.convolution.default(x, w, None, [s] * k, [p] * k, [d] * k, False, [0] * k, groups)
            for g, xx, ww in itertools.product(list(layouts(tuple(out.shape), dtype))[:2],
                                               list(layouts(shape, dtype)), list(layouts(tuple(w.shape), dtype))):
                for bias in ([6], None):
                    used += _agree(op, (g, xx, ww, bias, [s] * k, [p] * k, [d] * k, False, [0] * k, groups,
                                        list(mask)))
    assert used > 1000
    x, w = torch.empty(2, 4, 5, 5, device="meta"), torch.empty(6, 4, 3, 3, device="meta")
    g = torch.empty(2, 6, 3, 3, device="meta")
    cl = x.contiguous(memory_format=torch.channels_last)
    assert SHORTCUTS[op](g, cl, w, [6], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True] * 3) is None
    assert SHORTCUTS[op](g, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True] * 3) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_backward_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten._softmax_backward_data.default, 0
    for shape in [(5,), (2, 8), (2, 4, 16, 16), (1, 1, 1)]:
        for g, y in itertools.product(list(layouts(shape, dtype)), list(layouts(shape, dtype))):
            for dim in range(-len(shape), len(shape)):
                used += _agree(op, (g, y, dim, dtype))
    assert used > 40
    y = torch.empty(2, 3, device="meta", dtype=dtype)
    other = torch.float64 if dtype != torch.float64 else torch.float32
    assert SHORTCUTS[op](y, y, -1, other) is None   # a cast to the input's dtype: the kernel
    assert SHORTCUTS[op](y, y, 2, dtype) is None     # the kernel's error


def test_replayed_training_step_matches_real_meta_kernels_op_by_op():
    """A resnet18's forward and backward (the ops the memory trace runs) through the
    replay, op by op, against the real meta kernels."""
    with torch.device("meta"):
        model = get_model("resnet18", weights=None).train()
    check = CheckEveryOp()
    with check:
        model(torch.empty(2, 3, 64, 64, device="meta")).sum().backward()
    assert check.ops > 100
    assert check.mismatches == []


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64, torch.bool))
def test_gradient_sum_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.add.Tensor, 0
    for shape in [(5,), (2, 8), (1, 1), (2, 8, 5, 5), (2, 3, 4, 5, 6), (3, 1, 4)]:
        for a, b in itertools.product(list(layouts(shape, dtype)), list(layouts(shape, dtype))):
            for kwargs in ({}, {"alpha": 2}, {"alpha": 0.5}):
                if dtype in (torch.int64, torch.bool) and kwargs:
                    continue
                fast = SHORTCUTS[op](a, b, **kwargs)
                if fast is not None:
                    assert metadata(fast) == metadata(op(a, b, **kwargs))
                    used += 1
    assert used >= (20 if dtype.is_floating_point else 0)
    x = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[op](x, torch.empty(3, device="meta", dtype=dtype)) is None   # broadcast: the kernel
    assert SHORTCUTS[op](x, 2) is None                                             # a scalar: the kernel
    assert SHORTCUTS[op](x, x.to(torch.float64 if dtype != torch.float64 else torch.float32)) is None


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64,))
def test_mm_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.mm.default, 0
    for (n, k, m) in [(3, 4, 5), (1, 1, 1), (8, 1, 2), (2, 7, 1)]:
        for a, b in itertools.product(list(layouts((n, k), dtype)), list(layouts((k, m), dtype))):
            used += _agree(op, (a, b))
    assert used == 36   # every pair of layouts
    a = torch.empty(3, 4, device="meta", dtype=dtype)
    assert SHORTCUTS[op](a, torch.empty(3, 4, device="meta", dtype=dtype)) is None   # inner sizes differ
    assert SHORTCUTS[op](a, torch.empty(4, device="meta", dtype=dtype)) is None      # not 2D
    other = torch.float64 if dtype != torch.float64 else torch.float32
    assert SHORTCUTS[op](a, torch.empty(4, 2, device="meta", dtype=other)) is None   # dtypes differ


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64, torch.bool))
def test_sum_shortcuts_match_the_kernels_or_decline(dtype):
    dims, every = aten.sum.dim_IntList, aten.sum.default
    used = 0
    for shape in [(5,), (2, 8), (1, 1), (2, 8, 5, 5), (3, 1, 4)]:
        expanded = torch.empty((), device="meta", dtype=dtype).expand(shape)   # the loss's seed gradient
        for x in [*layouts(shape, dtype), expanded, torch.empty((1, *shape[1:]), device="meta", dtype=dtype).expand(shape)]:
            used += _agree(every, (x,))
            n = len(shape)
            for count in range(1, n + 1):
                for dim in itertools.combinations(range(-n, n), count):
                    if len({d % n for d in dim}) != count:
                        continue
                    for keepdim in (False, True):
                        used += _agree(dims, (x, list(dim), keepdim))
    assert used >= (300 if dtype.is_floating_point else 0)
    x = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[dims](x, [0, -2]) is None          # a dimension twice: the kernel's error
    assert SHORTCUTS[dims](x, [2]) is None              # out of range: the kernel's error
    assert SHORTCUTS[dims](x, []) is None               # every dimension: the kernel
    assert SHORTCUTS[dims](x, [0], dtype=torch.float64) is None
    assert SHORTCUTS[every](x, dtype=torch.float64) is None


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64, torch.bool))
def test_zeros_like_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.zeros_like.default, 0
    for shape in [(), (5,), (2, 8), (1, 1), (2, 8, 5, 5), (2, 1, 5, 5), (1, 8, 1, 1), (3, 1, 4)]:
        for x in layouts(shape, dtype):
            used += _agree(op, (x,))
    assert used >= 8
    x = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[op](x, dtype=torch.float64) is None
    assert SHORTCUTS[op](x, memory_format=torch.contiguous_format) is None
    assert _agree(op, (torch.empty(2, 3, device="meta", dtype=dtype),)) and \
        metadata(SHORTCUTS[op](x, pin_memory=False)) == metadata(op(x, pin_memory=False))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_backward_shortcut_matches_the_kernel_or_declines(dtype):
    forward, op, used = aten.max_pool2d_with_indices.default, aten.max_pool2d_with_indices_backward.default, 0
    for shape in [(2, 3, 8, 8), (1, 4, 7, 5), (2, 1, 6, 6), (2, 3, 1, 1)]:
        for kernel, stride, padding, dilation, ceil in itertools.product(
                ([2, 2], [3, 3], [3, 2]), ([], [2, 2], [1, 2]), ([0, 0], [1, 1]), ([1, 1], [2, 1]), (False, True)):
            for x in layouts(shape, dtype):
                try:
                    out, indices = forward(x, kernel, stride, padding, dilation, ceil)
                except RuntimeError:
                    continue
                for g in list(layouts(tuple(out.shape), dtype))[:2]:
                    used += _agree(op, (g, x, kernel, stride, padding, dilation, ceil, indices))
    assert used > 100
    x = torch.empty(2, 3, 8, 8, device="meta", dtype=dtype)
    out, indices = forward(x, [2, 2], [], [0, 0], [1, 1], False)
    assert SHORTCUTS[op](out[:, :, :3], x, [2, 2], [], [0, 0], [1, 1], False, indices) is None   # shapes differ
    other = torch.float64 if dtype != torch.float64 else torch.float32
    assert SHORTCUTS[op](out.to(other), x, [2, 2], [], [0, 0], [1, 1], False, indices) is None


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64,))
def test_product_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.mul.Tensor, 0
    pairs = [((2, 16, 64), (64,)), ((2, 16, 64), (2, 16, 64)), ((2, 16, 1), (2, 16, 64)), ((2, 1), (1, 3)),
             ((1, 1), (1, 1)), ((2, 4, 16, 16), (1, 1, 16, 16)), ((5,), (3, 5)), ((2, 3, 4, 5), (3, 1, 5)),
             ((1, 4, 1, 6), (2, 1, 5, 1))]
    for sa, sb in pairs:
        for a, b in itertools.product(list(layouts(sa, dtype)), list(layouts(sb, dtype))):
            for x, y in ((a, b), (b, a)):
                fast = SHORTCUTS[op](x, y)
                if fast is not None:
                    assert metadata(fast) == metadata(op(x, y))
                    used += 1
    assert used >= (20 if dtype.is_floating_point else 0)
    x = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[op](x, torch.empty(4, device="meta", dtype=dtype)) is None   # no broadcast: the kernel's error
    assert SHORTCUTS[op](x, torch.empty((), device="meta", dtype=dtype)) is None  # a 0-dim operand: the kernel
    assert SHORTCUTS[op](x, 2) is None
    other = torch.float64 if dtype != torch.float64 else torch.float32
    assert SHORTCUTS[op](x, x.to(other)) is None                                  # promotion: the kernel


@pytest.mark.parametrize("dtype", DTYPES + (torch.int64,))
def test_power_shortcut_matches_the_kernel_or_declines(dtype):
    op, used = aten.pow.Tensor_Scalar, 0
    for shape in [(5,), (2, 16, 64), (1, 1), (2, 8, 5, 5), ()]:
        for x in layouts(shape, dtype) if shape else [torch.empty((), device="meta", dtype=dtype)]:
            for exponent in (2, 3, 0.5, -1, 1.0):
                used += _agree(op, (x, exponent))
    assert used >= (20 if dtype.is_floating_point else 0)
    x = torch.empty(2, 3, device="meta", dtype=dtype)
    assert SHORTCUTS[op](x, True) is None and SHORTCUTS[op](x, 1j) is None
