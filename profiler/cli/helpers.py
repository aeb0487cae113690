"""What several subcommands share, without torch: output paths checked before a
profile runs, and the default inputs stated in `profile --help`."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from profiler.defaults import DEFAULT_IMAGE, FAMILY_DEFAULTS, TOKENS_DEFAULT


# --- output paths ------------------------------------------------------------------


def check_output_paths(model: str | list[str] | None = None, **paths: str | None) -> None:
    """Each output path given (``csv=args.csv``, ...) can be written, checked before
    anything is profiled, so that a bad path costs no wait and no lost output:

    * a new file's folder exists or can be created, and the kernel lets a file be
      made there: a probe file is created and removed in the folder (in the nearest
      existing ancestor when folders are missing), so a read-only mount or /sys is
      refused here, not after the profile;
    * an existing file is replaced by a rename in its folder: the same probe there;
    * the path is not a folder;
    * no output is a source of the ``model`` (or models) given: the file of
      ``file.py:Attr``, the module file of ``package.module:attr`` (found without
      importing it), a local config.json (see ``model_sources``);
    * no two outputs are the same file (through a link, ``..`` or another spelling).

    A device, a FIFO, standard output by name and a symlink to any of them are fine
    when they can be opened for writing: they are written to as they are (see
    profiler.report.atomic, which follows links the same way); a device is opened
    for append (nothing truncated) to try it, a FIFO is never opened (that would
    block until a reader comes).  Raises a one-line ProfilerError naming the option."""
    from profiler.errors import ProfilerError
    models = [model] if isinstance(model, str) else list(model or [])
    sources = [(_identity(path), what) for name in models for path, what in model_sources(name)]
    seen: list[tuple[tuple, str]] = []
    for option, path in paths.items():
        if not path:
            continue
        path = os.fspath(path)
        problem = _problem(path)
        if problem is None:
            identity = _identity(path)
            problem = next((f"it is {what}" for source, what in sources if identity and source == identity), None)
            problem = problem or next((f"it is the same file as --{other}" for known, other in seen
                                       if identity and known == identity), None)
            if identity:
                seen.append((identity, option))
        if problem:
            raise ProfilerError(f"cannot write '{path}' (--{option}): {problem}; nothing was profiled")


def model_sources(model: str) -> list[tuple[str, str]]:
    """The files a model name reads, which no output may replace, as (path, what)
    pairs, found without importing anything: ``file.py:Attr`` → file.py;
    ``package.module:attr`` → the module's file, looked up on sys.path as an import
    would (the CLI puts the current folder first, as ``python -m`` does), without
    running any package's __init__; a folder holding config.json (plain or after
    ``hf:``) → its config.json, a .json file → itself."""
    if ":" in model and not model.startswith(("hf:", "timm:")):
        where = model.rpartition(":")[0]
        file = where if where.endswith(".py") or "/" in where else _module_file(where)
        return [(file, "the model's source file")] if file and os.path.isfile(file) else []
    target = Path(model.removeprefix("hf:"))
    config = target / "config.json" if target.is_dir() else target if target.suffix == ".json" else None
    return [(str(config), f"the model's {config.name}")] if config is not None and config.is_file() else []


def _module_file(dotted: str) -> str | None:
    """The file of module ``dotted`` (a package's __init__.py), found the way import
    finds it, without importing it or its packages; None if not found."""
    import importlib.machinery
    import importlib.util
    parts = dotted.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])   # a top-level name: nothing is imported
        for depth in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth + 1]),
                                                            list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def _identity(path: str) -> tuple | None:
    """What a write to ``path`` would replace, the same for every spelling of it: an
    existing regular file's (device, inode), a new file's resolved path; None for
    what is written to as it is (a device, a FIFO, a descriptor by name), which
    two outputs may share (``--csv /dev/null --md /dev/null``)."""
    from profiler.report.atomic import _follow
    try:
        target, fd, foreign = _follow(path)
        if fd is not None or foreign:
            return None
        info = os.stat(target)
    except FileNotFoundError:
        return ("new", os.path.normcase(target))
    except OSError:
        return None
    return ("file", info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _writable_folder(folder: str) -> bool:
    mode = os.W_OK | os.X_OK
    if os.access in os.supports_effective_ids:
        return os.access(folder, mode, effective_ids=True)
    return os.access(folder, mode)


def _probe(folder: str) -> str | None:
    """Why no file can be made in ``folder`` (no permission, a read-only mount,
    /sys), found by asking (access()) and then, since access() says yes to root
    wherever the kernel refuses, by making one and removing it; None when it can."""
    if not _writable_folder(folder):
        return "Permission denied"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".profiler-probe-", suffix=".tmp")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return None


def _try_open(target: str) -> str | None:
    """Why a device cannot be opened for writing, found by opening it for append
    (nothing truncated, nothing written); None when it can."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    return None


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
    if mode is not None and stat.S_ISFIFO(mode):
        return None if os.access(target, os.W_OK) else "Permission denied"   # opening it would block
    if mode is not None and not stat.S_ISREG(mode):
        return _try_open(target)          # a device: written to as it is
    folder = os.path.dirname(target) or "."
    while not os.path.lexists(folder):    # missing folders are created at write time
        folder = os.path.dirname(folder) or "."
    if not os.path.isdir(folder):
        return "Not a directory"
    return _probe(folder)


# --- default inputs, for `profile --help` -------------------------------------------


def _size(shape) -> str:
    return "x".join(map(str, shape))


def default_inputs() -> list[tuple[str, str]]:
    """(family, default input) pairs, as profile() chooses them."""
    image, tokens = _size(DEFAULT_IMAGE), TOKENS_DEFAULT
    family = {k: _size(v) for k, v in FAMILY_DEFAULTS.items()}
    return [
        ("classification", f"{image} (ViT and MaxViT, which take one size only: the published crop size)"),
        ("segmentation", family["segmentation"]),
        ("detection", f"a list of one {family['detection']} image"),
        ("optical flow", f"two {family['optical_flow']} frames"),
        ("video", "3xTxHxW: the weights' clip length and crop size (r3d_18: 3x16x112x112)"),
        ("hf: text", f"{tokens} token ids (--tokens N; fewer where a learned position table holds fewer)"),
        ("hf: vision, speech", "the sizes in the model's config (ViT: image_size; Whisper: 80x3000 features)"),
        ("timm:", "the input_size of the model's pretrained_cfg (most: 3x224x224)"),
        ("your own model", f"{image}; {tokens} token ids when its first layer is an nn.Embedding"),
    ]


def default_inputs_text() -> str:
    rows = default_inputs()
    width = max(len(family) for family, _ in rows)
    return ("default inputs, per sample (--input overrides them; --input native: the weights' crop size):\n"
            + "".join(f"  {family:<{width}}  {text}\n" for family, text in rows))
