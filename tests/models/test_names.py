"""profiler.models.names: the names `profile` takes (built-ins, torchvision's, hf: and timm:),
listed with torch imported and without; both lists the same."""
from __future__ import annotations

import subprocess
import sys

from profiler.models.names import (all_names, all_names_without_torch, hub_names_without_torch,
                                   torchvision_names, torchvision_names_from_source)


def test_builtin_names_known_without_torch_are_the_zoo():
    from profiler.models.names import BUILTIN_NAMES
    from profiler.models.zoo import BUILTIN
    assert sorted(BUILTIN_NAMES) == sorted(BUILTIN)


def test_an_old_name_is_not_listed():
    from profiler.models.zoo import ALIASES
    assert "alexnet_paper" in ALIASES and "alexnet_paper" not in all_names()


def test_torchvision_names_read_from_its_source_are_list_models():
    from torchvision.models import list_models
    assert torchvision_names() == sorted(list_models())
    assert torchvision_names_from_source() == torchvision_names()
    assert {"alexnet", "resnet50", "vit_b_16", "fasterrcnn_resnet50_fpn", "raft_large"} <= set(torchvision_names())


def test_the_names_without_torch_are_the_names_with_it():
    assert all_names_without_torch() + hub_names_without_torch() == all_names()
    assert all_names()[:2] == ["alexnet2012", "alexnet_homework"]     # the built-ins come first


def test_hub_names_are_prefixed_and_unique():
    names = hub_names_without_torch()
    assert all(n.startswith(("hf:", "timm:")) for n in names)
    assert len(names) == len(set(names))
    assert {"hf:llama", "hf:bert", "timm:resnet18"} <= set(names)   # transformers and timm are installed


def test_reading_the_names_from_source_imports_no_torch():
    script = ("import sys; from profiler.models.names import all_names_without_torch as names; "
              "assert 'resnet18' in names(); assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
