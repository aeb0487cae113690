"""profiler.cli.profile: `profiler profile MODEL`: the table, files written, dtypes, user models,
one-line errors for bad input, and the flags it parses into profile()'s and measure()'s options."""
from __future__ import annotations

import argparse
import csv
import textwrap

import pytest

from profiler.cli import build_parser
from profiler.cli.profile import language_options, measure_options, rate
from profiler.errors import ProfilerError


def _assert_one_line_error(code: int, err: str, *fragments: str):
    assert code == 2
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


def test_profile_alexnet_prints_the_table_and_exits_0(cli):
    code, out, err = cli("profile", "alexnet")
    assert code == 0, err
    assert "features.0" in out and "72,855,552" in out and "finding:" in out


def test_csv_and_markdown_are_written_with_raw_integers_in_the_csv(cli, tmp_path):
    csv_path, md_path = tmp_path / "out.csv", tmp_path / "out.md"
    code, out, err = cli("profile", "alexnet", "--input", "3x224x224", "--csv", str(csv_path),
                         "--md", str(md_path))
    assert code == 0, err
    rows = list(csv.DictReader(csv_path.open()))
    conv1 = next(r for r in rows if r["name"] == "features.0")
    assert conv1["mults"] == "70276800"  # (224 + 2·2 − 11)//4 + 1 = 55: 55·55 × 64 × 363
    assert all(r["mults"].isdigit() and r["params"].isdigit() for r in rows)
    assert md_path.read_text().startswith("# alexnet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.md"]  # no temp files left


def test_missing_output_folders_are_created(cli, tmp_path):
    target = tmp_path / "new" / "deeper" / "out.csv"
    code, _, err = cli("profile", "alexnet_homework", "--csv", str(target))
    assert code == 0, err
    assert target.read_text().startswith("name,")


def test_csv_to_dev_null_exits_0_and_leaves_the_device_alone(cli):
    import os
    import stat
    before = os.stat("/dev/null")
    code, out, err = cli("profile", "alexnet_homework", "--csv", "/dev/null", "--md", "/dev/null")
    assert code == 0, err
    assert "wrote /dev/null" in out
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_profile_with_dtype_bfloat16(cli):
    code, out, err = cli("profile", "resnet18", "--dtype", "bfloat16", "--depth", "0")
    assert code == 0, err
    assert "resnet18" in out


def test_dtype_halves_the_activation_bytes_and_leaves_the_counts(cli, tmp_path):
    rows = {}
    for dtype in (None, "float16"):
        path = tmp_path / f"{dtype}.csv"
        code, _, err = cli("profile", "alexnet_homework", "--csv", str(path), "--depth", "0",
                           *(["--dtype", dtype] if dtype else []))
        assert code == 0, err
        rows[dtype] = next(csv.DictReader(path.open()))
    default, half = rows[None], rows["float16"]
    assert half["mults"] == default["mults"] and half["params"] == default["params"]
    assert 2 * int(half["act_bytes"]) == int(default["act_bytes"])


def test_profile_help_shows_examples(cli):
    code, out, _ = cli("profile", "--help")
    assert code == 0 and "examples:" in out and "--csv" in out


def test_profile_help_names_the_json_schemas_file_where_it_is(cli):
    import re
    from pathlib import Path

    import profiler
    code, out, _ = cli("profile", "--help")
    named = re.search(r"schema: (docs/\S+\.md)", " ".join(out.split())).group(1)
    assert named == "docs/reports.md"
    assert "## JSON" in (Path(profiler.__file__).parent.parent / named).read_text(encoding="utf-8")


def test_an_output_that_is_the_models_source_is_refused_and_left_as_it_was(cli, tmp_path):
    net = tmp_path / "net.py"
    net.write_text(NET)
    code, out, err = cli("profile", f"{net}:Net", "--csv", str(tmp_path / ".." / tmp_path.name / "net.py"))
    _assert_one_line_error(code, err, "it is the model's source file", "nothing was profiled")
    assert out == "" and net.read_text() == NET


