"""The names ``profile`` takes, listed: built-ins, torchvision's, hf: and timm:
(what ``profiler list`` prints, and what an unknown name is matched against).

``all_names_without_torch`` answers without importing torch (``profiler list``
should be quick); the others import torchvision.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def torchvision_names() -> list[str]:
    from torchvision.models import list_models
    return sorted(list_models())


def all_names() -> list[str]:
    """Every name ``profile`` takes: built-ins, torchvision's, then the hf: and timm:
    names of the installed packages (what ``profiler list`` prints)."""
    from profiler.models.zoo import BUILTIN
    return sorted(BUILTIN) + torchvision_names() + hub_names_without_torch()


# profiler.models.zoo.BUILTIN's keys, known without importing torch (tested); its ALIASES are not listed
BUILTIN_NAMES = ("alexnet2012", "alexnet_homework")


def all_names_without_torch() -> list[str]:
    """``all_names()`` for ``profiler list``, which should answer without importing
    torch: torchvision's names are read from its source (see
    ``torchvision_names_from_source``); if that finds nothing, torchvision is imported."""
    return sorted(BUILTIN_NAMES) + (torchvision_names_from_source() or torchvision_names())


def hub_names_without_torch() -> list[str]:
    """``hf:`` and ``timm:`` names, read from the installed packages' sources; none
    for a package that is not installed (see profiler.models.hf.names and
    profiler.models.timm_models)."""
    from profiler.models.hf.names import hf_names
    from profiler.models.timm_models import timm_names
    return hf_names() + timm_names()


def torchvision_names_from_source() -> list[str]:
    """The names torchvision registers, read from its installed sources without
    importing it (which imports torch, ~3 s): each function under torchvision/models
    decorated with ``@register_model(...)``, named by its ``name=`` argument or its
    own name; the same list as ``list_models()`` (tested).  Empty when the sources
    are not there or a name is not a plain string (the caller then imports torchvision)."""
    import ast
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return []
    names = []
    for path in sorted(Path(spec.submodule_search_locations[0], "models").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "register_model(" not in source:   # parse only the files that register models
            continue
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register_model":
                    given = {k.arg: k.value for k in decorator.keywords}.get("name", ast.Constant(node.name))
                    if not (isinstance(given, ast.Constant) and isinstance(given.value, str)):
                        return []
                    names.append(given.value)
    return sorted(names)
