"""The ``hf:`` names, read from transformers' sources without importing it
(which imports torch): the model types with a causal-LM, seq2seq, speech-seq2seq
or base model class in its auto mappings, kept to the types its config mapping
knows.  ``profiler list`` uses these."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from profiler.models.hub import HF_PREFIX, package_root

LISTED_MAPPINGS = ("MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
                   "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES", "MODEL_MAPPING_NAMES")


def _literal_mappings(paths: list[Path], wanted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The module-level mappings among ``wanted`` built from literals in the source
    files ``paths``, read in order: ``NAME = OrderedDict([...])`` or a dict literal,
    ``NAME = OrderedDict(**{...}, **NAME)``, and ``NAME.update({...})``.  A name that
    is missing, or built from anything else, is left out."""
    found: dict[str, dict[str, Any]] = {}

    def literal(node) -> dict | None:
        try:
            return dict(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None

    def built(node) -> dict | None:
        if not isinstance(node, ast.Call):
            return literal(node)
        parts = [literal(a) for a in node.args]
        for keyword in node.keywords:
            if keyword.arg is not None:
                parts.append({keyword.arg: ast.literal_eval(keyword.value)} if isinstance(keyword.value, ast.Constant)
                             else None)
            elif isinstance(keyword.value, ast.Name):
                parts.append(found.get(keyword.value.id))
            else:
                parts.append(literal(keyword.value))
        if any(part is None for part in parts):
            return None
        merged: dict = {}
        for part in parts:
            merged.update(part)
        return merged

    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                call = node.value
                if (isinstance(call.func, ast.Attribute) and call.func.attr == "update"
                        and isinstance(call.func.value, ast.Name) and call.func.value.id in found
                        and len(call.args) == 1 and not call.keywords):
                    extra = literal(call.args[0])
                    if extra is None:
                        found.pop(call.func.value.id)
                    else:
                        found[call.func.value.id].update(extra)
                continue
            target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
                node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
            if not isinstance(target, ast.Name) or target.id not in wanted:
                continue
            value = built(node.value)
            if value is None:
                found.pop(target.id, None)
            else:
                found[target.id] = value
    return found


def hf_model_types() -> list[str]:
    """The transformers model types with a causal-LM, seq2seq, speech-seq2seq or
    base model class, read from transformers' sources (its auto mappings) without
    importing it, which imports torch; kept to the types its config mapping knows
    when that is readable too.  [] when transformers is not installed; only if the
    sources cannot be read is transformers imported."""
    root = package_root("transformers")
    if root is None:
        return []
    auto = root / "models" / "auto"
    # the order transformers builds them in: auto_mappings (newer releases), then the modules
    files = [auto / "auto_mappings.py", auto / "configuration_auto.py", auto / "modeling_auto.py"]
    found = _literal_mappings(files, (*LISTED_MAPPINGS, "CONFIG_MAPPING_NAMES"))
    models = [found[name] for name in LISTED_MAPPINGS if name in found]
    if "MODEL_MAPPING_NAMES" in found:
        types = set().union(*(set(m) for m in models))
        configs = found.get("CONFIG_MAPPING_NAMES")
        return sorted(types & set(configs) if configs else types)
    try:
        return listed_types()
    except Exception:
        return []


def hf_names() -> list[str]:
    return [HF_PREFIX + t for t in hf_model_types()]


def listed_types() -> list[str]:
    """The same list read from the imported transformers (which imports torch)."""
    from transformers.models.auto import modeling_auto
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    types = set()
    for name in LISTED_MAPPINGS:
        types |= set(getattr(modeling_auto, name, {}))
    return sorted(types & set(CONFIG_MAPPING.keys()))
