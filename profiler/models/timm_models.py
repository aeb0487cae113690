"""``timm:NAME``: ``timm.create_model(NAME, pretrained=False)``, never downloaded.

NAME is any name timm registers (with or without a pretrained tag,
``resnet50.a1_in1k``); family ``classification``; the default input is the
model's ``pretrained_cfg["input_size"]`` (``ModelSpec.input_size``).  Overrides
are passed to ``create_model`` (``img_size=384``, ``num_classes=10``).

``timm_model_names()`` reads timm's ``@register_model`` functions from its
sources without importing it (which imports torch), so ``profiler list`` stays quick.
"""
from __future__ import annotations

import functools
import re
from typing import Any

from profiler.errors import ProfilerError
from profiler.models.hub import TIMM_PREFIX, package_root, suggest


def resolve_timm(name: str, overrides: dict[str, Any] | None = None):
    """A ModelSpec for ``timm.create_model(name, pretrained=False, **overrides)``."""
    from profiler.models.spec import ModelSpec
    try:
        import timm
    except ImportError as exc:
        raise ProfilerError("timm: models need timm: pip install 'profiler[timm]'") from exc
    label = f"{TIMM_PREFIX}{name}"
    if not name or ":" in name or not timm.is_model(name):
        raise ProfilerError(f"unknown timm model '{name}'{suggest(name, timm_model_names(), 'timm: names')}")
    from timm.models import get_pretrained_cfg
    overrides = dict(overrides or {})
    cfg = get_pretrained_cfg(name)
    size = tuple(getattr(cfg, "input_size", None) or (3, 224, 224))
    img = overrides.get("img_size")
    if isinstance(img, int) and not isinstance(img, bool):
        size = (size[0], img, img)
    elif isinstance(img, (list, tuple)) and len(img) == 2:
        size = (size[0], *img)
    shown = "".join(f", {k}={v!r}" for k, v in overrides.items())
    note = (f"{label}: timm.create_model('{name}', pretrained=False{shown}); "
            f"input {'x'.join(map(str, size))} from its pretrained_cfg")
    return ModelSpec(label, functools.partial(_build_timm, name, overrides), "classification", {},
                     input_size=size, notes=[note])


def _build_timm(name: str, overrides: dict[str, Any]):
    import timm
    try:
        return timm.create_model(name, pretrained=False, **overrides)
    except TypeError as exc:
        if overrides:
            raise ProfilerError(f"timm:{name}: create_model refused the overrides "
                                f"{', '.join(overrides)}: {exc}") from exc
        raise


_REGISTER = re.compile(r"^@register_model(?:\([^)]*\))?\s*\ndef (\w+)\(", re.M)


def timm_model_names() -> list[str]:
    """timm's registered architectures (``timm.list_models()``), read from its
    sources without importing it; [] when timm is not installed."""
    root = package_root("timm")
    if root is None:
        return []
    names: set[str] = set()
    for path in sorted((root / "models").glob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if "register_model" in source:
            names.update(_REGISTER.findall(source))
    if not names:
        try:
            import timm
            return sorted(timm.list_models())
        except Exception:
            return []
    return sorted(names)


def timm_names() -> list[str]:
    return [TIMM_PREFIX + n for n in timm_model_names()]
