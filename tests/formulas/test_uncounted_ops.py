"""Each op added for transformers models (issue 19, item 7), called through torch
from a small module, profiles with no uncounted row: forward, and for the
differentiable ones a training profile (its backward too)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import profiler


class Calls(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def x34():
    return torch.randn(3, 4)


CASES = {   # name: (fn, inputs, differentiable)
    "prod": (lambda x: torch.prod(x, dim=1), lambda: (x34(),), True),
    "prod_all": (lambda x: torch.prod(x), lambda: (x34(),), True),
    "_is_all_true": (lambda x: torch._is_all_true(x > 0), lambda: (x34(),), False),
    "all_any": (lambda x: torch.all(x > 0, 1) | torch.any(x > 1, 1), lambda: (x34(),), False),
    "bucketize": (lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 1.0])), lambda: (x34(),), False),
    "searchsorted": (lambda x: torch.searchsorted(torch.tensor([-1.0, 0.0, 1.0]), x), lambda: (x34(),), False),
    "glu": (lambda x: F.glu(x, -1), lambda: (x34(),), True),
    "isin": (lambda x: torch.isin(x.round(), torch.tensor([0.0, 1.0])), lambda: (x34(),), False),
    "cummax": (lambda x: torch.cummax(x, 1)[0], lambda: (x34(),), True),
    "cummin": (lambda x: torch.cummin(x, 1)[0], lambda: (x34(),), True),
    "linalg_solve_triangular": (lambda a, b: torch.linalg.solve_triangular(a, b, upper=True),
                                lambda: (torch.randn(4, 4).triu() + 4 * torch.eye(4), torch.randn(4, 2)), True),
    "_fft_c2c": (lambda x: torch.fft.fft(x.to(torch.complex64)).abs(), lambda: (x34(),), True),
    "_fft_r2c_c2r": (lambda x: torch.fft.irfft(torch.fft.rfft(x), n=4), lambda: (x34(),), True),
    "masked_scatter": (lambda x: x.masked_scatter(x > 0, torch.ones(12)), lambda: (x34(),), True),
    "polar": (lambda x: torch.polar(x.abs(), x).abs(), lambda: (x34(),), True),
    "col2im": (lambda x: F.fold(x, (4, 4), 2), lambda: (torch.randn(1, 8, 9),), True),
    "im2col": (lambda x: F.unfold(x, 2), lambda: (torch.randn(1, 2, 4, 4),), True),
    "multinomial": (lambda x: torch.multinomial(x.softmax(-1), 2), lambda: (x34(),), False),
    "acos": (lambda x: torch.acos(x.tanh()), lambda: (x34(),), True),
    "asinh": (torch.asinh, lambda: (x34(),), True),
    "asin_atan_acosh_atanh": (lambda x: torch.asin(x.tanh()) + torch.atan(x) + torch.acosh(x.abs() + 1)
                              + torch.atanh(x.tanh() * 0.5), lambda: (x34(),), True),
    "tan_sinh_cosh_atan2": (lambda x: torch.tan(x) + torch.sinh(x) + torch.cosh(x) + torch.atan2(x, x + 2),
                            lambda: (x34(),), True),
    "nan_to_num": (torch.nan_to_num, lambda: (x34(),), True),
    "mv": (torch.mv, lambda: (x34(), torch.randn(4)), True),
    # found in the transformers zoo sweep: Qwen2.5-VL's window index (unique_consecutive),
    # DAC's codebook loss (mse_loss), Gemma 3n's activation sparsity (erfinv), Mimi's
    # codebook search (cdist), a diarization head's index_copy_
    "unique_consecutive": (lambda x: torch.unique_consecutive(x.round(), return_counts=True)[1],
                           lambda: (x34(),), False),
    "mse_loss": (lambda x: F.mse_loss(x, x.flip(0)), lambda: (x34(),), True),
    "erfinv": (lambda x: torch.erfinv(x.tanh() * 0.5), lambda: (x34(),), True),
    "cdist": (lambda x: torch.cdist(x, x + 1, compute_mode="use_mm_for_euclid_dist"), lambda: (x34(),), True),
    "index_copy": (lambda x: x.index_copy(0, torch.tensor([2, 0]), x[:2] * 2), lambda: (x34(),), True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_profile_has_no_uncounted_row(name):
    fn, inputs, _ = CASES[name]
    report = profiler.profile(Calls(fn), inputs=inputs())
    assert report.uncounted.empty, report.uncounted[["name", "ops"]].to_dict("records")
    assert report.total["flops"] > 0 or name in ("masked_scatter", "im2col")   # copies: 0


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if case[2]])
def test_training_profile_has_no_uncounted_row(name):
    fn, inputs, _ = CASES[name]
    args = tuple(x.requires_grad_() for x in inputs())
    report = profiler.profile(Calls(fn), inputs=args, training=True)
    assert report.uncounted.empty, report.uncounted[["name", "ops"]].to_dict("records")
