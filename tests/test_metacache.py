"""The meta-op replay and shortcuts give exactly the metadata the real meta kernels give."""
import itertools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torchvision.models import get_model

from profiler.metacache import SHORTCUTS, MetaReplay

aten = torch.ops.aten
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def metadata(out):
    outs = out if isinstance(out, tuple) else (out,)
    return [(tuple(t.shape), t.stride(), t.dtype, t.storage_offset(), t.device.type) for t in outs]


def layouts(shape, dtype):
    """The same shape as contiguous, channels-last, reversed-stride, sliced and permuted tensors."""
    yield torch.empty(shape, device="meta", dtype=dtype)
    if len(shape) == 4:
        yield torch.empty(shape, device="meta", dtype=dtype).contiguous(memory_format=torch.channels_last)
    if len(shape) >= 2:
        yield torch.empty(shape[::-1], device="meta", dtype=dtype).permute(*reversed(range(len(shape))))
        yield torch.empty((*shape[:-1], 2 * shape[-1]), device="meta", dtype=dtype)[..., ::2]
    if len(shape) >= 3:
        yield torch.empty((shape[0], shape[2], shape[1], *shape[3:]), device="meta", dtype=dtype).transpose(1, 2)


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
    assert conv(x, w, torch.empty(5, device="meta"), [1, 1], [0, 0], [1, 1], False, [0, 0], 1) is None


def test_replay_runs_real_tensors_through_their_kernels():
    replay = MetaReplay()
    x = torch.ones(2, 2)
    assert torch.equal(replay(aten.add.Tensor, (x, x), {}), torch.full((2, 2), 2.0))
    assert torch.equal(replay(aten.add.Tensor, (x, x), {}), torch.full((2, 2), 2.0))
