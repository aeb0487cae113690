"""Write a file whole or not at all: a temp file beside it, then a rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ProfilerError


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating missing parent folders.  An interrupt
    or error leaves the old file (or none), never a half-written one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ProfilerError(f"cannot write '{path}': {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, _new_file_mode())   # mkstemp makes 0600; give the mode open() would have given
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ProfilerError(f"cannot write '{path}': {exc.strerror or exc}") from exc
        raise
    return path
