"""The hub prefixes and local config paths (profiler.models.hub), without torch."""
from __future__ import annotations

import subprocess
import sys

from profiler.models.hub import is_hub_name, local_config, suggest


def test_prefixes():
    assert is_hub_name("hf:llama") and is_hub_name("timm:resnet18")
    assert not is_hub_name("resnet18") and not is_hub_name("./hf.py:build")


def test_local_config_is_a_json_file_or_a_folder_holding_config_json(tmp_path):
    (tmp_path / "ckpt").mkdir()
    assert local_config(str(tmp_path / "ckpt")) is None              # a folder without config.json
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert local_config(str(tmp_path / "ckpt")) == tmp_path / "ckpt" / "config.json"
    (tmp_path / "a.json").write_text("{}")
    assert local_config(str(tmp_path / "a.json")) == tmp_path / "a.json"
    (tmp_path / "a.txt").write_text("{}")
    assert local_config(str(tmp_path / "a.txt")) is None
    assert local_config(f"{tmp_path / 'a.json'}:x") is None              # never a file.py:Attr
    assert local_config("") is None


def test_suggest_names_close_matches_or_where_to_look():
    assert suggest("lama", ["llama", "gemma"], "hf: names") == "; did you mean llama?"
    assert suggest("zzz", ["llama"], "hf: names") == "; see 'profiler list' for the hf: names"


def test_imports_no_torch():
    code = "import sys, profiler.models.hub, profiler.models.hf.names; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_package_root_finds_an_installed_package_without_importing_it():
    code = ("import sys; from profiler.models.hub import package_root; "
            "root = package_root('torch'); assert (root / '__init__.py').is_file(), root; "
            "assert 'torch' not in sys.modules; assert package_root('no_such_package_xyz') is None")
    subprocess.run([sys.executable, "-c", code], check=True)
