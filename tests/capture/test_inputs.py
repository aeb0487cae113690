"""profiler.capture.inputs: the caller's arguments checked (input_size, batch,
dtype, inputs) with one-line errors naming the argument, sizes parsed from text,
the default input per model family, token ids for an embedding-first model, and
the dummy inputs a forward gets: shapes made into tensors, given tensors into
twins, containers and objects holding tensors copied, never modified."""
from __future__ import annotations

import collections
from dataclasses import dataclass

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import profiler
from profiler.arguments import check_batch, parse_input_size
from profiler.capture.inputs import (check_dtype, check_input_size, check_inputs, default_input_size, example_args,
                                     is_shape, materialize, normalize_args, tensors_in, token_vocab)
from profiler.capture.twins import meta_maker
from profiler.errors import ProfilerError
from profiler.models.resolve import resolve


# --- explicit inputs (moved from tests/test_functional_ops.py) ------------------------------

def test_explicit_inputs_positional_keyword_and_nested():
    class Takes(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 5)
            self.b = nn.Linear(6, 5)

        def forward(self, pair, extra=None, scale=None):
            x, y = pair
            return self.a(x) + self.b(extra["y"]) * scale

    report = profiler.profile(Takes(), inputs=([(2, 4), torch.randn(2, 6)],),
                              kwargs={"extra": {"y": (2, 6)}, "scale": (2, 5)})
    assert report.total["macs"] == 2 * 5 * 4 + 2 * 5 * 6
    assert report.input_desc == "given inputs"


# --- shapes and the caller's arguments -------------------------------------------------------

def test_is_shape_is_a_size_or_a_non_empty_sequence_of_ints():
    assert is_shape(torch.Size([2, 3])) and is_shape(torch.Size([]))
    assert is_shape((2, 3)) and is_shape([1])
    assert not is_shape(()) and not is_shape([])
    assert not is_shape((2, 3.0)) and not is_shape((True, 2)) and not is_shape(((2,), (3,)))
    assert not is_shape(torch.ones(2))


def test_check_input_size_takes_sequences_of_positive_ints():
    assert check_input_size(None) is None
    assert check_input_size([3, 32, 32]) == (3, 32, 32)
    assert check_input_size(torch.Size([8])) == (8,)
    for bad, said in [("3x32x32", "pass a tuple such as (3, 32, 32)"), ("native", "native=True"),
                      ((), "empty"), ((3, 0), "positive"), ((3, 2.0), "positive"), (5, "expected a tuple")]:
        with pytest.raises(ProfilerError, match="^input_size=") as info:
            check_input_size(bad)
        assert said in str(info.value)


def test_parse_input_size_reads_text_and_names_its_argument():
    assert parse_input_size("3x224x224") == (3, 224, 224)
    assert parse_input_size("3X8") == (3, 8)
    assert parse_input_size("16") == (16,)
    with pytest.raises(ProfilerError, match="^window='3xa'"):
        parse_input_size("3xa", argument="window")
    with pytest.raises(ProfilerError, match="positive"):
        parse_input_size("3x0x4")
    with pytest.raises(ProfilerError, match="expected sizes"):
        parse_input_size("")


def test_check_batch_and_check_dtype():
    assert check_batch(4) == 4
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises(ProfilerError, match="^batch="):
            check_batch(bad)
    assert check_dtype(None) is None
    assert check_dtype("bfloat16") is torch.bfloat16 and check_dtype(torch.float64) is torch.float64
    for bad in ("int8", torch.int64, torch.complex64, "half"):
        with pytest.raises(ProfilerError, match="^dtype="):
            check_dtype(bad)


def test_check_inputs_refuses_bare_scalars_and_strings():
    for bad in (5, 2.5, True, "x", b"x"):
        with pytest.raises(ProfilerError, match="^inputs="):
            check_inputs(bad)
    for fine in ((1, 3), torch.ones(2), [torch.ones(2), (2, 3)], {"x": (1, 2)}, None):
        check_inputs(fine)


def test_check_inputs_refuses_what_holds_no_tensor_or_shape_and_numpy_arrays():
    """What a forward would get as it is: an object with no tensor in it, a NumPy array
    (pointing to torch.from_numpy); further values beside a tensor pass (a forward's
    other arguments), as do no positional arguments and an object holding tensors."""
    import numpy as np
    for bad in (object(), [object()], {"x": "y"}, (None, 0.5)):
        with pytest.raises(ProfilerError, match="^inputs=.* holds no tensor and no shape: expected a tensor"):
            check_inputs(bad)
    for bad in (np.zeros((2, 3)), (torch.ones(2), np.ones(3)), {"x": [np.ones(1)]}):
        with pytest.raises(ProfilerError, match=r"^inputs= holds a NumPy array .*pass torch\.from_numpy\(array\)"):
            check_inputs(bad)
    with pytest.raises(ProfilerError, match="^kwargs= holds a NumPy array"):
        check_inputs({"mask": np.ones(3)}, "kwargs")

    @dataclass
    class Cache:
        keys: torch.Tensor

    for fine in ((), (torch.ones(2), 0.5, None), Cache(torch.ones(2)), [Cache(torch.ones(1)), "mode"]):
        check_inputs(fine)
    check_inputs({"mode": "fast", "scale": 2.0}, "kwargs")   # keyword arguments need not hold tensors


# --- default and dummy inputs ----------------------------------------------------------------

