"""profiler.check: our MACs next to fvcore's and FlopCounterMode's, with reasons (the `profiler check`
command: tests/cli/test_check.py)."""
from __future__ import annotations

import pandas as pd
import pytest
from torch import nn

from profiler.check import ATTENTION_REASON, check


def test_resnet18_agrees_with_both_tools_on_every_layer():
    result = check("resnet18", input_size=(3, 64, 64))
    assert result.ok
    assert (result.table["status"] == "match").all()
    total = result.table.iloc[-1]
    assert total["ours"] == total["fvcore"] == total["flop_counter"]


def test_vit_gaps_are_named_with_their_size():
    result = check("vit_b_16")
    total = result.table.iloc[-1]
    assert result.ok
    assert total["ours"] == 17_563_828_224                  # torchvision publishes 17.564 G
    assert total["fvcore_diff"] == 12 * 2 * 197 * 197 * 768  # the attention matmuls it has no handle for
    assert total["flop_counter"] < total["fvcore"]           # fused fast path under no_grad
    assert ATTENTION_REASON in total["reason"]
    assert "scaled_dot_product_attention" in total["reason"]


def test_custom_module_is_checked_too():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    assert check(model, input_size=(3, 32, 32)).ok


HF_LLAMA = ["--config", "num_hidden_layers=1", "--config", "hidden_size=64", "--config", "intermediate_size=128",
            "--config", "num_attention_heads=4", "--config", "num_key_value_heads=2", "--config", "vocab_size=128"]


def test_check_hf_decode_says_fvcore_cannot_trace_and_flop_counter_matches():
    pytest.importorskip("transformers")
    from profiler.arguments import parse_config_overrides
    config = parse_config_overrides(HF_LLAMA[1::2])
    result = check("hf:llama", decode=16, config=config)
    total = result.table.iloc[-1]
    assert result.ok and total["flop_counter_diff"] == 0 and total["ours"] == total["flop_counter"]
    assert pd.isna(total["fvcore"]) and "fvcore cannot trace" in total["reason"]
