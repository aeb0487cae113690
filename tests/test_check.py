"""`profiler check`: our MACs next to fvcore's and FlopCounterMode's, with reasons."""
from __future__ import annotations

from torch import nn

from profiler.check import ATTENTION_REASON, check
from profiler.cli import main


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


def test_cli_check_exits_zero_when_everything_is_explained(capsys):
    assert main(["check", "alexnet", "--input", "3x96x96"]) == 0
    out = capsys.readouterr().out
    assert "unexplained difference" in out