def test_default_input_size_by_family_and_native_crop_sizes_from_torchvision():
    assert default_input_size(None) == (3, 227, 227)
    assert default_input_size(resolve("resnet18")) == (3, 227, 227)
    (crop,) = torchvision.models.get_model_weights("inception_v3").DEFAULT.transforms().crop_size   # square
    assert default_input_size(resolve("inception_v3"), native=True) == (3, crop, crop)
    resize = torchvision.models.get_model_weights("fcn_resnet50").DEFAULT.transforms().resize_size
    assert default_input_size(resolve("fcn_resnet50")) == (3, *resize * 2)
    video = torchvision.models.get_model_weights("r3d_18").DEFAULT
    assert default_input_size(resolve("r3d_18")) == (3, 16, *video.transforms().crop_size)
    assert default_input_size(resolve("fasterrcnn_resnet50_fpn")) == (3, 480, 640)
    assert default_input_size(resolve("fasterrcnn_resnet50_fpn"), native=True) == (3, 512, 512)
    assert default_input_size(resolve("raft_small"))[1:] == (368, 496)


def test_token_vocab_is_the_first_parameter_layers_vocabulary():
    assert token_vocab(nn.Sequential(nn.Embedding(50, 4), nn.Linear(4, 2))) == 50
    assert token_vocab(nn.Sequential(nn.ReLU(), nn.EmbeddingBag(30, 4))) == 30     # no parameters before it
    assert token_vocab(nn.Sequential(nn.Linear(4, 4), nn.Embedding(50, 4))) is None
    assert token_vocab(nn.ReLU()) is None


def test_example_args_by_family():
    assert example_args("classification", (3, 8, 8), 2) == ((2, 3, 8, 8),)
    assert example_args("detection", (3, 8, 8), 2) == ([(3, 8, 8), (3, 8, 8)],)
    assert example_args("optical_flow", (3, 8, 8), 1) == ((1, 3, 8, 8), (1, 3, 8, 8))
    with pytest.raises(ProfilerError, match="batch"):
        example_args("classification", (3, 8, 8), 0)


def test_normalize_args_keeps_a_tuple_of_arguments_and_wraps_anything_else():
    x = torch.ones(2)
    assert normalize_args((x, (1, 2))) == (x, (1, 2))
    assert normalize_args((1, 3, 8)) == ((1, 3, 8),)             # a shape is one argument
    assert normalize_args(x)[0] is x
    packed = pack_padded_sequence(torch.ones(3, 2, 4), [3, 2])
    assert normalize_args(packed)[0] is packed                   # a namedtuple is one argument
    assert normalize_args([x, x]) == ([x, x],)


def test_materialize_makes_shapes_into_tensors_of_the_dtype_or_token_ids():
    make = meta_maker()
    empty = materialize((2, 3), make, torch.float16, None)
    assert empty.shape == (2, 3) and empty.dtype == torch.float16 and empty.is_meta
    ids = materialize([(2, 5)], make, torch.float32, None, ids=10)[0]
    assert ids.dtype == torch.int64 and ids.is_meta
    generator = torch.Generator().manual_seed(0)
    real = materialize({"ids": (4, 100)}, make, torch.float32, generator, device="cpu", ids=7)["ids"]
    assert real.dtype == torch.int64 and 0 <= int(real.min()) and int(real.max()) < 7
    again = materialize((3, 3), make, torch.float32, torch.Generator().manual_seed(0), device="cpu")
    assert torch.equal(again, torch.randn((3, 3), generator=torch.Generator().manual_seed(0)))


@dataclass
class Cache:
    keys: list
    length: int


def test_materialize_twins_given_tensors_once_and_copies_objects_holding_them():
    x = torch.randn(2, 3, requires_grad=True)
    cache = Cache([x, torch.zeros(4)], 3)
    Pair = collections.namedtuple("Pair", "a b")
    memo: dict = {}
    args = materialize((x, Pair(x, (5,)), cache), meta_maker(), torch.float32, None, memo=memo)
    twin, pair, copied = args
    assert twin.is_meta and twin.shape == x.shape and twin.requires_grad
    assert type(pair) is Pair and pair.a is twin and pair.b.shape == (5,)
    assert copied is not cache and copied.length == 3 and copied.keys[0] is twin and copied.keys[1].is_meta
    assert cache.keys[0] is x and not cache.keys[1].is_meta      # the caller's object is left alone
    kwargs = materialize({"again": x}, meta_maker(), torch.float32, None, memo=memo)
    assert kwargs["again"] is twin                               # shared between args and kwargs
    assert materialize("text", meta_maker(), torch.float32, None) == "text"


def test_materialize_keeps_a_computed_inputs_autograd_status():
    """A non-leaf input's twin is a non-leaf (an in-place op on it runs as on the
    input in eager), made once for args and kwargs; a leaf's stays a leaf."""
    leaf = torch.randn(2, 3, requires_grad=True)
    computed = leaf * 1
    memo: dict = {}
    args = materialize((computed, leaf, [computed]), meta_maker(), torch.float32, None, memo=memo)
    kwargs = materialize({"again": computed}, meta_maker(), torch.float32, None, memo=memo)
    assert not args[0].is_leaf and args[0].requires_grad and args[0].is_meta
    assert args[2][0] is args[0] and kwargs["again"] is args[0]
    assert args[1].is_leaf and args[1].requires_grad
    version = computed._version
    with torch.enable_grad():
        args[0].relu_()
    assert computed._version == version and not computed.is_meta


def test_tensors_in_walks_containers_attributes_and_slots_outer_first():
    class Slotted:
        __slots__ = ("t",)

        def __init__(self, t):
            self.t = t

    a, b, c, d = (torch.full((1,), float(i)) for i in range(4))
    tree = {"x": a, "deep": [Slotted(c), (b,)], "obj": Cache([d, a], 1)}
    found = tensors_in(tree)
    assert len(found) == 4 and {id(t) for t in found} == {id(a), id(b), id(c), id(d)}   # a once
    assert found[0] is a
    assert tensors_in((1, "s", torch.float32, None)) == []
