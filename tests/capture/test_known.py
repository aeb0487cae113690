"""Meta tensors that carry the values of small real inputs (profiler.capture.known):
a meta forward that reads values (``.item()``, ``.tolist()``, a boolean index,
``nonzero``) runs, and counts what the real forward counts."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import profiler
from profiler.capture.known import VALUE_LIMIT, KnownValues, carried, run_forward, with_values
from profiler.capture.metacache import MetaReplay


class PlaceTokens(nn.Module):
    """A vision-language model's data-dependent steps: find the image tokens, check
    their count against the features, place the features there, then cut the
    sequence by sizes read with .tolist() and .item()."""

    def __init__(self, token: int = 7, width: int = 8):
        super().__init__()
        self.token = token
        self.embed = nn.Embedding(16, width)
        self.vision = nn.Linear(12, width)
        self.head = nn.Linear(width, 3)

    def forward(self, input_ids, patches, sizes):
        embeds = self.embed(input_ids)
        mask = input_ids == self.token
        features = self.vision(patches)
        torch._check_with(ValueError, bool(mask.sum() * embeds.shape[-1] == features.numel()), lambda: "count")
        embeds = embeds.masked_scatter(mask.unsqueeze(-1), features)
        picked = embeds[mask]                                # a boolean index: its size is the token count
        parts = torch.split(embeds[0], sizes.tolist())       # sizes read as Python ints
        steps = torch.arange(int(sizes[0].item()), device=embeds.device)
        return self.head(picked).sum() + sum(self.head(p).sum() for p in parts) + steps.sum()


def _inputs():
    ids = torch.tensor([[1, 7, 7, 7, 2, 3]])
    return ids, torch.randn(1, 3, 12), torch.tensor([2, 4])


def test_a_meta_forward_reads_the_values_of_small_real_inputs():
    model = PlaceTokens()
    ids, patches, sizes = _inputs()
    meta = profiler.profile(PlaceTokens().to("meta"), kwargs={"input_ids": ids, "patches": patches.to("meta"),
                                                               "sizes": sizes})
    assert meta.execution == "meta"
    counter = FlopCounterMode(display=False)
    with counter:
        model(ids, patches, sizes)
    assert int(meta.total["macs"]) == counter.get_total_flops() // 2
    real = profiler.profile(model, kwargs={"input_ids": ids, "patches": patches, "sizes": sizes})
    assert int(real.total["macs"]) == int(meta.total["macs"])


def test_values_ride_along_and_stop_at_value_less_arguments():
    known = KnownValues(MetaReplay())
    from torch.utils._python_dispatch import TorchDispatchMode

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return known(func, args, kwargs or {})
    ids = with_values({"ids": torch.tensor([3, 1, 2])}, known)["ids"]
    weight = torch.empty(3, device="meta")
    with Mode():
        doubled = ids * 2
        assert ids.is_meta and doubled.is_meta
        assert doubled.tolist() == [6, 2, 4] and int(doubled.max()) == 6
        assert tuple(ids.nonzero().shape) == (3, 1)
        assert torch.arange(4, device="meta").sum().item() == 6             # a factory has values
        mixed = doubled + weight                                            # a value-less argument
        assert known.value(mixed) is None and known.value(doubled) is not None
        doubled.add_(weight.to(torch.int64))                                # written with an unknown
        assert known.value(doubled) is None


def test_which_inputs_are_carried():
    assert carried(torch.zeros(4, dtype=torch.int64)) and carried(torch.zeros(3, dtype=torch.bool))
    assert carried(torch.zeros(8)) and carried(torch.zeros(3, 224, 224))   # sizes, scales, an image
    assert not carried(torch.zeros(VALUE_LIMIT + 1))                        # a batch of large images is not
    assert not carried(torch.zeros(VALUE_LIMIT + 1, dtype=torch.int8))
    assert not carried(torch.zeros(4, device="meta"))


class PadCheck(nn.Module):
    """transformers' padding check: ``pad in ids[:, [-1, 0]]``, a list index that
    torch turns into an index tensor out of sight of every mode; then a write
    through a list index."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(16, 4)

    def forward(self, input_ids):
        if 0 in input_ids[:, [-1, 0]]:
            raise ValueError("padded")
        ids = input_ids.clone()
        ids[:, [0]] = 5
        return self.embed(ids).sum() * int(ids[0, 0])


def test_indexing_with_python_lists_keeps_the_values():
    ids = torch.tensor([[1, 2, 3]])
    meta = profiler.profile(PadCheck().to("meta"), kwargs={"input_ids": ids})
    real = profiler.profile(PadCheck(), kwargs={"input_ids": ids})
    assert meta.execution == "meta" and int(meta.total["macs"]) == int(real.total["macs"])


def test_run_forward_runs_a_meta_model_on_its_inputs_values_in_eval_mode_and_restores_the_mode():
    class Picks(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 2, device="meta")

        def forward(self, ids):
            assert not self.training and not torch.is_grad_enabled()
            picked = int((ids > 2).sum().item())          # a value: only the carried input has it
            return self.linear(torch.zeros(picked, 4, device="meta"))

    model = Picks().train()
    out = run_forward(model, {"ids": torch.tensor([1, 3, 5, 7])})
    assert out.is_meta and tuple(out.shape) == (3, 2)
    assert model.training
    assert run_forward(model, {"ids": torch.tensor([9])}, lambda ids: ids.shape[0] + 1) == 2   # fn, not the model


