"""profiler.cli.check: `profiler check MODEL`: the table of our MACs beside fvcore's and
FlopCounterMode's, the differences only unless --all-rows, the total row always, and the exit
code (0 when every difference is explained)."""
from __future__ import annotations

import pytest

from profiler.cli import main
from profiler.cli.check import COLUMNS


def test_cli_check_exits_zero_when_everything_is_explained(capsys):
    assert main(["check", "alexnet", "--input", "3x96x96"]) == 0
    out = capsys.readouterr().out
    assert "unexplained difference" in out


def test_cli_check_shows_every_tools_total_when_everything_matches(capsys):
    assert main(["check", "resnet18", "--input", "3x64x64"]) == 0
    out = capsys.readouterr().out
    [total] = [line.split() for line in out.splitlines() if line.startswith("(total)")]
    ours = total[1]
    assert total[1:4] == [ours, ours, ours] and total[-1] == "match"      # ours, fvcore, FlopCounterMode
    assert "22 of 22 rows match exactly" in out and "--all-rows" in out


def test_cli_check_all_rows_lists_every_layer(capsys):
    assert main(["check", "alexnet_homework", "--all-rows"]) == 0
    out = capsys.readouterr().out
    assert "features.conv1" in out and "classifier.fc3" in out and "(total)" in out


HF_LLAMA = ["--config", "num_hidden_layers=1", "--config", "hidden_size=64", "--config", "intermediate_size=128",
            "--config", "num_attention_heads=4", "--config", "num_key_value_heads=2", "--config", "vocab_size=128"]


def test_cli_check_hf_llama_matches_flop_counter_under_math_attention(capsys):
    pytest.importorskip("transformers")
    assert main(["check", "hf:llama", *HF_LLAMA]) == 0
    out = capsys.readouterr().out
    [total] = [line.split() for line in out.splitlines() if line.startswith("(total)")]
    ours, fvcore, flop_counter, _, flop_counter_diff = total[1:6]
    assert ours == flop_counter and flop_counter_diff == "0"
    # fvcore traces the model but has no handle for SDPA: the attention matmuls, 2·(128·128·16)·4 heads
    assert int(ours.replace(",", "")) - int(fvcore.replace(",", "")) == 2 * 128 * 128 * 16 * 4
    assert "scaled_dot_product_attention" in out and "math SDPA backend" in out


def test_cli_check_table_has_its_columns_and_one_row_per_layer_with_all_rows(capsys):
    from torchvision.models import alexnet
    from torch import nn
    assert main(["check", "alexnet", "--input", "3x96x96", "--all-rows"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["layer"])
    assert header.split() == COLUMNS
    dot_layers = [n for n, m in alexnet().named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(dot_layers) == 5 + 3
    shown = [line.split()[0] for line in lines if line.split()[:1] and line.split()[0] in dot_layers]
    assert shown == dot_layers
    assert f"of {len(dot_layers) + 1} rows match exactly" in out          # and the total row


def test_cli_check_bad_input_is_a_one_line_error(cli):
    code, out, err = cli("check", "alexnet", "--input", "3x22a")
    assert code == 2 and err.startswith("profiler: error: --input '3x22a'") and err.count("\n") == 1
