"""profiler.cli.list: `profiler list` prints every name `profile` takes, one a line, sorted
within each group, without importing torch."""
from __future__ import annotations

import subprocess
import sys


def test_list_includes_torchvision_and_builtin_models(cli):
    code, out, _ = cli("list")
    names = out.split()
    assert code == 0 and "alexnet" in names and "alexnet_homework" in names and "resnet50" in names
    assert "alexnet2012" in names and "alexnet_paper" not in names     # the old name resolves, but is not listed


def test_list_is_every_name_profile_takes_and_imports_no_torch():
    from profiler.models.names import all_names
    script = ("import sys; from profiler.cli import main; code = main(['list']); "
              "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules; sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == all_names()


def test_list_registers_a_subcommand_that_takes_no_arguments(cli):
    code, _, err = cli("list", "extra")
    assert code == 2 and err.startswith("profiler: error: unrecognized arguments: extra")


def test_list_prints_the_builtins_then_torchvisions_names_sorted(cli):
    from torchvision.models import list_models
    code, out, _ = cli("list")
    names = out.splitlines()
    assert code == 0 and names[:2] == ["alexnet2012", "alexnet_homework"]
    torchvision = [n for n in names if ":" not in n][2:]
    assert torchvision == sorted(list_models())
    assert len(names) == len(set(names))
