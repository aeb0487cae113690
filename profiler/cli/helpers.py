"""What several subcommands share, without torch: output paths checked before a
profile runs, and the default inputs stated in `profile --help`."""
from __future__ import annotations

import ast
import os
import re
import stat
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


# --- output paths ------------------------------------------------------------------


def check_output_paths(**paths: str | None) -> None:
    """Each output path given (``csv=args.csv``, ...) can be written, checked before
    anything is profiled, so that a bad path costs no wait and no lost output: a new
    file's folder exists or can be created (its nearest existing ancestor is a
    writable folder), an existing file's folder is writable (the file is replaced by
    a rename there), and the path is not a folder.  A device, a FIFO, standard output
    by name and a symlink to any of them are fine: they are opened and written to
    (see profiler.report.atomic, which follows links the same way).  Raises a one-line
    ProfilerError naming the option."""
    from profiler.errors import ProfilerError
    for option, path in paths.items():
        if path:
            problem = _problem(os.fspath(path))
            if problem:
                raise ProfilerError(f"cannot write '{path}' (--{option}): {problem}; nothing was profiled")


def _writable_folder(folder: str) -> bool:
    mode = os.W_OK | os.X_OK
    if os.access in os.supports_effective_ids:
        return os.access(folder, mode, effective_ids=True)
    return os.access(folder, mode)


def _problem(path: str) -> str | None:
    """Why ``path`` cannot be written, or None."""
    from profiler.report.atomic import _follow
    try:
        target, fd, foreign = _follow(path)   # where the write will go, links followed
    except OSError as exc:
        return exc.strerror or str(exc)
    if fd is not None or foreign:
        return None                       # an open file descriptor by name: written to as it is
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:                # a file where a folder should be, a folder we cannot read
        return exc.strerror or str(exc)
    if mode is not None and stat.S_ISDIR(mode):
        return "Is a directory"
    if mode is not None and not stat.S_ISREG(mode):
        return None if os.access(target, os.W_OK) else "Permission denied"   # a device or FIFO
    folder = os.path.dirname(target) or "."
    while not os.path.lexists(folder):    # missing folders are created at write time
        folder = os.path.dirname(folder) or "."
    if not os.path.isdir(folder):
        return "Not a directory"
    return None if _writable_folder(folder) else "Permission denied"


# --- default inputs, for `profile --help` -------------------------------------------


def _constant(module: str, name: str):
    """A literal constant of a profiler module, read from its source: the modules
    that define the defaults import torch, which --help must not."""
    text = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    match = re.search(rf"^{name}\s*=", text, re.M)
    lines = text[match.end():].splitlines() if match else []
    for end in range(1, min(len(lines), 40) + 1):   # the shortest run of lines that is a literal
        try:
            return ast.literal_eval("\n".join(lines[:end]).strip())
        except (SyntaxError, ValueError):
            continue
    raise LookupError(f"no literal {name} in profiler/{module}.py")


def _size(shape) -> str:
    return "x".join(map(str, shape))


def default_inputs() -> list[tuple[str, str]]:
    """(family, default input) pairs, as profile() chooses them."""
    image = _size(_constant("models/resolve", "DEFAULT_IMAGE"))
    family = {k: _size(v) for k, v in _constant("capture/inputs", "FAMILY_DEFAULTS").items()}
    tokens = _constant("models/hub", "TOKENS_DEFAULT")
    return [
        ("classification", f"{image} (ViT and MaxViT, which take one size only: the published crop size)"),
        ("segmentation", family["segmentation"]),
        ("detection", f"a list of one {family['detection']} image"),
        ("optical flow", f"two {family['optical_flow']} frames"),
        ("video", "3xTxHxW: the weights' clip length and crop size (r3d_18: 3x16x112x112)"),
        ("hf: text", f"{tokens} token ids (--tokens N; fewer where a learned position table holds fewer)"),
        ("hf: vision, speech", "the sizes in the model's config (ViT: image_size; Whisper: 80x3000 features)"),
        ("timm:", "the input_size of the model's pretrained_cfg (most: 3x224x224)"),
        ("your own model", f"{image}; {_constant('api', 'TOKENS_DEFAULT')[0]} token ids when its first "
                           "layer is an nn.Embedding"),
    ]


def default_inputs_text() -> str:
    rows = default_inputs()
    width = max(len(family) for family, _ in rows)
    return ("default inputs, per sample (--input overrides them; --input native: the weights' crop size):\n"
            + "".join(f"  {family:<{width}}  {text}\n" for family, text in rows))
