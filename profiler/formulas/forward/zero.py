"""Layers and aten ops that create, move or select data but do no arithmetic:
counted as zero on purpose.  Modules: ``ZERO_COST_MODULES``, registered here;
aten ops: ``ZERO_COST_OPS``, by name, which the capture and the backward count
charge nothing.  Backward: ``backward/zero.py`` (dropout, some paddings and the
broadcasting ops cost something there)."""
from __future__ import annotations

from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub

from profiler.formulas.cost import ZERO, Cost
from profiler.formulas.registry import CallShapes, module_formula

ZERO_COST_MODULES: tuple[type, ...] = (
    nn.Identity, nn.Flatten, nn.Unflatten,
    nn.modules.dropout._DropoutNd,   # identity in eval mode, where profiling runs
    nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle, nn.Unfold,
    nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
    nn.modules.padding._ReplicationPadNd, nn.modules.padding._CircularPadNd,
    QuantStub, DeQuantStub,  # identity in a float (not yet converted) model
)


@module_formula(*ZERO_COST_MODULES, kind="reshape")
def zero_cost_module(m: nn.Module, call: CallShapes) -> Cost:
    """Identity, reshapes, copies, padding and dropout (identity at inference): 0."""
    return ZERO


# aten op names.  The capture charges these nothing in the forward (name matched
# exactly, so an in-place variant is listed by its own name) and their backward
# nothing (in-place variants matched by their base name too).  Views need no entry.
ZERO_COST_OPS = frozenset({
    "cat", "stack", "clone", "copy", "copy_", "_to_copy", "contiguous", "empty", "empty_like",
    "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros",
    "new_ones", "new_empty", "new_full", "new_empty_strided", "fill", "fill_", "zero_", "arange",
    "linspace", "scalar_tensor", "lift_fresh", "lift_fresh_copy", "index", "index_select",
    "gather", "index_put", "index_put_", "index_copy", "index_copy_", "masked_fill", "masked_fill_",
    "where", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
    "replication_pad1d", "replication_pad2d", "replication_pad3d", "roll", "flip", "repeat",
    "tile", "embedding", "_unsafe_index", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle", "im2col", "bernoulli", "bernoulli_", "rand", "randn", "rand_like",
    "randn_like", "randint", "randperm", "normal_", "uniform_", "native_dropout", "dropout",
    "_local_scalar_dense", "set_", "resize_", "nonzero", "_assert_async",
    "masked_select", "repeat_interleave", "_unique2", "unique_dim", "triu", "tril", "tril_indices",
    "triu_indices", "meshgrid", "one_hot", "sym_size", "sym_stride", "sym_numel", "eye",
    "_assert_tensor_metadata", "block_diag", "diag_embed", "max_unpool2d", "max_unpool3d",
    "detach", "alias", "slice_scatter", "select_scatter", "as_strided_scatter", "_pin_memory",
    "is_nonzero", "equal", "item", "resolve_conj", "resolve_neg", "split_with_sizes_copy",
    "_assert_scalar", "empty_permuted", "_unsafe_view", "device", "view_copy", "_reshape_copy",
})
