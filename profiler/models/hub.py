"""The hub prefixes: ``hf:`` names a transformers model type or a local config
(profiler.models.hf), ``timm:`` a timm architecture (profiler.models.timm_models).

The prefixes are reserved: a user module named ``hf`` or ``timm`` is written as a
path (``./hf.py:build``).  Without ``hf:``, a name is a local config path only when
it has no ``:`` (so it never collides with ``file.py:Attr`` or
``package.module:attr``), is not a torchvision or built-in name (those win), and is
an existing folder holding ``config.json`` or an existing ``.json`` file.

This module imports neither torch nor the hub packages (``package_root`` finds an
installed package's folder without importing it): ``profiler list`` and the CLI's
argument checks use it.
"""
from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

HF_PREFIX, TIMM_PREFIX = "hf:", "timm:"


def is_hub_name(name: str) -> bool:
    """``hf:...`` or ``timm:...``."""
    return name.startswith((HF_PREFIX, TIMM_PREFIX))


def local_config(text: str) -> Path | None:
    """The config file ``text`` names: an existing ``.json`` file, or an existing
    folder holding ``config.json``; None otherwise (and for anything with a ``:``)."""
    if not text or ":" in text:
        return None
    path = Path(text).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path / "config.json"
    if path.is_file() and path.suffix == ".json":
        return path
    return None


def suggest(name: str, names: list[str], what: str) -> str:
    """"; did you mean ...?" with up to three close names, else where to look."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    close += [n for n in names if name and name.lower() in n.lower() and n not in close][:3 - len(close)]
    return f"; did you mean {', '.join(close)}?" if close else f"; see 'profiler list' for the {what}"


def package_root(name: str) -> Path | None:
    """The folder of an installed package, found without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
