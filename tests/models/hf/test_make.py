"""Example tensors on the model's device and the config readers (profiler.models.hf.make)."""
from __future__ import annotations

import torch
from torch import nn

from profiler.capture.known import run_forward
from profiler.defaults import VALUE_LIMIT
from profiler.models.hf.make import Maker, describe, get, shape_text, vocab_size


class _Config:
    hidden_size = None
    d_model = 64
    vocab_size = 99


def test_get_reads_the_first_name_that_is_set():
    assert get(_Config(), "hidden_size", "d_model") == 64
    assert get(_Config(), "missing", default=3) == 3


def test_vocab_is_the_input_embeddings_size_else_the_config():
    class WithEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(40, 4)

        def get_input_embeddings(self):
            return self.embed
    assert vocab_size(WithEmbedding(), _Config()) == 40
    assert vocab_size(nn.Linear(2, 2), _Config()) == 99


def test_meta_model_gets_meta_floats_and_real_integers_and_a_real_one_seeded_values():
    meta = Maker(nn.Linear(2, 2, device="meta", dtype=torch.float16), run_forward)
    ids, floats = meta.ids((2, 3), 10), meta.floats((2, 3))
    assert floats.device.type == "cpu" and floats.dtype == torch.float16      # small: values the forward carries
    assert torch.equal(floats, Maker(nn.Linear(2, 2, dtype=torch.float16), run_forward).floats((2, 3)))
    big = meta.floats((VALUE_LIMIT + 1,))
    assert big.device.type == "meta"                                         # too large to carry
    assert ids.device.type == "cpu" and ids.dtype == torch.int64       # values the meta forward carries
    assert torch.equal(ids, Maker(nn.Linear(2, 2), run_forward).ids((2, 3), 10))    # the same values a real model gets
    assert meta.ints([[1, 4, 4]]).tolist() == [[1, 4, 4]]
    avoided = Maker(nn.Linear(2, 2), run_forward).ids((1000,), 5, avoid=frozenset({0, 1}))
    assert set(avoided.tolist()) <= {2, 3, 4}
    first, second = Maker(nn.Linear(2, 2), run_forward), Maker(nn.Linear(2, 2), run_forward)
    assert torch.equal(first.floats((4,)), second.floats((4,)))       # seeded: the same every time
    ids = first.ids((100,), 7)
    assert int(ids.min()) >= 0 and int(ids.max()) < 7
    assert first.positions(5, 3, 2).tolist() == [[5, 6, 7], [5, 6, 7]]


def test_shapes_as_text():
    x = torch.empty(2, 3, device="meta")
    assert shape_text(x) == "2x3"
    assert describe({"input_ids": x, "use_cache": True}) == "input_ids 2x3"
