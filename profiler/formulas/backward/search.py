"""Backward of the searches, membership tests and sampling ops (``forward/search.py``):
integer or boolean results, no gradient (unique_consecutive's values have none in
autograd either: its backward raises 'not implemented')."""
from __future__ import annotations

import torch

from profiler.formulas.backward.zero import no_gradient
from profiler.formulas.registry import op_backward

aten = torch.ops.aten

op_backward(aten.bucketize, aten.searchsorted, aten.isin, aten.multinomial, aten.unique_consecutive)(no_gradient)
