"""The `profiler` command: happy paths, files written, and one-line errors for bad input."""
from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest



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
    code, _, err = cli("profile", "alexnet_paper", "--csv", str(target))
    assert code == 0, err
    assert target.read_text().startswith("name,")


def test_csv_to_dev_null_exits_0_and_leaves_the_device_alone(cli):
    import os
    import stat
    before = os.stat("/dev/null")
    code, out, err = cli("profile", "alexnet_paper", "--csv", "/dev/null", "--md", "/dev/null")
    assert code == 0, err
    assert "wrote /dev/null" in out
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_compare_csv_to_dev_null_leaves_the_device_alone(cli):
    import os
    import stat
    code, out, err = cli("compare", "alexnet_paper", "--csv", "/dev/null", "--jobs", "1")
    assert code == 0, err
    assert "wrote /dev/null" in out and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_profile_with_dtype_bfloat16(cli):
    code, out, err = cli("profile", "resnet18", "--dtype", "bfloat16", "--depth", "0")
    assert code == 0, err
    assert "resnet18" in out


def test_dtype_halves_the_activation_bytes_and_leaves_the_counts(cli, tmp_path):
    rows = {}
    for dtype in (None, "float16"):
        path = tmp_path / f"{dtype}.csv"
        code, _, err = cli("profile", "alexnet_paper", "--csv", str(path), "--depth", "0",
                           *(["--dtype", dtype] if dtype else []))
        assert code == 0, err
        rows[dtype] = next(csv.DictReader(path.open()))
    default, half = rows[None], rows["float16"]
    assert half["mults"] == default["mults"] and half["params"] == default["params"]
    assert 2 * int(half["act_bytes"]) == int(default["act_bytes"])


def test_list_includes_torchvision_and_builtin_models(cli):
    code, out, _ = cli("list")
    names = out.split()
    assert code == 0 and "alexnet" in names and "alexnet_paper" in names and "resnet50" in names


def test_list_is_every_name_profile_takes_and_imports_no_torch():
    from profiler.models.names import all_names
    script = ("import sys; from profiler.cli import main; code = main(['list']); "
              "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules; sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == all_names()


def test_builtin_names_known_without_torch_are_the_zoo():
    from profiler.models.names import BUILTIN_NAMES
    from profiler.models.zoo import BUILTIN
    assert sorted(BUILTIN_NAMES) == sorted(BUILTIN)


def test_help_answers_without_torch_and_shows_examples():
    result = subprocess.run([sys.executable, "-m", "profiler", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "examples:" in result.stdout and "profiler profile alexnet" in result.stdout


def test_profile_help_shows_examples(cli):
    code, out, _ = cli("profile", "--help")
    assert code == 0 and "examples:" in out and "--csv" in out


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
    code, _, err = cli("profile", "alexnet_paper", "--csv", str(blocker / "out.csv"))
    _assert_one_line_error(code, err, "cannot write")
    assert [p.name for p in tmp_path.iterdir()] == ["file"] and blocker.read_text() == "keep"


def test_an_error_end_to_end_in_a_fresh_process_has_no_traceback():
    result = subprocess.run([sys.executable, "-m", "profiler", "profile", "resnet5"], capture_output=True,
                            text=True, timeout=120)
    _assert_one_line_error(result.returncode, result.stderr, "resnet50")


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


def test_a_closed_pipe_ends_quietly_without_a_traceback():
    """`profiler profile alexnet | head -0`: the reader is gone before the table is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "profiler", "profile", "alexnet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err
