"""Models the memory tests share (tests/count/test_memory*.py)."""
from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Self-attention with q, k, v permuted views of one projection (not contiguous) and
    a causal SDPA: the fused kernel's saved set, layout and backward matter."""

    def __init__(self, dim: int = 64, heads: int = 4):
        super().__init__()
        self.qkv, self.out, self.heads = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), heads

    def forward(self, x):
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, length, dim))
