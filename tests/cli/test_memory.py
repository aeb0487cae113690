"""The memory flags of `profiler profile` and `profiler compare`: --memory,
--optimizer, --amp, --fits (a size or a device; --device NAME too), --shard; the
memory section, JSON and plot they write; one-line errors (exit 2) before anything
is profiled."""
from __future__ import annotations

import json

import pytest

MODEL = "resnet18"
SMALL = ("--input", "3x32x32")


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("profiler: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("argv, fragments", [
    (("--fits", "abc"), ("--fits 'abc': expected a memory size such as 80GB",)),
    (("--fits", "0GB"), ("--fits '0GB'",)),
    (("--optimizer", "nope"), ("--optimizer", "invalid choice: 'nope'")),
    (("--optimizer", "adamw"), ("--optimizer applies to a training step: add --training",)),
    (("--amp", "bf16"), ("--amp applies to a training step",)),
    (("--shard", "zero3:8"), ("--shard applies to a training step",)),
    (("--training", "--shard", "zero3"), ("--shard 'zero3': expected STAGE:N",)),
    (("--training", "--amp", "bf16", "--dtype", "float32"), ("--amp bf16 runs the step in 16 bits",)),
    (("--fits", "80GB", "--arg", "x=1x3x32x32"), ("--fits searches the batch",)),
    (("--fits", "80GB", "--fold-bn"), ("do not go with --fold-bn",)),
])
def test_bad_memory_flags_are_one_line_errors(cli, argv, fragments):
    _one_line_error(*cli("profile", MODEL, *argv)[::2], *fragments)


def test_fits_without_training_is_inference(cli):
    code, out, err = cli("profile", MODEL, *SMALL, "--fits", "1GB", "--depth", "0")
    assert code == 0, err
    section = out[out.index("memory:"):]
    assert "  inference: float32; GB = 10^9 bytes" in section
    assert "fits on 1 GB at batch 1" in section and "largest batch that fits: " in section


def test_a_training_step_with_adamw_amp_zero3_and_fits_writes_every_format(cli, tmp_path):
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "md")}
    plot = tmp_path / "r.png"
    code, out, err = cli("profile", MODEL, *SMALL, "--batch", "4", "--training", "--optimizer", "adamw",
                         "--amp", "bf16", "--shard", "zero3:8", "--fits", "200MB", "--depth", "0",
                         "--json", str(paths["json"]), "--md", str(paths["md"]), "--plot", str(plot))
    assert code == 0, err
    section = out[out.index("memory:"):]
    assert "training step: AdamW, bf16 parameters, gradients and activations with fp32 master weights" in section
    assert "→ ZeRO-3" in section and "(2Ψ + 2Ψ + 12Ψ) / N" in section
    assert "step peak per device under ZeRO-3 over 8 devices" in section
    assert "largest batch that fits: " in section
    assert (tmp_path / "r_memory.png").read_bytes()[:4] == b"\x89PNG" and plot.exists()
    document = json.loads(paths["json"].read_text())
    memory = document["memory"]
    assert memory["optimizer"] == "adamw" and memory["plan"]["stage"] == 3 and memory["plan"]["devices"] == 8
    fit = memory["plan"]["fit"]
    assert fit["capacity"] == 200_000_000 and fit["largest_batch"] >= 1
    # the search's own record: the largest batch's step peak fits, the next one's does not
    tried = dict(fit["tried"])
    assert tried[fit["largest_batch"]] <= fit["capacity"] < tried.get(fit["largest_batch"] + 1, float("inf"))
    md = paths["md"].read_text()
    assert "## Memory" in md and "(r_memory.png)" in md


def test_device_name_gives_the_capacity(cli):
    code, out, err = cli("profile", MODEL, *SMALL, "--batch", "2", "--training", "--optimizer", "sgd",
                         "--device", "T4", "--depth", "0")
    assert code == 0, err
    assert "fits on T4 (16 GB) at batch 2" in out
    _one_line_error(*cli("profile", MODEL, "--memory", "--device", "cuda")[::2], "--device 'cuda': with --memory")


def test_compare_has_a_memory_column(cli):
    code, out, err = cli("compare", MODEL, "--input", "3x32x32", "--batch", "2", "--batch", "4", "--training",
                         "--optimizer", "adamw", "--jobs", "1")
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[-2:] == ["peak_bytes", "step_peak_bytes"]
    peaks = [int(line.split()[-2].replace(",", "")) for line in out.splitlines()[2:4]]
    assert 0 < peaks[0] < peaks[1]


def test_compare_refuses_optimizer_without_training(cli):
    _one_line_error(*cli("compare", MODEL, "--optimizer", "adamw")[::2], "--optimizer applies to a training step")


def test_the_flags_name_what_the_formulas_take_without_importing_torch():
    """The CLI checks --optimizer and --shard before torch is imported, by names of its
    own: the same as profiler.formulas.optimizers' and profiler.formulas.sharding's."""
    from profiler.cli.profile import OPTIMIZERS, SHARD
    from profiler.formulas import optimizers, sharding
    assert OPTIMIZERS == optimizers.OPTIMIZERS
    for text in ("zero3:8", "ZeRO-2:4", "fsdp:16", "ddp:2", "dp:2", "1:64", "full_shard:8", "shard-grad-op:8",
                 "zero3:08"):
        assert SHARD.fullmatch(text), text
        sharding.parse_shard(text)
    for text in ("zero4:8", "zero3", "zero3:0", "fsdp:-1", "zero3:x", "zero:8"):
        assert not SHARD.fullmatch(text), text
        with pytest.raises(Exception, match="expected STAGE:N"):
            sharding.parse_shard(text)


def test_bad_memory_flags_are_refused_before_torch_is_imported(tmp_path):
    import subprocess
    import sys
    code = ("import sys\nfrom profiler.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    pass\n"
            "print('torch' in sys.modules)")
    for argv in (["--fits", "abc"], ["--training", "--shard", "zero9:2"], ["--optimizer", "adamw"]):
        done = subprocess.run([sys.executable, "-c", code, "profile", MODEL, *argv], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120)
        assert done.stderr.startswith("profiler: error: ") and done.stdout.strip() == "False", (argv, done)