def test_a_carried_input_is_copied_when_its_value_is_first_read():
    known = KnownValues(MetaReplay())
    given = torch.tensor([3, 1, 2])
    meta = torch.empty(3, dtype=torch.int64, device="meta")
    known.know(meta, given, copy=True)
    assert known
    value = known.value(meta)
    assert value.tolist() == [3, 1, 2]
    assert value.untyped_storage().data_ptr() != given.untyped_storage().data_ptr()
    value.add_(1)
    assert given.tolist() == [3, 1, 2] and known.value(meta) is value


class FromData(nn.Module):
    """A forward that reads the value of a tensor it made from Python data on the
    input's device: no input carries a value, so the first meta forward runs without
    the function mode that gives such a tensor its value, stops at the read, and runs
    again with it (profiler.capture.session.captured)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        repeats = int(torch.tensor([1, 2], device=x.device).sum())
        for _ in range(repeats):
            x = self.linear(x)
        return x


def test_a_tensor_made_from_python_data_keeps_its_value_without_a_carried_input():
    meta = profiler.profile(FromData().to("meta"), input_size=(4,))
    real = profiler.profile(FromData(), input_size=(4,))
    assert meta.execution == real.execution == "meta"
    assert int(meta.total["macs"]) == int(real.total["macs"]) == 3 * 16


class CaughtRead(nn.Module):
    """A forward that catches the error of a value read and takes a fallback: run
    without the values of tensors made from Python data, it would count the fallback
    silently; the capture sees the op that raised and runs the forward again with them."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        try:
            repeats = int(torch.tensor([1, 2], device=x.device).sum())
        except Exception:
            repeats = 1
        for _ in range(repeats):
            x = self.linear(x)
        return x


def test_a_value_read_the_forward_catches_is_answered_not_counted_as_its_fallback():
    meta = profiler.profile(CaughtRead().to("meta"), input_size=(4,))
    real = profiler.profile(CaughtRead(), input_size=(4,))
    assert int(meta.total["macs"]) == int(real.total["macs"]) == 3 * 16


class _Attention(nn.Module):
    """Token ids (carried with their values) into an embedding and a causal attention."""

    def __init__(self):
        super().__init__()
        self.embed, self.qkv = nn.Embedding(50, 32), nn.Linear(32, 96)

    def forward(self, ids):
        q, k, v = self.qkv(self.embed(ids)).view(1, -1, 3, 2, 16).permute(2, 0, 3, 1, 4)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


def test_an_attention_without_values_computes_none_inside_and_counts_the_same():
    """Inside F.scaled_dot_product_attention whose tensors hold no value, the ops run
    without computing values (its causal mask, made from nothing, would otherwise get
    one: 2 ms a layer at 2,048 tokens); the flag is down after it, and an attention
    given a tensor that holds a value computes values as before.  The counts equal
    FlopCounterMode's with the math backend, which sees every matmul."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils._python_dispatch import TorchDispatchMode

    known = KnownValues(lambda func, args, kwargs: func(*args, **kwargs))
    seen = []

    class Runner(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append((func.__name__, known.paused))
            return known(func, args, kwargs or {})

    q = torch.empty(1, 2, 64, 16, device="meta")
    with Runner(), known.functions():
        torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert seen and all(paused for _, paused in seen) and not known.paused
    assert any(name.startswith("ones") or name.startswith("tril") for name, _ in seen)   # the causal mask
    seen.clear()
    mask = torch.empty(64, 64, dtype=torch.bool, device="meta")
    known.know(mask, torch.ones(64, 64, dtype=torch.bool).tril())
    with Runner(), known.functions():
        torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    assert seen and not any(paused for _, paused in seen)

    model, ids = _Attention(), torch.randint(0, 50, (1, 64))
    with torch.device("meta"):
        meta = _Attention()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(ids)
    assert profiler.profile(meta, inputs=(ids,)).totals["macs"] == counter.get_total_flops() // 2


def test_a_large_pure_result_gets_its_value_when_read_and_the_value_is_the_same():
    """A result of LAZY_MIN elements or more of a pure op keeps a thunk, computed when
    its value is read: the value is what computing it at once gives, also where a
    tensor it was computed from is written in place before the read (every thunk is
    computed before such a write), and a random op is never deferred."""
    from profiler.capture.known import LAZY_MIN
    from torch.utils._python_dispatch import TorchDispatchMode

    known = KnownValues(lambda func, args, kwargs: func(*args, **kwargs))

    class Runner(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return known(func, args, kwargs or {})

    n = 512
    assert n * n >= LAZY_MIN
    with Runner():
        mask = torch.ones(n, n, dtype=torch.bool, device="meta").tril()
        assert id(mask) in known._thunks                  # not computed yet
        base = torch.arange(n * n, device="meta").view(n, n)
        double = base * 2                                 # deferred: reads base's value when read
        base.add_(1)                                      # a write to base: double computed first
        drawn = torch.rand(n, n, device="meta")           # random: never deferred
    assert id(drawn) not in known._thunks
    assert torch.equal(known.value(mask), torch.ones(n, n, dtype=torch.bool).tril())
    assert torch.equal(known.value(double), torch.arange(n * n).view(n, n) * 2)
    assert torch.equal(known.value(base), torch.arange(n * n).view(n, n) + 1)
    assert not known._thunks
