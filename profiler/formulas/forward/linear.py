"""Dense layers (Linear, Bilinear); table lookups are in ``embedding``.
Matrix products called as aten ops are in ``matmul``.  Backward: ``backward/linear.py``."""
from __future__ import annotations

from torch import nn

from profiler.formulas.cost import Cost, dot_products, numel
from profiler.formulas.registry import CallShapes, module_formula


@module_formula(nn.Linear, kind="linear")
def linear_module(m: nn.Linear, call: CallShapes) -> Cost:
    """Linear: every output element is a dot product of K = in_features terms,
    over all leading dimensions.
        mults = MACs = K·N_out,   adds = (K−1)·N_out + N_out·[bias]
    """
    return dot_products(numel(call.out), m.in_features, m.bias is not None)


@module_formula(nn.Bilinear, kind="linear")
def bilinear_module(m: nn.Bilinear, call: CallShapes) -> Cost:
    """Bilinear y_k = x1ᵀ·A_k·x2 + b_k, for each output element: the in2 dot products
    u_j = Σ_i x1_i·A_kij (in1 terms each), then Σ_j u_j·x2_j (in2 terms).
        mults = MACs = N_out·(in1·in2 + in2),   adds = N_out·(in2·(in1−1) + in2−1 + [bias])
    """
    n, i1, i2 = numel(call.out), m.in1_features, m.in2_features
    return dot_products(n * i2, i1) + dot_products(n, i2, m.bias is not None)
