"""The tensors autograd saves for the backward, as the memory trace sees them
(profiler.capture.saved), against byte counts derived by hand for each op.

Each model is ``Sequential(Linear(IN, ...), op)``: the Linear makes the op's input an
activation that requires grad (the model's input saved is an input, a parameter
saved is a parameter: neither is new memory, neither is counted as saved).  The
op's row's ``saved_bytes`` is what its forward saved, float32 (4 bytes), a saved
storage charged to the first module that saved it.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import profiler

B, IN, N = 3, 8, 16   # batch, the Linear's input features, the op's input features
F32 = 4


def _saved(op: nn.Module, n: int = N) -> tuple[int, int]:
    model = nn.Sequential(nn.Linear(IN, n), op)
    report = profiler.profile(model, input_size=(IN,), batch=B, training=True, memory=True)
    rows = report.layers.set_index("name")
    return int(rows.loc["1", "saved_bytes"]), int(rows.loc["0", "saved_bytes"])


def test_linear_saves_its_input():
    # addmm(bias, x, W^T): x for W's gradient (W^T for x's is the parameter itself)
    assert _saved(nn.Linear(N, 4)) == (B * N * F32, 0)


def test_relu_saves_its_output():
    # threshold_backward(grad, result, 0)
    assert _saved(nn.ReLU()) == (B * N * F32, 0)


def test_softmax_saves_its_output():
    # _softmax_backward_data(grad, output, dim)
    assert _saved(nn.Softmax(dim=-1)) == (B * N * F32, 0)


def test_batchnorm_training_saves_input_and_batch_statistics():
    # native_batch_norm_backward(grad, input, weight, running_mean, running_var, save_mean,
    # save_invstd): the input, and the batch mean and inverse std per channel (the running
    # statistics are buffers, the weight a parameter: not new memory)
    assert _saved(nn.BatchNorm1d(N)) == (B * N * F32 + 2 * N * F32, 0)


class _Attention(nn.Module):
    """SDPA (its math decomposition, which the meta device runs) on q = k = v, the
    contiguous (B, H, L, D) view of its input."""

    def __init__(self, heads: int, length: int, dim: int):
        super().__init__()
        self.shape = (heads, length, dim)

    def forward(self, x):
        q = x.view(x.shape[0], *self.shape)
        return F.scaled_dot_product_attention(q, q, q)


def test_sdpa_math_saves_scaled_q_k_probabilities_and_v():
    # math SDPA (sdpa_kernel(MATH)): q·√s and k·√s (two new (B,H,L,D) tensors, saved by
    # the first bmm), softmax(q kᵀ) (B,H,L,L) saved by _safe_softmax and the second bmm,
    # and v (the input's own storage, a view) saved by the second bmm
    h, length, d = 2, 4, 3
    qkv, probs = B * h * length * d * F32, B * h * length * length * F32
    with sdpa_kernel(SDPBackend.MATH):
        assert _saved(_Attention(h, length, d), n=h * length * d) == (2 * qkv + probs + qkv, 0)


def test_sdpa_fused_saves_q_k_v_output_and_logsumexp():
    # a fused kernel (flash, memory-efficient: the default): q, k, v (here one storage,
    # the input's), the output (B,H,L,D) and a float32 log-sum-exp per query row (B,H,L)
    h, length, d = 2, 4, 3
    qkv = B * h * length * d * F32
    assert _saved(_Attention(h, length, d), n=h * length * d) == (qkv + qkv + B * h * length * F32, 0)