@pytest.mark.parametrize("argv,fragments", [
    (["profile", "resnet5"], ["unknown model 'resnet5'", "resnet50"]),
    (["profile", "alexnet", "--input", "3x22a"], ["3x22a"]),
    (["profile", "alexnet", "--input", "0x224x224"], ["0x224x224", "positive"]),
    (["profile", "alexnet", "--batch", "-1"], ["batch", "-1"]),
    (["profile", "alexnet", "--batch", "two"], ["--batch"]),
    (["profile", "alexnet", "--dtype", "int8"], ["--dtype", "int8", "bfloat16"]),
    (["profile", "alexnet", "--fold-bn", "--dtype", "float16"], ["--dtype", "--fold-bn"]),
    (["profile", "no/such/file.py:Net"], ["no/such/file.py"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(cli, tmp_path, argv, fragments):
    out_csv, out_md = tmp_path / "out.csv", tmp_path / "out.md"
    extra = ["--csv", str(out_csv), "--md", str(out_md)] if argv[0] == "profile" else []
    code, _, err = cli(*argv, *extra)
    _assert_one_line_error(code, err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_an_input_too_small_names_the_layer_and_its_input_shape(cli, tmp_path):
    code, _, err = cli("profile", "alexnet", "--input", "3x32x32", "--csv", str(tmp_path / "out.csv"))
    # the last max-pool gets a 1×1 map: 32 → conv1 7 → pool 3 → conv2 3 → pool 1
    _assert_one_line_error(code, err, "alexnet", "at layer 'features.12' (MaxPool2d) on input 1x256x1x1")
    assert list(tmp_path.iterdir()) == []


def test_an_output_path_under_a_file_is_a_one_line_error(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    code, _, err = cli("profile", "alexnet_homework", "--csv", str(blocker / "out.csv"))
    _assert_one_line_error(code, err, "cannot write")
    assert [p.name for p in tmp_path.iterdir()] == ["file"] and blocker.read_text() == "keep"


NET = textwrap.dedent("""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    def build_net():
        return Net()
""")


def test_a_user_model_from_a_file(cli, tmp_path):
    (tmp_path / "net.py").write_text(NET)
    code, out, err = cli("profile", f"{tmp_path / 'net.py'}:Net", "--input", "3x6x6")
    assert code == 0, err
    assert "conv" in out and f"{4 * 4 * 4 * 27:,}" in out  # 4×4 outputs × 4 channels × 27 products


def test_a_user_model_from_a_package_builder(cli, tmp_path, monkeypatch):
    package = tmp_path / f"userpkg_{tmp_path.name.replace('-', '_')}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = cli("profile", f"{package.name}.nets:build_net", "--input", "3x6x6")
    assert code == 0, err
    assert "Net" in out and "fc" in out


def test_a_user_file_without_the_attribute_is_a_one_line_error(cli, tmp_path):
    (tmp_path / "net.py").write_text(NET)
    code, _, err = cli("profile", f"{tmp_path / 'net.py'}:Missing")
    _assert_one_line_error(code, err, "Missing")


# --- the flags, parsed into the library's options ------------------------------------------

def _args(*argv: str):
    return build_parser().parse_args(["profile", "alexnet", *argv])


@pytest.mark.parametrize("text,value", [("67e12", 67e12), ("67T", 67e12), ("3.35T", 3.35e12),
                                        ("900G", 900e9), ("2TFLOP/s", 2e12)])
def test_rate_reads_a_number_per_second_with_an_si_prefix(text, value):
    assert rate(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["fast", "-1T", "0"])
def test_a_bad_rate_is_an_argparse_type_error(text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        rate(text)


def test_measure_options_only_when_a_flag_asks_for_time():
    assert measure_options(_args()) is None
    assert measure_options(_args("--device", "H100")) == dict(device="H100", runs=None, peak_flops=None,
                                                              peak_bandwidth=None, measure=False)
    assert measure_options(_args("--measure", "--runs", "3", "--peak-flops", "1T")) == dict(
        device="cpu", runs=3, peak_flops=1e12, peak_bandwidth=None, measure=True)


@pytest.mark.parametrize("argv,message", [(["--runs", "3"], "--runs goes with --measure"),
                                          (["--measure", "--runs", "0"], "positive integer"),
                                          (["--measure", "--tokens", "8"], "--tokens or --decode")])
def test_measure_options_refuse_flags_that_do_not_go_together(argv, message):
    with pytest.raises(ProfilerError, match=message):
        measure_options(_args(*argv))


def test_language_options_parse_each_config_value():
    assert language_options(_args()) == {}
    args = _args("--config", "num_hidden_layers=2", "--config", "hidden_act=gelu", "--config", "tie=false")
    assert language_options(args) == {"config": {"num_hidden_layers": 2, "hidden_act": "gelu", "tie": False}}


def test_tokens_and_decode_repeat_for_compare_but_not_for_profile():
    assert _args("--tokens", "8", "--tokens", "16").tokens == 16              # the last one
    compare = build_parser().parse_args(["compare", "x", "--tokens", "8", "--tokens", "16", "--decode", "4"])
    assert compare.tokens == [8, 16] and compare.decode == [4]
    assert _args().detections == compare.detections == "bound"


def test_named_inputs_and_made_sizes_from_the_command_line(cli):
    """--arg gives an input by name (over the made ones for hf:, as a keyword input
    otherwise); --image, --frames and --seconds size the made ones; bad ones are one line."""
    tiny = ["--config", "text_config.num_hidden_layers=1", "--config", "vision_config.num_hidden_layers=1"]
    code, out, _ = cli("profile", "hf:llava", *tiny, "--arg", "pixel_values=1x3x336x336", "--depth", "0")
    assert code == 0 and "pixel_values 1x3x336x336" in out and "576 image tokens" in out
    code, out, _ = cli("profile", "hf:convnext", "--image", "64", "--depth", "0")
    assert code == 0 and "pixel_values 1x3x64x64" in out
    code, out, _ = cli("profile", "hf:wav2vec2", "--config", "num_hidden_layers=1", "--seconds", "0.5", "--depth", "0")
    assert code == 0 and "input_values 1x8000" in out
    for argv, says in ((["hf:llava", "--arg", "input_ids=1x6:int65"], "unknown dtype 'int65'"),
                       (["hf:wav2vec2", "--seconds", "0"], "--seconds 0.0: expected a positive number"),
                       (["alexnet", "--image", "300"], "--image, --frames and --seconds size the inputs made"),
                       (["hf:esmfold2"], "cannot make token_index, residue_index, asym_id, sym_id, entity_id, "
                                         "mol_type, res_type, token_bonds, attention_mask, atom_inputs (no rule "
                                         "for them): give each by name, e.g. --arg token_index=")):
        code, out, err = cli("profile", *argv)
        assert code == 2 and err.startswith("profiler: error: ") and says in err and "Traceback" not in err, err


# --- --step-time and --tokens-per-second: MFU and HFU ----------------------------------------

MLP = ("from torch import nn\n\n\ndef build():\n"
       "    return nn.Sequential(nn.Linear(64, 128, bias=False), nn.Linear(128, 32, bias=False))\n")


def test_step_time_and_peak_flops_give_mfu_by_the_formula(cli, tmp_path):
    """Two bias-free Linears, 8 rows, a training step.  By hand (a dot product of K
    terms: K mults, K − 1 adds; the input needs no gradient): forward 8·128 dots of
    64 and 8·32 of 128; backward grad W2 32·128 dots of 8, grad h 8·128 of 32, grad
    W1 128·64 of 8.  MFU = FLOPs / (step time × peak)."""
    import json
    (tmp_path / "mlp.py").write_text(MLP)
    dots = [(8 * 128, 64), (8 * 32, 128), (32 * 128, 8), (8 * 128, 32), (128 * 64, 8)]
    flops, macs = sum(n * k + n * (k - 1) for n, k in dots), sum(n * k for n, k in dots)
    out_json = tmp_path / "out.json"
    code, out, err = cli("profile", f"{tmp_path / 'mlp.py'}:build", "--input", "64", "--batch", "8", "--training",
                         "--step-time", "2.5e-6", "--peak-flops", "1T", "--json", str(out_json))
    assert code == 0, err
    u = json.loads(out_json.read_text())["utilisation"]
    assert (u["model_flops"], u["model_macs"], u["hardware_flops"]) == (flops, macs, flops)
    assert u["mfu"] == pytest.approx(flops / (2.5e-6 * 1e12), rel=1e-12) == u["hfu"]
    assert u["mfu_2macs"] == pytest.approx(2 * macs / (2.5e-6 * 1e12), rel=1e-12)
    assert (u["step_time"], u["peak_flops"], u["peak_dtype"], u["peak_source"]) == (2.5e-6, 1e12, "float32", "given")
    assert "utilisation:" in out and f"MFU {flops / 2.5e6:.2%}" in out


def test_device_names_a_data_sheet_peak_at_the_profiles_dtype(cli, tmp_path):
    import json
    out_json = tmp_path / "out.json"
    code, out, err = cli("profile", "hf:llama", "--config", "num_hidden_layers=1", "--config", "hidden_size=64",
                         "--config", "intermediate_size=128", "--config", "num_attention_heads=4",
                         "--config", "num_key_value_heads=2", "--config", "vocab_size=128", "--tokens", "16",
                         "--batch", "2", "--training", "--dtype", "bfloat16", "--device", "H100",
                         "--tokens-per-second", "64000", "--json", str(out_json), "--depth", "0")
    assert code == 0, err
    u = json.loads(out_json.read_text())["utilisation"]
    # the H100 SXM data sheet: BF16 1,979 TFLOP/s with sparsity, dense half of it
    assert u["peak_flops"] == 1979e12 / 2 and u["peak_dtype"] == "bfloat16"
    assert "H100" in u["peak_device"] and "data sheet" in u["peak_source"]
    assert u["tokens_per_step"] == 2 * 16 and u["step_time"] == pytest.approx(32 / 64000)
    assert u["mfu"] == pytest.approx(u["model_flops"] / (32 / 64000 * 1979e12 / 2), rel=1e-12)
    assert "32 tokens per step, 64,000 tokens/s" in out


@pytest.mark.parametrize("argv, says", [
    (["--step-time", "-1", "--peak-flops", "1T"], "argument --step-time: '-1': expected a positive number"),
    (["--step-time", "0", "--peak-flops", "1T"], "'0': expected a positive number"),
    (["--step-time", "fast", "--peak-flops", "1T"], "'fast': expected a positive number"),
    (["--step-time", "inf", "--peak-flops", "1T"], "'inf': expected a positive number"),
    (["--tokens-per-second", "nan", "--peak-flops", "1T"], "'nan': expected a positive number"),
    (["--step-time", "1", "--tokens-per-second", "5"], "not allowed with argument --step-time"),
    (["--step-time", "1"], "--step-time needs the device's peak FLOP/s: --device NAME"),
    (["--tokens-per-second", "9"], "--tokens-per-second needs the device's peak FLOP/s"),
    (["--step-time", "1", "--device", "TPU9"], "--device 'TPU9': --step-time takes the peak of a data sheet"),
    (["--step-time", "1", "--device", "cuda"], "--device 'cuda': --step-time takes the peak of a data sheet"),
    (["--step-time", "1", "--device", "H100", "--peak-flops", "1T"], "not both"),
    (["--step-time", "1", "--peak-flops", "1T", "--measure"], "does not go with --measure"),
    (["--step-time", "1", "--peak-flops", "1T", "--peak-bandwidth", "1T"], "does not go with --peak-bandwidth"),
    (["--step-time", "1", "--peak-flops", "1T", "--fold-bn"], "does not go with --fold-bn or --fully-conv"),
    (["--step-time", "1", "--peak-flops", "-2T"], "argument --peak-flops"),
    # a throughput needs tokens per step: only a language model's profile has them
    (["--tokens-per-second", "10", "--peak-flops", "1T"],
     "--tokens-per-second 10.0: the tokens per step come from a language model's profile (batch × tokens), "
     "and this is not one: give --step-time instead"),
])
def test_bad_utilisation_flags_are_one_line_errors(cli, argv, says):
    code, out, err = cli("profile", "alexnet_homework", *argv)
    _assert_one_line_error(code, err, says)
